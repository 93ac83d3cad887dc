import NIOCore

/// Why bytes are not a queue entry or snapshot. Decoding is total: bytes decode or throw this.
public enum QueueDecodeError: Error, Sendable, Hashable {
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    case truncated(String)
    case invalid(String)
    case trailingBytes(Int)
}

/// The field encodings shared by entries and snapshots (big-endian): strings are `u16 length | UTF-8`,
/// optional fields are preceded by a presence byte (0 or 1), byte fields are `u32 length | bytes`.
public enum QueueFields {
    public static func write(_ text: String, into buffer: inout ByteBuffer) {
        precondition(text.utf8.count <= Int(UInt16.max), "string field too long")
        buffer.writeInteger(UInt16(text.utf8.count))
        buffer.writeString(text)
    }

    public static func writeOptional(_ text: String?, into buffer: inout ByteBuffer) {
        writePresence(text != nil, into: &buffer)
        if let text { write(text, into: &buffer) }
    }

    public static func writePresence(_ present: Bool, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(present ? 1 : 0))
    }

    public static func writeBytes(_ bytes: ByteBuffer, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(bytes.readableBytes))
        var bytes = bytes
        buffer.writeBuffer(&bytes)
    }

    public static func write(_ position: MessagePosition, into buffer: inout ByteBuffer) {
        buffer.writeInteger(position.partition)
        buffer.writeInteger(position.index)
        buffer.writeInteger(position.slot)
    }

    public static func write(_ handle: ReceiptHandle, into buffer: inout ByteBuffer) {
        write(handle.position, into: &buffer)
        buffer.writeInteger(handle.fencingToken)
    }

    @inlinable
    public static func read<T: FixedWidthInteger>(
        _ type: T.Type,
        _ buffer: inout ByteBuffer,
        _ field: String
    ) throws(QueueDecodeError) -> T {
        guard let value = buffer.readInteger(as: T.self) else { throw .truncated(field) }
        return value
    }

    /// A signed 32-bit count or duration that must not be negative.
    @inlinable
    public static func readInt(_ buffer: inout ByteBuffer, _ field: String) throws(QueueDecodeError) -> Int {
        let value = try read(Int32.self, &buffer, field)
        guard value >= 0 else { throw .invalid("\(field) is negative") }
        return Int(value)
    }

    @inlinable
    public static func readPresence(_ buffer: inout ByteBuffer, _ field: String) throws(QueueDecodeError) -> Bool {
        switch try read(UInt8.self, &buffer, field) {
        case 0: return false
        case 1: return true
        case let other: throw .invalid("\(field) presence byte \(other)")
        }
    }

    /// A node's address: `id u64 | host string | peer port u16 | client port u16 | http port u16` (the catalog
    /// and the client protocol write it alike).
    public static func write(_ node: CatalogNode, into buffer: inout ByteBuffer) {
        buffer.writeInteger(node.id)
        write(node.host, into: &buffer)
        buffer.writeInteger(node.peerPort)
        buffer.writeInteger(node.clientPort)
        buffer.writeInteger(node.httpPort)
    }

    public static func readNode(_ buffer: inout ByteBuffer) throws(QueueDecodeError) -> CatalogNode {
        CatalogNode(
            id: try read(UInt64.self, &buffer, "node id"),
            host: try readString(&buffer, "host"),
            peerPort: try read(UInt16.self, &buffer, "peer port"),
            clientPort: try read(UInt16.self, &buffer, "client port"),
            httpPort: try read(UInt16.self, &buffer, "http port")
        )
    }

    @inlinable
    public static func readString(_ buffer: inout ByteBuffer, _ field: String) throws(QueueDecodeError) -> String {
        let length = Int(try read(UInt16.self, &buffer, field))
        guard buffer.readableBytes >= length else { throw .truncated(field) }
        let text = buffer.withUnsafeReadableBytes { bytes in
            String(validating: UnsafeRawBufferPointer(rebasing: bytes[..<length]), as: UTF8.self)
        }
        guard let text else { throw .invalid("\(field) is not UTF-8") }
        buffer.moveReaderIndex(forwardBy: length)
        return text
    }

    @inlinable
    public static func readOptionalString(
        _ buffer: inout ByteBuffer,
        _ field: String
    ) throws(QueueDecodeError) -> String? {
        guard try readPresence(&buffer, field) else { return nil }
        return try readString(&buffer, field)
    }

    @inlinable
    public static func readBytes(_ buffer: inout ByteBuffer, _ field: String) throws(QueueDecodeError) -> ByteBuffer {
        // `field` names the length too: an interpolated name would cost an allocation per decoded field.
        let length = try read(UInt32.self, &buffer, field)
        guard let bytes = buffer.readSlice(length: Int(length)) else { throw .truncated(field) }
        return bytes
    }

    public static func readPosition(
        _ buffer: inout ByteBuffer,
        _ field: String
    ) throws(QueueDecodeError) -> MessagePosition {
        let partition = try read(UInt32.self, &buffer, "\(field) partition")
        let index = try read(UInt64.self, &buffer, "\(field) index")
        let slot = try read(UInt16.self, &buffer, "\(field) slot")
        guard partition < MessagePosition.maxPartitions, index < MessagePosition.maxIndex,
            Int(slot) < MessagePosition.maxSlots
        else { throw .invalid("\(field) position") }
        return MessagePosition(partition: partition, index: index, slot: slot)
    }

    public static func readHandle(_ buffer: inout ByteBuffer) throws(QueueDecodeError) -> ReceiptHandle {
        let position = try readPosition(&buffer, "handle")
        let token = try read(UInt64.self, &buffer, "handle token")
        return ReceiptHandle(position: position, fencingToken: token)
    }

    /// A count prefix that cannot ask for more items than the remaining bytes could hold.
    public static func readCount<T: FixedWidthInteger>(
        _ type: T.Type,
        _ buffer: inout ByteBuffer,
        minimumItemBytes: Int,
        _ field: String
    ) throws(QueueDecodeError) -> Int {
        let count = Int(try read(T.self, &buffer, field))
        guard count * minimumItemBytes <= buffer.readableBytes else { throw .truncated(field) }
        return count
    }

    // MARK: Composite values

    public static func write(_ request: SendRequest, into buffer: inout ByteBuffer) {
        writeBytes(request.body, into: &buffer)
        writeBytes(request.messageAttributes, into: &buffer)
        writeOptional(request.groupID, into: &buffer)
        writeOptional(request.deduplicationID, into: &buffer)
        writePresence(request.delaySeconds != nil, into: &buffer)
        if let delay = request.delaySeconds { buffer.writeInteger(Int32(clamping: delay)) }
        writePresence(request.producer != nil, into: &buffer)
        if let producer = request.producer {
            buffer.writeInteger(producer.producerID)
            buffer.writeInteger(producer.epoch)
            buffer.writeInteger(producer.sequence)
        }
        write(request.origin, into: &buffer)
    }

    public static func write(_ origin: MoveOrigin?, into buffer: inout ByteBuffer) {
        writePresence(origin != nil, into: &buffer)
        if let origin {
            buffer.writeInteger(origin.sourceQueueID)
            write(origin.sourceQueue, into: &buffer)
            write(origin.position, into: &buffer)
            buffer.writeInteger(origin.moveCount)
            buffer.writeInteger(origin.receiveCount)
        }
    }

    public static func readOrigin(_ buffer: inout ByteBuffer) throws(QueueDecodeError) -> MoveOrigin? {
        guard try readPresence(&buffer, "origin") else { return nil }
        return MoveOrigin(
            sourceQueueID: try read(UInt64.self, &buffer, "origin queue id"),
            sourceQueue: try readString(&buffer, "origin queue"),
            position: try readPosition(&buffer, "origin"),
            moveCount: try read(UInt16.self, &buffer, "origin move count"),
            receiveCount: try read(UInt32.self, &buffer, "origin receive count")
        )
    }

    public static func readSendRequest(_ buffer: inout ByteBuffer) throws(QueueDecodeError) -> SendRequest {
        let body = try readBytes(&buffer, "body")
        let attributes = try readBytes(&buffer, "message attributes")
        let groupID = try readOptionalString(&buffer, "group id")
        let deduplicationID = try readOptionalString(&buffer, "deduplication id")
        let delay = try readPresence(&buffer, "delay") ? Int(try read(Int32.self, &buffer, "delay")) : nil
        var producer: ProducerStamp?
        if try readPresence(&buffer, "producer") {
            producer = ProducerStamp(
                producerID: try read(UInt64.self, &buffer, "producer id"),
                epoch: try read(UInt32.self, &buffer, "epoch"),
                sequence: try read(UInt64.self, &buffer, "sequence")
            )
        }
        let origin = try readOrigin(&buffer)
        return SendRequest(
            body: body,
            messageAttributes: attributes,
            groupID: groupID,
            deduplicationID: deduplicationID,
            delaySeconds: delay,
            producer: producer,
            origin: origin
        )
    }

    public static func write(_ request: ReceiveRequest, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(clamping: request.maxMessages))
        writePresence(request.visibilityTimeoutSeconds != nil, into: &buffer)
        if let seconds = request.visibilityTimeoutSeconds { buffer.writeInteger(Int32(clamping: seconds)) }
        writeOptional(request.requestAttemptID, into: &buffer)
    }

    public static func readReceiveRequest(_ buffer: inout ByteBuffer) throws(QueueDecodeError) -> ReceiveRequest {
        let maxMessages = Int(try read(UInt16.self, &buffer, "max messages"))
        let visibility =
            try readPresence(&buffer, "visibility") ? Int(try read(Int32.self, &buffer, "visibility")) : nil
        return ReceiveRequest(
            maxMessages: maxMessages,
            visibilityTimeoutSeconds: visibility,
            requestAttemptID: try readOptionalString(&buffer, "request attempt id")
        )
    }

    public static func write(_ attributes: QueueAttributes, into buffer: inout ByteBuffer) {
        buffer.writeInteger(Int32(clamping: attributes.visibilityTimeoutSeconds))
        buffer.writeInteger(Int32(clamping: attributes.retentionSeconds))
        buffer.writeInteger(Int32(clamping: attributes.delaySeconds))
        buffer.writeInteger(Int32(clamping: attributes.maximumMessageBytes))
        buffer.writeInteger(Int32(clamping: attributes.receiveWaitSeconds))
        writePresence(attributes.contentBasedDeduplication, into: &buffer)
        buffer.writeInteger(UInt8(attributes.deduplicationScope == .queue ? 0 : 1))
        buffer.writeInteger(UInt8(attributes.fifoThroughputLimit == .perQueue ? 0 : 1))
        buffer.writeInteger(attributes.dedupWindowMs)
        buffer.writeInteger(Int32(clamping: attributes.maxInFlightMessages))
        buffer.writeInteger(attributes.producerIdleMs)
        writePresence(attributes.redrivePolicy != nil, into: &buffer)
        if let redrive = attributes.redrivePolicy {
            write(redrive.deadLetterQueue, into: &buffer)
            buffer.writeInteger(Int32(clamping: redrive.maxReceiveCount))
        }
        switch attributes.redriveAllowPolicy {
        case nil: buffer.writeInteger(UInt8(0))
        case .allowAll?: buffer.writeInteger(UInt8(1))
        case .denyAll?: buffer.writeInteger(UInt8(2))
        case .byQueue(let sources)?:
            buffer.writeInteger(UInt8(3))
            buffer.writeInteger(UInt8(clamping: sources.count))
            for source in sources.prefix(Int(UInt8.max)) { write(source, into: &buffer) }
        }
        // Since format version 2 (catalog entries and snapshots, partition entries and snapshots, client
        // protocol 2): the policy and the tags, sorted by key.
        writeOptional(attributes.policy, into: &buffer)
        buffer.writeInteger(UInt16(clamping: attributes.tags.count))
        for key in attributes.tags.keys.sorted().prefix(Int(UInt16.max)) {
            write(key, into: &buffer)
            write(attributes.tags[key]!, into: &buffer)
        }
        // Since format version 3 (and client protocol 3): the server-side encryption settings.
        writeOptional(attributes.kmsMasterKeyID, into: &buffer)
        buffer.writeInteger(Int32(clamping: attributes.kmsDataKeyReusePeriodSeconds))
        writePresence(attributes.sqsManagedSSE, into: &buffer)
    }

    /// The newest attribute encoding, and what older ones lack: 1 policy, tags and encryption settings; 2 the
    /// encryption settings.
    public static let attributesFormat: UInt8 = 3

    /// - Parameter format: the attribute format of the bytes (`attributesFormat` for the current one): the
    /// version of the catalog entry, catalog snapshot, queue entry or partition snapshot that holds them.
    /// Settings an older format lacks get their defaults (server-side encryption: SQS-managed, as SQS's default).
    public static func readAttributes(
        _ buffer: inout ByteBuffer,
        format: UInt8 = attributesFormat
    ) throws(QueueDecodeError) -> QueueAttributes {
        var attributes = QueueAttributes()
        attributes.visibilityTimeoutSeconds = try readInt(&buffer, "visibility timeout")
        attributes.retentionSeconds = try readInt(&buffer, "retention")
        attributes.delaySeconds = try readInt(&buffer, "delay")
        attributes.maximumMessageBytes = try readInt(&buffer, "maximum message size")
        attributes.receiveWaitSeconds = try readInt(&buffer, "receive wait")
        attributes.contentBasedDeduplication = try readPresence(&buffer, "content-based deduplication")
        switch try read(UInt8.self, &buffer, "deduplication scope") {
        case 0: attributes.deduplicationScope = .queue
        case 1: attributes.deduplicationScope = .messageGroup
        case let other: throw .invalid("deduplication scope \(other)")
        }
        switch try read(UInt8.self, &buffer, "throughput limit") {
        case 0: attributes.fifoThroughputLimit = .perQueue
        case 1: attributes.fifoThroughputLimit = .perMessageGroupId
        case let other: throw .invalid("throughput limit \(other)")
        }
        attributes.dedupWindowMs = try read(Int64.self, &buffer, "dedup window")
        attributes.maxInFlightMessages = try readInt(&buffer, "max in flight")
        attributes.producerIdleMs = try read(Int64.self, &buffer, "producer idle")
        if try readPresence(&buffer, "redrive policy") {
            attributes.redrivePolicy = RedrivePolicy(
                deadLetterQueue: try readString(&buffer, "dead-letter queue"),
                maxReceiveCount: try readInt(&buffer, "max receive count")
            )
        }
        switch try read(UInt8.self, &buffer, "redrive allow policy") {
        case 0: attributes.redriveAllowPolicy = nil
        case 1: attributes.redriveAllowPolicy = .allowAll
        case 2: attributes.redriveAllowPolicy = .denyAll
        case 3:
            let count = try read(UInt8.self, &buffer, "redrive sources")
            var sources: [String] = []
            for _ in 0..<count { sources.append(try readString(&buffer, "redrive source")) }
            attributes.redriveAllowPolicy = .byQueue(sources)
        case let other: throw .invalid("redrive allow policy \(other)")
        }
        guard format >= 2 else { return attributes }
        attributes.policy = try readOptionalString(&buffer, "policy")
        let tagCount = try readCount(UInt16.self, &buffer, minimumItemBytes: 4, "tag count")
        for _ in 0..<tagCount {
            let key = try readString(&buffer, "tag key")
            attributes.tags[key] = try readString(&buffer, "tag value")
        }
        guard format >= 3 else { return attributes }
        attributes.kmsMasterKeyID = try readOptionalString(&buffer, "KMS key")
        attributes.kmsDataKeyReusePeriodSeconds = try readInt(&buffer, "KMS data key reuse")
        attributes.sqsManagedSSE = try readPresence(&buffer, "SQS-managed SSE")
        return attributes
    }

    /// A move task's encoding, shared by snapshots and the client protocol.
    public static func write(_ task: MoveTaskStatus, into buffer: inout ByteBuffer) {
        QueueFields.write(task.taskID, into: &buffer)
        QueueFields.writeOptional(task.destination, into: &buffer)
        buffer.writeInteger(Int32(clamping: task.maxMessagesPerSecond))
        buffer.writeInteger(task.state.rawValue)
        buffer.writeInteger(task.startedAtMs)
        buffer.writeInteger(Int64(task.messagesToMove))
        buffer.writeInteger(Int64(task.messagesMoved))
        buffer.writeInteger(Int64(task.messagesSkipped))
        buffer.writeInteger(task.endSequence)
        buffer.writeInteger(task.cursor)
    }

    /// A move task as `write(_:into:)` wrote it.
    public static func readTask(_ buffer: inout ByteBuffer) throws(QueueDecodeError) -> MoveTaskStatus {
        let taskID = try QueueFields.readString(&buffer, "task id")
        let destination = try QueueFields.readOptionalString(&buffer, "task destination")
        let rate = try QueueFields.readInt(&buffer, "task rate")
        guard rate >= 1,
            let state = MoveTaskStatus.State(rawValue: try QueueFields.read(UInt8.self, &buffer, "task state"))
        else { throw .invalid("move task rate or state") }
        let startedAtMs = try QueueFields.read(Int64.self, &buffer, "task start")
        let toMove = try QueueFields.read(Int64.self, &buffer, "task to move")
        let moved = try QueueFields.read(Int64.self, &buffer, "task moved")
        let skipped = try QueueFields.read(Int64.self, &buffer, "task skipped")
        guard toMove >= 0, moved >= 0, skipped >= 0 else { throw .invalid("move task counts") }
        return MoveTaskStatus(
            taskID: taskID,
            destination: destination,
            maxMessagesPerSecond: rate,
            state: state,
            startedAtMs: startedAtMs,
            messagesToMove: Int(toMove),
            messagesMoved: Int(moved),
            messagesSkipped: Int(skipped),
            endSequence: try QueueFields.read(UInt64.self, &buffer, "task end"),
            cursor: try QueueFields.read(UInt64.self, &buffer, "task cursor")
        )
    }
}
