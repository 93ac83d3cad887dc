import NIOCore

/// Why an entry's payload is not a queue command. Decoding is total: bytes decode or throw this.
public enum QueueDecodeError: Error, Sendable, Hashable {
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    case truncated(String)
    case invalid(String)
    case trailingBytes(Int)
}

extension QueueEntry {
    enum Kind: UInt8 {
        case send = 1
        case receive = 2
        case delete = 3
        case changeVisibility = 4
        case purge = 5
        case advanceTime = 6
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.version)
        buffer.writeInteger(timestampMs)
        switch command {
        case .send(let requests):
            buffer.writeInteger(Kind.send.rawValue)
            buffer.writeInteger(UInt16(requests.count))
            for request in requests {
                var body = request.body
                buffer.writeInteger(UInt32(body.readableBytes))
                buffer.writeBuffer(&body)
                Self.writeOptional(request.groupID, into: &buffer)
                Self.writeOptional(request.deduplicationID, into: &buffer)
                buffer.writeInteger(UInt8(request.delaySeconds == nil ? 0 : 1))
                if let delay = request.delaySeconds { buffer.writeInteger(Int32(delay)) }
                buffer.writeInteger(UInt8(request.producer == nil ? 0 : 1))
                if let producer = request.producer {
                    buffer.writeInteger(producer.producerID)
                    buffer.writeInteger(producer.epoch)
                    buffer.writeInteger(producer.sequence)
                }
            }
        case .receive(let request):
            buffer.writeInteger(Kind.receive.rawValue)
            buffer.writeInteger(UInt16(request.maxMessages))
            buffer.writeInteger(UInt8(request.visibilityTimeoutSeconds == nil ? 0 : 1))
            if let seconds = request.visibilityTimeoutSeconds { buffer.writeInteger(Int32(seconds)) }
            Self.writeOptional(request.requestAttemptID, into: &buffer)
        case .delete(let handles):
            buffer.writeInteger(Kind.delete.rawValue)
            buffer.writeInteger(UInt16(handles.count))
            for handle in handles { Self.write(handle, into: &buffer) }
        case .changeVisibility(let changes):
            buffer.writeInteger(Kind.changeVisibility.rawValue)
            buffer.writeInteger(UInt16(changes.count))
            for change in changes {
                Self.write(change.handle, into: &buffer)
                buffer.writeInteger(Int32(change.visibilityTimeoutSeconds))
            }
        case .purge:
            buffer.writeInteger(Kind.purge.rawValue)
        case .advanceTime:
            buffer.writeInteger(Kind.advanceTime.rawValue)
        }
        return buffer
    }

    public static func decode(_ bytes: ByteBuffer) throws(QueueDecodeError) -> QueueEntry {
        var buffer = bytes
        let version = try read(UInt8.self, &buffer, "version")
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let timestamp = try read(Int64.self, &buffer, "timestamp")
        let rawKind = try read(UInt8.self, &buffer, "kind")
        guard let kind = Kind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        let command: QueueCommand
        switch kind {
        case .send:
            let count = try read(UInt16.self, &buffer, "send count")
            var requests: [SendRequest] = []
            for _ in 0..<count {
                let length = try read(UInt32.self, &buffer, "body length")
                guard let body = buffer.readSlice(length: Int(length)) else { throw .truncated("body") }
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
                requests.append(
                    SendRequest(
                        body: body,
                        groupID: groupID,
                        deduplicationID: deduplicationID,
                        delaySeconds: delay,
                        producer: producer
                    )
                )
            }
            command = .send(requests)
        case .receive:
            let maxMessages = Int(try read(UInt16.self, &buffer, "max messages"))
            let visibility =
                try readPresence(&buffer, "visibility") ? Int(try read(Int32.self, &buffer, "visibility")) : nil
            let attemptID = try readOptionalString(&buffer, "request attempt id")
            command = .receive(
                ReceiveRequest(
                    maxMessages: maxMessages,
                    visibilityTimeoutSeconds: visibility,
                    requestAttemptID: attemptID
                )
            )
        case .delete:
            let count = try read(UInt16.self, &buffer, "delete count")
            var handles: [ReceiptHandle] = []
            for _ in 0..<count { handles.append(try readHandle(&buffer)) }
            command = .delete(handles)
        case .changeVisibility:
            let count = try read(UInt16.self, &buffer, "change count")
            var changes: [VisibilityChange] = []
            for _ in 0..<count {
                let handle = try readHandle(&buffer)
                let seconds = Int(try read(Int32.self, &buffer, "visibility"))
                changes.append(VisibilityChange(handle: handle, visibilityTimeoutSeconds: seconds))
            }
            command = .changeVisibility(changes)
        case .purge:
            command = .purge
        case .advanceTime:
            command = .advanceTime
        }
        guard buffer.readableBytes == 0 else { throw .trailingBytes(buffer.readableBytes) }
        return QueueEntry(timestampMs: timestamp, command: command)
    }

    // MARK: Fields

    static func writeOptional(_ text: String?, into buffer: inout ByteBuffer) {
        guard let text else {
            buffer.writeInteger(UInt8(0))
            return
        }
        precondition(text.utf8.count <= Int(UInt16.max), "string field too long")
        buffer.writeInteger(UInt8(1))
        buffer.writeInteger(UInt16(text.utf8.count))
        buffer.writeString(text)
    }

    static func write(_ handle: ReceiptHandle, into buffer: inout ByteBuffer) {
        buffer.writeInteger(handle.position.partition)
        buffer.writeInteger(handle.position.index)
        buffer.writeInteger(handle.position.slot)
        buffer.writeInteger(handle.fencingToken)
    }

    static func read<T: FixedWidthInteger>(
        _ type: T.Type,
        _ buffer: inout ByteBuffer,
        _ field: String
    ) throws(QueueDecodeError) -> T {
        guard let value = buffer.readInteger(as: T.self) else { throw .truncated(field) }
        return value
    }

    static func readPresence(_ buffer: inout ByteBuffer, _ field: String) throws(QueueDecodeError) -> Bool {
        switch try read(UInt8.self, &buffer, field) {
        case 0: return false
        case 1: return true
        case let other: throw .invalid("\(field) presence byte \(other)")
        }
    }

    static func readOptionalString(_ buffer: inout ByteBuffer, _ field: String) throws(QueueDecodeError) -> String? {
        guard try readPresence(&buffer, field) else { return nil }
        let length = try read(UInt16.self, &buffer, field)
        guard let bytes = buffer.readBytes(length: Int(length)) else { throw .truncated(field) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalid("\(field) is not UTF-8") }
        return text
    }

    static func readHandle(_ buffer: inout ByteBuffer) throws(QueueDecodeError) -> ReceiptHandle {
        let partition = try read(UInt32.self, &buffer, "handle partition")
        let index = try read(UInt64.self, &buffer, "handle index")
        let slot = try read(UInt16.self, &buffer, "handle slot")
        let token = try read(UInt64.self, &buffer, "handle token")
        guard partition < MessagePosition.maxPartitions, index < MessagePosition.maxIndex,
            Int(slot) < MessagePosition.maxSlots
        else { throw .invalid("receipt handle position") }
        return ReceiptHandle(
            position: MessagePosition(partition: partition, index: index, slot: slot),
            fencingToken: token
        )
    }
}
