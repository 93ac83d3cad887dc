import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A userspace proxy in front of every node's peer listener (the kernel here has no `tc netem`): nodes dial
/// each other's advertised peer port, where this listens, and it relays to the node's real peer port, dialling
/// from the caller's own address so that iptables partitions still cut the path. Faults change its mode:
/// `delay` holds every chunk for a fixed time plus jitter (order kept), `drop` resets a connection at random
/// (a lost packet's worst case for a stream: the nodes redial).
final class PeerProxy: @unchecked Sendable {
    enum Mode: Sendable, Equatable {
        case pass
        case delay(ms: Int64, jitterMs: Int64)
        case drop(probability: Double)
    }

    let mode = NIOLockedValueBox(Mode.pass)
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var servers: [any Channel] = []

    /// Listens on `host:listenPort` for each host and relays to `host:targetPort`.
    init(hosts: [String], listenPort: Int, targetPort: Int) throws {
        for host in hosts {
            let mode = mode
            let group = group
            let server = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.autoRead, value: false)
                .childChannelInitializer { inbound in
                    inbound.eventLoop.makeCompletedFuture {
                        let relay = Relay(mode: mode)
                        // Dial only once the accepted channel is active: a loopback connect can complete at
                        // once, and a read() asked of a channel not yet active is lost, so it never read.
                        relay.onActive = { inbound in
                            Self.connect(inbound, relay: relay, to: host, port: targetPort, mode: mode)
                        }
                        try inbound.pipeline.syncOperations.addHandler(relay)
                    }
                }
                .bind(host: host, port: listenPort).wait()
            servers.append(server)
        }
    }

    func stop() {
        for server in servers { try? server.close().wait() }
        try? group.syncShutdownGracefully()
    }

    /// Dials the node from the caller's address, then relays both ways.
    private static func connect(
        _ inbound: any Channel,
        relay toNode: Relay,
        to host: String,
        port: Int,
        mode: NIOLockedValueBox<Mode>
    ) {
        let toCaller = Relay(mode: mode)
        toCaller.peer = inbound
        var bootstrap = ClientBootstrap(group: inbound.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.milliseconds(500))
            .channelInitializer { outbound in
                outbound.eventLoop.makeCompletedFuture { try outbound.pipeline.syncOperations.addHandler(toCaller) }
            }
        if let source = inbound.remoteAddress?.ipAddress, let address = try? SocketAddress(ipAddress: source, port: 0) {
            bootstrap = bootstrap.bind(to: address)
        }
        inbound.closeFuture.whenComplete { _ in toCaller.peer = nil }
        bootstrap.connect(host: host, port: port).whenComplete { result in
            switch result {
            case .success(let outbound):
                outbound.closeFuture.whenComplete { _ in inbound.close(promise: nil) }
                inbound.closeFuture.whenComplete { _ in outbound.close(promise: nil) }
                toNode.peer = outbound
                inbound.read()
            case .failure:
                inbound.close(promise: nil)
            }
        }
    }

    /// Relays what one side reads to the other, after the mode's delay; resets both at the mode's drop rate.
    final class Relay: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let mode: NIOLockedValueBox<Mode>
        var peer: (any Channel)?
        /// Called once when the channel becomes active (the accepted side dials the node then).
        var onActive: ((any Channel) -> Void)?
        /// Delayed chunks in arrival order with their release times; one scheduled drain writes them in order
        /// (timers with equal deadlines may fire in any order, so each chunk must not have its own).
        private var queue: [(releaseNs: UInt64, chunk: ByteBuffer)] = []
        private var draining = false
        private var random = SystemRandomNumberGenerator()

        init(mode: NIOLockedValueBox<Mode>) { self.mode = mode }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let chunk = unwrapInboundIn(data)
            guard let peer else { return }
            switch mode.withLockedValue({ $0 }) {
            case .pass where queue.isEmpty:
                peer.writeAndFlush(chunk, promise: nil)
            case .pass:
                enqueue(chunk, delayMs: 0, context: context)
            case .drop(let probability):
                if Double.random(in: 0..<1, using: &random) < probability {
                    queue = []
                    context.close(promise: nil)
                    peer.close(promise: nil)
                } else if queue.isEmpty {
                    peer.writeAndFlush(chunk, promise: nil)
                } else {
                    enqueue(chunk, delayMs: 0, context: context)
                }
            case .delay(let ms, let jitter):
                let extra = jitter > 0 ? Int64.random(in: 0...jitter, using: &random) : 0
                enqueue(chunk, delayMs: ms + extra, context: context)
            }
        }

        private func enqueue(_ chunk: ByteBuffer, delayMs: Int64, context: ChannelHandlerContext) {
            let now = DispatchTime.now().uptimeNanoseconds
            queue.append((max(queue.last?.releaseNs ?? 0, now + UInt64(delayMs) * 1_000_000), chunk))
            scheduleDrain(on: context.eventLoop)
        }

        private func scheduleDrain(on loop: any EventLoop) {
            guard !draining, let first = queue.first else { return }
            draining = true
            let now = DispatchTime.now().uptimeNanoseconds
            let wait = first.releaseNs > now ? Int64(first.releaseNs - now) : 0
            loop.scheduleTask(in: .nanoseconds(wait)) { [self] in
                draining = false
                let now = DispatchTime.now().uptimeNanoseconds
                var due = 0
                while due < queue.count && queue[due].releaseNs <= now { due += 1 }
                if let peer {
                    for (_, chunk) in queue.prefix(due) { peer.write(chunk, promise: nil) }
                    peer.flush()
                }
                queue.removeFirst(due)
                scheduleDrain(on: loop)
            }
        }

        func channelActive(context: ChannelHandlerContext) {
            if let onActive {
                self.onActive = nil
                onActive(context.channel)
            }
            context.fireChannelActive()
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            context.read()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
