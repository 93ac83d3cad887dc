import DequeModule
import FerryModel
import HeapModule
import NIOCore

extension QueuePartition {
    /// Snapshot format version; bump on any change and keep reading the old ones (CHANGELOG).
    /// 2: attributes with policy and tags. 3: each message's `availableAtMs` (older snapshots: the send, or the
    /// end of the delay). 4: deduplication keys as 128-bit SHA-256 digests (`DedupKey`; older snapshots: the
    /// scoped id, hashed on restore).
    public static let snapshotVersion: UInt8 = 4
    static let snapshotMagic: UInt32 = 0x4651_534E  // "FQSN"

    /// The whole state as bytes: identity, attributes, time, every live message (with its delivery), the
    /// dedup, move and attempt windows, producer sessions, outbox and move tasks. Derived indexes (groups,
    /// ready index, timers) are rebuilt on restore. Deterministic: equal states give equal bytes.
    public func snapshot() -> ByteBuffer {
        // One allocation for the whole snapshot, of about its size: the buffer is written to a file, and a bound
        // far above the size (600 bytes per message once) left hundreds of megabytes reserved (issue 19).
        var estimate = 4_096 + dedup.count * 40 + movesTaken.count * 48
        for message in messages.values { estimate += Self.snapshotBytes(message) }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(estimate)
        buffer.writeInteger(Self.snapshotMagic)
        buffer.writeInteger(Self.snapshotVersion)
        QueueFields.write(queueName, into: &buffer)
        buffer.writeInteger(queueID)
        buffer.writeInteger(partition)
        buffer.writeInteger(partitionCount)
        QueueFields.write(attributes, into: &buffer)
        buffer.writeInteger(nowMs)
        buffer.writeInteger(appliedIndex)
        buffer.writeInteger(nextFencingToken)
        buffer.writeInteger(nextOutboxID)
        buffer.writeInteger(nextProducerSweepMs)
        for total in [
            counters.sent, counters.received, counters.deleted, counters.deadLettered, counters.expired,
            counters.movesAbandoned,
        ] {
            buffer.writeInteger(total)
        }

        buffer.writeInteger(UInt32(messages.count))
        for (sequence, message) in messages { Self.write(message, sequence: sequence, into: &buffer) }

        let dedupRecords = dedup.orderedRecords
        buffer.writeInteger(UInt32(dedupRecords.count))
        for (key, record) in dedupRecords {
            buffer.writeInteger(key.high)
            buffer.writeInteger(key.low)
            QueueFields.write(record.position, into: &buffer)
            buffer.writeInteger(record.acceptedAtMs)
        }
        let moves = movesTaken.ordered
        buffer.writeInteger(UInt32(moves.count))
        for record in moves {
            buffer.writeInteger(record.key.queueID)
            QueueFields.write(record.key.position, into: &buffer)
            QueueFields.write(record.value.position, into: &buffer)
            buffer.writeInteger(record.atMs)
        }
        let attemptRecords = attempts.ordered
        buffer.writeInteger(UInt32(attemptRecords.count))
        for record in attemptRecords {
            QueueFields.write(record.key, into: &buffer)
            buffer.writeInteger(record.atMs)
            buffer.writeInteger(UInt16(record.value.count))
            for handle in record.value { QueueFields.write(handle, into: &buffer) }
        }
        let sessions = producers.sessions.sorted { $0.key < $1.key }
        buffer.writeInteger(UInt32(sessions.count))
        for (producerID, session) in sessions {
            buffer.writeInteger(producerID)
            buffer.writeInteger(session.epoch)
            buffer.writeInteger(session.lastSequence)
            buffer.writeInteger(session.lastActiveMs)
            buffer.writeInteger(UInt16(session.recent.count))
            for send in session.recent {
                buffer.writeInteger(send.sequence)
                QueueFields.write(send.position, into: &buffer)
            }
        }
        buffer.writeInteger(UInt32(outbox.count))
        for move in outbox {
            buffer.writeInteger(move.id)
            QueueFields.write(move.destination, into: &buffer)
            QueueFields.write(move.request, into: &buffer)
            switch move.reason {
            case .deadLetter: QueueFields.writeOptional(nil, into: &buffer)
            case .redrive(let taskID): QueueFields.writeOptional(taskID, into: &buffer)
            }
            buffer.writeInteger(move.createdAtMs)
        }
        let tasks = (moveTask.map { [$0] } ?? []) + finishedMoveTasks
        QueueFields.writePresence(moveTask != nil, into: &buffer)
        buffer.writeInteger(UInt8(tasks.count))
        for task in tasks { QueueFields.write(task, into: &buffer) }
        return buffer
    }

    /// A bound on the bytes `write(_:sequence:into:)` writes for `message`: fixed fields take at most 81 bytes,
    /// an origin 30 and its queue name.
    static func snapshotBytes(_ message: StoredMessage) -> Int {
        let origin = message.origin.map { 30 + $0.sourceQueue.utf8.count } ?? 0
        return 81 + Int(message.payload.length) + (message.groupID?.utf8.count ?? 0) + origin
    }

    static func write(_ message: StoredMessage, sequence: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeInteger(sequence)
        // As `QueueFields.writeBytes` and `writeOptional` write them: u32 length and bytes; then the group;
        // then a presence byte, u16 length and UTF-8.
        message.withParts { body, attributes, id in
            buffer.writeInteger(UInt32(body.count))
            buffer.writeBytes(body)
            buffer.writeInteger(UInt32(attributes.count))
            buffer.writeBytes(attributes)
            QueueFields.writeOptional(message.groupID, into: &buffer)
            if message.deduplicationIDLength == StoredMessage.noDeduplicationID {
                buffer.writeInteger(UInt8(0))
            } else {
                buffer.writeInteger(UInt8(1))
                buffer.writeInteger(UInt16(id.count))
                buffer.writeBytes(id)
            }
        }
        buffer.writeInteger(message.sentAtMs)
        switch message.state {
        case .available:
            buffer.writeInteger(UInt8(0))
        case .delayed(let until):
            buffer.writeInteger(UInt8(1))
            buffer.writeInteger(until)
        case .inFlight(let until):
            buffer.writeInteger(UInt8(2))
            buffer.writeInteger(until)
        }
        buffer.writeInteger(message.receiveCount)
        buffer.writeInteger(message.firstReceiveAtMs)
        buffer.writeInteger(message.token)
        buffer.writeInteger(message.deliveredAtMs)
        QueueFields.write(message.origin, into: &buffer)
        buffer.writeInteger(message.availableAtMs)
    }

    /// The partition a `snapshot()` describes.
    /// - Throws: a typed decode error for bytes that are not a snapshot this version reads; never traps.
    public static func restore(from bytes: ByteBuffer) throws(QueueDecodeError) -> QueuePartition {
        var buffer = bytes
        guard try QueueFields.read(UInt32.self, &buffer, "magic") == snapshotMagic else {
            throw .invalid("not a queue snapshot")
        }
        let version = try QueueFields.read(UInt8.self, &buffer, "version")
        guard (1...snapshotVersion).contains(version) else { throw .unsupportedVersion(version) }
        let name = try QueueFields.readString(&buffer, "queue name")
        let queueID = try QueueFields.read(UInt64.self, &buffer, "queue id")
        let partitionNumber = try QueueFields.read(UInt32.self, &buffer, "partition")
        let partitionCount = try QueueFields.read(UInt32.self, &buffer, "partition count")
        let attributes = try QueueFields.readAttributes(&buffer, format: version)
        var state: QueuePartition
        do {
            state = try QueuePartition(
                queueName: name,
                queueID: queueID,
                partition: partitionNumber,
                partitionCount: partitionCount,
                attributes: attributes
            )
        } catch {
            throw .invalid("snapshot identity or attributes: \(error)")
        }
        state.nowMs = try QueueFields.read(Int64.self, &buffer, "now")
        state.appliedIndex = try QueueFields.read(UInt64.self, &buffer, "applied index")
        guard state.appliedIndex < MessagePosition.maxIndex else { throw .invalid("applied index") }
        state.nextFencingToken = try QueueFields.read(UInt64.self, &buffer, "next token")
        state.nextOutboxID = try QueueFields.read(UInt64.self, &buffer, "next outbox id")
        state.nextProducerSweepMs = try QueueFields.read(Int64.self, &buffer, "producer sweep")
        state.counters.sent = try QueueFields.read(UInt64.self, &buffer, "sent")
        state.counters.received = try QueueFields.read(UInt64.self, &buffer, "received")
        state.counters.deleted = try QueueFields.read(UInt64.self, &buffer, "deleted")
        state.counters.deadLettered = try QueueFields.read(UInt64.self, &buffer, "dead-lettered")
        state.counters.expired = try QueueFields.read(UInt64.self, &buffer, "expired")
        state.counters.movesAbandoned = try QueueFields.read(UInt64.self, &buffer, "moves abandoned")

        let messageCount = try QueueFields.readCount(UInt32.self, &buffer, minimumItemBytes: 8, "message count")
        state.messages.reserveCapacity(messageCount)
        var previous: UInt64?
        var run: [(UInt64, StoredMessage)] = []
        var parts: [BodyPacking.Parts] = []
        run.reserveCapacity(BodyPacking.restoreRun)
        parts.reserveCapacity(BodyPacking.restoreRun)
        for number in 0..<messageCount {
            let (sequence, message, messageParts) = try readMessage(&buffer, version: version)
            guard previous.map({ $0 < sequence }) ?? true, sequence >> 10 <= state.appliedIndex,
                message.token < state.nextFencingToken
            else { throw .invalid("message \(sequence) out of order or ahead of the state") }
            guard state.kind == .standard || message.groupID != nil else {
                throw .invalid("FIFO message without group")
            }
            previous = sequence
            run.append((sequence, message))
            parts.append(messageParts)
            if run.count == BodyPacking.restoreRun || number == messageCount - 1 {
                for (payload, (sequence, message)) in zip(BodyPacking.payloads(parts), run) {
                    var message = message
                    message.payload = payload
                    state.restoreMessage(sequence, message)
                }
                run.removeAll(keepingCapacity: true)
                parts.removeAll(keepingCapacity: true)
            }
        }
        // Each FIFO group's place in the ready index, once its messages are all back (its head and in-flight
        // count are final only then).
        for groupID in state.groups.keys { state.refreshGroup(groupID) }

        let dedupCount = try QueueFields.readCount(UInt32.self, &buffer, minimumItemBytes: 24, "dedup count")
        state.dedup.reserveCapacity(dedupCount)
        for _ in 0..<dedupCount {
            // Version 4 keeps the key's digest; earlier versions the scoped id, hashed here alike.
            let key =
                version >= 4
                ? DedupKey(
                    high: try QueueFields.read(UInt64.self, &buffer, "dedup key"),
                    low: try QueueFields.read(UInt64.self, &buffer, "dedup key")
                )
                : DedupKey(scoped: try QueueFields.readString(&buffer, "dedup key"))
            let position = try QueueFields.readPosition(&buffer, "dedup")
            guard position.partition == partitionNumber else { throw .invalid("dedup record of another partition") }
            let atMs = try QueueFields.read(Int64.self, &buffer, "dedup time")
            try state.dedup.insertRestored(key, DedupRecord(position: position, acceptedAtMs: atMs))
        }
        let moveCount = try QueueFields.readCount(UInt32.self, &buffer, minimumItemBytes: 44, "moves count")
        for _ in 0..<moveCount {
            let sourceID = try QueueFields.read(UInt64.self, &buffer, "move source")
            let source = try QueueFields.readPosition(&buffer, "move source")
            let position = try QueueFields.readPosition(&buffer, "move")
            let atMs = try QueueFields.read(Int64.self, &buffer, "move time")
            try state.movesTaken.insertRestored(
                MoveKey(queueID: sourceID, position: source),
                DedupRecord(position: position, acceptedAtMs: atMs),
                atMs: atMs
            )
        }
        let attemptCount = try QueueFields.readCount(UInt32.self, &buffer, minimumItemBytes: 12, "attempt count")
        for _ in 0..<attemptCount {
            let key = try QueueFields.readString(&buffer, "attempt id")
            let atMs = try QueueFields.read(Int64.self, &buffer, "attempt time")
            let handleCount = try QueueFields.readCount(UInt16.self, &buffer, minimumItemBytes: 22, "attempt handles")
            var handles: [ReceiptHandle] = []
            for _ in 0..<handleCount { handles.append(try QueueFields.readHandle(&buffer)) }
            try state.attempts.insertRestored(key, handles, atMs: atMs)
        }
        let sessionCount = try QueueFields.readCount(UInt32.self, &buffer, minimumItemBytes: 30, "session count")
        var sessions: [UInt64: ProducerSessions.Session] = [:]
        for _ in 0..<sessionCount {
            let producerID = try QueueFields.read(UInt64.self, &buffer, "producer id")
            var session = ProducerSessions.Session(
                epoch: try QueueFields.read(UInt32.self, &buffer, "epoch"),
                lastSequence: try QueueFields.read(UInt64.self, &buffer, "last sequence"),
                lastActiveMs: try QueueFields.read(Int64.self, &buffer, "last active"),
                recent: []
            )
            let recentCount = try QueueFields.readCount(UInt16.self, &buffer, minimumItemBytes: 22, "recent sends")
            for _ in 0..<recentCount {
                session.recent.append(
                    ProducerSessions.RememberedSend(
                        sequence: try QueueFields.read(UInt64.self, &buffer, "recent sequence"),
                        position: try QueueFields.readPosition(&buffer, "recent")
                    )
                )
            }
            guard sessions.updateValue(session, forKey: producerID) == nil else { throw .invalid("producer twice") }
        }
        state.producers = ProducerSessions(restoring: sessions)
        let outboxCount = try QueueFields.readCount(UInt32.self, &buffer, minimumItemBytes: 8, "outbox count")
        for _ in 0..<outboxCount {
            let id = try QueueFields.read(UInt64.self, &buffer, "move id")
            let destination = try QueueFields.readString(&buffer, "destination")
            let request = try QueueFields.readSendRequest(&buffer)
            let taskID = try QueueFields.readOptionalString(&buffer, "move task")
            let createdAtMs = try QueueFields.read(Int64.self, &buffer, "move time")
            guard id < state.nextOutboxID, state.outbox.last.map({ $0.id < id }) ?? true else {
                throw .invalid("outbox ids out of order")
            }
            state.outbox.append(
                OutboxMove(
                    id: id,
                    destination: destination,
                    request: request,
                    reason: taskID.map { .redrive(taskID: $0) } ?? .deadLetter,
                    createdAtMs: createdAtMs
                )
            )
        }
        let running = try QueueFields.readPresence(&buffer, "running task")
        let taskCount = Int(try QueueFields.read(UInt8.self, &buffer, "task count"))
        guard !running || taskCount >= 1 else { throw .invalid("running task missing") }
        for at in 0..<taskCount {
            let task = try QueueFields.readTask(&buffer)
            guard (task.state == .running) == (running && at == 0) else { throw .invalid("move task state") }
            if task.state == .running { state.moveTask = task } else { state.finishedMoveTasks.append(task) }
        }
        guard buffer.readableBytes == 0 else { throw .trailingBytes(buffer.readableBytes) }
        return state
    }

    static func readMessage(
        _ buffer: inout ByteBuffer,
        version: UInt8
    ) throws(QueueDecodeError) -> (UInt64, StoredMessage, BodyPacking.Parts) {
        let sequence = try QueueFields.read(UInt64.self, &buffer, "sequence")
        guard sequence >> 10 < MessagePosition.maxIndex else { throw .invalid("sequence") }
        let body = try QueueFields.readBytes(&buffer, "body")
        let attributes = try QueueFields.readBytes(&buffer, "message attributes")
        let groupID = try QueueFields.readOptionalString(&buffer, "group id")
        let deduplicationID = try readDeduplicationID(&buffer)
        let sentAtMs = try QueueFields.read(Int64.self, &buffer, "sent at")
        let state: StoredMessage.State
        switch try QueueFields.read(UInt8.self, &buffer, "message state") {
        case 0: state = .available
        case 1: state = .delayed(untilMs: try QueueFields.read(Int64.self, &buffer, "delay"))
        case 2: state = .inFlight(untilMs: try QueueFields.read(Int64.self, &buffer, "visibility"))
        case let other: throw .invalid("message state \(other)")
        }
        // The payload is filled in per restore run (`BodyPacking.payloads`).
        var message = StoredMessage(
            payload: .empty,
            attributesLength: attributes.readableBytes,
            deduplicationIDLength: deduplicationID?.readableBytes,
            groupID: groupID,
            sentAtMs: sentAtMs,
            state: state
        )
        message.receiveCount = try QueueFields.read(UInt32.self, &buffer, "receive count")
        message.firstReceiveAtMs = try QueueFields.read(Int64.self, &buffer, "first receive")
        message.token = try QueueFields.read(UInt64.self, &buffer, "token")
        message.deliveredAtMs = try QueueFields.read(Int64.self, &buffer, "delivered at")
        message.origin = try QueueFields.readOrigin(&buffer)
        if version >= 3 {
            message.availableAtMs = try QueueFields.read(Int64.self, &buffer, "available at")
        } else if case .delayed(let until) = state {
            message.availableAtMs = until
        } else {
            message.availableAtMs = sentAtMs
        }
        return (
            sequence, message, BodyPacking.Parts(body: body, attributes: attributes, deduplicationID: deduplicationID)
        )
    }

    /// An optional string field read as its UTF-8 bytes (a message keeps its deduplication id as bytes).
    static func readDeduplicationID(_ buffer: inout ByteBuffer) throws(QueueDecodeError) -> ByteBuffer? {
        guard try QueueFields.readPresence(&buffer, "deduplication id") else { return nil }
        let length = Int(try QueueFields.read(UInt16.self, &buffer, "deduplication id"))
        guard length < StoredMessage.noDeduplicationID, let bytes = buffer.readSlice(length: length) else {
            throw .truncated("deduplication id")
        }
        let valid = bytes.withUnsafeReadableBytes { raw in
            raw.allSatisfy { $0 < 0x80 } || String(validating: raw, as: UTF8.self) != nil
        }
        guard valid else { throw .invalid("deduplication id is not UTF-8") }
        return bytes
    }

    /// Puts a restored message back with its derived state: group, timers, counters (the ready index is
    /// refreshed per group once all are back).
    mutating func restoreMessage(_ sequence: UInt64, _ message: StoredMessage) {
        messages.append(sequence, message)
        if let timer = Self.timer(for: sequence, message) { timers.insert(timer) }
        switch message.state {
        case .delayed: counters.delayed += 1
        case .inFlight: counters.inFlight += 1
        case .available: break
        }
        if kind == .fifo, let groupID = message.groupID {
            groups[groupID, default: GroupState()].messages.append(sequence)
            if case .inFlight = message.state { adjustInFlight(groupID, by: 1) }
        } else if message.state == .available {
            standardReady.insert(sequence)
        }
    }
}

extension ExpiringTable {
    /// Inserts a snapshot record, refusing time going backwards instead of trapping.
    mutating func insertRestored(_ key: Key, _ value: Value, atMs: Int64) throws(QueueDecodeError) {
        if let newest = newestAtMs, atMs < newest { throw .invalid("window records out of order") }
        guard !contains(key) else { throw .invalid("window key twice") }
        insert(key, value, atMs: atMs)
    }
}
