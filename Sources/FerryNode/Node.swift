import CMalloc
import FerryCrypto
import FerryHTTP
import FerryModel
import FerryRouter
import FerryStorage
import FerryTLS
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Serves the native client protocol: decodes `ClientFrame`s, hands each request to the Raft thread, and
/// writes each answer with the request's correlation id (answers may come out of order). With `client_auth:
/// keys` (`NativeAuth`) the connection must prove a key first, and each request is authorized for it here,
/// before it reaches the Raft thread: a refused request changes nothing.
final class ClientInboundHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let mailbox: Mailbox
    let auth: NativeAuth?
    private var buffer = ByteBuffer()
    private var responses: ResponseWriter?

    /// Where the connection is in its authentication.
    enum Session {
        case none
        case challenged(keyID: String, nonce: String)
        case authenticated(keyID: String)
    }
    private var session = Session.none

    /// Numbers the node's client connections (request ids).
    private static let connections = NIOLockedValueBox<UInt64>(0)
    private let connection: UInt64

    init(mailbox: Mailbox, auth: NativeAuth? = nil) {
        self.mailbox = mailbox
        self.auth = auth
        connection = Self.connections.withLockedValue {
            $0 += 1
            return $0
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        let writer = responses ?? ResponseWriter(channel: context.channel)
        responses = writer
        do {
            while let frame = try ClientFrame.decode(from: &buffer) {
                guard case .request(let request) = frame.payload else {
                    throw WireDecodeError.malformed("a client sent a response frame")
                }
                let id = frame.correlationID
                if let answer = admit(request, from: context.remoteAddress) {
                    writer.write(ClientFrame.response(id, answer))
                    continue
                }
                mailbox.post(
                    .client(
                        ClientCall(request: request, requestID: .native(connection: connection, correlation: id)) {
                            response in
                            writer.write(ClientFrame.response(id, response))
                        }
                    )
                )
            }
            buffer.discardReadBytes()
        } catch {
            let answer = ClientFrame.response(0, .error(WireError(.invalidArgument, "bad frame: \(error)")))
            context.writeAndFlush(NIOAny(answer.encoded()), promise: nil)
            context.close(promise: nil)
        }
    }

    /// The answer to give at once (the handshake, a refusal), or nil when the request goes to the Raft thread.
    func admit(_ request: ClientRequest, from address: SocketAddress?) -> ClientResponse? {
        let remote = address?.ipAddress ?? "unknown"
        switch request {
        case .authBegin(let keyID):
            // A port without authentication lets a client that brings a key in straight away.
            guard let auth else { return .authenticated(keyID: "", account: "", admin: true) }
            if auth.throttled(remote, nowMs: MonotonicClock.nowMs()) {
                auth.keys.count(api: "native", reason: "throttled")
                return .error(
                    WireError(
                        .throttled,
                        "too many failed authentications from \(remote): wait \(NativeAuth.failureWindowMs / 1_000) s"
                    )
                )
            }
            var generator = SystemRandomNumberGenerator()
            let nonce = Digests.hex((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
            session = .challenged(keyID: keyID, nonce: nonce)
            return .authChallenge(nonce: nonce)
        case .authProve(let clientNonce, let proof):
            guard let auth else { return .error(WireError(.invalidArgument, "this port takes no authentication")) }
            guard case .challenged(let keyID, let nonce) = session else {
                session = .none
                return .error(WireError(.unauthorized, "authBegin first: a proof is for this connection's challenge"))
            }
            // One proof per challenge: a failed (or replayed) one needs a new challenge.
            session = .none
            let now = MonotonicClock.nowMs()
            guard let key = auth.key(keyID) else {
                auth.failed(remote, reason: "unknown_key", nowMs: now)
                NodeLog.warning("native authentication from \(remote) refused: unknown access key \(keyID)")
                return .error(WireError(.unauthorized, "the access key \(keyID) does not exist (or was revoked)"))
            }
            guard (16...128).contains(clientNonce.utf8.count),
                auth.verify(
                    key,
                    serverNonce: nonce,
                    clientNonce: clientNonce,
                    proof: proof,
                    nowMs: MonotonicClock.wallMs()
                )
            else {
                auth.failed(remote, reason: "bad_proof", nowMs: now)
                NodeLog.warning("native authentication from \(remote) refused: a wrong proof for key \(keyID)")
                return .error(WireError(.unauthorized, "the proof does not match the secret of access key \(keyID)"))
            }
            session = .authenticated(keyID: keyID)
            return .authenticated(keyID: keyID, account: key.account, admin: key.admin)
        default:
            guard let auth else { return nil }
            if case .hello = request { return nil }
            guard case .authenticated(let keyID) = session else {
                auth.keys.count(api: "native", reason: "unauthenticated")
                return .error(
                    WireError(
                        .unauthorized,
                        "this port needs a key: give AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile)"
                    )
                )
            }
            // Revoked since the handshake: refused from its next request on.
            guard let key = auth.key(keyID) else {
                session = .none
                auth.keys.count(api: "native", reason: "revoked")
                return .error(WireError(.unauthorized, "the access key \(keyID) was revoked"))
            }
            if case .listQueues = request, key.account != auth.owner { return .queues([]) }
            if let denial = auth.denial(key, request) {
                auth.keys.count(api: "native", reason: "denied")
                return .error(WireError(.unauthorized, denial))
            }
            return nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Answers to one client connection. The Raft thread answers many requests per round; they are encoded into
/// one buffer and leave in one write and one flush on the channel's event loop instead of one each.
final class ResponseWriter: @unchecked Sendable {
    let channel: any Channel
    private let lock = NIOLock()
    private var pending = ByteBuffer()
    private var scheduled = false

    init(channel: any Channel) {
        self.channel = channel
    }

    func write(_ frame: ClientFrame) {
        let schedule = lock.withLock {
            frame.encode(into: &pending)
            defer { scheduled = true }
            return !scheduled
        }
        guard schedule else { return }
        channel.eventLoop.execute {
            let out = self.lock.withLock {
                defer {
                    self.pending = self.channel.allocator.buffer(capacity: 0)
                    self.scheduled = false
                }
                return self.pending
            }
            self.channel.writeAndFlush(out, promise: nil)
        }
    }
}

/// A running node: storage opened under a lock file, the Raft thread, the peer transport and the client
/// listener. `stop()` ends them in reverse order.
public final class FerryNodeServer: @unchecked Sendable {
    public let config: NodeConfig
    let runtime: NodeRuntime
    let transport: PeerTransport
    /// The node's own way to the partitions (what its SQS API uses): this node's Raft thread directly, the
    /// others' over the peer connections.
    public let router: PartitionRouter
    let loops: MultiThreadedEventLoopGroup
    let lockDescriptor: Int32
    private var clientServer: (any Channel)?
    private var http: HTTPServer?
    private var thread: NIOThreadPool?
    /// The node's TLS (nil: plain ports); `reloadTLS()` swaps its files.
    let tls: TLSStore?

    /// Validates the config, takes the data directory's lock, opens the storage, binds the listeners and starts
    /// the Raft thread.
    /// - Throws: `ConfigError` naming a bad field; an error when another process holds the directory.
    /// - Parameter api: makes the API of the HTTP port (the SQS API), if given, from the node's router (its
    ///   operations reach this node's Raft thread directly and the other nodes over the peer connections) and
    ///   the cluster's access keys as this node applied them.
    /// - Parameter authorize: decides, with `client_auth: keys`, whether a key may do an SQS action on a queue
    ///   (the SQS API's rules, from the `ferry` executable); default: a key of the cluster's account only.
    public init(
        config: NodeConfig,
        authorize: NativeAuth.Authorizer? = nil,
        api: ((PartitionRouter, KeyTable) throws -> HTTPAPI)? = nil
    ) throws {
        try config.validate()
        NodeLog.nodeID = config.nodeID
        NodeLog.configure(try config.logLevelTable())
        self.config = config
        _ = mkdir(config.dataDirectory, 0o755)
        let lockPath = config.dataDirectory + "/LOCK"
        let descriptor = open(lockPath, O_CREAT | O_RDWR, 0o644)
        guard descriptor >= 0 else {
            throw ConfigError(field: "data_dir", reason: "cannot open \(lockPath): errno \(errno)")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw ConfigError(field: "data_dir", reason: "\(config.dataDirectory) is in use by another ferry node")
        }
        lockDescriptor = descriptor
        let tls: TLSStore?
        do {
            tls = try config.tls?.open()
        } catch {
            flock(descriptor, LOCK_UN)
            close(descriptor)
            throw error
        }
        self.tls = tls
        var fileSystem: any FileSystem = PosixFileSystem()
        if let faults = config.storageFaults {
            let layer = faults.fileSystem(around: fileSystem, dataDirectory: config.dataDirectory)
            NodeLog.warning(
                "storage fault layer on (fault-injection runs only): power loss \(layer.powerLoss ? "on" : "off"), "
                    + "control file \(layer.controlFile ?? "none")"
            )
            fileSystem = layer
        }
        // glibc raises its mmap threshold up to 32 MB each time a large block is freed, after which snapshot
        // buffers and grown deques come from the heap and their freed pages stay resident (issue 19): a fixed
        // threshold keeps every block of 1 MiB or more mapped on its own, returned to the system when freed.
        _ = ferry_malloc_fix_mmap_threshold(1 << 20)
        let storage = try NodeStorage(
            fileSystem: fileSystem,
            directory: config.dataDirectory,
            fsync: config.fsyncPolicy,
            segmentBytes: config.segmentBytes
        )
        for damage in storage.damage { NodeLog.error("write-ahead log damage: \(damage)") }
        if let warning = config.fsyncPolicy.startupWarning { NodeLog.warning(warning) }
        runtime = try NodeRuntime(config: config, storage: storage)
        runtime.tls = tls
        let dataDirectory = config.dataDirectory
        runtime.diskSpace = {
            var space = statvfs()
            guard statvfs(dataDirectory, &space) == 0 else { return (0, 0) }
            let unit = UInt64(space.f_frsize)
            return (UInt64(space.f_blocks) * unit, UInt64(space.f_bavail) * unit)
        }
        runtime.snapshotExecutor = ThreadSnapshotExecutor()
        if config.storageThread { runtime.syncExecutor = ThreadSyncExecutor(mailbox: runtime.mailbox) }
        loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        transport = PeerTransport(config: config, group: loops, mailbox: runtime.mailbox, tls: tls)
        runtime.transport = transport
        runtime.onPeersChanged = { [transport] nodes in transport.connect(nodes) }
        try transport.start()
        let mailbox = runtime.mailbox
        let auth =
            config.clientAuth == "keys" ? NativeAuth(config: config, keys: runtime.keys, authorize: authorize) : nil
        clientServer = try ServerBootstrap(group: loops)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try tls?.secureServer(channel, port: "client", plaintextAnswer: NodeTLSAnswers.client)
                    try channel.pipeline.syncOperations.addHandler(ClientInboundHandler(mailbox: mailbox, auth: auth))
                }
            }
            .bind(host: config.me.host, port: Int(config.me.clientPort)).wait()
        let local = NodeRouterTransport(config: config, mailbox: mailbox, peers: transport, group: loops)
        runtime.forwarder = local
        router = PartitionRouter(transport: local)
        http = try NodeHTTP.serve(
            host: config.me.host,
            port: Int(config.me.httpPort),
            group: loops,
            mailbox: mailbox,
            api: try api?(router, runtime.keys),
            security: tls.map { tls in
                { @Sendable channel in try tls.secureServer(channel, port: "http", plaintextAnswer: NodeTLSAnswers.http)
                }
            }
        )
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        thread = pool
        let runtime = runtime
        pool.submit { _ in
            runtime.run()
            // Stopped by a storage failure, not asked to: nothing more can be written, and a process that lingers
            // holds its clients' connections unanswered. It ends, so that its supervisor starts it again on its
            // durable log (a failed fsync may have dropped dirty pages: only a restart reads what is really there).
            if runtime.storageFailure != nil {
                NodeLog.error("the Raft thread stopped on a storage failure; exiting (status 70) to start again")
                exit(70)
            }
        }
        NodeLog.info(
            "node \(config.nodeID) of \(config.clusterID) serving clients on \(config.me.host):\(config.me.clientPort)"
                + (tls.map { " with TLS (certificate expires \($0.certificate.notAfter))" } ?? "")
        )
    }

    /// Refused TLS connections by `port/cause` (empty without TLS).
    package var tlsRefusals: [String: Int] { tls?.refusalCounts ?? [:] }

    /// Reads the TLS files again (SIGHUP): new connections use them, open ones keep theirs. On a bad file the old
    /// ones stay in use and the error names it.
    /// - Returns: nil when the node has no TLS.
    @discardableResult
    public func reloadTLS() throws(ConfigError) -> Int64? {
        guard let tls, let files = config.tls else { return nil }
        do {
            let facts = try tls.reload()
            NodeLog.info(
                "TLS files reloaded: certificate for \(facts.names.joined(separator: ", ")) expires \(facts.notAfter)"
            )
            return facts.notAfter
        } catch {
            NodeLog.error("TLS files not reloaded, the old ones stay in use: \(error)")
            throw ConfigError(field: files.field(of: error.file), reason: error.description)
        }
    }

    /// Stops the Raft thread, closes the listeners and connections, releases the lock. Graceful (SIGTERM): hands
    /// leaderships off first. Not graceful (tests): stops at once without syncing, as close to a crash as a
    /// process can do to itself; unsynced writes may survive in the page cache, unlike a power cut.
    public func stop(graceful: Bool = true) {
        runtime.stop(graceful: graceful)
        try? thread?.syncShutdownGracefully()
        thread = nil
        http?.stop()
        http = nil
        transport.stop()
        try? clientServer?.close().wait()
        clientServer = nil
        try? loops.syncShutdownGracefully()
        flock(lockDescriptor, LOCK_UN)
        close(lockDescriptor)
    }
}
