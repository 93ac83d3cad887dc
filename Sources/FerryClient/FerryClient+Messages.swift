import FerryModel
import FerryRouter
import FerryWire

/// Sends, receives, deletes and visibility changes: `PartitionRouter`'s, waited for.
extension FerryClient {
    /// Sends messages: each to its group's partition (round-robin without a group), in order within a
    /// partition; results in the order of `messages` (`PartitionRouter.send`).
    public func send(
        _ queueName: String,
        _ messages: [SendRequest]
    ) throws(FerryClientError) -> [Result<SendOutcome, WireError>] {
        try run { router async throws(FerryClientError) in try await router.send(queueName, messages) }
    }

    /// Receives up to `maxMessages` from the queue, waiting up to `waitMs` in all for at least one (long poll),
    /// the batch filled from every partition that has messages (`PartitionRouter.receive`).
    public func receive(
        _ queueName: String,
        maxMessages: Int = 1,
        waitMs: UInt32 = 0,
        visibilityTimeoutSeconds: Int? = nil,
        requestAttemptID: String? = nil
    ) throws(FerryClientError) -> [(partition: UInt32, delivery: Delivery)] {
        try run { router async throws(FerryClientError) in
            try await router.receive(
                queueName,
                maxMessages: maxMessages,
                waitMs: waitMs,
                visibilityTimeoutSeconds: visibilityTimeoutSeconds,
                requestAttemptID: requestAttemptID
            ).map { ($0.partition, $0.delivery) }
        }
    }

    /// Deletes deliveries by receipt handle (one partition's).
    public func delete(
        _ queueName: String,
        partition: UInt32,
        _ handles: [ReceiptHandle]
    ) throws(FerryClientError)
        -> [Result<DeleteOutcome, WireError>]
    {
        try delete(queueName, handles)
    }

    /// Deletes deliveries by receipt handle, whatever their partitions; results in the order of `handles`.
    public func delete(
        _ queueName: String,
        _ handles: [ReceiptHandle]
    ) throws(FerryClientError) -> [Result<DeleteOutcome, WireError>] {
        try run { router async throws(FerryClientError) in try await router.delete(queueName, handles) }
    }

    /// Changes the visibility timeout of deliveries by receipt handle (one partition's).
    public func changeVisibility(
        _ queueName: String,
        partition: UInt32,
        _ changes: [VisibilityChange]
    ) throws(FerryClientError)
        -> [Result<Int64, WireError>]
    {
        try changeVisibility(queueName, changes)
    }

    /// Changes visibility timeouts whatever the handles' partitions; results in the order of `changes`.
    public func changeVisibility(
        _ queueName: String,
        _ changes: [VisibilityChange]
    ) throws(FerryClientError) -> [Result<Int64, WireError>] {
        try run { router async throws(FerryClientError) in try await router.changeVisibility(queueName, changes) }
    }
}
