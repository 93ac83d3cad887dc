import FerryRaft
import FerryStorage
import Foundation
import NIOCore
import Testing

func payload(_ text: String) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeString(text)
    return buffer
}

func entries(_ range: ClosedRange<LogIndex>, term: Term, tag: String = "") -> [Entry] {
    range.map { Entry(index: $0, term: term, payload: payload("\(tag)\($0)/\(term)")) }
}

let conf = ConfState(voters: [1, 2, 3])

/// A node directory at "/d" whose group 1 holds two synced batches (1…3 and 4…6) in one segment; returns the
/// file system and that segment's path.
/// Where the second record of a segment starts.
func secondRecordOffset(_ fs: SimulatedFileSystem, _ path: String) -> Int {
    let bytes = ByteBuffer(bytes: fs.bytes(path)!.dropFirst(WriteAheadLog.headerBytes))
    return WriteAheadLog.headerBytes + WALRecord.scanHeader(bytes)!.size
}

func twoBatchLog() throws -> (SimulatedFileSystem, String) {
    let fs = SimulatedFileSystem()
    let node = try NodeStorage(fileSystem: fs, directory: "/d")
    let log = try node.group(1, conf: conf)
    try log.append(entries(1...3, term: 1))
    try log.append(entries(4...6, term: 1))
    try node.sync()
    return (fs, "/d/wal/" + WriteAheadLog.segmentName(1))
}

/// A node directory at "/d" whose group 1 holds `rounds` × 3 entries of term 1, synced after each round, in
/// 300-byte segments (so that most segments are sealed).
func segmentedLog(rounds: Int) throws -> SimulatedFileSystem {
    let fs = SimulatedFileSystem()
    let node = try NodeStorage(fileSystem: fs, directory: "/d", segmentBytes: 300)
    let log = try node.group(1, conf: conf)
    for round in 0..<rounds {
        let first = LogIndex(round * 3 + 1)
        try log.append(entries(first...(first + 2), term: 1))
        try node.sync()
    }
    return fs
}

@Suite struct NodeStorageTests {
    @Test func entriesAndHardStateSurviveReopen() throws {
        let fs = SimulatedFileSystem()
        do {
            let node = try NodeStorage(fileSystem: fs, directory: "/data")
            let a = try node.group(1, conf: conf)
            let b = try node.group(2, conf: conf)
            try a.append(entries(1...5, term: 1))
            try b.append(entries(1...3, term: 2))
            try a.setHardState(HardState(term: 1, vote: 2, commit: 4))
            try node.sync()
        }
        fs.crash()
        let node = try NodeStorage(fileSystem: fs, directory: "/data")
        #expect(node.groupIDs == [1, 2])
        let a = try node.group(1, conf: conf)
        #expect(a.lastIndex == 5)
        #expect(try a.entries(from: 1, to: 6, maxBytes: .max) == entries(1...5, term: 1))
        #expect(try a.initialState().0 == HardState(term: 1, vote: 2, commit: 4))
        let b = try node.group(2, conf: conf)
        #expect(try b.entries(from: 2, to: 4, maxBytes: .max) == entries(2...3, term: 2))
    }

    @Test func conflictingAppendTruncatesAcrossReopen() throws {
        let fs = SimulatedFileSystem()
        do {
            let node = try NodeStorage(fileSystem: fs, directory: "/d")
            let log = try node.group(7, conf: conf)
            try log.append(entries(1...5, term: 1))
            try log.append(entries(3...4, term: 2, tag: "new"))
            #expect(log.lastIndex == 4)
            try node.sync()
        }
        let log = try NodeStorage(fileSystem: fs, directory: "/d").group(7, conf: conf)
        #expect(
            try log.entries(from: 1, to: 5, maxBytes: .max) == entries(1...2, term: 1)
                + entries(3...4, term: 2, tag: "new")
        )
    }

    /// A batch spanning several terms (a follower catching up) is stored as one record per term, and its
    /// terms come back after a reopen that reads only record headers.
    @Test func batchOfSeveralTermsSurvivesHeaderOnlyReopen() throws {
        let fs = SimulatedFileSystem()
        let mixed = entries(1...2, term: 1) + entries(3...5, term: 2) + entries(6...6, term: 4)
        do {
            let node = try NodeStorage(fileSystem: fs, directory: "/d", segmentBytes: 100)
            let log = try node.group(1, conf: conf)
            try log.append(mixed)
            try log.append(entries(7...9, term: 4))  // rolls: the mixed batch's segment is sealed
            try node.sync()
        }
        #expect(try fs.list("/d/wal").count > 1)
        let log = try NodeStorage(fileSystem: fs, directory: "/d").group(1, conf: conf)
        #expect(try (1...9).map { try log.term(at: $0) } == [1, 1, 2, 2, 2, 4, 4, 4, 4])
        #expect(try log.entries(from: 1, to: 10, maxBytes: .max) == mixed + entries(7...9, term: 4))
    }

    @Test func segmentsRollAndOldOnesAreRemovedAfterCompaction() throws {
        let fs = SimulatedFileSystem()
        let node = try NodeStorage(fileSystem: fs, directory: "/d", segmentBytes: 2_000)
        let log = try node.group(1, conf: conf)
        for batch in 0..<80 {
            let first = LogIndex(batch * 5 + 1)
            try log.append(entries(first...(first + 4), term: 1))
            try node.sync()
        }
        let before = try fs.list("/d/wal").count
        #expect(before > 3)
        try log.setHardState(HardState(term: 1, vote: 1, commit: 400))
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: 390, term: 1, conf: conf), data: payload("state"))
        try log.createSnapshot(snapshot, compactTo: 390)
        try node.sync()
        try node.removeObsoleteSegments()
        #expect(try fs.list("/d/wal").count < before)
        let reopened = try NodeStorage(fileSystem: fs, directory: "/d").group(1, conf: conf)
        #expect(reopened.firstIndex == 391)
        #expect(try reopened.entries(from: 391, to: 401, maxBytes: .max) == entries(391...400, term: 1))
        #expect(try reopened.snapshot() == snapshot)
        #expect(try reopened.initialState().1.index == 390)
        #expect(try reopened.initialState().0 == HardState(term: 1, vote: 1, commit: 400))
    }

    /// Compaction drops every batch it covers at once and keeps the one it cuts through, in memory and reopened.
    @Test func compactionIntoTheMiddleOfABatchKeepsItsTail() throws {
        let fs = SimulatedFileSystem()
        let node = try NodeStorage(fileSystem: fs, directory: "/d")
        let log = try node.group(1, conf: conf)
        for batch in 0..<2_000 { try log.append(entries(LogIndex(batch * 3 + 1)...LogIndex(batch * 3 + 3), term: 1)) }
        try node.sync()
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: 4_500, term: 1, conf: conf), data: payload("s"))
        try log.createSnapshot(snapshot, compactTo: 3_001)
        try node.sync()
        for reopened in [log, try NodeStorage(fileSystem: fs, directory: "/d").group(1, conf: conf)] {
            #expect(reopened.firstIndex == 3_002)
            #expect(try reopened.entries(from: 3_002, to: 3_008, maxBytes: .max) == entries(3_002...3_007, term: 1))
            #expect(try reopened.entries(from: 5_998, to: 6_001, maxBytes: .max) == entries(5_998...6_000, term: 1))
        }
    }

    /// A crash between any two writes loses nothing that a completed sync covered, and the reopened log is a
    /// consistent prefix of what was written.
    @Test func crashAtEveryWriteStepKeepsEverySyncedWrite() throws {
        var step = 0
        while true {
            let fs = SimulatedFileSystem()
            fs.failAfterWrites = step
            var synced: [LogIndex] = []  // last index durable after each completed sync
            var syncedHardState = HardState.empty
            var written = HardState.empty
            var finished = false
            do {
                let node = try NodeStorage(fileSystem: fs, directory: "/d", segmentBytes: 600)
                let log = try node.group(1, conf: conf)
                for round in 0..<6 {
                    let first = LogIndex(round * 3 + 1)
                    try log.append(entries(first...(first + 2), term: 1))
                    written = HardState(term: 1, vote: 1, commit: first)
                    try log.setHardState(written)
                    try node.sync()
                    synced.append(first + 2)
                    syncedHardState = written
                    if round == 3 {
                        let snapshot = Snapshot(
                            metadata: SnapshotMetadata(index: 6, term: 1, conf: conf),
                            data: payload("s6")
                        )
                        try log.createSnapshot(snapshot, compactTo: 6)
                        try node.sync()
                    }
                }
                finished = true
            } catch {
                // The planned crash.
            }
            var rng = Xoshiro256(seed: UInt64(step))
            fs.crash { _, unsynced in rng.uniform(0...unsynced) }
            let node = try NodeStorage(fileSystem: fs, directory: "/d", segmentBytes: 600)
            let log = try node.group(1, conf: conf)
            #expect(node.repairs.isEmpty, "step \(step): a crash is no damage: \(node.damage)")
            let durable = synced.last ?? 0
            #expect(log.lastIndex >= durable, "step \(step): lost synced entries")
            let state = try log.initialState().0
            #expect(state.commit >= syncedHardState.commit, "step \(step): lost the synced hard state")
            if log.lastIndex >= log.firstIndex {
                let read = try log.entries(from: log.firstIndex, to: log.lastIndex + 1, maxBytes: .max)
                #expect(read == entries(log.firstIndex...log.lastIndex, term: 1), "step \(step)")
            }
            if finished { break }
            step += 1
        }
        #expect(step > 20, "the workload has many write steps")
    }

    @Test func tornTailIsCutBackToTheLastValidRecord() throws {
        let fs = SimulatedFileSystem()
        do {
            let node = try NodeStorage(fileSystem: fs, directory: "/d")
            let log = try node.group(1, conf: conf)
            try log.append(entries(1...3, term: 1))
            try node.sync()
            try log.append(entries(4...6, term: 1))  // written, never synced
        }
        // The crash keeps half of the unsynced record: a torn write.
        fs.crash { _, unsynced in unsynced / 2 }
        let log = try NodeStorage(fileSystem: fs, directory: "/d").group(1, conf: conf)
        #expect(log.lastIndex == 3)
        // And the log keeps working after the cut.
        try log.append(entries(4...4, term: 2))
        #expect(try log.term(at: 4) == 2)
    }

    /// A bit flipped in the last synced record (a `synced` mark follows it): damage, never a torn write. The
    /// group's log is discarded and it repairs; the damage is answered, so the next start-up repairs nothing new.
    @Test func aBitFlipInTheLastSyncedRecordIsDamageAndTheGroupRepairs() throws {
        let (fs, path) = try twoBatchLog()
        let second = secondRecordOffset(fs, path)
        var bytes = fs.bytes(path)!
        bytes[second + 40] ^= 0x10
        fs.setBytes(path, bytes)
        let node = try NodeStorage(fileSystem: fs, directory: "/d")
        #expect(node.damage.map(\.offset) == [second])
        #expect(node.damage.first?.description.contains(WriteAheadLog.segmentName(1)) == true)
        let log = try node.group(1, conf: conf)
        #expect(log.repair.repairing && log.lastIndex == 0)
        #expect(node.repairs[1]?.contains("write-ahead log damage") == true)
        // The repair goes on after a restart (the log stays discarded); the damage is not answered twice.
        let again = try NodeStorage(fileSystem: fs, directory: "/d")
        #expect(again.repairs.isEmpty)
        let reopened = try again.group(1, conf: conf)
        #expect(reopened.repair.repairing && reopened.lastIndex == 0)
        try reopened.append(entries(1...2, term: 3))
        try reopened.finishRepair(abstainThroughTerm: 3)
        try again.sync()
        let repaired = try NodeStorage(fileSystem: fs, directory: "/d").group(1, conf: conf)
        #expect(!repaired.repair.repairing && repaired.repair.abstainThroughTerm == 3 && repaired.lastIndex == 2)
    }

    /// The flip hits the `synced` mark itself, the last record: nothing it guards is lost, nothing repairs.
    @Test func aBitFlipInTheSyncedMarkLosesNothing() throws {
        let (fs, path) = try twoBatchLog()
        var bytes = fs.bytes(path)!
        bytes[bytes.count - 3] ^= 0x10
        fs.setBytes(path, bytes)
        let node = try NodeStorage(fileSystem: fs, directory: "/d")
        #expect(node.damage.isEmpty && node.repairs.isEmpty)
        #expect(try node.group(1, conf: conf).lastIndex == 6)
    }

    /// The documented limit: a power loss that took the last `synced` mark leaves nothing to tell a bit flip in
    /// the last synced record from a torn write; it is cut off as one.
    @Test func aDamagedLastRecordWithoutItsMarkIsTakenForATornWrite() throws {
        let (fs, path) = try twoBatchLog()
        var bytes = fs.bytes(path)!
        let second = secondRecordOffset(fs, path)
        let end = second + WALRecord.scanHeader(ByteBuffer(bytes: bytes[second...]))!.size
        bytes = Array(bytes[..<end])
        bytes[second + 40] ^= 0x10
        fs.setBytes(path, bytes)
        let node = try NodeStorage(fileSystem: fs, directory: "/d")
        #expect(node.damage.isEmpty)
        #expect(try node.group(1, conf: conf).lastIndex == 3)
    }

    @Test func aBitFlipInTheMiddleIsDamageWithFileAndOffset() throws {
        let (fs, path) = try twoBatchLog()
        var bytes = fs.bytes(path)!
        bytes[WriteAheadLog.headerBytes + 40] ^= 0x01
        fs.setBytes(path, bytes)
        let node = try NodeStorage(fileSystem: fs, directory: "/d")
        #expect(
            node.damage == [WALDamage(segment: 1, offset: WriteAheadLog.headerBytes, reason: node.damage[0].reason)]
        )
        #expect(try node.group(1, conf: conf).repair.repairing)
    }

    /// Sealed segments are indexed from record headers at start-up; a damaged payload there is found when the
    /// entries are read, and stops the read with the file and offset instead of handing Raft wrong bytes.
    @Test func bitFlipInSealedSegmentIsCaughtOnRead() throws {
        let fs = try segmentedLog(rounds: 10)
        let sealed = "/d/wal/" + WriteAheadLog.segmentName(1)
        var bytes = fs.bytes(sealed)!
        bytes[WriteAheadLog.headerBytes + WALRecord.headerScanBytes + 2] ^= 0x04  // inside the first entry
        fs.setBytes(sealed, bytes)
        let log = try NodeStorage(fileSystem: fs, directory: "/d").group(1, conf: conf)
        #expect(log.lastIndex == 30)
        #expect(try log.entries(from: 20, to: 31, maxBytes: .max) == entries(20...30, term: 1))
        do {
            _ = try log.entries(from: 1, to: 4, maxBytes: .max)
            Issue.record("a damaged record was read back")
        } catch {
            #expect("\(error)".contains(sealed))
        }
    }

    @Test func aDamagedHeaderInASealedSegmentIsDamage() throws {
        let fs = try segmentedLog(rounds: 10)
        let sealed = "/d/wal/" + WriteAheadLog.segmentName(1)
        var bytes = fs.bytes(sealed)!
        bytes[WriteAheadLog.headerBytes + 32] = 99  // the first record's kind
        fs.setBytes(sealed, bytes)
        let node = try NodeStorage(fileSystem: fs, directory: "/d")
        #expect(
            node.damage.first
                == WALDamage(
                    segment: 1,
                    offset: WriteAheadLog.headerBytes,
                    reason: "not a record header in a sealed segment"
                )
        )
        #expect(try node.group(1, conf: conf).repair.repairing)
    }

    @Test func aMissingSegmentIsDamage() throws {
        let fs = try segmentedLog(rounds: 10)
        let names = try fs.list("/d/wal")
        #expect(names.count >= 3)
        try fs.remove("/d/wal/" + names[1])
        try fs.syncDirectory("/d/wal")
        let node = try NodeStorage(fileSystem: fs, directory: "/d")
        #expect(node.damage.map(\.reason) == ["segment missing"])
        #expect(node.damage.first?.segment == UInt64(names[1].dropLast(4)))
        #expect(try node.group(1, conf: conf).repair.repairing)
    }

    @Test func aTruncatedSealedSegmentIsDamageWithFileAndOffset() throws {
        let fs = try segmentedLog(rounds: 10)
        let sealed = "/d/wal/" + WriteAheadLog.segmentName(1)
        let bytes = fs.bytes(sealed)!
        fs.setBytes(sealed, Array(bytes.prefix(bytes.count - 5)))
        let node = try NodeStorage(fileSystem: fs, directory: "/d")
        #expect(node.damage.count == 1 && node.damage[0].segment == 1)
        #expect(node.damage[0].offset > WriteAheadLog.headerBytes)
        #expect(try node.group(1, conf: conf).repair.repairing)
    }

    @Test func aTruncatedSegmentHeaderIsDamage() throws {
        let fs = try segmentedLog(rounds: 6)
        let first = "/d/wal/" + WriteAheadLog.segmentName(1)
        fs.setBytes(first, Array(fs.bytes(first)!.prefix(10)))
        let node = try NodeStorage(fileSystem: fs, directory: "/d")
        #expect(node.damage.first?.segment == 1)
        #expect(try node.group(1, conf: conf).repair.repairing)
    }

    /// A damaged snapshot the log needs: its group's log is discarded and it repairs (from no snapshot here, the
    /// damaged one being the only one); the node's other groups serve.
    @Test func aBadSnapshotRepairsOnlyItsGroup() throws {
        let fs = SimulatedFileSystem()
        do {
            let node = try NodeStorage(fileSystem: fs, directory: "/d")
            for group: UInt64 in [1, 2] {
                let log = try node.group(group, conf: conf)
                try log.append(entries(1...4, term: 1))
                let snapshot = Snapshot(
                    metadata: SnapshotMetadata(index: 3, term: 1, conf: conf),
                    data: payload("g\(group)")
                )
                try log.createSnapshot(snapshot, compactTo: 3)
            }
            try node.sync()
        }
        let snapshotFile = try fs.list("/d/snapshots/1").first!
        var bytes = fs.bytes("/d/snapshots/1/" + snapshotFile)!
        bytes[bytes.count - 1] ^= 0xFF
        fs.setBytes("/d/snapshots/1/" + snapshotFile, bytes)
        let node = try NodeStorage(fileSystem: fs, directory: "/d")
        let damaged = try node.group(1, conf: conf)
        #expect(damaged.repair.repairing && damaged.lastIndex == 0)
        #expect(node.repairs[1]?.contains("snapshot") == true)
        let healthy = try node.group(2, conf: conf)
        #expect(!healthy.repair.repairing)
        #expect(try healthy.snapshot().data == payload("g2"))
        #expect(healthy.lastIndex == 4)
    }

    /// Disk full: the group commit fails with a clear error, nothing durable is damaged, and the same node
    /// writes the batch once space returns; a crash meanwhile keeps exactly what was durable.
    @Test func diskFullFailsCleanlyAndRecovers() throws {
        for crashWhileFull in [false, true] {
            let fs = SimulatedFileSystem()
            let node = try NodeStorage(fileSystem: fs, directory: "/d")
            let log = try node.group(1, conf: conf)
            try log.append(entries(1...3, term: 1))
            try node.sync()
            fs.capacityBytes = 200
            // The append is buffered; the group commit is where the full disk shows, so the driver does not
            // acknowledge the batch.
            try log.append(entries(4...40, term: 1))
            #expect(throws: StorageError.noSpace(path: "/d/wal/" + WriteAheadLog.segmentName(1))) { try node.sync() }
            fs.capacityBytes = nil
            if crashWhileFull {
                fs.crash()
                #expect(try NodeStorage(fileSystem: fs, directory: "/d").group(1, conf: conf).lastIndex == 3)
            } else {
                try node.sync()
                let reopened = try NodeStorage(fileSystem: fs, directory: "/d").group(1, conf: conf)
                #expect(try reopened.entries(from: 1, to: 41, maxBytes: .max) == entries(1...40, term: 1))
            }
        }
    }

    @Test func installedSnapshotReplacesTheLog() throws {
        let fs = SimulatedFileSystem()
        do {
            let node = try NodeStorage(fileSystem: fs, directory: "/d")
            let log = try node.group(1, conf: conf)
            try log.append(entries(1...4, term: 1))
            let snapshot = Snapshot(metadata: SnapshotMetadata(index: 10, term: 3, conf: conf), data: payload("leader"))
            try log.applySnapshot(snapshot)
            #expect(log.firstIndex == 11)
            try log.append(entries(11...12, term: 3))
            try node.sync()
        }
        let log = try NodeStorage(fileSystem: fs, directory: "/d").group(1, conf: conf)
        #expect(log.firstIndex == 11)
        #expect(try log.term(at: 10) == 3)
        #expect(try log.entries(from: 11, to: 13, maxBytes: .max) == entries(11...12, term: 3))
    }

    /// The same storage on a real disk, in a temporary directory.
    @Test func posixFilesRoundTrip() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-storage-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fs = PosixFileSystem()
        do {
            let node = try NodeStorage(fileSystem: fs, directory: directory)
            let log = try node.group(3, conf: conf)
            var big: [Entry] = []
            for index in LogIndex(1)...200 {
                big.append(Entry(index: index, term: 1, payload: payload(String(repeating: "x", count: 100))))
            }
            try log.append(big)
            try log.setHardState(HardState(term: 1, vote: 1, commit: 200))
            let snapshot = Snapshot(metadata: SnapshotMetadata(index: 100, term: 1, conf: conf), data: payload("s"))
            try log.createSnapshot(snapshot, compactTo: 50)
            try node.sync()
        }
        let log = try NodeStorage(fileSystem: fs, directory: directory).group(3, conf: conf)
        #expect(log.firstIndex == 51)
        #expect(log.lastIndex == 200)
        #expect(
            try log.entries(from: 150, to: 151, maxBytes: .max)[0].payload
                == payload(String(repeating: "x", count: 100))
        )
        #expect(try log.snapshot().metadata.index == 100)
    }
}
