import FerryRaft
import NIOCore
import Testing

/// `MemoryLog` obeys the `RaftStorage` contract the core reads through; configuration and storage failures
/// give typed errors.
@Suite struct StorageContractTests {
    @Test func memoryLogAppendTruncatesConflictingSuffix() throws {
        let log = storage(terms: [1, 1, 2, 2])
        try log.append([entry(3, 3, "x")])
        #expect(log.lastIndex == 3)
        #expect(try log.term(at: 3) == 3)
    }

    @Test func memoryLogReadsThrowOutsideTheLog() throws {
        let log = storage(terms: [1, 1, 2])
        let snapshot = Snapshot(
            metadata: SnapshotMetadata(index: 2, term: 1, conf: ConfState(voters: [1, 2, 3])),
            data: bytes("s")
        )
        try log.createSnapshot(snapshot, compactTo: 2)
        #expect(log.firstIndex == 3)
        #expect(try log.term(at: 2) == 1, "the compaction point keeps its term")
        #expect(throws: RaftLogError.compacted) { try log.term(at: 1) }
        #expect(throws: RaftLogError.unavailable) { try log.term(at: 4) }
        #expect(throws: RaftLogError.compacted) { try log.entries(from: 2, to: 4, maxBytes: .max) }
    }

    @Test func memoryLogEntriesReturnAtLeastOneEntryUnderByteLimit() throws {
        let log = storage(terms: [1, 1, 1])
        #expect(try log.entries(from: 1, to: 4, maxBytes: 0).count == 1)
        #expect(try log.entries(from: 1, to: 4, maxBytes: .max).count == 3)
    }

    @Test func memoryLogKeepsEntriesBehindTheSnapshotForSlowFollowers() throws {
        let log = storage(terms: [1, 1, 1, 1, 1])
        let snapshot = Snapshot(
            metadata: SnapshotMetadata(index: 4, term: 1, conf: ConfState(voters: [1, 2, 3])),
            data: bytes("s")
        )
        try log.createSnapshot(snapshot, compactTo: 2)
        #expect(log.firstIndex == 3)
        #expect(try log.snapshot().metadata.index == 4)
        let (_, metadata) = try log.initialState()
        #expect(metadata.index == 4)
    }

    @Test func configValidationNamesTheBadField() {
        var config = RaftConfig()
        config.electionTimeoutTicks = 1
        #expect(throws: RaftConfig.ValidationError.self) { try config.validate() }
        do {
            try config.validate()
        } catch {
            #expect(error.description.contains("electionTimeoutTicks"))
        }
        #expect(throws: RaftCore.InitError.self) {
            _ = try RaftCore(id: 1, config: config, storage: MemoryLog(conf: ConfState(voters: [1])), randomSeed: 1)
        }
    }

    @Test func startRefusesCommitIndexBeyondTheLog() {
        let log = storage(terms: [1, 1])
        try! log.setHardState(HardState(term: 1, vote: 0, commit: 5))
        #expect(throws: RaftCore.InitError.commitBeyondLog(commit: 5, lastIndex: 2)) {
            _ = try RaftCore(id: 1, config: RaftConfig(), storage: log, randomSeed: 1)
        }
    }

    /// A node outside the stored membership (one that joins with an empty log, or one that was removed) starts
    /// as a non-member: it never campaigns, however long it hears nothing.
    @Test func nodeOutsideMembershipStartsButNeverCampaigns() throws {
        var core = try RaftCore(
            id: 9,
            config: RaftConfig(),
            storage: MemoryLog(conf: ConfState(voters: [1, 2])),
            randomSeed: 1
        )
        for _ in 0..<100 { core.tick() }
        core.campaign()
        #expect(core.roleKind == .follower)
        #expect(core.term == 0)
        #expect(core.ready().messages.isEmpty)
    }

    /// A storage that fails stops the group: no guessing around a broken disk, and proposals get a typed error.
    @Test func storageFailureStopsTheGroup() {
        let log = FailingLog(storage(terms: [1]))
        var core = try! RaftCore(id: 1, config: RaftConfig(), storage: log, randomSeed: 1)
        log.failing = true
        core.campaign()
        #expect(core.storageFailure == .storage("disk on fire"))
        #expect(!core.hasReady)
        #expect(throws: ProposalError.stopped(.storage("disk on fire"))) { try core.propose([bytes("x")]) }
    }
}

/// Delegates to a `MemoryLog` until told to fail.
final class FailingLog: RaftLogReader {
    let inner: MemoryLog
    var failing = false

    init(_ inner: MemoryLog) { self.inner = inner }

    func check() throws(RaftLogError) { if failing { throw .storage("disk on fire") } }
    func initialState() throws(RaftLogError) -> (HardState, SnapshotMetadata) {
        try check()
        return try inner.initialState()
    }
    var firstIndex: LogIndex { inner.firstIndex }
    var lastIndex: LogIndex { inner.lastIndex }
    func term(at index: LogIndex) throws(RaftLogError) -> Term {
        try check()
        return try inner.term(at: index)
    }
    func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(RaftLogError) -> [Entry] {
        try check()
        return try inner.entries(from: low, to: high, maxBytes: maxBytes)
    }
    func snapshot() throws(RaftLogError) -> Snapshot {
        try check()
        return try inner.snapshot()
    }
}

@Suite struct Xoshiro256Tests {
    @Test func uniformStaysInRangeAndCoversIt() {
        var rng = Xoshiro256(seed: 3)
        var seen = Set<Int>()
        for _ in 0..<1_000 {
            let value = rng.uniform(-2...3)
            #expect((-2...3).contains(value))
            seen.insert(value)
        }
        #expect(seen.count == 6)
        let first = rng.uniform(UInt64.min...UInt64.max)
        let second = rng.uniform(UInt64.min...UInt64.max)
        #expect(first != second)
        let never = rng.chance(percent: 0)
        let always = rng.chance(percent: 100)
        #expect(!never)
        #expect(always)
    }

    @Test func sameSeedGivesSameSequence() {
        var a = Xoshiro256(seed: 42)
        var b = Xoshiro256(seed: 42)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
    }
}
