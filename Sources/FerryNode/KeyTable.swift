import FerryModel
import NIOConcurrencyHelpers

/// The cluster's access keys as this node applied them (`ferry auth`, the metadata group), readable from any
/// thread: the SQS API looks a request's key up here, so a revocation applied on this node refuses its next
/// request (the metadata group commits and applies it on every node within a heartbeat or two).
public final class KeyTable: Sendable {
    private let state = NIOLockedValueBox<[String: AccessKey]>([:])

    public init() {}

    /// Every key by id.
    public var keys: [String: AccessKey] { state.withLockedValue { $0 } }

    public func key(_ id: String) -> AccessKey? { state.withLockedValue { $0[id] } }

    func publish(_ keys: [String: AccessKey]) { state.withLockedValue { $0 = keys } }
}
