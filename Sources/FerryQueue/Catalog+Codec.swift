import FerryModel
import NIOCore

/// A catalog command with the leader's timestamp: the payload of a metadata-group entry.
///
/// Encoding: `version u8 (3; 1 and 2 are still read: attributes without policy and tags, without server-side
/// encryption settings) | timestampMs i64 | kind u8 |
/// body`; kinds 1 bootstrap, 2 create queue,
/// 3 delete queue, 4 set attributes, 5 allocate producer, 6 bump producer epoch, 7–11 membership, 12 create key,
/// 13 revoke key, 14 rotate key; append-only. Fields as in
/// `QueueFields`.
public struct CatalogEntry: Sendable, Hashable {
    public static let version: UInt8 = 3

    public var timestampMs: Int64
    public var command: CatalogCommand

    public init(timestampMs: Int64, command: CatalogCommand) {
        self.timestampMs = timestampMs
        self.command = command
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.version)
        buffer.writeInteger(timestampMs)
        switch command {
        case .bootstrap(let clusterID, let nodes):
            buffer.writeInteger(UInt8(1))
            QueueFields.write(clusterID, into: &buffer)
            buffer.writeInteger(UInt16(nodes.count))
            for node in nodes { QueueFields.write(node, into: &buffer) }
        case .createQueue(let name, let partitions, let attributes):
            buffer.writeInteger(UInt8(2))
            QueueFields.write(name, into: &buffer)
            buffer.writeInteger(partitions)
            QueueFields.write(attributes, into: &buffer)
        case .deleteQueue(let name):
            buffer.writeInteger(UInt8(3))
            QueueFields.write(name, into: &buffer)
        case .setAttributes(let name, let attributes):
            buffer.writeInteger(UInt8(4))
            QueueFields.write(name, into: &buffer)
            QueueFields.write(attributes, into: &buffer)
        case .allocateProducer:
            buffer.writeInteger(UInt8(5))
        case .bumpProducerEpoch(let id):
            buffer.writeInteger(UInt8(6))
            buffer.writeInteger(id)
        case .addNode(let node):
            buffer.writeInteger(UInt8(7))
            QueueFields.write(node, into: &buffer)
        case .removeNode(let id):
            buffer.writeInteger(UInt8(8))
            buffer.writeInteger(id)
        case .replaceNode(let old, let new):
            buffer.writeInteger(UInt8(9))
            buffer.writeInteger(old)
            QueueFields.write(new, into: &buffer)
        case .movePartition(let name, let partition, let from, let to):
            buffer.writeInteger(UInt8(10))
            QueueFields.write(name, into: &buffer)
            buffer.writeInteger(partition)
            buffer.writeInteger(from)
            buffer.writeInteger(to)
        case .forgetNode(let id):
            buffer.writeInteger(UInt8(11))
            buffer.writeInteger(id)
        case .changeKeys(.create(let id, let secret, let account, let admin)):
            buffer.writeInteger(UInt8(12))
            for text in [id, secret, account] { QueueFields.write(text, into: &buffer) }
            buffer.writeInteger(UInt8(admin ? 1 : 0))
        case .changeKeys(.revoke(let id)):
            buffer.writeInteger(UInt8(13))
            QueueFields.write(id, into: &buffer)
        case .changeKeys(.rotate(let id, let secret, let graceMs)):
            buffer.writeInteger(UInt8(14))
            QueueFields.write(id, into: &buffer)
            QueueFields.write(secret, into: &buffer)
            buffer.writeInteger(graceMs)
        }
        return buffer
    }

    public static func decode(_ bytes: ByteBuffer) throws(QueueDecodeError) -> CatalogEntry {
        var buffer = bytes
        let version = try QueueFields.read(UInt8.self, &buffer, "version")
        guard (1...Self.version).contains(version) else { throw .unsupportedVersion(version) }
        let timestamp = try QueueFields.read(Int64.self, &buffer, "timestamp")
        let kind = try QueueFields.read(UInt8.self, &buffer, "kind")
        let command: CatalogCommand
        switch kind {
        case 1:
            let clusterID = try QueueFields.readString(&buffer, "cluster id")
            let count = try QueueFields.readCount(UInt16.self, &buffer, minimumItemBytes: 16, "node count")
            var nodes: [CatalogNode] = []
            for _ in 0..<count { nodes.append(try QueueFields.readNode(&buffer)) }
            command = .bootstrap(clusterID: clusterID, nodes: nodes)
        case 2:
            command = .createQueue(
                name: try QueueFields.readString(&buffer, "name"),
                partitions: try QueueFields.read(UInt32.self, &buffer, "partitions"),
                attributes: try QueueFields.readAttributes(&buffer, format: version)
            )
        case 3: command = .deleteQueue(name: try QueueFields.readString(&buffer, "name"))
        case 4:
            command = .setAttributes(
                name: try QueueFields.readString(&buffer, "name"),
                attributes: try QueueFields.readAttributes(&buffer, format: version)
            )
        case 5: command = .allocateProducer
        case 6: command = .bumpProducerEpoch(try QueueFields.read(UInt64.self, &buffer, "producer id"))
        case 7: command = .addNode(try QueueFields.readNode(&buffer))
        case 8: command = .removeNode(try QueueFields.read(UInt64.self, &buffer, "node id"))
        case 9:
            command = .replaceNode(
                old: try QueueFields.read(UInt64.self, &buffer, "old node id"),
                new: try QueueFields.readNode(&buffer)
            )
        case 10:
            command = .movePartition(
                name: try QueueFields.readString(&buffer, "name"),
                partition: try QueueFields.read(UInt32.self, &buffer, "partition"),
                from: try QueueFields.read(UInt64.self, &buffer, "from"),
                to: try QueueFields.read(UInt64.self, &buffer, "to")
            )
        case 11: command = .forgetNode(try QueueFields.read(UInt64.self, &buffer, "node id"))
        case 12:
            command = .changeKeys(
                .create(
                    id: try QueueFields.readString(&buffer, "key id"),
                    secret: try QueueFields.readString(&buffer, "key secret"),
                    account: try QueueFields.readString(&buffer, "key account"),
                    admin: try QueueFields.readPresence(&buffer, "key admin")
                )
            )
        case 13: command = .changeKeys(.revoke(id: try QueueFields.readString(&buffer, "key id")))
        case 14:
            command = .changeKeys(
                .rotate(
                    id: try QueueFields.readString(&buffer, "key id"),
                    secret: try QueueFields.readString(&buffer, "key secret"),
                    graceMs: try QueueFields.read(Int64.self, &buffer, "grace")
                )
            )
        default: throw .unknownKind(kind)
        }
        guard buffer.readableBytes == 0 else { throw .trailingBytes(buffer.readableBytes) }
        return CatalogEntry(timestampMs: timestamp, command: command)
    }
}

extension Catalog {
    /// Applies a metadata-group entry's payload; an undecodable payload is refused alike on every replica.
    public mutating func apply(index: UInt64, payload: ByteBuffer) -> CatalogResult {
        do {
            let entry = try CatalogEntry.decode(payload)
            return apply(index: index, timestampMs: entry.timestampMs, command: entry.command)
        } catch {
            precondition(index > appliedIndex, "applying \(index) after \(appliedIndex)")
            appliedIndex = index
            return .rejected(.invalid(.undecodable(error)))
        }
    }

    static let snapshotMagic: UInt32 = 0x4643_4154  // "FCAT"
    /// 2: attributes with policy and tags, and each queue's last-modified time. 3: attributes with server-side
    /// encryption settings. 4: leaving and retired nodes, the metadata group's voters, each partition's created
    /// replicas and departed nodes. 5: access keys (after the producers). 1–4 are still read (nobody leaving or
    /// departed, the metadata voters are the nodes, created = replicas; no keys).
    public static let snapshotVersion: UInt8 = 5

    /// The catalog as bytes (queues in name order, producers in id order): equal catalogs, equal bytes.
    public func snapshot() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.snapshotMagic)
        buffer.writeInteger(Self.snapshotVersion)
        QueueFields.write(clusterID, into: &buffer)
        buffer.writeInteger(appliedIndex)
        buffer.writeInteger(nextQueueID)
        buffer.writeInteger(nextGroupID)
        buffer.writeInteger(nextProducerID)
        buffer.writeInteger(UInt16(nodes.count))
        for node in nodes { QueueFields.write(node, into: &buffer) }
        for list in [leaving, retiredNodeIDs, metadataVoters] {
            buffer.writeInteger(UInt16(list.count))
            for id in list { buffer.writeInteger(id) }
        }
        buffer.writeInteger(UInt32(queues.count))
        for queue in sortedQueues {
            QueueFields.write(queue.name, into: &buffer)
            buffer.writeInteger(queue.id)
            QueueFields.write(queue.attributes, into: &buffer)
            buffer.writeInteger(queue.createdAtMs)
            buffer.writeInteger(queue.modifiedAtMs)
            buffer.writeInteger(UInt32(queue.partitions.count))
            for partition in queue.partitions {
                buffer.writeInteger(partition.groupID)
                buffer.writeInteger(partition.preferredLeader)
                for list in [partition.replicas, partition.createdReplicas, partition.departed] {
                    buffer.writeInteger(UInt8(list.count))
                    for replica in list { buffer.writeInteger(replica) }
                }
            }
        }
        buffer.writeInteger(UInt32(producers.count))
        for id in producers.keys.sorted() {
            buffer.writeInteger(id)
            buffer.writeInteger(producers[id]!)
        }
        buffer.writeInteger(UInt32(keys.count))
        for id in keys.keys.sorted() { keys[id]!.write(into: &buffer) }
        return buffer
    }

    public static func restore(from bytes: ByteBuffer) throws(QueueDecodeError) -> Catalog {
        var buffer = bytes
        guard try QueueFields.read(UInt32.self, &buffer, "magic") == snapshotMagic else {
            throw .invalid("not a catalog snapshot")
        }
        let version = try QueueFields.read(UInt8.self, &buffer, "version")
        guard (1...snapshotVersion).contains(version) else { throw .unsupportedVersion(version) }
        let extended = version >= 2
        var catalog = Catalog()
        catalog.clusterID = try QueueFields.readString(&buffer, "cluster id")
        catalog.appliedIndex = try QueueFields.read(UInt64.self, &buffer, "applied index")
        catalog.nextQueueID = try QueueFields.read(UInt64.self, &buffer, "next queue id")
        catalog.nextGroupID = try QueueFields.read(UInt64.self, &buffer, "next group id")
        catalog.nextProducerID = try QueueFields.read(UInt64.self, &buffer, "next producer id")
        let nodeCount = try QueueFields.readCount(UInt16.self, &buffer, minimumItemBytes: 16, "node count")
        for _ in 0..<nodeCount { catalog.nodes.append(try QueueFields.readNode(&buffer)) }
        if version >= 4 {
            var lists: [[UInt64]] = []
            for field in ["leaving", "retired nodes", "metadata voters"] {
                let count = try QueueFields.readCount(UInt16.self, &buffer, minimumItemBytes: 8, field)
                var list: [UInt64] = []
                for _ in 0..<count { list.append(try QueueFields.read(UInt64.self, &buffer, field)) }
                lists.append(list)
            }
            (catalog.leaving, catalog.retiredNodeIDs, catalog.metadataVoters) = (lists[0], lists[1], lists[2])
        } else {
            catalog.metadataVoters = catalog.nodes.map(\.id)
        }
        let queueCount = try QueueFields.readCount(UInt32.self, &buffer, minimumItemBytes: 20, "queue count")
        for _ in 0..<queueCount {
            let name = try QueueFields.readString(&buffer, "queue name")
            let id = try QueueFields.read(UInt64.self, &buffer, "queue id")
            let attributes = try QueueFields.readAttributes(&buffer, format: version)
            let createdAtMs = try QueueFields.read(Int64.self, &buffer, "created at")
            let modifiedAtMs = extended ? try QueueFields.read(Int64.self, &buffer, "modified at") : createdAtMs
            let partitionCount = try QueueFields.readCount(UInt32.self, &buffer, minimumItemBytes: 17, "partitions")
            var partitions: [CatalogPartition] = []
            for number in 0..<partitionCount {
                let groupID = try QueueFields.read(UInt64.self, &buffer, "group id")
                let preferred = try QueueFields.read(UInt64.self, &buffer, "preferred leader")
                var lists: [[UInt64]] = []
                for _ in 0..<(version >= 4 ? 3 : 1) {
                    let count = try QueueFields.read(UInt8.self, &buffer, "replica count")
                    var list: [UInt64] = []
                    for _ in 0..<count { list.append(try QueueFields.read(UInt64.self, &buffer, "replica")) }
                    lists.append(list)
                }
                partitions.append(
                    CatalogPartition(
                        partition: UInt32(number),
                        groupID: groupID,
                        replicas: lists[0],
                        preferredLeader: preferred,
                        createdReplicas: lists.count > 1 ? lists[1] : lists[0],
                        departed: lists.count > 2 ? lists[2] : []
                    )
                )
            }
            guard catalog.queues[name] == nil, id < catalog.nextQueueID else { throw .invalid("queue \(name)") }
            catalog.queues[name] = CatalogQueue(
                name: name,
                id: id,
                attributes: attributes,
                partitions: partitions,
                createdAtMs: createdAtMs,
                modifiedAtMs: modifiedAtMs
            )
        }
        let producerCount = try QueueFields.readCount(UInt32.self, &buffer, minimumItemBytes: 12, "producers")
        for _ in 0..<producerCount {
            let id = try QueueFields.read(UInt64.self, &buffer, "producer id")
            catalog.producers[id] = try QueueFields.read(UInt32.self, &buffer, "epoch")
        }
        if version >= 5 {
            let keyCount = try QueueFields.readCount(UInt32.self, &buffer, minimumItemBytes: 30, "keys")
            for _ in 0..<keyCount {
                let key = try AccessKey.read(&buffer)
                guard catalog.keys[key.id] == nil else { throw .invalid("key \(key.id) twice") }
                catalog.keys[key.id] = key
            }
        }
        guard buffer.readableBytes == 0 else { throw .trailingBytes(buffer.readableBytes) }
        return catalog
    }
}
