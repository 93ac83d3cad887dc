import Dispatch
import FerryRaft
import FerryWire
import FoundationEssentials
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#endif

/// What reaches the node's Raft thread from the network threads.
package enum NodeEvent: Sendable {
    /// A Raft message from a peer (decoded on the network thread).
    case peer(groupID: UInt64, message: RaftMessage)
    /// A node-level frame from a peer: alive, or a group's leader quiescing it.
    case control(PeerControl)
    /// A peer's connection broke (its process may have died).
    case peerLost(UInt64)
    /// A peer connected (its hello arrived): it may have restarted and know no leaders.
    case peerJoined(UInt64)
    case client(ClientCall)
    /// The destination committed these outbox moves of a partition group (or refused / was unreachable: nil).
    case movesForwarded(group: UInt64, ids: [UInt64]?)
    /// A snapshot was encoded and written off the Raft thread (`NodeRuntime.maybeSnapshot`).
    case snapshotWritten(SnapshotWritten)
    /// A metrics scrape: the Raft thread refreshes the series and answers with the exposition text.
    case metrics(@Sendable (String) -> Void)
    /// The storage thread finished a group commit's fdatasync: the round records it (`NodeRuntime.reapSync`).
    case storageSynced
    /// Graceful: hand leaderships off first. Not graceful: stop at once, as a crash would (tests).
    case stop(graceful: Bool)
}

/// A client request's id in the node's log lines, kept in parts and written out only when a line is written (the
/// native port's hot path builds no string): the SQS API's request id (`x-amzn-RequestId`), or one the node
/// gives it, `n<node>-c<connection>-<correlation id>` on the native port and `n<from>-f<forward id>` for a
/// request another node forwarded.
package enum RequestID: Sendable, CustomStringConvertible {
    case api(String)
    case native(connection: UInt64, correlation: UInt32)
    case forwarded(from: UInt64, id: UInt32)

    package var description: String {
        switch self {
        case .api(let id): return id
        case .native(let connection, let correlation): return "n\(NodeLog.nodeID)-c\(connection)-\(correlation)"
        case .forwarded(let from, let id): return "n\(from)-f\(id)"
        }
    }
}

/// A client request and how to answer it (the closure writes to the client's channel from any thread).
package struct ClientCall: Sendable {
    package var request: ClientRequest
    package var reply: @Sendable (ClientResponse) -> Void
    /// Names the request in the node's log lines (`RequestID`); nil for the node's own calls.
    package var requestID: RequestID?

    package init(
        request: ClientRequest,
        requestID: RequestID? = nil,
        reply: @escaping @Sendable (ClientResponse) -> Void
    ) {
        self.request = request
        self.requestID = requestID
        self.reply = reply
    }
}

/// The many-producer, one-consumer queue in front of the Raft thread: network threads post, the Raft thread
/// takes everything posted so far in one go (so one round handles a whole burst: batching for free).
package final class Mailbox: @unchecked Sendable {
    private let condition = ConditionLock(value: 0)
    private var events: [NodeEvent] = []

    package init() {}

    package func post(_ event: NodeEvent) {
        condition.lock()
        events.append(event)
        condition.unlock(withValue: 1)
    }

    /// Everything posted so far, without waiting.
    package func takeNow() -> [NodeEvent] {
        condition.lock()
        let taken = events
        events = []
        condition.unlock(withValue: 0)
        return taken
    }

    /// Everything posted, waiting at most `timeoutSeconds` for the first event.
    package func take(timeoutSeconds: Double) -> [NodeEvent] {
        guard condition.lock(whenValue: 1, timeoutSeconds: max(0, timeoutSeconds)) else { return [] }
        let taken = events
        events = []
        condition.unlock(withValue: 0)
        return taken
    }
}

/// Monotonic time for the driver (the pure cores never read it).
package enum MonotonicClock {
    package static func nowMs() -> Int64 {
        Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)
    }

    /// Wall-clock milliseconds: the leader's entry stamps (DESIGN §9).
    package static func wallMs() -> Int64 {
        Int64((Date.now.timeIntervalSince1970 * 1_000).rounded(.down))
    }
}
