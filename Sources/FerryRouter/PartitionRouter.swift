import FerryModel
import FerryNet
import FerryWire
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#endif

/// The one partition router (DESIGN §3): caches the cluster's metadata, sends each partition's requests to its
/// leader, follows `notLeader` hints, and retries what is safe to retry (with the same ids) until a deadline.
/// The Swift client runs it over TCP connections to the nodes' client ports; a node runs it over its own
/// mailbox and the peer connections, for the SQS API. Asynchronous: a long poll parks nothing but a
/// continuation.
///
/// A message group's partition is `PartitionHash.partition(forGroup:partitions:)`, the same hash the cluster writes
/// down; messages without a group (standard queues) go round-robin.
public final class PartitionRouter: @unchecked Sendable {
    public let options: RouterOptions
    public let transport: any RouterTransport
    let lock = NIOLock()
    var cluster: ClusterDescription?
    /// When `cluster` was fetched (monotonic ms), and whether a call is fetching it again now.
    var clusterAtMs: Int64 = 0
    var refreshing = false
    /// Partition group → node believed to lead it.
    var leaders: [UInt64: UInt64] = [:]
    var roundRobin = 0
    /// Queues (ids) where the last look found a partition that could fill a receive's batch alone: a backlog.
    /// Their next receive first asks only one partition for a whole batch (`receiveIfFull`).
    var backlogged: Set<UInt64> = []

    public init(transport: any RouterTransport, options: RouterOptions = RouterOptions()) {
        self.transport = transport
        self.options = options
    }

    public static func nowMs() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
    }

    static func pause(ms: Int64) async {
        try? await Task.sleep(nanoseconds: UInt64(max(0, ms)) * 1_000_000)
    }

    /// The next number of the round-robin (standard sends, receive rotation).
    func nextTurn() -> Int {
        lock.withLock {
            roundRobin += 1
            return roundRobin
        }
    }

    // MARK: Calls

    /// What a call reports when it runs out of time, after `refusal` followed `last`: a refusal that says why
    /// nothing serves (a full disk, a replica that repairs, no majority) is the cause a caller needs to hear,
    /// not the other nodes' `notLeader` that follows; otherwise the latest.
    package static func kept(_ last: FerryClientError, _ refusal: WireError) -> FerryClientError {
        if case .server(let earlier) = last, earlier.code == .storageFull || earlier.code == .unavailable,
            refusal.code == .notLeader
        {
            return last
        }
        return .server(refusal)
    }

    /// Sends `request` to `first` (or any node), following `notLeader` hints and retrying retriable refusals and
    /// unreachable nodes until the retry deadline. A `timeout` (outcome unknown) is not retried here, nor a
    /// refused connection (TLS: every attempt would meet the same refusal).
    public func call(
        _ request: ClientRequest,
        first: RouteTarget? = nil,
        timeoutMs: Int64? = nil,
        onLeader: (@Sendable (UInt64) -> Void)? = nil
    ) async throws(FerryClientError) -> ClientResponse {
        let end = Self.nowMs() + options.retryDeadlineMs
        var target = first ?? .any(attempt: 0)
        var attempt = 0
        var lastError = FerryClientError.unreachable("no node answered")
        while Self.nowMs() < end {
            attempt += 1
            switch await transport.call(request, at: target, timeoutMs: timeoutMs ?? options.requestTimeoutMs) {
            case .success(let response):
                guard case .error(let error) = response, error.code.isRetriable else { return response }
                lastError = Self.kept(lastError, error)
                let hint = error.leaderHint
                if error.code == .notLeader, hint != 0, transport.knows(hint), target != .node(hint) {
                    onLeader?(hint)
                    target = .node(hint)
                    await Self.pause(ms: 10)
                    continue
                }
            case .failure(.timeout(let detail)):
                throw .timeout(detail)
            case .failure(.refused(let detail)):
                throw .refused(detail)
            case .failure(let error):
                lastError = error
            }
            target = .any(attempt: attempt)
            await Self.pause(ms: min(100, 5 * Int64(attempt)))
        }
        throw lastError
    }

    /// Unwraps a response, turning a server refusal into `FerryClientError.server`.
    public static func expect<T>(
        _ response: ClientResponse,
        _ pick: (ClientResponse) -> T?
    ) throws(FerryClientError) -> T {
        if case .error(let error) = response { throw .server(error) }
        guard let value = pick(response) else {
            throw .server(WireError(.internal, "unexpected answer \(response)"))
        }
        return value
    }

    /// A failure after which the request may or may not have taken effect.
    static func isUnknownOutcome(_ error: FerryClientError) -> Bool {
        switch error {
        case .timeout: return true
        case .server(let refusal): return refusal.code == .timeout
        default: return false
        }
    }

    // MARK: Metadata and routing

    /// Refreshes and returns the cluster's metadata, from `node` (nil: the first reachable node).
    @discardableResult
    public func describe(at node: RouteTarget? = nil) async throws(FerryClientError) -> ClusterDescription {
        let response = try await call(.describeCluster, first: node)
        let description = try Self.expect(response) { if case .cluster(let c) = $0 { c } else { nil } }
        lock.withLock {
            cluster = description
            clusterAtMs = Self.nowMs()
            for partition in description.partitions where partition.leader != 0 {
                leaders[partition.groupID] = partition.leader
            }
        }
        transport.learned(description)
        return description
    }

    /// Forgets the cached queues (after a change to them); the next use asks afresh.
    public func forgetQueues() {
        lock.withLock { cluster?.queues = [] }
    }

    /// The queue's description, from the cache or fresh metadata. The cache is fresh for
    /// `options.metadataFreshMs`: after that, one call fetches the metadata again while the others go on with
    /// what is cached, so a queue changed, deleted or created again through another node or client is seen
    /// within about that time (SQS itself takes up to 60 s to spread an attribute change). A node that has not
    /// applied the queue's creation yet does not know it, so a miss asks each node in turn (for up to a second)
    /// before answering `queueNotFound`.
    public func queue(_ name: String) async throws(FerryClientError) -> QueueDescription {
        let now = Self.nowMs()
        let (known, refresh) = lock.withLock { () -> (QueueDescription?, Bool) in
            let known = cluster?.queues.first { $0.name == name }
            let refresh = known != nil && now - clusterAtMs >= options.metadataFreshMs && !refreshing
            if refresh { refreshing = true }
            return (known, refresh)
        }
        if let known {
            guard refresh else { return known }
            defer { lock.withLock { refreshing = false } }
            // Metadata that cannot be fetched now leaves the cached description in use.
            guard let fresh = try? await describe(at: .any(attempt: 0)) else { return known }
            if let queue = fresh.queues.first(where: { $0.name == name }) { return queue }
        }
        let end = Self.nowMs() + 1_000
        var attempt = 0
        repeat {
            let fresh = try await describe(at: .any(attempt: attempt))
            if let queue = fresh.queues.first(where: { $0.name == name }) { return queue }
            attempt += 1
            await Self.pause(ms: 20)
        } while Self.nowMs() < end
        throw .server(WireError(.queueNotFound, "queue \(name) does not exist"))
    }

    /// The Raft group of a queue's partition (nil until the metadata lists it).
    public func groupID(_ queue: QueueDescription, _ partition: UInt32) -> UInt64? {
        lock.withLock { cluster?.partitions.first { $0.queueID == queue.id && $0.partition == partition }?.groupID }
    }

    /// Where a partition's requests go now: the node believed to lead it, else one node after another by
    /// `attempt`.
    public func route(
        _ queue: QueueDescription,
        _ partition: UInt32,
        attempt: Int
    ) -> (groupID: UInt64?, target: RouteTarget) {
        let groupID = groupID(queue, partition)
        if let groupID, let leader = lock.withLock({ leaders[groupID] }), transport.knows(leader) {
            return (groupID, .node(leader))
        }
        return (groupID, .any(attempt: attempt))
    }

    /// Records a leader learnt from a hint (0: unknown, so the next request tries another node).
    public func noteLeader(group groupID: UInt64, node: UInt64) {
        lock.withLock { leaders[groupID] = node == 0 ? nil : node }
    }

    /// Sends a partition's request to its leader, learning leaders from hints.
    func callPartition(
        _ queue: QueueDescription,
        _ partition: UInt32,
        _ request: ClientRequest,
        timeoutMs: Int64? = nil
    ) async throws(FerryClientError) -> ClientResponse {
        let groupID = groupID(queue, partition)
        let leader = groupID.flatMap { id in lock.withLock { leaders[id] } }
        return try await call(request, first: leader.map { .node($0) }, timeoutMs: timeoutMs) { [self] node in
            if let groupID { noteLeader(group: groupID, node: node) }
        }
    }

    /// Starts one request per partition at once, each at the node believed to lead it, and waits for every
    /// answer (results in the order of `requests`). An answer that is a retriable refusal (another node leads,
    /// no quorum yet) or a broken connection is asked again through `callPartition`, which follows hints until
    /// the retry deadline. Other answers, `timeout` (an unknown outcome) among them, are returned as they are:
    /// the caller knows whether its request may be repeated.
    func callPartitions(
        _ queue: QueueDescription,
        _ requests: [(partition: UInt32, request: ClientRequest)],
        timeoutMs: Int64? = nil
    ) async -> [Result<ClientResponse, FerryClientError>] {
        let timeout = timeoutMs ?? options.requestTimeoutMs
        return await withTaskGroup(of: (Int, Result<ClientResponse, FerryClientError>).self) { group in
            for (at, item) in requests.enumerated() {
                group.addTask { [self] in
                    let route = route(queue, item.partition, attempt: Int(item.partition))
                    let first = await transport.call(item.request, at: route.target, timeoutMs: timeout)
                    switch first {
                    case .success(.error(let error)) where error.code.isRetriable:
                        if error.code == .notLeader, let groupID = route.groupID {
                            noteLeader(group: groupID, node: error.leaderHint)
                        }
                    case .failure(.unreachable):
                        break
                    default:
                        return (at, first)
                    }
                    do throws(FerryClientError) {
                        return (at, .success(try await callPartition(queue, item.partition, item.request)))
                    } catch {
                        return (at, .failure(error))
                    }
                }
            }
            var results = [Result<ClientResponse, FerryClientError>?](repeating: nil, count: requests.count)
            for await (at, result) in group { results[at] = result }
            return results.map { $0! }
        }
    }

    /// The final answer to a request that may be repeated only when `repeatable`: `first` (or a fresh call) is
    /// asked again while its outcome is unknown, until the retry deadline.
    ///
    /// Once an attempt's outcome was unknown, a later refusal says nothing about that attempt (a node that does
    /// not lead the partition refuses the repeat, while the first may still be applied): the answer stays
    /// unknown (`timeout`) unless a repeat succeeds (a deduplicated repeat then answers for the first).
    func settle(
        _ first: Result<ClientResponse, FerryClientError>?,
        repeatable: Bool,
        _ call: () async throws(FerryClientError) -> ClientResponse
    ) async throws(FerryClientError) -> ClientResponse {
        let end = Self.nowMs() + options.retryDeadlineMs
        var current = first
        var unknownBefore = false
        while true {
            switch current {
            case .success(.error(let error))? where error.code == .timeout && repeatable && Self.nowMs() < end:
                unknownBefore = true
            case .success(.error(let error))? where unknownBefore:
                throw .timeout("an earlier attempt's outcome is unknown; the last attempt: \(error)")
            case .success(let response)?:
                return response
            case .failure(.timeout(let detail))?:
                guard repeatable, Self.nowMs() < end else { throw .timeout(detail) }
                unknownBefore = true
            case .failure(let error)? where unknownBefore:
                throw .timeout("an earlier attempt's outcome is unknown; the last attempt: \(error)")
            case .failure(let error)?:
                throw error
            case nil:
                break
            }
            if current != nil { await Self.pause(ms: 20) }
            do throws(FerryClientError) {
                current = .success(try await call())
            } catch {
                current = .failure(error)
            }
        }
    }
}
