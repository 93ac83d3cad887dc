import Dispatch
import FerryRouter
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// An HTTP request handed to a handler outside FerryNode (the SQS API: FerrySQS and FerryNode do not import each
/// other; the `ferry` executable joins them).
public struct HTTPRequestParts: Sendable {
    public var method: String
    /// Percent-encoded, as sent.
    public var path: String
    public var query: String
    public var headers: [(name: String, value: String)]
    /// Empty when the body was longer than `HTTPServer.maxBodyBytes` (then `bodyTooLarge`).
    public var body: [UInt8]
    /// The body exceeded `HTTPServer.maxBodyBytes`; it was read to its end and dropped, so the connection stays
    /// usable, and the handler answers with its own error shape.
    public var bodyTooLarge: Bool
}

public enum HTTPLimits {
    /// Largest request body the API takes (SQS: a batch of at most 1 MiB, JSON-escaped or form-encoded).
    public static let maxBodyBytes = 12 << 20
}

/// Answers the API requests of the HTTP port: `POST` and `GET` of `/` and of `/<account>/<queue>` (the SQS
/// API's AWS JSON and query protocols). Asynchronous: a long poll suspends, it blocks no thread.
public typealias HTTPAPIHandler =
    @Sendable (HTTPRequestParts) async -> (status: Int, headers: [(String, String)], body: [UInt8])

/// The HTTP port's API: its handler and its metrics (Prometheus text appended to the node's own).
public struct HTTPAPI: Sendable {
    public var handler: HTTPAPIHandler
    public var metrics: @Sendable () -> String

    public init(handler: @escaping HTTPAPIHandler, metrics: @escaping @Sendable () -> String) {
        self.handler = handler
        self.metrics = metrics
    }
}

/// The node's HTTP port (Hummingbird on the node's event loops): `GET /metrics` (Prometheus text),
/// `GET /health`, and `POST /` for the SQS API when a handler is given (DESIGN §6).
final class HTTPServer: @unchecked Sendable {
    static var maxBodyBytes: Int { HTTPLimits.maxBodyBytes }
    private var task: Task<Void, any Error>?
    /// The server's async code runs on the node's event loop, the thread that reads and writes its connections,
    /// never on the cooperative pool (a caller, or a test, that blocks cooperative threads must not stall the
    /// node's HTTP port). A thread of its own cost two more hand-offs per request.
    private let executor: EventLoopTaskExecutor
    /// Set by `stop()`: Hummingbird's complaints about its own cancellation are not worth a log line.
    private let stopping = StopFlag()

    /// Binds `host:port` and serves; returns once the listener is bound.
    /// - Throws: `ConfigError` (`http_port`) when the port cannot be bound within 5 s.
    /// - Parameter api: answers the API's requests (the SQS API) and adds its metrics, if given.
    init(host: String, port: Int, group: any EventLoopGroup, mailbox: Mailbox, api: HTTPAPI? = nil) throws {
        executor = EventLoopTaskExecutor(group.next())
        let router = Router()
        let metrics = api?.metrics
        if let api = api?.handler {
            let route: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
                var body = ByteBuffer()
                var tooLarge = false
                for try await chunk in request.body {
                    tooLarge = tooLarge || body.readableBytes + chunk.readableBytes > Self.maxBodyBytes
                    if !tooLarge { body.writeImmutableBuffer(chunk) }
                }
                var headers = request.headers.map { (name: $0.name.rawName, value: $0.value) }
                // HTTPTypes moves `Host` into the request's authority; signatures cover it as a header.
                if let authority = request.head.authority { headers.append((name: "Host", value: authority)) }
                let parts = HTTPRequestParts(
                    method: request.method.rawValue,
                    path: request.uri.path,
                    query: request.uri.query ?? "",
                    headers: headers,
                    body: tooLarge ? [] : Array(body.readableBytesView),
                    bodyTooLarge: tooLarge
                )
                let answer = await api(parts)
                var fields = HTTPFields()
                for (name, value) in answer.headers {
                    // HTTPField through HTTPFields: Hummingbird re-exports the collection, not its element.
                    typealias Field = HTTPFields.Element
                    if let field = Field.Name(name) { fields.append(Field(name: field, value: value)) }
                }
                return Response(
                    status: HTTPResponse.Status(code: answer.status),
                    headers: fields,
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body))
                )
            }
            for path in ["/", "/:account/:queue"] {
                router.post(RouterPath(path), use: route)
                router.get(RouterPath(path), use: route)
            }
        }
        router.get("metrics") { _, _ -> Response in
            var text = await withCheckedContinuation { continuation in
                mailbox.post(.metrics { continuation.resume(returning: $0) })
            }
            if let metrics { text += metrics() }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text))
            )
        }
        router.get("health") { _, _ in "ok\n" }
        let bound = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "ferry"),
            onServerRunning: { _ in bound.signal() },
            eventLoopGroupProvider: .shared(group),
            logger: Logger(label: "ferry.http") { [stopping] _ in NodeLogHandler(stopping: stopping) }
        )
        task = Task(executorPreference: executor) {
            do {
                try await app.run()
            } catch {
                failure.error = error
                bound.signal()
                throw error
            }
        }
        guard bound.wait(timeout: .now() + 5) == .success, failure.error == nil else {
            task?.cancel()
            throw ConfigError(
                field: "http_port",
                reason: "cannot serve HTTP on \(host):\(port): \(failure.error.map { "\($0)" } ?? "timed out")"
            )
        }
        NodeLog.info("serving metrics on http://\(host):\(port)/metrics")
    }

    /// Stops the listener (the task's cancellation shuts the service group down) and waits for it.
    func stop() {
        guard let task else { return }
        self.task = nil
        stopping.set()
        task.cancel()
        let done = DispatchSemaphore(value: 0)
        Task(executorPreference: executor) {
            _ = await task.result
            done.signal()
        }
        // A long poll still parked (up to 20 s) is not waited for: a stopping node exits within 5 s.
        _ = done.wait(timeout: .now() + 5)
    }
}

/// A task executor (SE-0417) that runs its jobs on an event loop, in the order enqueued. Whoever waits for such
/// a task blocks a thread other than the loop's (`stop()` waits on its caller's).
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

private final class FailureBox: @unchecked Sendable {
    var error: (any Error)?
}

final class StopFlag: Sendable {
    private let value = NIOLockedValueBox(false)
    func set() { value.withLockedValue { $0 = true } }
    var isSet: Bool { value.withLockedValue { $0 } }
}

/// Hummingbird's log lines in the node's JSON format; only warnings and errors (no per-request lines).
struct NodeLogHandler: LogHandler {
    let stopping: StopFlag
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard !stopping.isSet else { return }
        let text = "http: \(event.message)"
        event.level >= .error ? NodeLog.error(text) : NodeLog.warning(text)
    }
}
