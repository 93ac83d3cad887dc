import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Why a client call failed before the server answered it.
public enum FerryClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No connection to the endpoint(s).
    case unreachable(String)
    /// No answer within the timeout: the request may or may not have taken effect.
    case timeout(String)
    /// The server refused, with a typed error.
    case server(WireError)
    case badEndpoint(String)

    public var description: String {
        switch self {
        case .unreachable(let detail): return "unreachable: \(detail)"
        case .timeout(let detail): return "timeout: \(detail)"
        case .server(let error): return "\(error)"
        case .badEndpoint(let text): return "bad endpoint \(text): expected host:port"
        }
    }
}

/// One TCP connection to one node: pipelined requests, answers matched by correlation id. Thread-safe.
public final class Connection: @unchecked Sendable {
    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let lock = NIOLock()
        var buffer = ByteBuffer()
        var waiting: [UInt32: EventLoopPromise<ClientResponse>] = [:]

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            buffer.writeBuffer(&incoming)
            do {
                while let frame = try ClientFrame.decode(from: &buffer) {
                    guard case .response(let response) = frame.payload else { continue }
                    lock.withLock { waiting.removeValue(forKey: frame.correlationID) }?.succeed(response)
                }
                buffer.discardReadBytes()
            } catch {
                context.close(promise: nil)
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

    public let host: String
    public let port: Int
    let channel: any Channel
    let handler: Handler
    private let lock = NIOLock()
    private var nextID: UInt32 = 0

    /// Connects to `host:port`.
    public init(host: String, port: Int, group: any EventLoopGroup, timeoutMs: Int64 = 1_000) throws(FerryClientError) {
        self.host = host
        self.port = port
        let handler = Handler()
        self.handler = handler
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(timeoutMs))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
        do {
            channel = try bootstrap.connect(host: host, port: port).wait()
        } catch {
            throw .unreachable("\(host):\(port): \(error)")
        }
    }

    public var isActive: Bool { channel.isActive }

    /// Sends one request and waits for its answer.
    public func call(_ request: ClientRequest, timeoutMs: Int64) throws(FerryClientError) -> ClientResponse {
        let id = lock.withLock {
            nextID &+= 1
            return nextID
        }
        let promise = channel.eventLoop.makePromise(of: ClientResponse.self)
        handler.lock.withLock { handler.waiting[id] = promise }
        channel.writeAndFlush(ClientFrame.request(id, request).encoded(), promise: nil)
        let pending = handler
        let timeout = channel.eventLoop.scheduleTask(in: .milliseconds(timeoutMs)) {
            pending.lock.withLock { pending.waiting.removeValue(forKey: id) }?
                .fail(ChannelError.connectTimeout(.milliseconds(timeoutMs)))
        }
        defer { timeout.cancel() }
        do {
            return try promise.futureResult.wait()
        } catch ChannelError.connectTimeout {
            throw .timeout("\(host):\(port) did not answer within \(timeoutMs) ms")
        } catch {
            throw .unreachable("\(host):\(port): \(error)")
        }
    }

    public func close() {
        channel.close(promise: nil)
    }
}
