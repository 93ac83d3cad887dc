import FerryQueue
import FerryWire

/// What the SQS API needs of the cluster: the native operations, answered by the partition leaders wherever
/// they are. The node's `ferry` executable implements it with a `FerryClient` aimed at the node's own cluster
/// (leader routing, `notLeader` hints and retries are the client's), so FerrySQS never imports FerryClient.
/// Calls may block (a long poll up to 20 s); the service runs them off the HTTP event loop.
public protocol SQSBackend: Sendable {
    func createQueue(_ name: String, attributes: QueueAttributes) throws(WireError) -> QueueDescription
    /// `queueNotFound` when there is no such queue.
    func queue(_ name: String) throws(WireError) -> QueueDescription
    func listQueues(prefix: String) throws(WireError) -> [QueueDescription]
    func deleteQueue(_ name: String) throws(WireError)
    func setAttributes(_ name: String, _ attributes: QueueAttributes) throws(WireError)
    func purgeQueue(_ name: String) throws(WireError)
    /// Summed over the queue's partitions.
    func statistics(_ name: String) throws(WireError) -> QueueStatistics
    /// One outcome per request, in order; requests of one group go to one partition in order.
    func send(
        _ queue: QueueDescription,
        _ requests: [SendRequest]
    ) throws(WireError) -> [Result<SendOutcome, WireError>]
    /// Waits up to `waitMs` for at least one message, over every partition.
    func receive(_ queue: QueueDescription, _ request: ReceiveRequest, waitMs: Int) throws(WireError) -> [Delivery]
    func delete(_ queue: QueueDescription, _ handles: [ReceiptHandle]) throws(WireError) -> [Result<Void, WireError>]
    func changeVisibility(
        _ queue: QueueDescription,
        _ changes: [VisibilityChange]
    ) throws(WireError)
        -> [Result<Void, WireError>]
    /// Starts a redrive of `queue` on every partition under `taskID` (rate shared among the partitions).
    func startMoveTask(
        _ queue: String,
        taskID: String,
        destination: String?,
        maxMessagesPerSecond: Int
    ) throws(WireError) -> [MoveTaskStatus]
    /// Cancels `taskID` where it runs; `moveTaskNotFound` when it runs nowhere.
    func cancelMoveTask(_ queue: String, taskID: String) throws(WireError) -> [MoveTaskStatus]
    /// Each partition's running and latest finished redrives.
    func listMoveTasks(_ queue: String) throws(WireError) -> [[MoveTaskStatus]]
}
