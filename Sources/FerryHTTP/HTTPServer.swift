import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// An HTTP request as a handler sees it: the SQS API's two protocols, the node's metrics and health.
public struct HTTPRequestParts: Sendable {
    public var method: String
    /// Percent-encoded, as sent.
    public var path: String
    public var query: String
    /// As sent, `Host` included (SigV4 signs it as a header).
    public var headers: [(name: String, value: String)]
    /// Empty when the body was longer than `HTTPLimits.maxBodyBytes` (then `bodyTooLarge`).
    public var body: [UInt8]
    /// The body exceeded `HTTPLimits.maxBodyBytes`; it was read to its end and dropped, so the connection stays
    /// usable, and the handler answers with its own error shape.
    public var bodyTooLarge: Bool
    /// The client's IP address (per-source limits), when the connection has one.
    public var remoteAddress: String?

    public init(
        method: String,
        path: String,
        query: String,
        headers: [(name: String, value: String)],
        body: [UInt8],
        bodyTooLarge: Bool = false,
        remoteAddress: String? = nil
    ) {
        self.remoteAddress = remoteAddress
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.bodyTooLarge = bodyTooLarge
    }
}

public enum HTTPLimits {
    /// Largest request body the API takes (SQS: a batch of at most 1 MiB, JSON-escaped or form-encoded).
    public static let maxBodyBytes = 12 << 20
}

/// Answers one request. Asynchronous: a long poll suspends, it blocks no thread.
public typealias HTTPAPIHandler =
    @Sendable (HTTPRequestParts) async -> (status: Int, headers: [(String, String)], body: [UInt8])

/// The SQS API of a node's HTTP port: its handler and its metrics (Prometheus text appended to the node's own),
/// and the pages served beside it (the console and its status API), routed before the API's paths.
public struct HTTPAPI: Sendable {
    public var handler: HTTPAPIHandler
    public var metrics: @Sendable () -> String
    public var pages: HTTPServer.Route?

    public init(
        handler: @escaping HTTPAPIHandler,
        metrics: @escaping @Sendable () -> String,
        pages: HTTPServer.Route? = nil
    ) {
        self.handler = handler
        self.metrics = metrics
        self.pages = pages
    }
}

/// Why a server could not start.
public struct HTTPServerError: Error, CustomStringConvertible {
    public var description: String
}

/// An HTTP/1.1 server on swift-nio's own HTTP codec: keep-alive, pipelined requests answered in order (NIO's
/// pipelining assistance reads the next request only after the previous answer), bodies gathered up to
/// `HTTPLimits.maxBodyBytes`, malformed requests answered 400 and closed. A request's handler runs as a task
/// on the connection's event loop (`EventLoopTaskExecutor`), so a request that needs no other thread is read,
/// answered and written by one thread; a long poll suspends without holding one.
///
/// Routing is the caller's: `route` picks a handler by method and path, or nil for 404.
public final class HTTPServer: Sendable {
    public typealias Route = @Sendable (_ method: String, _ path: String) -> HTTPAPIHandler?

    private let channel: any Channel
    private let connections: Connections

    /// Binds `host:port` and serves on `group`; returns once the listener is bound.
    /// - Parameter security: adds TLS (FerryTLS) to each accepted connection's pipeline before HTTP.
    /// - Throws: `HTTPServerError` when the port cannot be bound.
    public init(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        serverName: String,
        security: (@Sendable (any Channel) throws -> Void)? = nil,
        route: @escaping Route
    )
        throws(HTTPServerError)
    {
        let connections = Connections()
        let dates = DateHeader()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // A client that sends its request and shuts down its side still gets the answer.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try security?(channel)
                    let executor = EventLoopTaskExecutor(channel.eventLoop)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: true,
                        withErrorHandling: true,
                        // Every header is this node's own (no value a client chose): nothing to validate.
                        withOutboundHeaderValidation: false
                    )
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPConnectionHandler(
                            route: route,
                            executor: executor,
                            serverName: serverName,
                            dates: dates
                        )
                    )
                    connections.insert(channel)
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            throw HTTPServerError(description: "cannot serve HTTP on \(host):\(port): \(error)")
        }
        self.connections = connections
    }

    /// The bound port (the one asked for, or the kernel's pick for port 0).
    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Closes the listener and every connection; a long poll still parked is not waited for (its answer finds
    /// its connection closed). Waits at most 5 s for the listener to close.
    public func stop() {
        let closed = DispatchSemaphore(value: 0)
        channel.close().whenComplete { _ in closed.signal() }
        connections.closeAll()
        _ = closed.wait(timeout: .now() + 5)
    }
}

/// The open connections, so that `stop()` can close them.
private final class Connections: Sendable {
    private let open = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    func insert(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        open.withLockedValue { $0[key] = channel }
        channel.closeFuture.whenComplete { [open] _ in open.withLockedValue { _ = $0.removeValue(forKey: key) } }
    }

    func closeAll() {
        for channel in open.withLockedValue({ Array($0.values) }) { channel.close(promise: nil) }
    }
}

/// One connection's requests: gathers a request's head and body, runs its handler as a task on the event loop,
/// writes the answer.
private final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let route: HTTPServer.Route
    private let executor: EventLoopTaskExecutor
    private let serverName: String
    private let dates: DateHeader
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false

    init(route: @escaping HTTPServer.Route, executor: EventLoopTaskExecutor, serverName: String, dates: DateHeader) {
        self.route = route
        self.executor = executor
        self.serverName = serverName
        self.dates = dates
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received):
            head = received
            body.clear()
            tooLarge = false
        case .body(var chunk):
            guard !tooLarge else { return }
            if body.readableBytes + chunk.readableBytes > HTTPLimits.maxBodyBytes {
                tooLarge = true
                body = ByteBuffer()
            } else if body.readableBytes == 0 {
                body = chunk
            } else {
                body.writeBuffer(&chunk)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            dispatch(head, context: context)
        }
    }

    private func dispatch(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let uri = head.uri.utf8
        let mark = uri.firstIndex(of: UInt8(ascii: "?"))
        let path = String(Substring(head.uri.utf8[..<(mark ?? uri.endIndex)]))
        let query = mark.map { String(Substring(head.uri.utf8[uri.index(after: $0)...])) } ?? ""
        let method = head.method.rawValue
        let keepAlive = head.isKeepAlive
        let version = head.version
        guard let handler = route(method, path) else {
            respond(context: context, version: version, keepAlive: keepAlive, status: 404, headers: [], body: [])
            return
        }
        let parts = HTTPRequestParts(
            method: method,
            path: path,
            query: query,
            headers: head.headers.map { (name: $0.name, value: $0.value) },
            body: tooLarge ? [] : Array(body.readableBytesView),
            bodyTooLarge: tooLarge,
            remoteAddress: context.remoteAddress?.ipAddress
        )
        body = ByteBuffer()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        Task(executorPreference: executor) {
            let answer = await handler(parts)
            let write = {
                let (handler, context) = bound.value
                handler.respond(
                    context: context,
                    version: version,
                    keepAlive: keepAlive,
                    status: answer.status,
                    headers: answer.headers,
                    body: answer.body
                )
            }
            if loop.inEventLoop { write() } else { loop.execute(write) }
        }
    }

    private func respond(
        context: ChannelHandlerContext,
        version: HTTPVersion,
        keepAlive: Bool,
        status: Int,
        headers: [(String, String)],
        body: [UInt8]
    ) {
        guard context.channel.isActive else { return }
        var fields = HTTPHeaders()
        fields.reserveCapacity(headers.count + 4)
        for (name, value) in headers { fields.add(name: name, value: value) }
        fields.replaceOrAdd(name: "Content-Length", value: String(body.count))
        fields.add(name: "Date", value: dates.now())
        fields.add(name: "Server", value: serverName)
        if !keepAlive { fields.replaceOrAdd(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: fields)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !body.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                loopBound.value.close(promise: nil)
            }
        }
    }
}

/// The `Date` header (RFC 9110 §5.6.7), formatted at most once a second.
private final class DateHeader: Sendable {
    private let cached = NIOLockedValueBox<(second: Int, text: String)>((-1, ""))

    func now() -> String {
        var seconds = time(nil)
        if let hit = cached.withLockedValue({ $0.second == seconds ? $0.text : nil }) { return hit }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let text =
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
        cached.withLockedValue { $0 = (Int(seconds), text) }
        return text
    }
}

/// A task executor (SE-0417) that runs its jobs on an event loop, in the order enqueued. Whoever waits for such
/// a task blocks a thread other than the loop's.
public final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    public let loop: any EventLoop

    public init(_ loop: any EventLoop) { self.loop = loop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
