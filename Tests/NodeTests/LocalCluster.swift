import FerryNode
import FerryQueue
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking test client of the native protocol: one connection per node, pipelined requests matched by
/// correlation id.
final class TestClient: @unchecked Sendable {
    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let lock = NIOLock()
        var buffer = ByteBuffer()
        var waiting: [UInt32: EventLoopPromise<ClientResponse>] = [:]

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            buffer.writeBuffer(&incoming)
            while let frame = try? ClientFrame.decode(from: &buffer) {
                guard case .response(let response) = frame.payload else { continue }
                lock.withLock { waiting.removeValue(forKey: frame.correlationID) }?.succeed(response)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            let all = lock.withLock {
                defer { waiting = [:] }
                return Array(waiting.values)
            }
            for promise in all { promise.fail(ChannelError.ioOnClosedChannel) }
        }
    }

    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channels: [UInt64: (any Channel, Handler)] = [:]
    private var nextID: UInt32 = 1
    let members: [MemberConfig]

    init(members: [MemberConfig]) {
        self.members = members
    }

    deinit { try? group.syncShutdownGracefully() }

    /// One request to node `id`; nil when the node cannot be reached or does not answer in time.
    func call(_ id: UInt64, _ request: ClientRequest, timeoutMs: Int64 = 3_000) -> ClientResponse? {
        guard let (channel, handler) = connection(id) else { return nil }
        nextID += 1
        let correlation = nextID
        let promise = channel.eventLoop.makePromise(of: ClientResponse.self)
        handler.lock.withLock { handler.waiting[correlation] = promise }
        channel.writeAndFlush(ClientFrame.request(correlation, request).encoded(), promise: nil)
        let timeout = channel.eventLoop.scheduleTask(in: .milliseconds(timeoutMs)) {
            handler.lock.withLock { handler.waiting.removeValue(forKey: correlation) }?.fail(
                ChannelError.connectTimeout(.milliseconds(timeoutMs))
            )
        }
        defer { timeout.cancel() }
        guard let response = try? promise.futureResult.wait() else {
            channels[id] = nil
            return nil
        }
        return response
    }

    private func connection(_ id: UInt64) -> (any Channel, Handler)? {
        if let open = channels[id], open.0.isActive { return open }
        guard let member = members.first(where: { $0.id == id }) else { return nil }
        let handler = Handler()
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(500))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
        let connected = try? bootstrap.connect(host: member.host, port: Int(member.clientPort)).wait()
        guard let channel = connected else { return nil }
        channels[id] = (channel, handler)
        return (channel, handler)
    }

    /// Sends `request` to `first`, following `notLeader` hints and retrying unavailable answers until
    /// `deadlineMs` passes.
    func callLeader(
        _ request: ClientRequest,
        first: UInt64 = 1,
        deadlineMs: Int64 = 10_000,
        accept: (ClientResponse) -> Bool = { _ in true }
    ) -> ClientResponse? {
        let end = LocalCluster.nowMs() + deadlineMs
        var target = first
        var last: ClientResponse?
        while LocalCluster.nowMs() < end {
            let response = call(target, request)
            last = response
            switch response {
            case .error(let error)? where error.code == .notLeader:
                target = error.leaderHint != 0 ? error.leaderHint : members[Int(target % UInt64(members.count))].id
                usleep(20_000)
            case .error(let error)? where error.code.isRetriable || error.code == .timeout:
                usleep(50_000)
            case nil:
                target = members[Int(target % UInt64(members.count))].id
                usleep(50_000)
            case let answer?:
                if accept(answer) { return answer }
                usleep(50_000)
            }
        }
        return last
    }
}

/// Three nodes in this process on 127.0.0.1, each with its own data directory, ports and Raft thread.
final class LocalCluster {
    let members: [MemberConfig]
    let directory: String
    var servers: [UInt64: FerryNodeServer] = [:]

    static let clusters = NIOLockedValueBox(0)

    static func nowMs() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
    }

    init(nodes: Int = 3, name: String) {
        // Ports from the process id and a counter, so that parallel clusters and test processes do not collide.
        let base =
            20_000 + Int(getpid() % 1_000) * 40
            + Self.clusters.withLockedValue { count in
                defer { count += 1 }
                return (count % 3) * 13
            }
        members = (1...nodes).map {
            MemberConfig(
                id: UInt64($0),
                host: "127.0.0.1",
                peerPort: UInt16(base + 3 * $0),
                clientPort: UInt16(base + 3 * $0 + 1),
                httpPort: UInt16(base + 3 * $0 + 2)
            )
        }
        var template = Array("/tmp/ferry-\(name)-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func config(_ id: UInt64) -> NodeConfig {
        var config = NodeConfig(nodeID: id, clusterID: "test", dataDirectory: "\(directory)/\(id)", members: members)
        config.tickMs = 20
        return config
    }

    func start(_ id: UInt64) throws {
        servers[id] = try FerryNodeServer(config: config(id))
    }

    func startAll() throws {
        for member in members { try start(member.id) }
    }

    func stop(_ id: UInt64) {
        servers.removeValue(forKey: id)?.stop()
    }

    func stopAll() {
        for id in servers.keys.sorted() { stop(id) }
    }
}
