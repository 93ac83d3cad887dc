import FerryModel
import NIOCore

extension QueueEntry {
    enum Kind: UInt8 {
        case send = 1
        case receive = 2
        case delete = 3
        case changeVisibility = 4
        case purge = 5
        case advanceTime = 6
        case setAttributes = 7
        case acknowledgeMoves = 8
        case startMoveTask = 9
        case cancelMoveTask = 10
    }

    /// The smallest encodings of list items, so that a count prefix cannot ask for more than the bytes hold.
    static let minimumSendBytes = 4 + 4 + 1 + 1 + 1 + 1 + 1
    static let minimumReceiveBytes = 2 + 1 + 1
    static let handleBytes = 4 + 8 + 2 + 8

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.version)
        buffer.writeInteger(timestampMs)
        switch command {
        case .send(let requests):
            buffer.writeInteger(Kind.send.rawValue)
            buffer.writeInteger(UInt16(requests.count))
            for request in requests { QueueFields.write(request, into: &buffer) }
        case .receive(let requests):
            buffer.writeInteger(Kind.receive.rawValue)
            buffer.writeInteger(UInt16(requests.count))
            for request in requests { QueueFields.write(request, into: &buffer) }
        case .delete(let handles):
            buffer.writeInteger(Kind.delete.rawValue)
            buffer.writeInteger(UInt16(handles.count))
            for handle in handles { QueueFields.write(handle, into: &buffer) }
        case .changeVisibility(let changes):
            buffer.writeInteger(Kind.changeVisibility.rawValue)
            buffer.writeInteger(UInt16(changes.count))
            for change in changes {
                QueueFields.write(change.handle, into: &buffer)
                buffer.writeInteger(Int32(clamping: change.visibilityTimeoutSeconds))
            }
        case .purge:
            buffer.writeInteger(Kind.purge.rawValue)
        case .advanceTime:
            buffer.writeInteger(Kind.advanceTime.rawValue)
        case .setAttributes(let attributes):
            buffer.writeInteger(Kind.setAttributes.rawValue)
            QueueFields.write(attributes, into: &buffer)
        case .acknowledgeMoves(let ids):
            buffer.writeInteger(Kind.acknowledgeMoves.rawValue)
            buffer.writeInteger(UInt32(ids.count))
            for id in ids { buffer.writeInteger(id) }
        case .startMoveTask(let request):
            buffer.writeInteger(Kind.startMoveTask.rawValue)
            QueueFields.write(request.taskID, into: &buffer)
            QueueFields.writeOptional(request.destination, into: &buffer)
            buffer.writeInteger(Int32(clamping: request.maxMessagesPerSecond))
        case .cancelMoveTask(let taskID):
            buffer.writeInteger(Kind.cancelMoveTask.rawValue)
            QueueFields.write(taskID, into: &buffer)
        }
        return buffer
    }

    public static func decode(_ bytes: ByteBuffer) throws(QueueDecodeError) -> QueueEntry {
        var buffer = bytes
        let version = try QueueFields.read(UInt8.self, &buffer, "version")
        guard (1...Self.version).contains(version) else { throw .unsupportedVersion(version) }
        let timestamp = try QueueFields.read(Int64.self, &buffer, "timestamp")
        let rawKind = try QueueFields.read(UInt8.self, &buffer, "kind")
        guard let kind = Kind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        let command: QueueCommand
        switch kind {
        case .send:
            let count = try QueueFields.readCount(
                UInt16.self,
                &buffer,
                minimumItemBytes: minimumSendBytes,
                "send count"
            )
            var requests: [SendRequest] = []
            requests.reserveCapacity(count)
            for _ in 0..<count { requests.append(try QueueFields.readSendRequest(&buffer)) }
            command = .send(requests)
        case .receive:
            let count = try QueueFields.readCount(
                UInt16.self,
                &buffer,
                minimumItemBytes: minimumReceiveBytes,
                "receive count"
            )
            var requests: [ReceiveRequest] = []
            for _ in 0..<count { requests.append(try QueueFields.readReceiveRequest(&buffer)) }
            command = .receive(requests)
        case .delete:
            let count = try QueueFields.readCount(UInt16.self, &buffer, minimumItemBytes: handleBytes, "delete count")
            var handles: [ReceiptHandle] = []
            for _ in 0..<count { handles.append(try QueueFields.readHandle(&buffer)) }
            command = .delete(handles)
        case .changeVisibility:
            let count = try QueueFields.readCount(
                UInt16.self,
                &buffer,
                minimumItemBytes: handleBytes + 4,
                "change count"
            )
            var changes: [VisibilityChange] = []
            for _ in 0..<count {
                let handle = try QueueFields.readHandle(&buffer)
                let seconds = Int(try QueueFields.read(Int32.self, &buffer, "visibility"))
                changes.append(VisibilityChange(handle: handle, visibilityTimeoutSeconds: seconds))
            }
            command = .changeVisibility(changes)
        case .purge:
            command = .purge
        case .advanceTime:
            command = .advanceTime
        case .setAttributes:
            command = .setAttributes(try QueueFields.readAttributes(&buffer, format: version))
        case .acknowledgeMoves:
            let count = try QueueFields.readCount(UInt32.self, &buffer, minimumItemBytes: 8, "move count")
            var ids: [UInt64] = []
            for _ in 0..<count { ids.append(try QueueFields.read(UInt64.self, &buffer, "move id")) }
            command = .acknowledgeMoves(ids)
        case .startMoveTask:
            command = .startMoveTask(
                MoveTaskRequest(
                    taskID: try QueueFields.readString(&buffer, "task id"),
                    destination: try QueueFields.readOptionalString(&buffer, "destination"),
                    maxMessagesPerSecond: Int(try QueueFields.read(Int32.self, &buffer, "rate"))
                )
            )
        case .cancelMoveTask:
            command = .cancelMoveTask(taskID: try QueueFields.readString(&buffer, "task id"))
        }
        guard buffer.readableBytes == 0 else { throw .trailingBytes(buffer.readableBytes) }
        return QueueEntry(timestampMs: timestamp, command: command)
    }
}
