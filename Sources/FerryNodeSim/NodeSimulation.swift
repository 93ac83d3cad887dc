import FerryModel
import FerryNet
import FerryNode
import FerryQueue
import FerryRaft
import FerryRouter
import FerryStorage
import FerryWire
import HeapModule
import NIOCore

/// The node simulated (issue 15): several real `NodeRuntime`s (routing, send packing, long polls, quiescence,
/// leader balancing, the Raft and queue cores, FerryStorage) driven round by round at virtual time over a
/// simulated network and simulated disks, with faults (crashes that lose unsynced writes, a whole-cluster
/// crash, partitions, dropped frames; with `nodeFaults` also pauses and graceful restarts, whose leadership
/// hand-offs land while consumers long-poll), and clients whose view is checked against the queue contract
/// (`NodeSimChecker`). One seed is one deterministic run: the same seed replays exactly.
package final class NodeSimulation: @unchecked Sendable {
    package struct Config: Sendable {
        package var nodes = 3
        /// Virtual time the producers send for; then the faults heal and the consumers drain.
        package var loadMs: Int64 = 4_000
        package var drainMs: Int64 = 4_000
        package var groups = 4
        package var partitions: UInt32 = 2
        /// Node-level faults besides crashes and partitions: a node paused (its rounds stop while frames and
        /// calls pile up, as under SIGSTOP or a long GC pause) and a node stopped gracefully (it hands every
        /// leadership off, syncs and exits) and started again.
        package var nodeFaults = true
        /// The largest wall clock error a node gets (either way) when `nodeFaults` skews its clock.
        package var maxClockSkewMs: Int64 = 250
        /// Clock jumps (issue 18): when above zero, a skew step gives its node, half the time, a wall clock off
        /// by up to this much (minutes) either way, and brings any other node's clock back within
        /// `maxClockSkewMs`: one node at a time is far off, as when NTP steps one host or one is mis-set.
        package var wildClockSkewMs: Int64 = 0
        /// Membership faults (issue 16): nodes join under new ids and members are removed while everything else
        /// goes on; removed nodes keep running. Off by default, so the other seeds keep their runs.
        package var membership = false
        /// Disk faults (issue 18): now and then a node is killed (its page cache survives, as under SIGKILL),
        /// bits of its durable files are flipped or a sealed segment or snapshot file is truncated, and it starts
        /// again; one node at a time, and only while no group anywhere repairs (damage on a majority stops a
        /// group for good, by design). Off by default, so the other seeds keep their runs.
        package var diskFaults = false
        /// Full disks (issue 18): now and then one node's disk, or every node's, is full (no append fits) for up
        /// to 3 s of virtual time. A node on a full disk must refuse writes, lose nothing it acknowledged, and
        /// write again when space returns. Off by default, so the other seeds keep their runs.
        package var fullDisks = false
        /// Group commits finish some rounds after they begin, as on a real node's storage thread (issue 19). Off,
        /// each finishes within its round: how the seeds found before issue 19 replay exactly.
        package var deferredSyncs = true

        package init() {}

        /// The faults the node simulator had before pauses and graceful restarts: the regression seeds found
        /// then replay under it exactly.
        package static var classic: Config {
            var config = Config()
            config.nodeFaults = false
            config.deferredSyncs = false
            return config
        }
    }

    package struct Report: Sendable {
        package var seed: UInt64
        package var violations: [String]
        package var acknowledged: Int
        package var delivered: Int
        package var deadLettered: Int
        package var faults: [String: Int]
        package var rounds: Int
        /// A digest of every client answer in order: equal digests, equal runs.
        package var digest: UInt64
    }

    enum Event {
        case frame(from: UInt64, to: UInt64, ByteBuffer)
        case peerEvent(to: UInt64, NodeEvent)
        case call(to: UInt64, request: ClientRequest, client: Int, attempt: Int)
        /// A node's outbox batch reaches the destination leader's node (`Forwarder`).
        case forward(from: UInt64, to: UInt64, ClientRequest, Answer)
        case answer(client: Int, attempt: Int, ClientResponse?)
        case wake(UInt64)
        case clientStep(Int)
        case nemesis
        case restart(UInt64)
        case resume(UInt64)
        /// Space returns on a node's disk.
        case space(UInt64)
        case heal
        case expire(Answer)
        case run(@Sendable () -> Void)
    }

    struct Scheduled: Comparable {
        var atMs: Int64
        var order: UInt64
        var event: Event
        static func < (a: Self, b: Self) -> Bool { (a.atMs, a.order) < (b.atMs, b.order) }
        static func == (a: Self, b: Self) -> Bool { (a.atMs, a.order) == (b.atMs, b.order) }
    }

    final class SimNode {
        let id: UInt64
        let fileSystem = SimulatedFileSystem()
        var runtime: NodeRuntime?
        var inbox: [NodeEvent] = []
        var wakeAtMs: Int64 = .max
        /// The runtime's snapshot work, run some rounds after it started (`runRound`).
        var snapshots = DeferredSnapshotExecutor()
        /// The runtime's group commit in flight, finished some rounds after it started (`runRound`).
        var syncs = DeferredSyncExecutor()
        init(id: UInt64) { self.id = id }
    }

    /// A group commit's fdatasync held until the simulation runs it, as a real node's storage thread would
    /// finish it later (issue 19): the rounds in between take more events and write more readies, and a crash
    /// before it runs loses what it would have made durable.
    final class DeferredSyncExecutor: StorageSyncExecutor, @unchecked Sendable {
        var pending: WALSync?
        func start(_ sync: WALSync) { pending = sync }
    }

    /// Snapshot work held until the simulation runs it: a snapshot's result arrives some rounds after it started,
    /// as from a real node's snapshot thread (issue 19), so what happens in between (more entries, a snapshot
    /// installed by a leader, a repair, a crash that loses the work) is explored too.
    final class DeferredSnapshotExecutor: SnapshotExecutor, @unchecked Sendable {
        var pending: [@Sendable () -> Void] = []
        func run(_ work: @escaping @Sendable () -> Void) { pending.append(work) }
    }

    /// A forwarded request's completion, called once: by the answer or by the timeout.
    final class Answer: @unchecked Sendable {
        var completion: ((Result<ClientResponse, FerryClientError>) -> Void)?
        func give(_ result: Result<ClientResponse, FerryClientError>) {
            let waiting = completion
            completion = nil
            waiting?(result)
        }
    }

    /// One node's way onto the simulated network: its round's frames (`PeerSender`), and its outbox batches to
    /// other nodes' leaders (`RouterTransport`, as `NodeRouterTransport` does over the peer connections).
    final class Link: PeerSender, RouterTransport, @unchecked Sendable {
        unowned let simulation: NodeSimulation
        let from: UInt64
        init(_ simulation: NodeSimulation, from: UInt64) {
            self.simulation = simulation
            self.from = from
        }
        func send(_ frames: [ByteBuffer], to peer: UInt64) -> Bool {
            simulation.transmit(frames, from: from, to: peer)
        }
        func start(
            _ request: ClientRequest,
            at target: RouteTarget,
            timeoutMs: Int64,
            _ completion: @escaping @Sendable (Result<ClientResponse, FerryClientError>) -> Void
        ) {
            guard case .node(let to) = target else { return completion(.failure(.unreachable("any"))) }
            let answer = Answer()
            answer.completion = completion
            guard simulation.node(to).runtime != nil, !simulation.cut.contains([from, to]) else {
                return answer.give(.failure(.unreachable("node \(to)")))
            }
            simulation.schedule(
                .forward(from: from, to: to, request, answer),
                afterMs: simulation.rng.uniform(Int64(1)...Int64(3))
            )
            simulation.schedule(.expire(answer), afterMs: timeoutMs)
        }
        func schedule(afterMs ms: Int64, _ body: @escaping @Sendable () -> Void) {
            simulation.schedule(.run(body), afterMs: ms)
        }
        func learned(_ cluster: ClusterDescription) {}
        func knows(_ node: UInt64) -> Bool { node >= 1 && node <= UInt64(simulation.nodes.count) }
    }

    let seed: UInt64
    let config: Config
    var rng: Xoshiro256
    /// When deferred snapshot work runs (`runRound`).
    var snapshotRNG: Xoshiro256
    /// When a deferred group commit finishes (`runRound`).
    var syncRNG: Xoshiro256
    var nowMs: Int64 = 0
    var queue = Heap<Scheduled>()
    var order: UInt64 = 0
    var nodes: [SimNode] = []
    var members: [MemberConfig] = []
    /// Directed links that drop everything (partitions).
    var cut: Set<[UInt64]> = []
    /// Nodes whose rounds are stopped; what reaches them waits in their inbox.
    var paused: Set<UInt64> = []
    /// Nodes told to stop gracefully that have not stopped yet.
    var stopping: Set<UInt64> = []
    /// How far each node's wall clock is off (NTP error and steps; its monotonic clock is right).
    var wallSkewMs: [UInt64: Int64] = [:]
    /// When the last frame on each directed link arrives (links keep their order, as TCP does).
    var linkClear: [[UInt64]: Int64] = [:]
    var clients: [NodeSimClient] = []
    var checker = NodeSimChecker()
    var faults: [String: Int] = [:]
    var rounds = 0
    var healed = false
    /// The admin client created the queue: producers and consumers start.
    var queueCreated = false
    let queueName = "sim.fifo"
    let deadLetterQueueName = "sim-dlq.fifo"
    /// The admin creates and deletes it over and over (node faults only).
    let scratchQueueName = "sim-scratch.fifo"
    /// The dead-letter queue exists (the admin creates it first).
    var deadLetterQueueCreated = false
    /// Membership mode: the changes still to be recorded (sent again until a node answers `done`), and the
    /// nodes meant to stay (not removed).
    var pendingChanges: [ClusterChange] = []
    var activeNodes: [UInt64] = []
    static let wallBaseMs: Int64 = 1_800_000_000_000

    package init(seed: UInt64, config: Config = Config()) {
        self.seed = seed
        self.config = config
        rng = Xoshiro256(seed: seed ^ 0x4E0D_E51E)
        snapshotRNG = Xoshiro256(seed: seed ^ 0x5A4A_9517)
        syncRNG = Xoshiro256(seed: seed ^ 0x6C07_3A1D)
        members = (1...config.nodes).map {
            MemberConfig(id: UInt64($0), host: "198.18.0.\($0)", peerPort: 7100, clientPort: 7200, httpPort: 7300)
        }
        nodes = members.map { SimNode(id: $0.id) }
    }

    func schedule(_ event: Event, afterMs delay: Int64) {
        order += 1
        queue.insert(Scheduled(atMs: nowMs + max(0, delay), order: order, event: event))
    }

    func node(_ id: UInt64) -> SimNode { nodes[Int(id) - 1] }

    /// A node's wall clock: virtual time from a fixed epoch, off by the node's skew.
    func wallMs(of id: UInt64) -> Int64 { Self.wallBaseMs + nowMs + (wallSkewMs[id] ?? 0) }

    // MARK: Nodes

    func nodeConfig(_ id: UInt64) -> NodeConfig {
        // A node added later joins: it knows the founders and itself, and opens the metadata group empty.
        let founders = Array(members.prefix(self.config.nodes))
        let joins = id > UInt64(self.config.nodes)
        var config = NodeConfig(
            nodeID: id,
            clusterID: "sim",
            dataDirectory: "/node",
            members: joins ? founders + [members[Int(id) - 1]] : founders
        )
        config.join = joins
        config.tickMs = 10
        config.electionTicks = 10
        config.heartbeatTicks = 2
        config.snapshotEveryEntries = 400
        config.entriesKeptAfterSnapshot = 50
        // Slow-disk eviction reads real fsync durations: off, so that a run depends on its seed alone.
        config.slowDiskMs = 0
        return config
    }

    func start(_ id: UInt64) {
        let simNode = node(id)
        do {
            // With disk faults, 64 KiB segments: most of a run's log lies in sealed segments, where damage is found
            // differently (record headers at start-up, checksums on read).
            let storage = try NodeStorage(
                fileSystem: simNode.fileSystem,
                directory: "/node",
                segmentBytes: config.diskFaults ? 64 << 10 : 64 << 20
            )
            if !storage.repairs.isEmpty {
                faults["disk: groups repairing at start", default: 0] += storage.repairs.count
            }
            let runtime = try NodeRuntime(
                config: nodeConfig(id),
                storage: storage,
                nowMs: nowMs,
                wallMs: wallMs(of: id),
                seed: rng.next()
            )
            let link = Link(self, from: id)
            runtime.transport = link
            runtime.forwarder = link
            simNode.snapshots = DeferredSnapshotExecutor()
            runtime.snapshotExecutor = simNode.snapshots
            simNode.syncs = DeferredSyncExecutor()
            if config.deferredSyncs { runtime.syncExecutor = simNode.syncs }
            simNode.runtime = runtime
            simNode.inbox = []
            simNode.wakeAtMs = .max
            wake(id, atMs: nowMs)
            for other in nodes where other.id != id && other.runtime != nil {
                schedule(.peerEvent(to: other.id, .peerJoined(id)), afterMs: 1)
                schedule(.peerEvent(to: id, .peerJoined(other.id)), afterMs: 1)
            }
        } catch {
            if simNode.fileSystem.capacityBytes != nil {
                // Start-up writes too (a new segment, repair records): on a full disk it fails and is tried again.
                faults["disk full: start put off", default: 0] += 1
                schedule(.restart(id), afterMs: rng.uniform(Int64(200)...Int64(800)))
                return
            }
            checker.violations.append("node \(id) cannot start at \(nowMs) ms: \(error)")
        }
    }

    /// The process dies: unsynced writes are lost, waiting clients get nothing, peers see the connection go.
    /// The node dies: a power loss (what was not synced is lost) or, with `keepPageCache`, a killed process (what
    /// it wrote stays).
    func crash(_ id: UInt64, keepPageCache: Bool = false) {
        let simNode = node(id)
        guard simNode.runtime != nil else { return }
        simNode.runtime = nil
        simNode.inbox = []
        paused.remove(id)
        stopping.remove(id)
        if keepPageCache {
            simNode.fileSystem.crash { _, unsynced in unsynced }
        } else {
            simNode.fileSystem.crash()
        }
        for other in nodes where other.id != id && other.runtime != nil {
            schedule(.peerEvent(to: other.id, .peerLost(id)), afterMs: 1)
        }
    }

    /// A graceful stop ended (every leadership handed off, or the hand-off's time is up): the node answers
    /// whoever still waits, syncs and exits; its peers see the connection close; it starts again shortly.
    func stopped(_ id: UInt64) {
        let simNode = node(id)
        simNode.runtime?.finish()
        simNode.runtime = nil
        simNode.inbox = []
        for other in nodes where other.id != id && other.runtime != nil {
            schedule(.peerEvent(to: other.id, .peerLost(id)), afterMs: 1)
        }
        schedule(.restart(id), afterMs: rng.uniform(Int64(50)...Int64(500)))
    }

    func wake(_ id: UInt64, atMs: Int64) {
        let simNode = node(id)
        guard atMs < simNode.wakeAtMs else { return }
        simNode.wakeAtMs = atMs
        schedule(.wake(id), afterMs: atMs - nowMs)
    }

    /// One round of a node with what reached it; then the node is woken again when its next tick is due.
    func runRound(_ id: UInt64) {
        let simNode = node(id)
        simNode.wakeAtMs = .max
        guard let runtime = simNode.runtime, !paused.contains(id) else { return }
        // A pending snapshot finishes in one round of three (its own generator: the other draws stay the same).
        if !simNode.snapshots.pending.isEmpty && snapshotRNG.next() % 3 == 0 {
            simNode.snapshots.pending.removeFirst()()
        }
        // A group commit in flight finishes in two rounds of three (its own generator, as the snapshots').
        if let sync = simNode.syncs.pending, !config.deferredSyncs || syncRNG.next() % 3 != 0 {
            simNode.syncs.pending = nil
            sync.run()
        }
        // What the node's own callbacks posted (an outbox batch's outcome) comes first, as the mailbox would.
        let events = runtime.mailbox.takeNow() + simNode.inbox
        simNode.inbox = []
        rounds += 1
        runtime.round(events, nowMs: nowMs, wallMs: wallMs(of: id))
        guard runtime.isRunning else {
            if stopping.remove(id) != nil {
                stopped(id)
            } else if simNode.fileSystem.capacityBytes != nil {
                // On a full disk a node stops where it cannot wait for space (an installed snapshot is part of
                // a ready's writes): it exits as a process does, and its supervisor starts it again.
                faults["disk full: node stopped and restarted", default: 0] += 1
                crash(id, keepPageCache: true)
                schedule(.restart(id), afterMs: rng.uniform(Int64(200)...Int64(800)))
            } else {
                checker.violations.append("node \(id) stopped itself at \(nowMs) ms (storage failure)")
                simNode.runtime = nil
            }
            return
        }
        wake(id, atMs: simNode.syncs.pending != nil ? nowMs + 1 : max(nowMs + 1, runtime.nextTickMs))
    }

    func deliver(_ event: NodeEvent, to id: UInt64) {
        let simNode = node(id)
        guard simNode.runtime != nil else { return }
        simNode.inbox.append(event)
        wake(id, atMs: nowMs)
    }

    // MARK: The run

    package func run() -> Report {
        for simNode in nodes { start(simNode.id) }
        activeNodes = nodes.map(\.id)
        let groups = (0..<config.groups).map { "g\($0)" }
        clients = [NodeSimClient(id: 0, role: .admin, nodes: config.nodes)]
        for (at, group) in groups.enumerated() {
            clients.append(NodeSimClient(id: 1 + at, role: .producer(group: group), nodes: config.nodes))
        }
        for partition in 0..<config.partitions {
            clients.append(
                NodeSimClient(id: clients.count, role: .consumer(partition: partition), nodes: config.nodes)
            )
        }
        clients.append(NodeSimClient(id: clients.count, role: .deadLetterConsumer, nodes: config.nodes))
        for client in clients { schedule(.clientStep(client.id), afterMs: 50) }
        schedule(.nemesis, afterMs: 600)
        schedule(.heal, afterMs: config.loadMs)
        let end = config.loadMs + config.drainMs
        runUntil(end)
        checker.finish(acknowledgedBy: clients)
        // The clients are quiet. Once every group on every node is quiesced nothing changes any more, so every
        // replica must then hold what its group committed (a follower that went quiet with a stale commit index
        // would lag until something wakes the group). Groups that never all quiesce within 3 s are compared then.
        // (Only the nodes meant to stay: a removed node that never learned of its removal never quiesces.)
        var settle = end
        while settle < end + 3_000
            && !nodes.allSatisfy({ !activeNodes.contains($0.id) || ($0.runtime?.isQuiet ?? true) })
        {
            settle += 10
            runUntil(settle)
        }
        let differences = replicaDifferences()
        checker.violations += differences
        return Report(
            seed: seed,
            violations: checker.violations,
            acknowledged: checker.acknowledgedCount,
            delivered: checker.deliveredCount,
            deadLettered: checker.deadLetterCount,
            faults: faults,
            rounds: rounds,
            digest: checker.digest
        )
    }

    /// Handles every event due by `endMs`, in time order; later ones stay queued.
    func runUntil(_ endMs: Int64) {
        while let next = queue.min, next.atMs <= endMs {
            _ = queue.popMin()
            nowMs = next.atMs
            handle(next.event)
        }
        nowMs = max(nowMs, endMs)
    }

    func handle(_ event: Event) {
        switch event {
        case .frame(let from, let to, let bytes): arrive(bytes, from: from, to: to)
        case .peerEvent(let to, let event): deliver(event, to: to)
        case .call(let to, let request, let client, let attempt):
            call(request, to: to, client: client, attempt: attempt)
        case .answer(let client, let attempt, let response):
            clients[client].answered(attempt: attempt, response, in: self)
        case .wake(let id):
            if node(id).wakeAtMs <= nowMs { runRound(id) }
        case .clientStep(let client): clients[client].step(in: self)
        case .nemesis: nemesis()
        case .restart(let id): if node(id).runtime == nil { start(id) }
        case .resume(let id): resume(id)
        case .space(let id): node(id).fileSystem.capacityBytes = nil
        case .heal: heal()
        case .forward(let from, let to, let request, let answer):
            guard !cut.contains([from, to]), node(to).runtime != nil else { return }
            deliver(
                .client(
                    ClientCall(request: request) { [weak self] response in
                        guard let self else { return }
                        self.schedule(
                            .run { answer.give(.success(response)) },
                            afterMs: self.rng.uniform(Int64(1)...Int64(3))
                        )
                    }
                ),
                to: to
            )
        case .expire(let answer):
            answer.give(.failure(.timeout("no answer")))
        case .run(let body):
            body()
        }
    }
}

final class AnswerBox: @unchecked Sendable {
    var done = false
}

final class ResponseBox: @unchecked Sendable {
    var response: ClientResponse?
}
