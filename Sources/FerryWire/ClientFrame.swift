import FerryModel
import NIOCore

/// A frame of the native client protocol: `length u32 | kind u16 | correlationID u32 | body` (DESIGN §6),
/// big-endian. Requests may be pipelined; each response carries its request's correlation id.
///
/// Request kinds 1–27 follow `ClientRequest`'s cases in order (1 hello … 23 changeCluster, 24 changeKeys,
/// 25 listKeys, 26 authBegin, 27 authProve); response kinds are `0x8000 | n` with n following
/// `ClientResponse`'s cases (1 hello … 17 deliverable, 18 keys, 19 authChallenge, 20 authenticated). Queue types (send and receive
/// requests, attributes, handles, positions, origins) use FerryQueue's field encodings (`QueueFields`), so a
/// send travels in one form from client to log. A result is `u8 0 | value` or `u8 1 | error`; an error is
/// `code u16 | message string | leaderHint u64 | expected u64`. Kinds and codes are append-only.
public struct ClientFrame: Sendable, Hashable {
    /// 2: queue attributes with policy and tags, queue descriptions with their times, move-task requests.
    /// 3: deliveries carry `availableAtMs`; `summarizeDeliverable`, `receiveIfFull` and `deliverable`; error code 22
    /// messageGone. 4: `changeCluster`; a group's status carries its voters and learners. 5: error code 23
    /// storageFull; a node's status says why it refuses writes (`storageFull`), a group's whether it repairs.
    public static let protocolVersion: UInt16 = 5
    /// Bytes of `length` + `kind` + `correlationID`.
    public static let headerBytes = 4 + 2 + 4

    public enum Payload: Sendable, Hashable {
        case request(ClientRequest)
        case response(ClientResponse)
    }

    public var correlationID: UInt32
    public var payload: Payload

    public init(correlationID: UInt32, _ payload: Payload) {
        self.correlationID = correlationID
        self.payload = payload
    }

    public static func request(_ id: UInt32, _ request: ClientRequest) -> ClientFrame {
        ClientFrame(correlationID: id, .request(request))
    }

    public static func response(_ id: UInt32, _ response: ClientResponse) -> ClientFrame {
        ClientFrame(correlationID: id, .response(response))
    }

    static let responseBit: UInt16 = 0x8000

    // MARK: Encoding

    public func encode(into buffer: inout ByteBuffer) {
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        let start = buffer.writerIndex
        switch payload {
        case .request(let request):
            buffer.writeInteger(Self.kind(of: request))
            buffer.writeInteger(correlationID)
            Self.encode(request, into: &buffer)
        case .response(let response):
            buffer.writeInteger(Self.responseBit | Self.kind(of: response))
            buffer.writeInteger(correlationID)
            Self.encode(response, into: &buffer)
        }
        let length = buffer.writerIndex - start
        precondition(length <= WireLimits.maxClientFrameBytes, "client frame of \(length) bytes exceeds the limit")
        buffer.setInteger(UInt32(length), at: lengthIndex)
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return buffer
    }

    static func kind(of request: ClientRequest) -> UInt16 {
        switch request {
        case .hello: return 1
        case .describeCluster: return 2
        case .createQueue: return 3
        case .deleteQueue: return 4
        case .listQueues: return 5
        case .setQueueAttributes: return 6
        case .purgeQueue: return 7
        case .send: return 8
        case .receive: return 9
        case .delete: return 10
        case .changeVisibility: return 11
        case .initProducer: return 12
        case .sendStatus: return 13
        case .nodeStatus: return 14
        case .queueStatistics: return 15
        case .groupDigest: return 16
        case .startMoveTask: return 17
        case .cancelMoveTask: return 18
        case .listMoveTasks: return 19
        case .awaitMessages: return 20
        case .summarizeDeliverable: return 21
        case .receiveIfFull: return 22
        case .changeCluster: return 23
        case .changeKeys: return 24
        case .listKeys: return 25
        case .authBegin: return 26
        case .authProve: return 27
        case .nodeHealth: return 28
        case .peekMessages: return 29
        case .groupBacklog: return 30
        }
    }

    static func kind(of response: ClientResponse) -> UInt16 {
        switch response {
        case .hello: return 1
        case .cluster: return 2
        case .queue: return 3
        case .queues: return 4
        case .done: return 5
        case .sent: return 6
        case .received: return 7
        case .deleted: return 8
        case .visibilityChanged: return 9
        case .producer: return 10
        case .sendStatus: return 11
        case .nodeStatus: return 12
        case .error: return 13
        case .statistics: return 14
        case .digest: return 15
        case .moveTasks: return 16
        case .deliverable: return 17
        case .keys: return 18
        case .authChallenge: return 19
        case .authenticated: return 20
        case .nodeHealth: return 21
        case .groups: return 22
        }
    }

    static func encode(_ request: ClientRequest, into buffer: inout ByteBuffer) {
        switch request {
        case .hello(let client):
            buffer.writeInteger(protocolVersion)
            QueueFields.write(client, into: &buffer)
        case .describeCluster, .nodeStatus, .nodeHealth:
            break
        case .createQueue(let name, let partitions, let attributes):
            QueueFields.write(name, into: &buffer)
            buffer.writeInteger(partitions)
            QueueFields.write(attributes, into: &buffer)
        case .deleteQueue(let name), .listQueues(let name):
            QueueFields.write(name, into: &buffer)
        case .purgeQueue(let name, let partition):
            writeTarget(name, partition, into: &buffer)
        case .setQueueAttributes(let name, let attributes):
            QueueFields.write(name, into: &buffer)
            QueueFields.write(attributes, into: &buffer)
        case .send(let queue, let partition, let requests):
            writeTarget(queue, partition, into: &buffer)
            buffer.writeInteger(UInt16(requests.count))
            for request in requests { QueueFields.write(request, into: &buffer) }
        case .receive(let queue, let partition, let request, let waitMs):
            writeTarget(queue, partition, into: &buffer)
            QueueFields.write(request, into: &buffer)
            buffer.writeInteger(waitMs)
        case .delete(let queue, let partition, let handles):
            writeTarget(queue, partition, into: &buffer)
            buffer.writeInteger(UInt16(handles.count))
            for handle in handles { QueueFields.write(handle, into: &buffer) }
        case .changeVisibility(let queue, let partition, let changes):
            writeTarget(queue, partition, into: &buffer)
            buffer.writeInteger(UInt16(changes.count))
            for change in changes {
                QueueFields.write(change.handle, into: &buffer)
                buffer.writeInteger(Int32(clamping: change.visibilityTimeoutSeconds))
            }
        case .initProducer(let producerID):
            QueueFields.writePresence(producerID != nil, into: &buffer)
            if let producerID { buffer.writeInteger(producerID) }
        case .sendStatus(let queue, let partition, let deduplicationID, let groupID):
            writeTarget(queue, partition, into: &buffer)
            QueueFields.write(deduplicationID, into: &buffer)
            QueueFields.writeOptional(groupID, into: &buffer)
        case .queueStatistics(let queue, let partition):
            writeTarget(queue, partition, into: &buffer)
        case .peekMessages(let queue, let partition, let count), .groupBacklog(let queue, let partition, let count):
            writeTarget(queue, partition, into: &buffer)
            buffer.writeInteger(count)
        case .groupDigest(let groupID):
            buffer.writeInteger(groupID)
        case .startMoveTask(let queue, let partition, let request):
            writeTarget(queue, partition, into: &buffer)
            QueueFields.write(request.taskID, into: &buffer)
            QueueFields.writeOptional(request.destination, into: &buffer)
            buffer.writeInteger(Int32(clamping: request.maxMessagesPerSecond))
        case .cancelMoveTask(let queue, let partition, let taskID):
            writeTarget(queue, partition, into: &buffer)
            QueueFields.write(taskID, into: &buffer)
        case .listMoveTasks(let queue, let partition):
            writeTarget(queue, partition, into: &buffer)
        case .awaitMessages(let queue, let partition, let waitMs):
            writeTarget(queue, partition, into: &buffer)
            buffer.writeInteger(waitMs)
        case .summarizeDeliverable(let queue, let partition, let maxMessages, let attemptID, let waitMs):
            writeTarget(queue, partition, into: &buffer)
            buffer.writeInteger(maxMessages)
            QueueFields.writeOptional(attemptID, into: &buffer)
            buffer.writeInteger(waitMs)
        case .receiveIfFull(let queue, let partition, let request):
            writeTarget(queue, partition, into: &buffer)
            QueueFields.write(request, into: &buffer)
        case .changeCluster(let change):
            write(change, into: &buffer)
        case .changeKeys(let change):
            write(change, into: &buffer)
        case .listKeys:
            break
        case .authBegin(let keyID):
            QueueFields.write(keyID, into: &buffer)
        case .authProve(let clientNonce, let proof):
            QueueFields.write(clientNonce, into: &buffer)
            QueueFields.write(proof, into: &buffer)
        }
    }

    /// `kind u8 (1 create, 2 revoke, 3 rotate) | id |` secret, account, admin u8; nothing; or secret, grace i64.
    static func write(_ change: KeyChange, into buffer: inout ByteBuffer) {
        switch change {
        case .create(let id, let secret, let account, let admin):
            buffer.writeInteger(UInt8(1))
            for text in [id, secret, account] { QueueFields.write(text, into: &buffer) }
            buffer.writeInteger(UInt8(admin ? 1 : 0))
        case .revoke(let id):
            buffer.writeInteger(UInt8(2))
            QueueFields.write(id, into: &buffer)
        case .rotate(let id, let secret, let graceMs):
            buffer.writeInteger(UInt8(3))
            QueueFields.write(id, into: &buffer)
            QueueFields.write(secret, into: &buffer)
            buffer.writeInteger(graceMs)
        }
    }

    /// `kind u8 (1 add, 2 remove, 3 replace, 4 move) |` node, id, old id + node, or queue, partition, from, to.
    static func write(_ change: ClusterChange, into buffer: inout ByteBuffer) {
        switch change {
        case .addNode(let node):
            buffer.writeInteger(UInt8(1))
            QueueFields.write(node, into: &buffer)
        case .removeNode(let id):
            buffer.writeInteger(UInt8(2))
            buffer.writeInteger(id)
        case .replaceNode(let old, let new):
            buffer.writeInteger(UInt8(3))
            buffer.writeInteger(old)
            QueueFields.write(new, into: &buffer)
        case .movePartition(let queue, let partition, let from, let to):
            buffer.writeInteger(UInt8(4))
            writeTarget(queue, partition, into: &buffer)
            buffer.writeInteger(from)
            buffer.writeInteger(to)
        }
    }

    static func writeTarget(_ queue: String, _ partition: UInt32, into buffer: inout ByteBuffer) {
        QueueFields.write(queue, into: &buffer)
        buffer.writeInteger(partition)
    }

    static func encode(_ response: ClientResponse, into buffer: inout ByteBuffer) {
        switch response {
        case .hello(let nodeID, let clusterID, let version):
            buffer.writeInteger(nodeID)
            QueueFields.write(clusterID, into: &buffer)
            buffer.writeInteger(version)
        case .cluster(let cluster):
            write(cluster, into: &buffer)
        case .queue(let queue):
            write(queue, into: &buffer)
        case .queues(let queues):
            buffer.writeInteger(UInt32(queues.count))
            for queue in queues { write(queue, into: &buffer) }
        case .done:
            break
        case .sent(let results):
            buffer.writeInteger(UInt16(results.count))
            for result in results {
                writeResult(result, into: &buffer) { outcome, buffer in
                    switch outcome {
                    case .enqueued(let position):
                        buffer.writeInteger(UInt8(1))
                        QueueFields.write(position, into: &buffer)
                    case .duplicate(let position):
                        buffer.writeInteger(UInt8(2))
                        QueueFields.write(position, into: &buffer)
                    case .duplicateResultForgotten:
                        buffer.writeInteger(UInt8(3))
                    }
                }
            }
        case .received(let deliveries):
            buffer.writeInteger(UInt16(deliveries.count))
            for delivery in deliveries { write(delivery, into: &buffer) }
        case .deleted(let results):
            buffer.writeInteger(UInt16(results.count))
            for result in results {
                writeResult(result, into: &buffer) { outcome, buffer in
                    buffer.writeInteger(UInt8(outcome == .deleted ? 1 : 2))
                }
            }
        case .visibilityChanged(let results):
            buffer.writeInteger(UInt16(results.count))
            for result in results {
                writeResult(result, into: &buffer) { until, buffer in buffer.writeInteger(until) }
            }
        case .producer(let id, let epoch):
            buffer.writeInteger(id)
            buffer.writeInteger(epoch)
        case .sendStatus(let status):
            switch status {
            case .unknown:
                buffer.writeInteger(UInt8(0))
            case .accepted(let position, let atMs):
                buffer.writeInteger(UInt8(1))
                QueueFields.write(position, into: &buffer)
                QueueFields.writePresence(atMs != nil, into: &buffer)
                if let atMs { buffer.writeInteger(atMs) }
            }
        case .nodeStatus(let status):
            buffer.writeInteger(status.nodeID)
            QueueFields.write(status.fsync, into: &buffer)
            buffer.writeInteger(UInt32(status.groups.count))
            for group in status.groups { write(group, into: &buffer) }
            buffer.writeInteger(status.tlsNotAfter)
            QueueFields.write(status.storageFull, into: &buffer)
        case .nodeHealth(let health):
            write(health, into: &buffer)
        case .groups(let groups):
            write(groups, into: &buffer)
        case .error(let error):
            write(error, into: &buffer)
        case .statistics(let statistics, let nowMs):
            buffer.writeInteger(nowMs)
            for count in [
                statistics.visible, statistics.inFlight, statistics.delayed, statistics.groups,
                statistics.groupsWithInFlight, statistics.outbox, statistics.deduplicationRecords,
                statistics.producerSessions,
            ] {
                buffer.writeInteger(UInt64(max(0, count)))
            }
            QueueFields.writePresence(statistics.oldestSentAtMs != nil, into: &buffer)
            if let oldest = statistics.oldestSentAtMs { buffer.writeInteger(oldest) }
            for total in [
                statistics.sent, statistics.received, statistics.deleted, statistics.deadLettered,
                statistics.expired, statistics.movesExhausted,
            ] {
                buffer.writeInteger(total)
            }
        case .digest(let applied, let digest):
            buffer.writeInteger(applied)
            buffer.writeInteger(digest)
        case .moveTasks(let tasks):
            buffer.writeInteger(UInt16(clamping: tasks.count))
            for task in tasks.prefix(Int(UInt16.max)) { QueueFields.write(task, into: &buffer) }
        case .deliverable(let summary):
            buffer.writeInteger(UInt32(clamping: summary.count))
            buffer.writeInteger(UInt32(clamping: summary.repeatedAttemptCount))
            QueueFields.writePresence(summary.firstAvailableAtMs != nil, into: &buffer)
            if let first = summary.firstAvailableAtMs { buffer.writeInteger(first) }
            QueueFields.writePresence(summary.pendingDeadline, into: &buffer)
        case .keys(let keys):
            buffer.writeInteger(UInt16(clamping: keys.count))
            for key in keys.prefix(Int(UInt16.max)) { key.write(into: &buffer) }
        case .authChallenge(let nonce):
            QueueFields.write(nonce, into: &buffer)
        case .authenticated(let keyID, let account, let admin):
            QueueFields.write(keyID, into: &buffer)
            QueueFields.write(account, into: &buffer)
            buffer.writeInteger(UInt8(admin ? 1 : 0))
        }
    }

    static func writeResult<T>(
        _ result: Result<T, WireError>,
        into buffer: inout ByteBuffer,
        _ value: (T, inout ByteBuffer) -> Void
    ) {
        switch result {
        case .success(let success):
            buffer.writeInteger(UInt8(0))
            value(success, &buffer)
        case .failure(let error):
            buffer.writeInteger(UInt8(1))
            write(error, into: &buffer)
        }
    }

    static func write(_ error: WireError, into buffer: inout ByteBuffer) {
        buffer.writeInteger(error.code.rawValue)
        QueueFields.write(String(error.message.utf8.prefix(4_096)) ?? "", into: &buffer)
        buffer.writeInteger(error.leaderHint)
        buffer.writeInteger(error.expected)
    }

    static func write(_ queue: QueueDescription, into buffer: inout ByteBuffer) {
        QueueFields.write(queue.name, into: &buffer)
        buffer.writeInteger(queue.id)
        buffer.writeInteger(queue.partitions)
        QueueFields.write(queue.attributes, into: &buffer)
        buffer.writeInteger(queue.createdAtMs)
        buffer.writeInteger(queue.modifiedAtMs)
    }

    static func write(_ cluster: ClusterDescription, into buffer: inout ByteBuffer) {
        QueueFields.write(cluster.clusterID, into: &buffer)
        buffer.writeInteger(UInt16(cluster.nodes.count))
        for node in cluster.nodes { QueueFields.write(node, into: &buffer) }
        buffer.writeInteger(UInt32(cluster.queues.count))
        for queue in cluster.queues { write(queue, into: &buffer) }
        buffer.writeInteger(UInt32(cluster.partitions.count))
        for partition in cluster.partitions {
            buffer.writeInteger(partition.queueID)
            buffer.writeInteger(partition.partition)
            buffer.writeInteger(partition.groupID)
            buffer.writeInteger(UInt16(partition.replicas.count))
            for replica in partition.replicas { buffer.writeInteger(replica) }
            buffer.writeInteger(partition.leader)
            buffer.writeInteger(partition.term)
        }
    }

    static func write(_ delivery: Delivery, into buffer: inout ByteBuffer) {
        QueueFields.write(delivery.handle, into: &buffer)
        QueueFields.writeBytes(delivery.body, into: &buffer)
        QueueFields.writeBytes(delivery.messageAttributes, into: &buffer)
        QueueFields.writeOptional(delivery.groupID, into: &buffer)
        QueueFields.writeOptional(delivery.deduplicationID, into: &buffer)
        buffer.writeInteger(delivery.sentAtMs)
        buffer.writeInteger(delivery.receiveCount)
        buffer.writeInteger(delivery.firstReceiveAtMs)
        buffer.writeInteger(delivery.visibleAgainAtMs)
        QueueFields.write(delivery.origin, into: &buffer)
        buffer.writeInteger(delivery.availableAtMs)
    }

    static func write(_ group: GroupStatus, into buffer: inout ByteBuffer) {
        buffer.writeInteger(group.groupID)
        QueueFields.write(group.queue, into: &buffer)
        buffer.writeInteger(group.partition)
        buffer.writeInteger(group.leader)
        buffer.writeInteger(group.term)
        buffer.writeInteger(group.commitIndex)
        buffer.writeInteger(group.appliedIndex)
        buffer.writeInteger(UInt16(group.followers.count))
        for follower in group.followers {
            buffer.writeInteger(follower.node)
            buffer.writeInteger(follower.matchIndex)
        }
        for list in [group.voters, group.learners] {
            buffer.writeInteger(UInt16(list.count))
            for member in list { buffer.writeInteger(member) }
        }
        buffer.writeInteger(UInt8(group.repairing ? 1 : 0))
    }
}
