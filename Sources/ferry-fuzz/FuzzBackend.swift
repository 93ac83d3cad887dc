import FerryModel
import FerrySQS
import FerryWire

/// The cluster side of the SQS fuzz targets: every queue name exists (so a request's members are decoded and
/// checked in full), and every operation that would change a queue is refused as a cluster without a quorum
/// would refuse it. What is fuzzed is the request's parsing before it reaches here.
struct FuzzBackend: SQSBackend {
    static let refusal = WireError(.unavailable, "the fuzz backend changes nothing")

    func createQueue(_ name: String, attributes: QueueAttributes) async throws(WireError) -> QueueDescription {
        throw Self.refusal
    }

    func queue(_ name: String) async throws(WireError) -> QueueDescription {
        QueueDescription(name: name, id: 1, partitions: 4, attributes: QueueAttributes())
    }

    func listQueues(prefix: String) async throws(WireError) -> [QueueDescription] { [] }
    func deleteQueue(_ name: String) async throws(WireError) { throw Self.refusal }
    func setAttributes(_ name: String, _ attributes: QueueAttributes) async throws(WireError) { throw Self.refusal }
    func purgeQueue(_ name: String) async throws(WireError) { throw Self.refusal }
    func statistics(_ name: String) async throws(WireError) -> QueueStatistics { throw Self.refusal }

    func send(
        _ queue: QueueDescription,
        _ requests: [SendRequest]
    ) async throws(WireError) -> [Result<SendOutcome, WireError>] {
        requests.map { _ in .failure(Self.refusal) }
    }

    func receive(
        _ queue: QueueDescription,
        _ request: ReceiveRequest,
        waitMs: Int
    ) async throws(WireError) -> [Delivery] {
        []
    }

    func delete(
        _ queue: QueueDescription,
        _ handles: [ReceiptHandle]
    ) async throws(WireError) -> [Result<Void, WireError>] {
        handles.map { _ in .failure(Self.refusal) }
    }

    func changeVisibility(
        _ queue: QueueDescription,
        _ changes: [VisibilityChange]
    ) async throws(WireError) -> [Result<Void, WireError>] {
        changes.map { _ in .failure(Self.refusal) }
    }

    func startMoveTask(
        _ queue: String,
        taskID: String,
        destination: String?,
        maxMessagesPerSecond: Int
    ) async throws(WireError) -> [MoveTaskStatus] {
        throw Self.refusal
    }

    func cancelMoveTask(_ queue: String, taskID: String) async throws(WireError) -> [MoveTaskStatus] {
        throw Self.refusal
    }

    func listMoveTasks(_ queue: String) async throws(WireError) -> [[MoveTaskStatus]] { [] }
}
