import FerryNet
import FerryWire

/// Where a request goes: a node by id (the transport knows its address from the metadata), or any node, the
/// `attempt`-th of those the transport knows (wrapping around).
public enum RouteTarget: Sendable, Hashable {
    case node(UInt64)
    case any(attempt: Int)
}

/// How a `PartitionRouter` reaches the nodes: the Swift client's TCP connections to their client ports, or,
/// inside a node, its own Raft thread's mailbox and forwarding to the other nodes over the peer connections.
public protocol RouterTransport: Sendable {
    /// Sends one request; `completion` gets its answer, once, on any thread: `.timeout` when none came within
    /// `timeoutMs` (the outcome is unknown), `.unreachable` when the target could not be reached (the request
    /// never left).
    func start(
        _ request: ClientRequest,
        at target: RouteTarget,
        timeoutMs: Int64,
        _ completion: @escaping @Sendable (Result<ClientResponse, FerryClientError>) -> Void
    )

    /// Runs `body` once, after `ms` milliseconds, on any thread.
    func schedule(afterMs ms: Int64, _ body: @escaping @Sendable () -> Void)

    /// The metadata's node list changed: the addresses `.node(id)` resolves to.
    func learned(_ cluster: ClusterDescription)

    /// Whether `.node(id)` can be reached at all (a hint naming a node the transport does not know is not
    /// followed).
    func knows(_ node: UInt64) -> Bool
}

/// The id of the API request a task serves (the SQS API's `x-amzn-RequestId`), so that a node's router can carry
/// it into the node's log lines.
public enum RequestTrace {
    @TaskLocal public static var id: String?
}

/// How long requests wait and how long a call keeps retrying.
public struct RouterOptions: Sendable {
    /// How long one request may wait for its answer.
    public var requestTimeoutMs: Int64 = 5_000
    /// How long a call keeps retrying retriable refusals and unreachable leaders.
    public var retryDeadlineMs: Int64 = 15_000
    /// How long cached queue metadata is used before it is fetched again.
    public var metadataFreshMs: Int64 = 1_000

    public init() {}
}

extension RouterTransport {
    /// `start`, awaited.
    public func call(
        _ request: ClientRequest,
        at target: RouteTarget,
        timeoutMs: Int64
    ) async -> Result<ClientResponse, FerryClientError> {
        await withCheckedContinuation { continuation in
            start(request, at: target, timeoutMs: timeoutMs) { continuation.resume(returning: $0) }
        }
    }
}
