import FerryModel
import NIOCore

extension ClientFrame {
    /// Decodes one frame from the front of `buffer`. Returns nil (consuming nothing) before a whole frame is there.
    /// - Throws: on any malformed frame; the length is checked against the limit before anything else is read.
    public static func decode(from buffer: inout ByteBuffer) throws(WireDecodeError) -> ClientFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length <= WireLimits.maxClientFrameBytes else {
            throw .frameTooLarge(length: Int(length), limit: WireLimits.maxClientFrameBytes)
        }
        guard length >= headerBytes - 4 else { throw .frameTooShort(length: Int(length)) }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        var body = buffer.readSlice(length: Int(length))!
        let kind = try body.readU16("kind")
        let correlationID = try body.readU32("correlation id")
        let payload: Payload
        do {
            if kind & responseBit == 0 {
                payload = .request(try decodeRequest(kind: kind, &body))
            } else {
                payload = .response(try decodeResponse(kind: kind & ~responseBit, &body))
            }
        } catch let error as WireDecodeError {
            throw error
        } catch let error as QueueDecodeError {
            throw .malformed("\(error)")
        } catch {
            throw .malformed("\(error)")
        }
        guard body.readableBytes == 0 else { throw .trailingBytes(count: body.readableBytes) }
        return ClientFrame(correlationID: correlationID, payload)
    }

    /// A count prefix that cannot ask for more items than the remaining bytes could hold.
    static func count(
        _ buffer: inout ByteBuffer,
        _ field: String,
        minimumItemBytes: Int,
        wide: Bool = false
    ) throws
        -> Int
    {
        let count = wide ? Int(try buffer.readU32(field)) : Int(try buffer.readU16(field))
        guard count * minimumItemBytes <= buffer.readableBytes else { throw WireDecodeError.truncated(field: field) }
        return count
    }

    static func target(_ buffer: inout ByteBuffer) throws -> (String, UInt32) {
        (try QueueFields.readString(&buffer, "queue"), try buffer.readU32("partition"))
    }

    static func decodeRequest(kind: UInt16, _ buffer: inout ByteBuffer) throws -> ClientRequest {
        switch kind {
        case 1:
            let version = try buffer.readU16("protocol version")
            guard version == protocolVersion else {
                throw WireDecodeError.invalidValue(field: "protocol version", value: UInt64(version))
            }
            return .hello(client: try QueueFields.readString(&buffer, "client"))
        case 2: return .describeCluster
        case 3:
            return .createQueue(
                name: try QueueFields.readString(&buffer, "name"),
                partitions: try buffer.readU32("partitions"),
                attributes: try QueueFields.readAttributes(&buffer)
            )
        case 4: return .deleteQueue(name: try QueueFields.readString(&buffer, "name"))
        case 5: return .listQueues(prefix: try QueueFields.readString(&buffer, "prefix"))
        case 6:
            return .setQueueAttributes(
                name: try QueueFields.readString(&buffer, "name"),
                attributes: try QueueFields.readAttributes(&buffer)
            )
        case 7:
            let (name, partition) = try target(&buffer)
            return .purgeQueue(name: name, partition: partition)
        case 8:
            let (queue, partition) = try target(&buffer)
            let n = try count(&buffer, "send count", minimumItemBytes: 13)
            var requests: [SendRequest] = []
            for _ in 0..<n { requests.append(try QueueFields.readSendRequest(&buffer)) }
            return .send(queue: queue, partition: partition, requests: requests)
        case 9:
            let (queue, partition) = try target(&buffer)
            return .receive(
                queue: queue,
                partition: partition,
                request: try QueueFields.readReceiveRequest(&buffer),
                waitMs: try buffer.readU32("wait")
            )
        case 10:
            let (queue, partition) = try target(&buffer)
            let n = try count(&buffer, "delete count", minimumItemBytes: 22)
            var handles: [ReceiptHandle] = []
            for _ in 0..<n { handles.append(try QueueFields.readHandle(&buffer)) }
            return .delete(queue: queue, partition: partition, handles: handles)
        case 11:
            let (queue, partition) = try target(&buffer)
            let n = try count(&buffer, "change count", minimumItemBytes: 26)
            var changes: [VisibilityChange] = []
            for _ in 0..<n {
                let handle = try QueueFields.readHandle(&buffer)
                let seconds = Int(try QueueFields.read(Int32.self, &buffer, "visibility"))
                changes.append(VisibilityChange(handle: handle, visibilityTimeoutSeconds: seconds))
            }
            return .changeVisibility(queue: queue, partition: partition, changes: changes)
        case 12:
            let present = try QueueFields.readPresence(&buffer, "producer id")
            return .initProducer(producerID: present ? try buffer.readU64("producer id") : nil)
        case 13:
            let (queue, partition) = try target(&buffer)
            return .sendStatus(
                queue: queue,
                partition: partition,
                deduplicationID: try QueueFields.readString(&buffer, "deduplication id"),
                groupID: try QueueFields.readOptionalString(&buffer, "group id")
            )
        case 14: return .nodeStatus
        case 28: return .nodeHealth
        case 29:
            let (queue, partition) = try target(&buffer)
            return .peekMessages(queue: queue, partition: partition, maxMessages: try buffer.readU32("max messages"))
        case 30:
            let (queue, partition) = try target(&buffer)
            return .groupBacklog(queue: queue, partition: partition, maxGroups: try buffer.readU32("max groups"))
        case 15:
            let (queue, partition) = try target(&buffer)
            return .queueStatistics(queue: queue, partition: partition)
        case 16: return .groupDigest(groupID: try buffer.readU64("group"))
        case 17:
            let (queue, partition) = try target(&buffer)
            return .startMoveTask(
                queue: queue,
                partition: partition,
                request: MoveTaskRequest(
                    taskID: try QueueFields.readString(&buffer, "task id"),
                    destination: try QueueFields.readOptionalString(&buffer, "destination"),
                    maxMessagesPerSecond: Int(try QueueFields.read(Int32.self, &buffer, "rate"))
                )
            )
        case 18:
            let (queue, partition) = try target(&buffer)
            return .cancelMoveTask(
                queue: queue,
                partition: partition,
                taskID: try QueueFields.readString(&buffer, "task id")
            )
        case 19:
            let (queue, partition) = try target(&buffer)
            return .listMoveTasks(queue: queue, partition: partition)
        case 20:
            let (queue, partition) = try target(&buffer)
            return .awaitMessages(queue: queue, partition: partition, waitMs: try buffer.readU32("wait"))
        case 21:
            let (queue, partition) = try target(&buffer)
            return .summarizeDeliverable(
                queue: queue,
                partition: partition,
                maxMessages: try buffer.readU16("max messages"),
                requestAttemptID: try QueueFields.readOptionalString(&buffer, "request attempt id"),
                waitMs: try buffer.readU32("wait")
            )
        case 22:
            let (queue, partition) = try target(&buffer)
            return .receiveIfFull(
                queue: queue,
                partition: partition,
                request: try QueueFields.readReceiveRequest(&buffer)
            )
        case 23: return .changeCluster(try readChange(&buffer))
        case 24: return .changeKeys(try readKeyChange(&buffer))
        case 25: return .listKeys
        case 26: return .authBegin(keyID: try QueueFields.readString(&buffer, "key id"))
        case 27:
            return .authProve(
                clientNonce: try QueueFields.readString(&buffer, "client nonce"),
                proof: try QueueFields.readString(&buffer, "proof")
            )
        default: throw WireDecodeError.unknownKind(UInt8(truncatingIfNeeded: kind))
        }
    }

    static func readKeyChange(_ buffer: inout ByteBuffer) throws -> KeyChange {
        switch try buffer.readU8("key change") {
        case 1:
            return .create(
                id: try QueueFields.readString(&buffer, "key id"),
                secret: try QueueFields.readString(&buffer, "key secret"),
                account: try QueueFields.readString(&buffer, "key account"),
                admin: try QueueFields.readPresence(&buffer, "key admin")
            )
        case 2: return .revoke(id: try QueueFields.readString(&buffer, "key id"))
        case 3:
            return .rotate(
                id: try QueueFields.readString(&buffer, "key id"),
                secret: try QueueFields.readString(&buffer, "key secret"),
                graceMs: try QueueFields.read(Int64.self, &buffer, "grace")
            )
        case let other: throw WireDecodeError.invalidValue(field: "key change", value: UInt64(other))
        }
    }

    static func readChange(_ buffer: inout ByteBuffer) throws -> ClusterChange {
        switch try buffer.readU8("change") {
        case 1: return .addNode(try QueueFields.readNode(&buffer))
        case 2: return .removeNode(try buffer.readU64("node id"))
        case 3: return .replaceNode(old: try buffer.readU64("old node id"), new: try QueueFields.readNode(&buffer))
        case 4:
            let (queue, partition) = try target(&buffer)
            return .movePartition(
                queue: queue,
                partition: partition,
                from: try buffer.readU64("from"),
                to: try buffer.readU64("to")
            )
        case let other: throw WireDecodeError.invalidValue(field: "change", value: UInt64(other))
        }
    }

    static func decodeResponse(kind: UInt16, _ buffer: inout ByteBuffer) throws -> ClientResponse {
        switch kind {
        case 1:
            return .hello(
                nodeID: try buffer.readU64("node id"),
                clusterID: try QueueFields.readString(&buffer, "cluster id"),
                protocolVersion: try buffer.readU16("protocol version")
            )
        case 2: return .cluster(try readCluster(&buffer))
        case 3: return .queue(try readQueue(&buffer))
        case 4:
            let n = try count(&buffer, "queue count", minimumItemBytes: 16, wide: true)
            var queues: [QueueDescription] = []
            for _ in 0..<n { queues.append(try readQueue(&buffer)) }
            return .queues(queues)
        case 5: return .done
        case 6:
            let n = try count(&buffer, "result count", minimumItemBytes: 1)
            var results: [Result<SendOutcome, WireError>] = []
            for _ in 0..<n {
                results.append(
                    try readResult(&buffer) { buffer in
                        switch try buffer.readU8("send outcome") {
                        case 1: return .enqueued(try QueueFields.readPosition(&buffer, "position"))
                        case 2: return .duplicate(try QueueFields.readPosition(&buffer, "position"))
                        case 3: return .duplicateResultForgotten
                        case let other: throw WireDecodeError.invalidValue(field: "send outcome", value: UInt64(other))
                        }
                    }
                )
            }
            return .sent(results)
        case 7:
            let n = try count(&buffer, "delivery count", minimumItemBytes: 40)
            var deliveries: [Delivery] = []
            for _ in 0..<n { deliveries.append(try readDelivery(&buffer)) }
            return .received(deliveries)
        case 8:
            let n = try count(&buffer, "result count", minimumItemBytes: 1)
            var results: [Result<DeleteOutcome, WireError>] = []
            for _ in 0..<n {
                results.append(
                    try readResult(&buffer) { buffer in
                        switch try buffer.readU8("delete outcome") {
                        case 1: return .deleted
                        case 2: return .alreadyGone
                        case let other:
                            throw WireDecodeError.invalidValue(field: "delete outcome", value: UInt64(other))
                        }
                    }
                )
            }
            return .deleted(results)
        case 9:
            let n = try count(&buffer, "result count", minimumItemBytes: 1)
            var results: [Result<Int64, WireError>] = []
            for _ in 0..<n {
                results.append(try readResult(&buffer) { buffer in try QueueFields.read(Int64.self, &buffer, "until") })
            }
            return .visibilityChanged(results)
        case 10:
            return .producer(id: try buffer.readU64("producer id"), epoch: try buffer.readU32("epoch"))
        case 11:
            switch try buffer.readU8("send status") {
            case 0: return .sendStatus(.unknown)
            case 1:
                let position = try QueueFields.readPosition(&buffer, "position")
                let at =
                    try QueueFields.readPresence(&buffer, "accepted at")
                    ? try QueueFields.read(Int64.self, &buffer, "accepted at") : nil
                return .sendStatus(.accepted(position, atMs: at))
            case let other: throw WireDecodeError.invalidValue(field: "send status", value: UInt64(other))
            }
        case 12:
            let nodeID = try buffer.readU64("node id")
            let fsync = try QueueFields.readString(&buffer, "fsync")
            let n = try count(&buffer, "group count", minimumItemBytes: 50, wide: true)
            var groups: [GroupStatus] = []
            for _ in 0..<n { groups.append(try readGroup(&buffer)) }
            let notAfter = try QueueFields.read(Int64.self, &buffer, "tls not after")
            var status = NodeStatus(nodeID: nodeID, fsync: fsync, groups: groups, tlsNotAfter: notAfter)
            status.storageFull = try QueueFields.readString(&buffer, "storage full")
            return .nodeStatus(status)
        case 13: return .error(try readError(&buffer))
        case 14:
            let nowMs = try QueueFields.read(Int64.self, &buffer, "now")
            var counts: [Int] = []
            for field in [
                "visible", "in flight", "delayed", "groups", "groups in flight", "outbox", "dedup", "sessions",
            ] {
                let count = try buffer.readU64(field)
                guard count <= UInt64(Int.max) else { throw WireDecodeError.invalidValue(field: field, value: count) }
                counts.append(Int(count))
            }
            let oldest =
                try QueueFields.readPresence(&buffer, "oldest")
                ? try QueueFields.read(Int64.self, &buffer, "oldest") : nil
            var totals: [UInt64] = []
            for field in ["sent", "received", "deleted", "dead-lettered", "expired", "moves exhausted"] {
                totals.append(try buffer.readU64(field))
            }
            return .statistics(
                QueueStatistics(
                    visible: counts[0],
                    inFlight: counts[1],
                    delayed: counts[2],
                    oldestSentAtMs: oldest,
                    groups: counts[3],
                    groupsWithInFlight: counts[4],
                    outbox: counts[5],
                    deduplicationRecords: counts[6],
                    producerSessions: counts[7],
                    sent: totals[0],
                    received: totals[1],
                    deleted: totals[2],
                    deadLettered: totals[3],
                    expired: totals[4],
                    movesExhausted: totals[5]
                ),
                nowMs: nowMs
            )
        case 15: return .digest(applied: try buffer.readU64("applied"), digest: try buffer.readU64("digest"))
        case 16:
            // Smallest task: id and destination lengths, rate, state, six 8-byte numbers.
            let n = try count(&buffer, "task count", minimumItemBytes: 2 + 1 + 4 + 1 + 6 * 8)
            var tasks: [MoveTaskStatus] = []
            for _ in 0..<n { tasks.append(try QueueFields.readTask(&buffer)) }
            return .moveTasks(tasks)
        case 17:
            let count = try buffer.readU32("deliverable count")
            let repeated = try buffer.readU32("repeated attempt count")
            let first =
                try QueueFields.readPresence(&buffer, "first available")
                ? try QueueFields.read(Int64.self, &buffer, "first available") : nil
            return .deliverable(
                DeliverableSummary(
                    count: Int(count),
                    repeatedAttemptCount: Int(repeated),
                    firstAvailableAtMs: first,
                    pendingDeadline: try QueueFields.readPresence(&buffer, "pending deadline")
                )
            )
        case 18:
            // Smallest key: three string lengths, admin, two times.
            let n = try count(&buffer, "key count", minimumItemBytes: 2 + 2 + 1 + 16)
            var keys: [AccessKeyInfo] = []
            for _ in 0..<n { keys.append(try AccessKeyInfo.read(&buffer)) }
            return .keys(keys)
        case 19: return .authChallenge(nonce: try QueueFields.readString(&buffer, "nonce"))
        case 21: return .nodeHealth(try readHealth(&buffer))
        case 22: return .groups(try readGroups(&buffer))
        case 20:
            return .authenticated(
                keyID: try QueueFields.readString(&buffer, "key id"),
                account: try QueueFields.readString(&buffer, "account"),
                admin: try QueueFields.readPresence(&buffer, "admin")
            )
        default: throw WireDecodeError.unknownKind(UInt8(truncatingIfNeeded: kind))
        }
    }

    static func readResult<T>(
        _ buffer: inout ByteBuffer,
        _ value: (inout ByteBuffer) throws -> T
    ) throws -> Result<T, WireError> {
        switch try buffer.readU8("result") {
        case 0: return .success(try value(&buffer))
        case 1: return .failure(try readError(&buffer))
        case let other: throw WireDecodeError.invalidValue(field: "result", value: UInt64(other))
        }
    }

    static func readError(_ buffer: inout ByteBuffer) throws -> WireError {
        let raw = try buffer.readU16("error code")
        guard let code = ErrorCode(rawValue: raw) else {
            throw WireDecodeError.invalidValue(field: "error code", value: UInt64(raw))
        }
        return WireError(
            code,
            try QueueFields.readString(&buffer, "error message"),
            leaderHint: try buffer.readU64("leader hint"),
            expected: try buffer.readU64("expected")
        )
    }

    static func readQueue(_ buffer: inout ByteBuffer) throws -> QueueDescription {
        QueueDescription(
            name: try QueueFields.readString(&buffer, "queue name"),
            id: try buffer.readU64("queue id"),
            partitions: try buffer.readU32("partitions"),
            attributes: try QueueFields.readAttributes(&buffer),
            createdAtMs: try QueueFields.read(Int64.self, &buffer, "created at"),
            modifiedAtMs: try QueueFields.read(Int64.self, &buffer, "modified at")
        )
    }

    static func readCluster(_ buffer: inout ByteBuffer) throws -> ClusterDescription {
        let clusterID = try QueueFields.readString(&buffer, "cluster id")
        var nodes: [NodeDescription] = []
        for _ in 0..<(try count(&buffer, "node count", minimumItemBytes: 16)) {
            nodes.append(try QueueFields.readNode(&buffer))
        }
        var queues: [QueueDescription] = []
        for _ in 0..<(try count(&buffer, "queue count", minimumItemBytes: 16, wide: true)) {
            queues.append(try readQueue(&buffer))
        }
        var partitions: [PartitionDescription] = []
        for _ in 0..<(try count(&buffer, "partition count", minimumItemBytes: 38, wide: true)) {
            let queueID = try buffer.readU64("queue id")
            let partition = try buffer.readU32("partition")
            let groupID = try buffer.readU64("group id")
            var replicas: [UInt64] = []
            for _ in 0..<(try count(&buffer, "replica count", minimumItemBytes: 8)) {
                replicas.append(try buffer.readU64("replica"))
            }
            partitions.append(
                PartitionDescription(
                    queueID: queueID,
                    partition: partition,
                    groupID: groupID,
                    replicas: replicas,
                    leader: try buffer.readU64("leader"),
                    term: try buffer.readU64("term")
                )
            )
        }
        return ClusterDescription(clusterID: clusterID, nodes: nodes, queues: queues, partitions: partitions)
    }

    static func readDelivery(_ buffer: inout ByteBuffer) throws -> Delivery {
        let handle = try QueueFields.readHandle(&buffer)
        return Delivery(
            handle: handle,
            body: try QueueFields.readBytes(&buffer, "body"),
            messageAttributes: try QueueFields.readBytes(&buffer, "message attributes"),
            groupID: try QueueFields.readOptionalString(&buffer, "group id"),
            deduplicationID: try QueueFields.readOptionalString(&buffer, "deduplication id"),
            sentAtMs: try QueueFields.read(Int64.self, &buffer, "sent at"),
            receiveCount: try buffer.readU32("receive count"),
            firstReceiveAtMs: try QueueFields.read(Int64.self, &buffer, "first receive"),
            visibleAgainAtMs: try QueueFields.read(Int64.self, &buffer, "visible again"),
            origin: try QueueFields.readOrigin(&buffer),
            availableAtMs: try QueueFields.read(Int64.self, &buffer, "available at")
        )
    }
}
