import FerryModel
import FerryRaft
import FerryTLS
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The first bytes on a peer connection: `magic u64 | version u16 | cluster id (u16 + UTF-8) | from u64 |
/// to u64`. The listener closes a connection whose cluster or target node is not its own.
package struct PeerHello: Equatable {
    static let magic: UInt64 = 0x4645_5252_5950_4545  // "FERRYPEE"
    static let version: UInt16 = 1
    package var clusterID: String
    package var from: UInt64
    package var to: UInt64

    package init(clusterID: String, from: UInt64, to: UInt64) {
        self.clusterID = clusterID
        self.from = from
        self.to = to
    }

    package func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.magic)
        buffer.writeInteger(Self.version)
        buffer.writeInteger(UInt16(clusterID.utf8.count))
        buffer.writeString(clusterID)
        buffer.writeInteger(from)
        buffer.writeInteger(to)
        return buffer
    }

    /// nil when more bytes are needed; throws on a malformed hello.
    static func decode(_ buffer: inout ByteBuffer) throws -> PeerHello? {
        guard buffer.readableBytes >= 12,
            let length = buffer.getInteger(at: buffer.readerIndex + 10, as: UInt16.self)
        else { return nil }
        guard buffer.readableBytes >= 12 + Int(length) + 16 else { return nil }
        guard buffer.readInteger(as: UInt64.self) == magic, buffer.readInteger(as: UInt16.self) == version else {
            throw WireDecodeError.malformed("not a Ferry peer connection")
        }
        buffer.moveReaderIndex(forwardBy: 2)
        let clusterID = buffer.readString(length: Int(length)) ?? ""
        return PeerHello(clusterID: clusterID, from: buffer.readInteger()!, to: buffer.readInteger()!)
    }
}

/// Decodes a peer connection: the hello, then `PeerFrame`s, each posted to the node's mailbox.
final class PeerInboundHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let clusterID: String
    let nodeID: UInt64
    let mailbox: Mailbox
    /// Answers forwarded requests on this node's own connection to the peer.
    let transport: PeerTransport
    /// The names of the peer's verified certificate (mutual TLS): the hello must come from a member whose host
    /// is one of them. nil: plain peer port.
    let identity: PeerIdentity?
    private var buffer = ByteBuffer()
    private var peer: UInt64?

    init(clusterID: String, nodeID: UInt64, mailbox: Mailbox, transport: PeerTransport, identity: PeerIdentity?) {
        self.clusterID = clusterID
        self.nodeID = nodeID
        self.mailbox = mailbox
        self.transport = transport
        self.identity = identity
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        do {
            if peer == nil {
                guard let hello = try PeerHello.decode(&buffer) else { return }
                guard hello.clusterID == clusterID, hello.to == nodeID, hello.from != nodeID else {
                    NodeLog.warning(
                        "peer connection refused: cluster \(hello.clusterID), from \(hello.from), to \(hello.to)",
                        .peer
                    )
                    context.close(promise: nil)
                    return
                }
                if let identity, let refusal = transport.refusal(of: hello.from, names: identity.names ?? []) {
                    transport.tls?.refused("peer", "identity")
                    NodeLog.warning(
                        "peer connection from \(context.remoteAddress.map { "\($0)" } ?? "?") refused: \(refusal)",
                        .peer
                    )
                    context.close(promise: nil)
                    return
                }
                peer = hello.from
                mailbox.post(.peerJoined(hello.from))
            }
            while let item = try PeerInbound.decode(from: &buffer) {
                switch item {
                case .raft(let frame): mailbox.post(.peer(groupID: frame.groupID, message: frame.message))
                case .control(.forward(let from, let frame)):
                    guard from == peer, case .request(let request) = frame.payload else {
                        throw WireDecodeError.malformed("a forwarded request from \(from) on \(peer ?? 0)'s connection")
                    }
                    let (id, transport, me) = (frame.correlationID, transport, nodeID)
                    mailbox.post(
                        .client(
                            ClientCall(request: request, requestID: .forwarded(from: from, id: id)) { response in
                                let reply = PeerControl.forwardReply(from: me, .response(id, response))
                                transport.reply(reply.encoded(), to: from)
                            }
                        )
                    )
                case .control(.forwardReply(_, let frame)):
                    if case .response(let response) = frame.payload {
                        transport.forwarded.answer(frame.correlationID, response)
                    }
                case .control(let control): mailbox.post(.control(control))
                }
            }
            buffer.discardReadBytes()
        } catch {
            NodeLog.warning("peer \(peer ?? 0) sent a bad frame, closing: \(error)", .peer)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let peer { mailbox.post(.peerLost(peer)) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Where a node's Raft thread sends its frames: the peer connections, or a simulated network.
package protocol PeerSender: AnyObject, Sendable {
    /// Writes `frames` to `peer` in order; false (frames dropped) when the peer is not connected.
    @discardableResult
    func send(_ frames: [ByteBuffer], to peer: UInt64) -> Bool
}

/// One connection per ordered node pair (DESIGN §6): this node dials every peer from its own address and
/// writes its frames there; peers dial back for theirs. A broken connection is redialled with backoff (50 ms
/// doubling to 1 s); frames for a peer without a connection are dropped (Raft resends).
package final class PeerTransport: PeerSender, @unchecked Sendable {
    let config: NodeConfig
    let group: any EventLoopGroup
    let mailbox: Mailbox
    /// Client requests this node forwarded to its peers (the SQS API's), awaiting their answers.
    package let forwarded = ForwardedCalls()
    private let lock = NIOLock()
    private var channels: [UInt64: any Channel] = [:]
    /// The peers dialled (and redialled while they stay here): the configured members, then the catalog's nodes.
    private var peers: [UInt64: MemberConfig] = [:]
    private var stopped = false
    private var server: (any Channel)?
    /// Mutual TLS on the peer port and on the connections this node dials (nil: plain).
    let tls: TLSStore?

    package init(config: NodeConfig, group: any EventLoopGroup, mailbox: Mailbox, tls: TLSStore? = nil) {
        self.config = config
        self.group = group
        self.mailbox = mailbox
        self.tls = tls
    }

    /// Whether one of a certificate's `names` is the host of a member (another node of the configuration or
    /// the catalog): the peer port accepts no other certificate.
    func isMember(_ names: [String]) -> Bool {
        let hosts = lock.withLock { peers.values.map(\.host) }
        return names.contains { name in hosts.contains { TLSStore.sameName(name, $0) } }
    }

    /// Why a connection whose certificate carries `names` may not speak for node `id`, or nil when it may (its
    /// certificate names that member's host).
    func refusal(of id: UInt64, names: [String]) -> String? {
        guard let member = lock.withLock({ peers[id] }) else { return "node \(id) is not a member" }
        guard names.contains(where: { TLSStore.sameName($0, member.host) }) else {
            return "its certificate names \(names.joined(separator: ", ")), not node \(id)'s host \(member.host)"
        }
        return nil
    }

    package func start() throws {
        let me = config.me
        let clusterID = config.clusterID
        let nodeID = config.nodeID
        let mailbox = mailbox
        let transport = self
        let tls = tls
        server = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let identity = try tls?.securePeerServer(channel) { transport.isMember($0) }
                    try channel.pipeline.syncOperations.addHandler(
                        PeerInboundHandler(
                            clusterID: clusterID,
                            nodeID: nodeID,
                            mailbox: mailbox,
                            transport: transport,
                            identity: identity
                        )
                    )
                }
            }
            .bind(host: me.host, port: Int(config.peerListenPort ?? me.peerPort)).wait()
        connect(config.members)
    }

    /// Dials every node of `nodes` not dialled yet, and stops redialling nodes no longer among them.
    package func connect(_ nodes: [MemberConfig]) {
        let added = lock.withLock { () -> [MemberConfig] in
            let fresh = nodes.filter { $0.id != config.nodeID && peers[$0.id] != $0 }
            peers = Dictionary(uniqueKeysWithValues: nodes.filter { $0.id != config.nodeID }.map { ($0.id, $0) })
            return fresh
        }
        for member in added { dial(member, delayMs: 0) }
    }

    private func dial(_ member: MemberConfig, delayMs: Int64) {
        let loop = group.next()
        loop.scheduleTask(in: .milliseconds(delayMs)) { [self] in
            guard !lock.withLock({ stopped || peers[member.id] != member }) else { return }
            let hello = PeerHello(clusterID: config.clusterID, from: config.nodeID, to: member.id).encoded()
            let tls = tls
            ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try tls?.securePeerClient(channel, host: member.host) }
                }
                .connectTimeout(.milliseconds(500))
                .bind(to: try! SocketAddress(ipAddress: config.me.host, port: 0))
                .connect(host: member.host, port: Int(member.peerPort))
                .whenComplete { [self] result in
                    switch result {
                    case .success(let channel):
                        channel.writeAndFlush(hello, promise: nil)
                        lock.withLock { channels[member.id] = channel }
                        channel.closeFuture.whenComplete { [self] _ in
                            lock.withLock { if channels[member.id] === channel { channels[member.id] = nil } }
                            forwarded.connectionBroke(peer: member.id)
                            mailbox.post(.peerLost(member.id))
                            dial(member, delayMs: 50)
                        }
                    case .failure:
                        dial(member, delayMs: min(1_000, max(50, delayMs * 2)))
                    }
                }
        }
    }

    /// Writes a round's frames to `peer` with one flush; drops them when the peer is not connected.
    /// - Returns: whether the peer was connected.
    @discardableResult
    package func send(_ frames: [ByteBuffer], to peer: UInt64) -> Bool {
        guard let channel = lock.withLock({ channels[peer] }) else { return false }
        channel.eventLoop.execute {
            for frame in frames { channel.write(frame, promise: nil) }
            channel.flush()
        }
        return true
    }

    /// Answers a request `peer` forwarded here, on this node's own connection to it. Right after either node
    /// restarted that connection may still be being redialled (up to 1 s of backoff): the answer waits for it,
    /// tried every 50 ms for 3 s, rather than being dropped and leaving the asker waiting for its 5 s timeout
    /// (Tests/deploy's SQS producer paused 6 s during rolling restarts).
    func reply(_ frame: ByteBuffer, to peer: UInt64, attempts: Int = 60) {
        guard !send([frame], to: peer), attempts > 1, !lock.withLock({ stopped }) else { return }
        group.next().scheduleTask(in: .milliseconds(50)) { [self] in reply(frame, to: peer, attempts: attempts - 1) }
    }

    package func stop() {
        let open = lock.withLock {
            stopped = true
            return Array(channels.values)
        }
        for channel in open { channel.close(promise: nil) }
        try? server?.close().wait()
    }
}
