import FerryModel
import FerryQueue
import NIOCore
import Testing

@Suite struct QueueCommandCodecTests {
    static func body(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        return buffer
    }

    static let handle = ReceiptHandle(position: MessagePosition(partition: 2, index: 99, slot: 3), fencingToken: 7)

    static let samples: [QueueCommand] = [
        .send([
            SendRequest(body: body("hello"), groupID: "cust-42", deduplicationID: "o-981"),
            SendRequest(body: ByteBuffer(), delaySeconds: 30),
            SendRequest(
                body: body("x"),
                groupID: "g",
                producer: ProducerStamp(producerID: 5, epoch: 2, sequence: 77)
            ),
        ]),
        .send([
            SendRequest(
                body: body("dead"),
                messageAttributes: body("attrs"),
                groupID: "g",
                deduplicationID: "d",
                origin: MoveOrigin(
                    sourceQueueID: 9,
                    sourceQueue: "orders.fifo",
                    position: MessagePosition(partition: 1, index: 4, slot: 2),
                    moveCount: 1,
                    receiveCount: 5
                )
            )
        ]),
        .receive([
            ReceiveRequest(maxMessages: 10, visibilityTimeoutSeconds: 60, requestAttemptID: "attempt-1"),
            ReceiveRequest(maxMessages: 1),
        ]),
        .delete([handle]),
        .changeVisibility([VisibilityChange(handle: handle, visibilityTimeoutSeconds: 0)]),
        .purge,
        .advanceTime,
        .setAttributes(attributesSample),
        .acknowledgeMoves([1, 2, 99]),
        .startMoveTask(MoveTaskRequest(taskID: "t-1", destination: "orders.fifo", maxMessagesPerSecond: 50)),
        .startMoveTask(MoveTaskRequest(taskID: "t-2")),
        .cancelMoveTask(taskID: "t-1"),
    ]

    static var attributesSample: QueueAttributes {
        var attributes = QueueAttributes()
        attributes.visibilityTimeoutSeconds = 45
        attributes.contentBasedDeduplication = true
        attributes.deduplicationScope = .messageGroup
        attributes.fifoThroughputLimit = .perMessageGroupId
        attributes.dedupWindowMs = 3_600_000
        attributes.redrivePolicy = RedrivePolicy(deadLetterQueue: "orders-dlq.fifo", maxReceiveCount: 3)
        attributes.redriveAllowPolicy = .byQueue(["a.fifo", "b.fifo"])
        return attributes
    }

    @Test(arguments: samples)
    func entriesRoundTrip(_ command: QueueCommand) throws {
        let entry = QueueEntry(timestampMs: 1_700_000_000_123, command: command)
        #expect(try QueueEntry.decode(entry.encoded()) == entry)
    }

    @Test func decoderRejectsUnknownVersionAndKind() {
        var bytes = QueueEntry(timestampMs: 1, command: .purge).encoded()
        bytes.setInteger(UInt8(9), at: 0)
        #expect(throws: QueueDecodeError.unsupportedVersion(9)) { try QueueEntry.decode(bytes) }
        bytes.setInteger(QueueEntry.version, at: 0)
        bytes.setInteger(UInt8(200), at: 9)
        #expect(throws: QueueDecodeError.unknownKind(200)) { try QueueEntry.decode(bytes) }
    }

    @Test func everyTruncationThrows() throws {
        let bytes = QueueEntry(timestampMs: 5, command: Self.samples[0]).encoded()
        for cut in 0..<bytes.readableBytes {
            #expect(throws: QueueDecodeError.self) { try QueueEntry.decode(bytes.getSlice(at: 0, length: cut)!) }
        }
    }

    /// Bytes either decode or throw a typed error; never a trap (seeded, so a failure replays).
    @Test(arguments: 0..<10)
    func randomBytesDecodeOrThrow(_ seed: Int) {
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> UInt8 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
        let valid = Self.samples.map { QueueEntry(timestampMs: 3, command: $0).encoded() }
        for round in 0..<500 {
            var bytes = valid[round % valid.count]
            for _ in 0..<(1 + Int(next() % 4)) {
                bytes.setInteger(next(), at: Int(next()) % bytes.readableBytes)
            }
            _ = try? QueueEntry.decode(bytes)
        }
    }
}
