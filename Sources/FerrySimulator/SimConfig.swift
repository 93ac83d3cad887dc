import FerryRaft

/// Everything one simulation run is made of. `SimConfig.swarm(seed:)` draws it from the seed, inside the
/// valid ranges, so that each seed also exercises different limits (swarm testing, STYLE #11).
public struct SimConfig: Sendable, Hashable {
    public var voters = 3
    public var learners = 0
    public var raft = RaftConfig()
    /// Simulated time units per tick of a node without skew.
    public var tickInterval: UInt64 = 100
    /// Per-node tick interval factors in percent (100 = no skew).
    public var tickSkewPercent: [Int] = []
    /// One-way message latency in time units; a message is delivered after a uniform draw from this range.
    public var minLatency: UInt64 = 1
    public var maxLatency: UInt64 = 30
    /// Probability, in percent, that a message is delayed by up to `slowLatency` (reordering).
    public var slowPercent = 5
    public var slowLatency: UInt64 = 400
    public var dropPercent = 0
    public var duplicatePercent = 0
    /// Time an fsync takes.
    public var minSyncLatency: UInt64 = 5
    public var maxSyncLatency: UInt64 = 60
    /// A node takes a snapshot after applying this many entries past its last snapshot.
    public var snapshotEveryEntries: UInt64 = 50
    /// After a snapshot, this many entries below it stay in the log for slow followers.
    public var entriesKeptAfterSnapshot: UInt64 = 5
    /// Mean time between client proposals.
    public var proposalInterval: UInt64 = 60
    /// Largest filler added to a proposal's payload, in bytes.
    public var maxPayloadFillerBytes = 40
    /// Mean time between nemesis actions during the fault phase (0 = no faults).
    public var nemesisInterval: UInt64 = 600
    /// Fault weights: relative chance of each nemesis action.
    public var faultWeights = FaultWeights()
    /// Chance, in percent, that a newly elected leader is crashed within its first few ticks and restarted a
    /// little later: the schedule of Raft's Figure 8, which uniform faults reach only rarely.
    public var crashNewLeaderPercent = 0
    /// Queue mode: the nodes run a FerryQueue partition driven by simulated clients, and the queue contract
    /// is checked (nil: the plain hash-chain application).
    public var queue: QueueSimConfig?
    /// Membership faults (add a node under a new id, promote a learner, remove a member or the leader, and
    /// two changes proposed back to back); all zero outside `membershipSwarm(seed:)`.
    public var membershipWeights = MembershipWeights()
    /// The most node ids a run creates (removed nodes keep theirs: ids are never reused).
    public var maxNodes = 12

    public init() {}

    public struct MembershipWeights: Sendable, Hashable {
        public var addNode = 0
        public var promote = 0
        public var removeMember = 0
        public var removeLeader = 0
        /// Chance, in percent, that a second change is proposed right after the first (refused while the first
        /// is pending: one change at a time).
        public var secondChangePercent = 0
        /// Chance, in percent, that the leader is crashed within two ticks of proposing a change (and restarted
        /// later): a change interrupted mid-way must finish or vanish, never split the group.
        public var crashMidChangePercent = 0

        public init() {}
    }

    public struct FaultWeights: Sendable, Hashable {
        public var crash = 3
        public var crashLeader = 3
        public var restart = 6
        public var pause = 2
        public var resume = 3
        public var partitionSymmetric = 2
        public var partitionOneWay = 2
        public var partitionNonTransitive = 2
        public var isolateLeader = 2
        public var heal = 4
        public var transferLeadership = 2
        public var campaign = 1

        public init() {}
    }

    /// The default configuration with no faults at all: for measuring elections and throughput.
    public static func quiet(voters: Int = 3) -> SimConfig {
        var config = SimConfig()
        config.voters = voters
        config.slowPercent = 0
        config.nemesisInterval = 0
        config.tickSkewPercent = Array(repeating: 100, count: voters)
        return config
    }

    /// Draws a configuration from `seed`: cluster size, limits, timeouts and fault mix.
    public static func swarm(seed: UInt64) -> SimConfig {
        var rng = Xoshiro256(seed: seed ^ 0x5EED_C0DE)
        var config = SimConfig()
        config.voters = Bool.random(using: &rng) ? 3 : 5
        config.learners = rng.uniform(0..<4) == 0 ? 1 : 0
        var raft = RaftConfig()
        raft.electionTimeoutTicks = rng.uniform(3...20)
        raft.heartbeatIntervalTicks = rng.uniform(1...max(1, raft.electionTimeoutTicks / 3))
        raft.preVote = rng.uniform(0..<5) != 0
        raft.checkQuorum = rng.uniform(0..<5) != 0
        raft.maxAppendBytes = [1, 30, 64, 200, 4_096, 1 << 20].randomElement(using: &rng)!
        raft.maxInflightMessages = [1, 2, 4, 16, 256].randomElement(using: &rng)!
        raft.maxInflightBytes = [0, 1, 100, 1_000, 1 << 20].randomElement(using: &rng)!
        raft.maxUncommittedBytes = [0, 50, 500, 10_000].randomElement(using: &rng)!
        raft.maxCommittedBytesPerReady = [1, 100, 1 << 20].randomElement(using: &rng)!
        raft.snapshotChunkBytes = [1, 3, 8, 64, 1_024].randomElement(using: &rng)!
        config.raft = raft
        let members = config.voters + config.learners
        config.tickSkewPercent = (0..<members).map { _ in rng.uniform(80...125) }
        config.maxLatency = rng.uniform(2...40)
        config.slowPercent = rng.uniform(0...10)
        config.dropPercent = [0, 0, 1, 5, 15].randomElement(using: &rng)!
        config.duplicatePercent = [0, 0, 1, 5].randomElement(using: &rng)!
        config.maxSyncLatency = rng.uniform(6...150)
        config.snapshotEveryEntries = [2, 5, 20, 100, 1_000_000].randomElement(using: &rng)!
        config.entriesKeptAfterSnapshot = [0, 1, 10].randomElement(using: &rng)!
        config.proposalInterval = rng.uniform(10...300)
        config.maxPayloadFillerBytes = [0, 8, 100].randomElement(using: &rng)!
        config.nemesisInterval = rng.uniform(200...2_000)
        config.crashNewLeaderPercent = [0, 0, 10, 30, 60].randomElement(using: &rng)!
        if rng.uniform(0..<4) == 0 { config.applyLeaderChurnProfile(&rng) }
        return config
    }

    /// A swarm configuration with membership changes: the same draws as `swarm(seed:)` (the seeds of the plain
    /// swarm keep their runs), plus membership faults mixed into the nemesis, proposed also during partitions
    /// and crashes; removed nodes keep running and talking. Check-quorum is on, as in every Ferry node: without
    /// the leader lease a removed node that never learns of its removal disrupts the group forever (§4.2.3).
    public static func membershipSwarm(seed: UInt64) -> SimConfig {
        var config = swarm(seed: seed)
        var rng = Xoshiro256(seed: seed ^ 0x3E3B_E25D)
        config.raft.checkQuorum = true
        config.raft.maxPromotionLagEntries = [0, 5, 64].randomElement(using: &rng)!
        var weights = MembershipWeights()
        weights.addNode = rng.uniform(4...10)
        weights.promote = rng.uniform(4...10)
        weights.removeMember = rng.uniform(3...8)
        weights.removeLeader = rng.uniform(0...3)
        weights.secondChangePercent = [0, 30, 70].randomElement(using: &rng)!
        weights.crashMidChangePercent = [0, 20, 50].randomElement(using: &rng)!
        config.membershipWeights = weights
        config.nemesisInterval = min(config.nemesisInterval, rng.uniform(150...800))
        return config
    }

    /// A swarm configuration in queue mode: the same draws as `swarm(seed:)` plus the queue workload's.
    public static func queueSwarm(seed: UInt64) -> SimConfig {
        var config = swarm(seed: seed)
        config.queue = .swarm(seed: seed)
        // Queue entries and snapshots are larger than the plain ones: keep some batching and snapshot chunks of
        // at least 256 bytes, or a stop-and-wait snapshot transfer takes thousands of round trips.
        config.raft.maxUncommittedBytes =
            config.raft.maxUncommittedBytes == 0 ? 0 : max(config.raft.maxUncommittedBytes, 2_000)
        config.raft.snapshotChunkBytes = max(config.raft.snapshotChunkBytes, 256)
        return config
    }

    /// A fault profile for a quarter of the seeds: five voters, one entry per append, short-lived leaders and
    /// frequent crashes, restarts and isolations of the leader. These are the schedules where an entry of an
    /// earlier term sits on a majority while a node with a conflicting entry of a later term can still win
    /// (Raft Figure 8), which a uniform fault mix reaches only a few times in a thousand seeds.
    mutating func applyLeaderChurnProfile(_ rng: inout Xoshiro256) {
        voters = 5
        learners = 0
        raft.maxAppendBytes = 1
        tickSkewPercent = (0..<voters).map { _ in rng.uniform(80...125) }
        nemesisInterval = rng.uniform(100...500)
        crashNewLeaderPercent = [30, 60, 90].randomElement(using: &rng)!
        dropPercent = [0, 5, 15].randomElement(using: &rng)!
        var weights = FaultWeights()
        weights.crash = 1
        weights.crashLeader = 6
        weights.restart = 8
        weights.pause = 1
        weights.resume = 2
        weights.isolateLeader = 4
        weights.partitionSymmetric = 3
        weights.heal = 4
        faultWeights = weights
    }
}
