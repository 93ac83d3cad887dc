import FerryRaft
import FerryWire
import NIOCore

/// A failed run: the seed that reproduces it, where it failed, and the last events before the failure.
public struct SimulationFailure: Error, CustomStringConvertible {
    public var seed: UInt64
    public var event: Int
    public var time: UInt64
    public var violation: InvariantViolation
    public var trace: [String]

    public var description: String {
        var text = "simulation seed \(seed) failed at event \(event) (t=\(time)): \(violation)\n"
        text += "replay: swift run -c release ferry-sim run --seed \(seed) --trace\n"
        text += "last \(trace.count) events:\n"
        text += trace.map { "  " + $0 }.joined(separator: "\n")
        return text
    }
}

/// What a successful run did.
public struct SimulationResult: Sendable {
    public var seed: UInt64
    public var events: Int
    public var simulatedTicks: UInt64
    public var proposalsAcknowledged: Int
    public var highestCommitted: LogIndex
    public var faults: Int
    public var leaderTerms: Int
    public var coverage: [SimProbe: Int]
    /// Queue mode: how often each queue-contract path was reached.
    public var queueCoverage: [QueueProbe: Int]
}

/// A seeded, single-threaded simulation of one Raft group running the real `RaftCore`, with every message
/// encoded and decoded by `FerryWire.PeerFrame`, a disk model that loses unsynced writes on a crash, and a
/// nemesis that drops, duplicates, delays and reorders messages, partitions (symmetric, one-way and
/// non-transitive), crashes, restarts and pauses nodes. Safety is checked after every event; liveness after
/// the faults heal.
public final class Simulation {
    public let seed: UInt64
    public let config: SimConfig
    var rng: Xoshiro256
    var nodes: [SimNode] = []
    var queue = EventQueue<SimEvent>()
    var now: UInt64 = 0
    public private(set) var eventsProcessed = 0
    /// Directed links that drop everything (partitions).
    var blocked: Set<Link> = []
    var faultPhase = true
    var faults = 0
    var checker: SafetyChecker
    var trace: TraceBuffer
    var nextPayloadID: UInt64 = 1
    /// Proposals accepted by a leader, by (node, index), waiting to be applied there.
    var pendingProposals: [ProposalKey: (term: Term, payloadID: UInt64)] = [:]
    /// Acknowledged proposals: payload id → log index.
    var acknowledged: [UInt64: LogIndex] = [:]
    var highestAcknowledged: LogIndex = 0
    /// How often each interesting path was reached (FDB's CODE_PROBE): a probe never hit over many seeds
    /// points to a testing gap. Counted from what the simulator observes, so the core stays untouched.
    public private(set) var coverage: [SimProbe: Int] = [:]
    /// A real storage to run beside the disk model (see `SimStorageBackend`); set before `run`.
    public var storageBackend: (any SimStorageBackend)?
    /// Queue mode (`config.queue` set): the clients of the simulated queue partition and the contract checker.
    var queueWorkload: QueueWorkload?

    func probe(_ name: SimProbe) {
        coverage[name, default: 0] += 1
    }

    struct Link: Hashable {
        var from: NodeID
        var to: NodeID
    }

    struct ProposalKey: Hashable {
        var node: NodeID
        var index: LogIndex
    }

    enum SimEvent {
        case tick(NodeID, incarnation: UInt64)
        case deliver(from: NodeID, to: NodeID, frame: ByteBuffer)
        case syncDone(NodeID, incarnation: UInt64, writesThrough: Int)
        case propose
        case nemesis
        /// Crash `node` if it still leads `term` (the targeted Figure 8 fault).
        case crashLeader(NodeID, term: Term)
        /// Restart `node` if it is still down in the life after `incarnation`.
        case restart(NodeID, incarnation: UInt64)
    }

    public init(seed: UInt64, config: SimConfig, echoTrace: Bool = false) {
        self.seed = seed
        self.config = config
        self.rng = Xoshiro256(seed: seed)
        let voters = (1...config.voters).map { NodeID($0) }
        let learners = (0..<config.learners).map { NodeID(config.voters + 1 + $0) }
        let conf = ConfState(voters: voters, learners: learners)
        self.checker = SafetyChecker(voters: voters)
        self.trace = TraceBuffer(capacity: 400, echo: echoTrace)
        for member in conf.members {
            let skew =
                config.tickSkewPercent.indices.contains(Int(member - 1)) ? config.tickSkewPercent[Int(member - 1)] : 100
            nodes.append(SimNode(id: member, conf: conf, tickInterval: config.tickInterval * UInt64(skew) / 100))
        }
        if let queueConfig = config.queue {
            queueWorkload = QueueWorkload(config: queueConfig, members: nodes.count, rng: &rng)
            for i in nodes.indices {
                nodes[i].stateMachine = SimStateMachine(queue: QueueWorkload.partition(queueConfig))
            }
        }
    }

    /// Seeded swarm run: the configuration is drawn from the seed too.
    public convenience init(seed: UInt64, echoTrace: Bool = false) {
        self.init(seed: seed, config: .swarm(seed: seed), echoTrace: echoTrace)
    }

    func index(_ node: NodeID) -> Int { Int(node - 1) }

    func fail(_ violation: InvariantViolation) -> SimulationFailure {
        SimulationFailure(seed: seed, event: eventsProcessed, time: now, violation: violation, trace: trace.lines())
    }

    func note(_ text: String) {
        trace.record(now, .note(text))
    }

    /// Runs `events` events with faults, then heals everything and checks liveness.
    public func run(events: Int) throws(SimulationFailure) -> SimulationResult {
        do {
            try start()
            while eventsProcessed < events {
                try step()
            }
            try heal()
            try checkLiveness()
            if queueWorkload != nil { try checkQueueContractAtEnd() }
        } catch let violation {
            throw fail(violation)
        }
        return SimulationResult(
            seed: seed,
            events: eventsProcessed,
            simulatedTicks: now / config.tickInterval,
            proposalsAcknowledged: acknowledged.count,
            highestCommitted: checker.highestCommitted,
            faults: faults,
            leaderTerms: checker.leaderOfTerm.count,
            coverage: coverage,
            queueCoverage: queueWorkload?.checker.coverage ?? [:]
        )
    }

    func start() throws(InvariantViolation) {
        for node in nodes {
            try startNode(node.id)
        }
        queue.schedule(.propose, at: rng.uniform(0...config.proposalInterval))
        if config.nemesisInterval > 0 {
            queue.schedule(.nemesis, at: rng.uniform(1...config.nemesisInterval * 2))
        }
    }

    /// Processes the next event and checks every invariant.
    func step() throws(InvariantViolation) {
        guard let (time, event) = queue.pop() else {
            throw InvariantViolation(invariant: "simulator", detail: "event queue ran dry")
        }
        now = time
        eventsProcessed += 1
        switch event {
        case .tick(let node, let incarnation):
            guard nodes[index(node)].isUp, nodes[index(node)].incarnation == incarnation else { break }
            queue.schedule(.tick(node, incarnation: incarnation), at: now + nodes[index(node)].tickInterval)
            guard !nodes[index(node)].paused else { break }
            trace.record(now, .tick(node))
            nodes[index(node)].core!.tick()
            try processReady(node)
        case .deliver(let from, let to, let frame):
            try deliver(frame, from: from, to: to)
        case .syncDone(let node, let incarnation, let writesThrough):
            guard nodes[index(node)].isUp, nodes[index(node)].incarnation == incarnation else { break }
            try syncDone(node, writesThrough: writesThrough)
        case .propose:
            // Clients stop when the faults end, so that the liveness phase has a fixed goal.
            guard faultPhase else { break }
            if queueWorkload != nil {
                try queueClientStep()
            } else {
                try proposeFromClient()
            }
            let gap = rng.uniform(1...config.proposalInterval * 2)
            queue.schedule(.propose, at: now + gap)
        case .nemesis:
            guard faultPhase else { break }
            try nemesis()
            queue.schedule(.nemesis, at: now + rng.uniform(1...config.nemesisInterval * 2))
        case .crashLeader(let node, let term):
            guard faultPhase, let core = nodes[index(node)].core, core.isLeader, core.term == term else { break }
            faults += 1
            try crash(node)
            let delay = UInt64(config.raft.electionTimeoutTicks) * config.tickInterval
            queue.schedule(
                .restart(node, incarnation: nodes[index(node)].incarnation),
                at: now + rng.uniform(1...3 * delay)
            )
        case .restart(let node, let incarnation):
            guard !nodes[index(node)].isUp, nodes[index(node)].incarnation == incarnation else { break }
            note("restart \(node)")
            try startNode(node)
        }
        try checkAfterEvent()
    }

    func checkAfterEvent() throws(InvariantViolation) {
        var disks: [NodeID: MemoryLog] = [:]
        for node in nodes {
            disks[node.id] = node.disk.durable
            guard let core = node.core else { continue }
            let problems = core.invariantViolations()
            if !problems.isEmpty {
                throw InvariantViolation(invariant: "coreInvariants", detail: problems.joined(separator: "; "))
            }
            try checker.observe(node.id, core: core)
        }
        try checker.checkCommittedDurable(disks: disks)
    }

    // MARK: Nodes

    func startNode(_ node: NodeID) throws(InvariantViolation) {
        let i = index(node)
        let storage: any RaftStorage
        if let backend = storageBackend {
            do {
                storage = try backend.open(node: node, conf: nodes[i].disk.durable.latestSnapshot.metadata.conf)
            } catch {
                throw InvariantViolation(invariant: "storageContract", detail: "node \(node) cannot reopen: \(error)")
            }
            try checkRecovered(storage, node: node)
        } else {
            storage = nodes[i].disk.view
        }
        nodes[i].log = storage
        let core: RaftCore
        do {
            core = try RaftCore(id: node, config: config.raft, storage: storage, randomSeed: rng.next())
        } catch {
            throw InvariantViolation(invariant: "restart", detail: "node \(node) cannot start: \(error)")
        }
        try checker.nodeRestarted(node, from: nodes[i].disk.durable.hardState)
        let snapshot: Snapshot
        do { snapshot = try storage.snapshot() } catch {
            throw InvariantViolation(invariant: "snapshot", detail: "node \(node) cannot read its snapshot: \(error)")
        }
        guard nodes[i].stateMachine.restore(snapshot.data, index: snapshot.metadata.index) else {
            throw InvariantViolation(invariant: "snapshot", detail: "node \(node) cannot restore its snapshot")
        }
        try checker.checkStateHash(node, index: snapshot.metadata.index, hash: nodes[i].stateMachine.hash)
        nodes[i].core = core
        nodes[i].paused = false
        nodes[i].pausedInbox = []
        nodes[i].awaitingSync = []
        nodes[i].writesIssued = 0
        nodes[i].writesDurable = 0
        nodes[i].syncScheduled = false
        let offset = rng.uniform(1...nodes[i].tickInterval)
        queue.schedule(.tick(node, incarnation: nodes[i].incarnation), at: now + offset)
    }

    func crash(_ node: NodeID) throws(InvariantViolation) {
        let i = index(node)
        guard nodes[i].isUp else { return }
        let pending = nodes[i].disk.pending.count
        let keep = storageBackend == nil ? rng.uniform(0...pending) : 0
        storageBackend?.crash(node: node)
        note("crash \(node) (\(keep) of \(pending) unsynced writes survive)")
        if keep < pending { probe(.crashLostUnsyncedWrites) }
        if keep > 0 { probe(.crashKeptSomeUnsyncedWrites) }
        nodes[i].disk.crash(keep: keep)
        nodes[i].core = nil
        nodes[i].wasLeader = false
        nodes[i].incarnation += 1
        nodes[i].paused = false
        nodes[i].pausedInbox = []
        nodes[i].awaitingSync = []
        try checker.durableHardStateChanged(node, to: nodes[i].disk.durable.hardState)
    }

    /// Turns everything the core wants done into disk writes, network sends and (once durable) applies.
    func processReady(_ node: NodeID) throws(InvariantViolation) {
        let i = index(node)
        while nodes[i].core!.hasReady {
            let ready = nodes[i].core!.ready()
            if ready.snapshot != nil { probe(.snapshotInstalled) }
            if ready.softState != nil && ready.softState?.role != .leader && nodes[i].wasLeader {
                probe(.leaderSteppedDown)
            }
            if let role = ready.softState?.role { nodes[i].wasLeader = role == .leader }
            if ready.softState?.role == .leader && faultPhase
                && rng.chance(percent: config.crashNewLeaderPercent)
            {
                let term = nodes[i].core!.term
                let delay = rng.uniform(0...2 * nodes[i].tickInterval)
                queue.schedule(.crashLeader(node, term: term), at: now + delay)
            }
            if !ready.entries.isEmpty {
                let previous = nodes[i].core!.term(at: ready.entries[0].index - 1)
                try checker.nodeWrote(node, entries: ready.entries, previousTerm: previous)
            }
            var performer = SimulatedReadyPerformer(simulation: self, node: node)
            try RaftReadyLoop.write(ready, to: &performer)
            if performer.writes == 0 && nodes[i].awaitingSync.isEmpty {
                try complete(ready, at: node)
            } else {
                nodes[i].awaitingSync.append((ready, nodes[i].writesIssued))
                scheduleSync(node)
            }
        }
    }

    /// One write, to the disk model and to the storage under test.
    func write(_ write: SimDisk.Write, at node: NodeID) throws(InvariantViolation) {
        let i = index(node)
        defer {
            nodes[i].disk.write(write)
            nodes[i].writesIssued += 1
        }
        guard let backend = storageBackend else { return }
        let sealed: Bool
        do { sealed = try backend.write(node: node, write) } catch {
            throw InvariantViolation(invariant: "storageContract", detail: "node \(node) write failed: \(error)")
        }
        if sealed {
            // Everything before this write is durable now; the readies waiting on it complete at the next fsync.
            let count = nodes[i].disk.pending.count
            nodes[i].disk.sync(count: count)
            nodes[i].writesDurable += count
            try checker.durableHardStateChanged(node, to: nodes[i].disk.durable.hardState)
        }
    }

    func scheduleSync(_ node: NodeID) {
        let i = index(node)
        guard !nodes[i].syncScheduled, nodes[i].writesIssued > nodes[i].writesDurable else { return }
        nodes[i].syncScheduled = true
        let latency = rng.uniform(config.minSyncLatency...config.maxSyncLatency)
        queue.schedule(
            .syncDone(node, incarnation: nodes[i].incarnation, writesThrough: nodes[i].writesIssued),
            at: now + latency
        )
    }

    func syncDone(_ node: NodeID, writesThrough scheduled: Int) throws(InvariantViolation) {
        let i = index(node)
        // A real fsync covers every write issued before it returns, not only those before it was scheduled.
        let writesThrough = storageBackend == nil ? scheduled : nodes[i].writesIssued
        if let backend = storageBackend {
            do { try backend.sync(node: node) } catch {
                throw InvariantViolation(invariant: "storageContract", detail: "node \(node) fsync failed: \(error)")
            }
        }
        let count = writesThrough - nodes[i].writesDurable
        nodes[i].disk.sync(count: count)
        nodes[i].writesDurable = writesThrough
        nodes[i].syncScheduled = false
        trace.record(now, .sync(node, writes: count))
        try checker.durableHardStateChanged(node, to: nodes[i].disk.durable.hardState)
        if !nodes[i].paused { try completeDurableReadies(node) }
        scheduleSync(node)
    }

    /// Completes, in order, every ready whose writes are durable.
    func completeDurableReadies(_ node: NodeID) throws(InvariantViolation) {
        let i = index(node)
        while let first = nodes[i].awaitingSync.first, first.writesThrough <= nodes[i].writesDurable {
            nodes[i].awaitingSync.removeFirst()
            try complete(first.ready, at: node)
        }
        try processReady(node)
    }

    /// Step 3 of the ready contract: send what waited for durability, apply, advance.
    func complete(_ ready: RaftReady, at node: NodeID) throws(InvariantViolation) {
        var performer = SimulatedReadyPerformer(simulation: self, node: node)
        try RaftReadyLoop.complete(ready, by: &performer)
        try maybeTakeSnapshot(node)
    }

    func apply(_ entry: Entry, at node: NodeID) throws(InvariantViolation) {
        let i = index(node)
        guard entry.index == nodes[i].stateMachine.appliedIndex + 1 else {
            throw InvariantViolation(
                invariant: "applyOrder",
                detail: "node \(node) applies \(entry.index) after \(nodes[i].stateMachine.appliedIndex)"
            )
        }
        nodes[i].stateMachine.apply(entry)
        if Int(node) > config.voters { probe(.learnerApplied) }
        try checker.nodeApplied(
            node,
            entry: entry,
            stateHash: nodes[i].stateMachine.hash,
            observerTerm: nodes[i].core!.term
        )
        if queueWorkload != nil { try queueApplied(entry, at: node) }
        let key = ProposalKey(node: node, index: entry.index)
        if let proposal = pendingProposals.removeValue(forKey: key), proposal.term == entry.term {
            acknowledged[proposal.payloadID] = entry.index
            highestAcknowledged = max(highestAcknowledged, entry.index)
            if queueWorkload != nil { try queueAcknowledged(proposal.payloadID, at: node) }
        }
    }

    /// The application compacts its log every `snapshotEveryEntries` applied entries.
    func maybeTakeSnapshot(_ node: NodeID) throws(InvariantViolation) {
        let i = index(node)
        guard let view = nodes[i].log, let latest = try? view.snapshot().metadata else { return }
        let applied = nodes[i].stateMachine.appliedIndex
        guard applied >= latest.index + config.snapshotEveryEntries,
            applied <= view.lastIndex, let term = try? view.term(at: applied)
        else { return }
        let metadata = SnapshotMetadata(index: applied, term: term, conf: nodes[i].core!.membership(at: applied))
        let snapshot = Snapshot(metadata: metadata, data: nodes[i].stateMachine.snapshotData())
        let compactTo = applied > config.entriesKeptAfterSnapshot ? applied - config.entriesKeptAfterSnapshot : 0
        try write(.createSnapshot(snapshot, compactTo: max(compactTo, view.firstIndex - 1)), at: node)
        probe(.logCompacted)
        scheduleSync(node)
    }
}

/// The simulator's side of the ready loop: writes go to the node's simulated disk (and the storage under test),
/// sends to the simulated network; the checker sees every restored state and applied entry.
struct SimulatedReadyPerformer: RaftReadyPerformer {
    typealias Failure = InvariantViolation

    let simulation: Simulation
    let node: NodeID
    /// Writes this ready issued (none: it may complete at once).
    var writes = 0

    mutating func send(_ messages: [RaftMessage]) {
        for message in messages { simulation.send(message) }
    }

    mutating func persist(snapshot: Snapshot) throws(InvariantViolation) {
        try simulation.write(.installSnapshot(snapshot), at: node)
        writes += 1
    }

    mutating func persist(entries: [Entry]) throws(InvariantViolation) {
        try simulation.write(.entries(entries), at: node)
        writes += 1
    }

    mutating func persist(hardState: HardState) throws(InvariantViolation) {
        try simulation.write(.hardState(hardState), at: node)
        writes += 1
    }

    mutating func sendAfterPersist(_ messages: [RaftMessage]) { send(messages) }

    mutating func restore(_ snapshot: Snapshot) throws(InvariantViolation) {
        let i = simulation.index(node)
        guard simulation.nodes[i].stateMachine.restore(snapshot.data, index: snapshot.metadata.index) else {
            throw InvariantViolation(invariant: "snapshot", detail: "node \(node) got a malformed snapshot")
        }
        try simulation.checker.checkStateHash(
            node,
            index: snapshot.metadata.index,
            hash: simulation.nodes[i].stateMachine.hash
        )
    }

    mutating func apply(_ entries: [Entry]) throws(InvariantViolation) {
        for entry in entries { try simulation.apply(entry, at: node) }
    }

    mutating func advance(_ ready: RaftReady) {
        simulation.nodes[simulation.index(node)].core!.advance(ready)
    }
}
