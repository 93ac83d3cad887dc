import FerryModel
import NIOConcurrencyHelpers

/// The cluster's access keys and queue policies as this node applied them (`ferry auth`, the metadata group),
/// readable from any thread: the SQS API and the native port look a request's key up here, so a revocation
/// applied on this node refuses its next request (the metadata group commits and applies it on every node within
/// a heartbeat or two). Also counts failed authentications (`/metrics`).
public final class KeyTable: Sendable {
    private let state = NIOLockedValueBox<(keys: [String: AccessKey], policies: [String: String])>(([:], [:]))
    private let failures = NIOLockedValueBox<[String: Int]>([:])
    /// Recent failed authentications by source address (monotonic ms), for `throttled`.
    private let recent = NIOLockedValueBox<[String: [Int64]]>([:])
    public static let failureWindowMs: Int64 = 10_000
    public static let failuresAllowed = 10

    public init() {}

    /// Every key by id.
    public var keys: [String: AccessKey] { state.withLockedValue { $0.keys } }

    public func key(_ id: String) -> AccessKey? { state.withLockedValue { $0.keys[id] } }

    /// A queue's policy (JSON), if it has one.
    public func policy(of queue: String) -> String? { state.withLockedValue { $0.policies[queue] } }

    func publish(_ keys: [String: AccessKey], policies: [String: String]) {
        state.withLockedValue { $0 = (keys, policies) }
    }

    /// Counts a failed authentication by API (`native`, `sqs`) and reason.
    public func count(api: String, reason: String) {
        failures.withLockedValue { $0["\(api)/\(reason)", default: 0] += 1 }
    }

    /// Whether `address` failed to authenticate `failuresAllowed` times within the last `failureWindowMs` (on
    /// either API): then its attempts are refused unchecked until the window has passed.
    public func throttled(_ address: String, nowMs: Int64) -> Bool {
        recent.withLockedValue { table in
            let kept = (table[address] ?? []).filter { nowMs - $0 < Self.failureWindowMs }
            table[address] = kept.isEmpty ? nil : kept
            return kept.count >= Self.failuresAllowed
        }
    }

    /// Records a failed authentication from `address` (counted by API and reason).
    public func failed(_ address: String, api: String, reason: String, nowMs: Int64) {
        recent.withLockedValue { $0[address, default: []].append(nowMs) }
        count(api: api, reason: reason)
    }

    /// Failed authentications by `api/reason`.
    public var failureCounts: [String: Int] { failures.withLockedValue { $0 } }
}
