import Dispatch
import FerryModel
import FerryQueue
import FerryRaft
import FerryStorage
import FerryWire
import Logging
import NIOCore

/// Group lifecycle: the groups the catalog places here are opened (from their snapshot and log) and those of
/// deleted queues closed; a group whose applied index has run far enough past its last snapshot takes a new one.
extension NodeRuntime {
    func openGroup(_ id: UInt64, voters: [UInt64], catalog: Catalog?, partition: QueuePartition?) throws {
        let log = try storage.group(id, conf: ConfState(voters: voters, learners: []))
        var catalog = catalog
        var partition = partition
        let snapshot = try log.snapshot()
        if snapshot.metadata.index > 0 {
            if catalog != nil { catalog = try Catalog.restore(from: snapshot.data) }
            if partition != nil { partition = try QueuePartition.restore(from: snapshot.data) }
        }
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let repair = log.repair
        if repair.repairing {
            NodeLog.log(
                .warning,
                "group \(id) repairs: \(storage.repairs[id] ?? "its stored records were damaged"); it grants no vote "
                    + "and does not count toward commit until it holds what the leader committed in its term",
                .raft,
                event: "repairing",
                group: id
            )
        }
        let core = try RaftCore(
            id: config.nodeID,
            config: raftConfig,
            storage: log,
            randomSeed: seed,
            repairing: repair.repairing,
            abstainThroughTerm: repair.abstainThroughTerm
        )
        groups[id] = GroupDriver(
            groupID: id,
            core: core,
            log: log,
            catalog: catalog,
            partition: partition,
            snapshotIndex: snapshot.metadata.index
        )
        // The replay of the log after it must not make a large state snapshot again every few thousand entries.
        groups[id]!.lastSnapshotBytes = snapshot.data.readableBytes
    }

    /// Opens the partition groups the catalog places here and closes those of deleted queues, and those this
    /// node has left (the change that removed it is in effect here).
    ///
    /// A group this node has no log for opens with its created membership if this node was created with it and
    /// never left, and empty otherwise: then it is a joiner that the leader adds as a learner and fills (a node
    /// must never start a group as a voter with an empty log under a membership the group has moved on from).
    func reconcileGroups() {
        var policies: [String: String] = [:]
        for queue in catalog.queues.values { if let policy = queue.attributes.policy { policies[queue.name] = policy } }
        keys.publish(catalog.keys, policies: policies)
        var wanted: Set<UInt64> = [Catalog.metadataGroup]
        for queue in catalog.sortedQueues {
            for placed in queue.partitions {
                let stillMember = groups[placed.groupID]?.core.membership.members.contains(config.nodeID) ?? false
                guard placed.replicas.contains(config.nodeID) || stillMember else { continue }
                wanted.insert(placed.groupID)
                guard groups[placed.groupID] == nil else { continue }
                do {
                    let partition = try QueuePartition(
                        queueName: queue.name,
                        queueID: queue.id,
                        partition: placed.partition,
                        partitionCount: UInt32(queue.partitions.count),
                        attributes: queue.attributes
                    )
                    try openGroup(
                        placed.groupID,
                        voters: placed.initialMembership(for: config.nodeID).sorted(),
                        catalog: nil,
                        partition: partition
                    )
                } catch {
                    NodeLog.error("cannot open group \(placed.groupID) of \(queue.name): \(error)", .raft)
                }
            }
        }
        for id in groups.keys.sorted() where !wanted.contains(id) {
            groups[id]!.failWaiters(notIn: .max)
            groups[id] = nil
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// Takes a snapshot of a group that is due one (`SnapshotCadence`: its applied index ran
    /// `snapshot_every_entries` past its last one, and a large state waits for log bytes too): the state
    /// is copied here (copy-on-write: the collections the Raft thread then changes are copied once), encoded and
    /// written by `snapshotExecutor`, and the log compacted when `.snapshotWritten` comes back (issue 19: encoding
    /// and writing a 60 MB partition took 600–1,100 ms, in which the Raft thread answered nothing and the peers
    /// started elections). One snapshot per group at a time.
    func maybeSnapshot(_ group: GroupDriver) throws {
        let applied = group.core.appliedIndex
        guard group.snapshotTicket == nil,
            SnapshotCadence.due(
                entriesSince: applied - min(applied, group.lastSnapshotIndex),
                bytesSince: group.appliedBytesSinceSnapshot,
                lastSnapshotBytes: group.lastSnapshotBytes,
                everyEntries: config.snapshotEveryEntries
            ),
            let term = group.core.term(at: applied)
        else { return }
        group.appliedBytesSinceSnapshot = 0
        let metadata = SnapshotMetadata(index: applied, term: term, conf: group.core.membership(at: applied))
        let keep = LogIndex(config.entriesKeptAfterSnapshot)
        snapshotTickets += 1
        let written = SnapshotWritten(
            groupID: group.groupID,
            ticket: snapshotTickets,
            metadata: metadata,
            compactTo: applied > keep ? applied - keep : 0
        )
        group.snapshotTicket = written.ticket
        let catalog = group.catalog
        let partition = group.partition
        let writer = group.log.snapshotWriter
        let mailbox = mailbox
        snapshotExecutor.run {
            var written = written
            let start = ContinuousClock.now
            let snapshot = Snapshot(metadata: metadata, data: catalog?.snapshot() ?? partition!.snapshot())
            let encoded = ContinuousClock.now
            do throws(StorageError) {
                written.outcome = .success(try writer.write(snapshot))
            } catch {
                written.outcome = .failure(error)
            }
            written.bytes = snapshot.data.readableBytes
            written.encodingMs = Self.milliseconds(encoded - start)
            written.writingMs = Self.milliseconds(ContinuousClock.now - encoded)
            mailbox.post(.snapshotWritten(written))
        }
    }

    /// A snapshot `maybeSnapshot` started is written (or could not be): the log takes it and compacts. A failed
    /// write stops the node as a failed group commit does, unless a newer snapshot was installed meanwhile.
    func snapshotWritten(_ written: SnapshotWritten) {
        // A group closed or opened again meanwhile has a ticket of its own (or none): the result is not its.
        guard let group = groups[written.groupID], group.snapshotTicket == written.ticket else { return }
        group.snapshotTicket = nil
        if written.encodingMs + written.writingMs >= 100 {
            NodeLog.log(
                .info,
                "group \(group.groupID): snapshot at \(written.metadata.index) of \(written.bytes) bytes took "
                    + "\(written.encodingMs + written.writingMs) ms on the snapshot thread (encoding "
                    + "\(written.encodingMs) ms, writing \(written.writingMs) ms)",
                .raft,
                event: "snapshot",
                group: group.groupID
            )
        }
        do {
            switch written.outcome {
            case .success(true):
                try group.log.finishSnapshot(written.metadata, compactTo: written.compactTo)
                group.lastSnapshotIndex = written.metadata.index
                group.lastSnapshotBytes = written.bytes
                try storage.removeObsoleteSegments()
            case .success(false):
                // The log keeps everything the snapshot would have covered; the next one is taken after as many
                // entries again.
                NodeLog.warning("group \(group.groupID): snapshot put off: no space left on device", .storage)
                group.lastSnapshotIndex = written.metadata.index
            case .failure(let error):
                // An installed snapshot's clean-up removes older temporary files, this one's too.
                guard group.log.newestSnapshotIndex < written.metadata.index else { return }
                throw error
            }
        } catch {
            NodeLog.log(.error, "storage failed, stopping: \(error)", .storage, event: "storage-failed")
            storageFailure = "\(error)"
            running = false
        }
    }
}

/// A snapshot encoded and written off the Raft thread, and how that went (`NodeRuntime.maybeSnapshot`).
package struct SnapshotWritten: Sendable {
    var groupID: UInt64
    var ticket: UInt64
    var metadata: SnapshotMetadata
    var compactTo: LogIndex
    /// Written (true), put off because the disk is full (false), or failed.
    var outcome: Result<Bool, StorageError> = .success(false)
    var bytes = 0
    var encodingMs: Int64 = 0
    var writingMs: Int64 = 0
}

/// Where snapshots are encoded and written: a thread of their own on a real node (`ThreadSnapshotExecutor`), so
/// the Raft thread never waits for one; inline in the simulator and the tests, which stay deterministic. Either
/// way the result arrives as an event of a later round.
package protocol SnapshotExecutor: Sendable {
    func run(_ work: @escaping @Sendable () -> Void)
}

package struct InlineSnapshotExecutor: SnapshotExecutor {
    package init() {}
    package func run(_ work: @escaping @Sendable () -> Void) { work() }
}

package final class ThreadSnapshotExecutor: SnapshotExecutor {
    private let queue = DispatchQueue(label: "ferry.snapshots", qos: .utility)

    package init() {}
    package func run(_ work: @escaping @Sendable () -> Void) { queue.async(execute: work) }
}

/// Protocol-aware recovery at run time (issue 18): a group whose stored records read back damaged is discarded
/// and opened again, repairing; a group whose repair ended records it.
extension NodeRuntime {
    func repairDamagedGroups() {
        for group in orderedGroups {
            guard case .corrupt(let reason)? = group.core.storageFailure else { continue }
            let id = group.groupID
            NodeLog.log(
                .error,
                "group \(id): \(reason); its log is discarded and it repairs from its peers",
                .raft,
                event: "repairing",
                group: id
            )
            group.failWaiters(notIn: .max)
            let voters = group.core.membership.voters
            do {
                try storage.discard(id, reason: reason)
                if let old = group.partition {
                    let partition = try QueuePartition(
                        queueName: old.queueName,
                        queueID: old.queueID,
                        partition: old.partition,
                        partitionCount: old.partitionCount,
                        attributes: old.attributes
                    )
                    try openGroup(id, voters: voters, catalog: nil, partition: partition)
                } else {
                    try openGroup(id, voters: voters, catalog: Catalog(), partition: nil)
                }
            } catch {
                NodeLog.error(
                    "group \(id) cannot be opened again for its repair, it stays stopped here: \(error)",
                    .raft
                )
            }
        }
    }

    /// Records the end of a group's repair before anything else is written for it.
    func recordFinishedRepair(_ group: GroupDriver) throws {
        guard group.log.repair.repairing, !group.core.repairing else { return }
        try group.log.finishRepair(abstainThroughTerm: group.core.abstainThroughTerm)
        NodeLog.log(
            .info,
            "group \(group.groupID) repaired: it holds the leader's commit of term \(group.core.abstainThroughTerm); "
                + "it votes again from the next term",
            .raft,
            event: "repaired",
            group: group.groupID
        )
    }
}

/// When a group takes a snapshot. After `snapshot_every_entries` applied entries; and, when its last snapshot was
/// large, only once the entries applied since hold a quarter of that snapshot's bytes. A deep queue's snapshot
/// costs its whole state (300–640 MB and 3–12 s per partition at 10M queued messages) while its drain's entries are
/// small deletes: by entries alone a drain of 10M messages rewrote the state every 10,000 deletes. The rule keeps
/// snapshot bytes written at most four times the log bytes they compact, and a restart's replay at most a
/// quarter of the state's size in log. Small states (tests, chaos scenarios) snapshot by entries as before.
package enum SnapshotCadence {
    /// Snapshots at least this large wait for log bytes as well (16 MiB: about 0.1 s to encode here).
    package static let largeSnapshotBytes = 16 << 20

    package static func due(entriesSince: LogIndex, bytesSince: Int, lastSnapshotBytes: Int, everyEntries: Int) -> Bool
    {
        guard entriesSince >= LogIndex(everyEntries) else { return false }
        return lastSnapshotBytes < largeSnapshotBytes || bytesSince >= lastSnapshotBytes / 4
    }
}
