import FerryModel
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
    /// A flush is queued on the event loop (touched only there).
    private var flushScheduled = false

    /// Connects to `host:port`, waiting for the connection.
    public convenience init(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        timeoutMs: Int64 = 1_000
    ) throws(FerryClientError) {
        let (channel, handler) = Self.bootstrap(group: group, timeoutMs: timeoutMs)
        do {
            self.init(host: host, port: port, channel: try channel.connect(host: host, port: port).wait(), handler)
        } catch {
            throw .unreachable("\(host):\(port): \(error)")
        }
    }

    private init(host: String, port: Int, channel: any Channel, _ handler: Handler) {
        self.host = host
        self.port = port
        self.channel = channel
        self.handler = handler
    }

    /// Connects to `host:port` without waiting: the future fails with `FerryClientError.unreachable`.
    public static func open(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        timeoutMs: Int64 = 1_000
    ) -> EventLoopFuture<Connection> {
        let (bootstrap, handler) = bootstrap(group: group, timeoutMs: timeoutMs)
        return bootstrap.connect(host: host, port: port)
            .map { Connection(host: host, port: port, channel: $0, handler) }
            .flatMapErrorThrowing { throw FerryClientError.unreachable("\(host):\(port): \($0)") }
    }

    private static func bootstrap(group: any EventLoopGroup, timeoutMs: Int64) -> (ClientBootstrap, Handler) {
        let handler = Handler()
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(timeoutMs))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
        return (bootstrap, handler)
    }

    public var isActive: Bool { channel.isActive }

    /// Sends one request and waits for its answer.
    public func call(_ request: ClientRequest, timeoutMs: Int64) throws(FerryClientError) -> ClientResponse {
        do {
            return try start(request, timeoutMs: timeoutMs).wait()
        } catch let error as FerryClientError {
            throw error
        } catch {
            throw .unreachable("\(host):\(port): \(error)")
        }
    }

    /// Sends one request without waiting (pipelining): the future gets the answer, or fails with
    /// `FerryClientError.timeout` after `timeoutMs` or `.unreachable` when the connection breaks.
    public func start(_ request: ClientRequest, timeoutMs: Int64) -> EventLoopFuture<ClientResponse> {
        let id = lock.withLock {
            nextID &+= 1
            return nextID
        }
        let promise = channel.eventLoop.makePromise(of: ClientResponse.self)
        handler.lock.withLock { handler.waiting[id] = promise }
        let pending = handler
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            pending.lock.withLock { pending.waiting.removeValue(forKey: id) }?.fail(error)
        }
        let frame = ClientFrame.request(id, request).encoded()
        if channel.eventLoop.inEventLoop {
            // Started from an answer's callback (pipelined load): the requests started in one event-loop turn
            // leave with one flush.
            channel.write(frame, promise: written)
            if !flushScheduled {
                flushScheduled = true
                let channel = channel
                channel.eventLoop.execute {
                    self.flushScheduled = false
                    channel.flush()
                }
            }
        } else {
            channel.writeAndFlush(frame, promise: written)
        }
        let (host, port) = (host, port)
        let timeout = channel.eventLoop.scheduleTask(in: .milliseconds(timeoutMs)) {
            pending.lock.withLock { pending.waiting.removeValue(forKey: id) }?
                .fail(FerryClientError.timeout("\(host):\(port) did not answer within \(timeoutMs) ms"))
        }
        return promise.futureResult.flatMapErrorThrowing { error in
            timeout.cancel()
            if let error = error as? FerryClientError { throw error }
            throw FerryClientError.unreachable("\(host):\(port): \(error)")
        }.map { response in
            timeout.cancel()
            return response
        }
    }

    public func close() {
        channel.close(promise: nil)
    }
}
