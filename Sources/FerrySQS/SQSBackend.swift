import FerryModel
import FerryWire

/// What the SQS API needs of the cluster: the native operations, answered by the partition leaders wherever
/// they are. The `ferry` executable implements it with the node's own `PartitionRouter` (this node's Raft
/// thread directly, the other nodes over the peer connections), so FerrySQS imports neither FerryNode nor a
/// client. Asynchronous: a long poll (up to 20 s) suspends, it blocks no thread.
public protocol SQSBackend: Sendable {
    func createQueue(_ name: String, attributes: QueueAttributes) async throws(WireError) -> QueueDescription
    /// `queueNotFound` when there is no such queue.
    func queue(_ name: String) async throws(WireError) -> QueueDescription
    func listQueues(prefix: String) async throws(WireError) -> [QueueDescription]
    func deleteQueue(_ name: String) async throws(WireError)
    func setAttributes(_ name: String, _ attributes: QueueAttributes) async throws(WireError)
    func purgeQueue(_ name: String) async throws(WireError)
    /// Summed over the queue's partitions.
    func statistics(_ name: String) async throws(WireError) -> QueueStatistics
    /// One outcome per request, in order; requests of one group go to one partition in order.
    func send(
        _ queue: QueueDescription,
        _ requests: [SendRequest]
    ) async throws(WireError) -> [Result<SendOutcome, WireError>]
    /// Waits up to `waitMs` for at least one message, over every partition.
    func receive(
        _ queue: QueueDescription,
        _ request: ReceiveRequest,
        waitMs: Int
    ) async throws(WireError) -> [Delivery]
    func delete(
        _ queue: QueueDescription,
        _ handles: [ReceiptHandle]
    ) async throws(WireError) -> [Result<Void, WireError>]
    func changeVisibility(
        _ queue: QueueDescription,
        _ changes: [VisibilityChange]
    ) async throws(WireError)
        -> [Result<Void, WireError>]
    /// Starts a redrive of `queue` on every partition under `taskID` (rate shared among the partitions).
    func startMoveTask(
        _ queue: String,
        taskID: String,
        destination: String?,
        maxMessagesPerSecond: Int
    ) async throws(WireError) -> [MoveTaskStatus]
    /// Cancels `taskID` where it runs; `moveTaskNotFound` when it runs nowhere.
    func cancelMoveTask(_ queue: String, taskID: String) async throws(WireError) -> [MoveTaskStatus]
    /// Each partition's running and latest finished redrives.
    func listMoveTasks(_ queue: String) async throws(WireError) -> [[MoveTaskStatus]]
}
