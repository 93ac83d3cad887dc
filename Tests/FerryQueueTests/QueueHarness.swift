import FerryModel
import FerryQueue
import NIOCore
import Testing

/// A partition driven like a Raft group drives it: increasing log indexes, leader timestamps from a clock the
/// test moves by hand. Every apply also checks the partition's invariants.
struct QueueHarness {
    var partition: QueuePartition
    var index: UInt64 = 0
    var clockMs: Int64 = 1_000_000

    init(
        _ name: String = "orders.fifo",
        partition number: UInt32 = 0,
        partitions: UInt32 = 1,
        _ configure: (inout QueueAttributes) -> Void = { _ in }
    ) {
        var attributes = QueueAttributes()
        configure(&attributes)
        partition = try! QueuePartition(
            queueName: name,
            queueID: 42,
            partition: number,
            partitionCount: partitions,
            attributes: attributes
        )
    }

    @discardableResult
    mutating func apply(_ command: QueueCommand, sourceLocation: SourceLocation = #_sourceLocation) -> QueueResult {
        index += 1
        // Through the codec, as a replica gets it from the log.
        let payload = QueueEntry(timestampMs: clockMs, command: command).encoded()
        let result = partition.apply(index: index, payload: payload)
        #expect(partition.invariantViolations() == [], sourceLocation: sourceLocation)
        return result
    }

    mutating func advance(seconds: Double) {
        clockMs += Int64(seconds * 1_000)
        apply(.advanceTime)
    }

    static func body(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        return buffer
    }

    static func text(_ buffer: ByteBuffer) -> String {
        String(buffer: buffer)
    }

    /// Sends one FIFO message and returns its outcome.
    @discardableResult
    mutating func send(
        _ text: String,
        group: String? = "g",
        dedup: String? = nil,
        producer: ProducerStamp? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Result<SendOutcome, QueueError> {
        let request = SendRequest(
            body: Self.body(text),
            groupID: group,
            deduplicationID: dedup ?? (partition.kind == .fifo ? text : nil),
            producer: producer
        )
        guard case .sent(let results) = apply(.send([request]), sourceLocation: sourceLocation) else {
            Issue.record("send not answered with .sent", sourceLocation: sourceLocation)
            return .failure(.emptyBatch)
        }
        return results[0]
    }

    mutating func receive(
        _ max: Int = 10,
        visibility: Int? = nil,
        attempt: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Result<ReceiveOutcome, QueueError> {
        let request = ReceiveRequest(maxMessages: max, visibilityTimeoutSeconds: visibility, requestAttemptID: attempt)
        guard case .received(let results) = apply(.receive([request]), sourceLocation: sourceLocation) else {
            Issue.record("receive not answered with .received", sourceLocation: sourceLocation)
            return .failure(.emptyBatch)
        }
        return results[0]
    }

    /// The bodies a receive hands out (failing the test on an error).
    mutating func receiveBodies(
        _ max: Int = 10,
        visibility: Int? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> [String] {
        guard case .success(let outcome) = receive(max, visibility: visibility, sourceLocation: sourceLocation) else {
            Issue.record("receive failed", sourceLocation: sourceLocation)
            return []
        }
        return outcome.deliveries.map { Self.text($0.body) }
    }

    mutating func delete(_ handles: [ReceiptHandle]) -> [Result<DeleteOutcome, QueueError>] {
        guard case .deleted(let results) = apply(.delete(handles)) else { return [] }
        return results
    }

    mutating func changeVisibility(_ handle: ReceiptHandle, seconds: Int) -> Result<Int64, QueueError> {
        guard
            case .visibilityChanged(let results) = apply(
                .changeVisibility([VisibilityChange(handle: handle, visibilityTimeoutSeconds: seconds)])
            )
        else {
            return .failure(.emptyBatch)
        }
        return results[0]
    }
}

extension Result {
    var success: Success? {
        if case .success(let value) = self { return value }
        return nil
    }

    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
