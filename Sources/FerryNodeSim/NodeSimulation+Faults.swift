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

/// The simulated network, the clients' calls, and the nemesis's faults.
extension NodeSimulation {
    // MARK: Network

    func transmit(_ frames: [ByteBuffer], from: UInt64, to: UInt64) -> Bool {
        guard node(to).runtime != nil else { return false }
        guard !cut.contains([from, to]) else { return true }
        for frame in frames {
            // 1 % of frames are lost, all the run long (a reset connection loses what was in flight); the rest
            // arrive in order.
            if rng.chance(percent: 1) { continue }
            let arrival = max(linkClear[[from, to]] ?? 0, nowMs + rng.uniform(Int64(1)...Int64(3)))
            linkClear[[from, to]] = arrival
            schedule(.frame(from: from, to: to, frame), afterMs: arrival - nowMs)
        }
        return true
    }

    func arrive(_ bytes: ByteBuffer, from: UInt64, to: UInt64) {
        guard !cut.contains([from, to]), node(to).runtime != nil else { return }
        var buffer = bytes
        do {
            while let item = try PeerInbound.decode(from: &buffer) {
                switch item {
                case .raft(let frame): deliver(.peer(groupID: frame.groupID, message: frame.message), to: to)
                case .control(let control): deliver(.control(control), to: to)
                }
            }
        } catch {
            checker.violations.append("node \(from) sent a frame that does not decode: \(error)")
        }
    }

    // MARK: Clients

    /// A client's request reaches a node (or is lost with it); the answer comes back after a network delay.
    func call(_ request: ClientRequest, to id: UInt64, client: Int, attempt: Int) {
        guard let runtime = node(id).runtime, !cut.contains([0, id]) else { return }
        _ = runtime
        let answered = AnswerBox()
        deliver(
            .client(
                ClientCall(request: request) { [weak self] response in
                    guard let self, !answered.done else { return }
                    answered.done = true
                    self.schedule(
                        .answer(client: client, attempt: attempt, response),
                        afterMs: self.rng.uniform(Int64(1)...Int64(2))
                    )
                }
            ),
            to: id
        )
    }

    // MARK: Faults

    func nemesis() {
        guard !healed else { return }
        let roll = rng.uniform(0..<100)
        let running = nodes.filter { $0.runtime != nil }.map(\.id)
        switch roll {
        case 0..<30 where running.count == nodes.count:
            let victim = running[rng.uniform(0..<running.count)]
            faults["crash", default: 0] += 1
            crash(victim)
            schedule(.restart(victim), afterMs: rng.uniform(Int64(50)...Int64(800)))
        case 30..<40 where running.count == nodes.count:
            faults["crash all", default: 0] += 1
            for id in running { crash(id) }
            for id in running { schedule(.restart(id), afterMs: rng.uniform(Int64(20)...Int64(400))) }
        case 40..<65 where cut.isEmpty:
            let alone = UInt64(rng.uniform(1...nodes.count))
            faults["partition", default: 0] += 1
            for other in nodes.map(\.id) where other != alone {
                cut.insert([alone, other])
                cut.insert([other, alone])
            }
            if rng.chance(percent: 50) {
                // The clients cannot reach the cut-off node either (else they may still talk to it).
                cut.insert([0, alone])
            }
        case 65..<85 where !cut.isEmpty:
            faults["heal partition", default: 0] += 1
            cut = []
        case 85..<93 where config.nodeFaults && paused.isEmpty && !running.isEmpty:
            // Longer than an election timeout as often as not: the others elect, then the paused one wakes to
            // a later term with its old beliefs and whatever piled up for it.
            let victim = running[rng.uniform(0..<running.count)]
            faults["pause", default: 0] += 1
            paused.insert(victim)
            schedule(.resume(victim), afterMs: rng.uniform(Int64(50)...Int64(1_500)))
        case 93..<100 where config.nodeFaults && running.count == nodes.count && paused.isEmpty && stopping.isEmpty:
            let victim = running[rng.uniform(0..<running.count)]
            faults["graceful restart", default: 0] += 1
            stopping.insert(victim)
            deliver(.stop(graceful: true), to: victim)
        default:
            break
        }
        if config.diskFaults && rng.chance(percent: 15) { damageDisk() }
        if config.fullDisks && rng.chance(percent: 12) { fillDisks() }
        if config.membership { changeMembership() }
        if config.nodeFaults && rng.chance(percent: 10) {
            // A wall clock steps (NTP corrects it, or an operator): entries this node stamps as leader carry it.
            let victim = UInt64(rng.uniform(1...nodes.count))
            faults["clock skew", default: 0] += 1
            wallSkewMs[victim] = rng.uniform(-config.maxClockSkewMs...config.maxClockSkewMs)
            if config.wildClockSkewMs > config.maxClockSkewMs && rng.chance(percent: 50) {
                faults["clock jump", default: 0] += 1
                let size = rng.uniform(config.maxClockSkewMs...config.wildClockSkewMs)
                wallSkewMs[victim] = rng.chance(percent: 50) ? size : -size
                for other in nodes.map(\.id)
                where other != victim && abs(wallSkewMs[other] ?? 0) > config.maxClockSkewMs {
                    wallSkewMs[other] = rng.uniform(-config.maxClockSkewMs...config.maxClockSkewMs)
                }
            }
        }
        schedule(.nemesis, afterMs: rng.uniform(Int64(100)...Int64(600)))
    }

    /// Disk faults: kills a node, damages its durable files, and starts it again. A bit flip may land in any file
    /// (log segments, snapshots) at any offset of its durable bytes; a truncation hits a sealed segment or a
    /// snapshot (the last segment's synced tail cut at a record boundary cannot be told from an older crash: the
    /// documented limit of `WriteAheadLog`'s recovery).
    func damageDisk() {
        let running = nodes.filter { $0.runtime != nil }
        guard running.count == nodes.count, paused.isEmpty, stopping.isEmpty,
            running.allSatisfy({ $0.runtime!.repairingGroups.isEmpty })
        else { return }
        let victim = running[rng.uniform(0..<running.count)]
        crash(victim.id, keepPageCache: true)
        let fs = victim.fileSystem
        let files = fs.paths.filter { path in
            (path.hasSuffix(".wal") || path.hasSuffix(".snap")) && (fs.durableCount(path) ?? 0) > 0
        }
        let segments = files.filter { $0.hasSuffix(".wal") }
        if !files.isEmpty {
            let path = files[rng.uniform(0..<files.count)]
            var bytes = fs.bytes(path)!
            let durable = fs.durableCount(path)!
            let sealed = path.hasSuffix(".snap") || path != segments.last
            if sealed && rng.chance(percent: 25) {
                faults["disk: truncation", default: 0] += 1
                bytes = Array(bytes.prefix(rng.uniform(0..<durable)))
            } else {
                faults["disk: bit flip", default: 0] += 1
                for _ in 0..<rng.uniform(1...3) {
                    bytes[rng.uniform(0..<durable)] ^= UInt8(1 << rng.uniform(0..<8))
                }
            }
            fs.setBytes(path, bytes)
        }
        schedule(.restart(victim.id), afterMs: rng.uniform(Int64(50)...Int64(800)))
    }

    /// Full disks: one node's disk (three times in four) or every node's is full from now on (its capacity set
    /// to what it holds) until space returns 100 ms … 3 s later.
    func fillDisks() {
        let full = nodes.filter { $0.fileSystem.capacityBytes != nil }
        guard full.isEmpty else { return }
        let victims = rng.chance(percent: 25) ? nodes : [nodes[rng.uniform(0..<nodes.count)]]
        faults[victims.count == 1 ? "disk full: one node" : "disk full: all nodes", default: 0] += 1
        for victim in victims {
            victim.fileSystem.capacityBytes = victim.fileSystem.usedBytes
            schedule(.space(victim.id), afterMs: rng.uniform(Int64(100)...Int64(3_000)))
        }
    }

    /// Membership mode: now and then a node joins under a new id (started with `join`, then added) or an active
    /// node is removed (it keeps running); a change not yet recorded is sent again to a random running node.
    func changeMembership() {
        if pendingChanges.isEmpty && rng.chance(percent: 25) {
            if activeNodes.count <= 3 || (nodes.count < 8 && rng.chance(percent: 50)) {
                let id = UInt64(nodes.count + 1)
                let member = MemberConfig(
                    id: id,
                    host: "198.18.0.\(id)",
                    peerPort: 7100,
                    clientPort: 7200,
                    httpPort: 7300
                )
                members.append(member)
                nodes.append(SimNode(id: id))
                start(id)
                faults["node joins", default: 0] += 1
                pendingChanges.append(.addNode(member))
                activeNodes.append(id)
            } else {
                let victim = activeNodes[rng.uniform(0..<activeNodes.count)]
                faults["node leaves", default: 0] += 1
                pendingChanges.append(.removeNode(victim))
                activeNodes.removeAll { $0 == victim }
            }
        }
        sendPendingChange()
    }

    /// Sends the first change not yet recorded to a random running node (again after the faults heal, every
    /// 100 ms, until every change is recorded: a node that started joining must be added before the end).
    func sendPendingChange() {
        guard let change = pendingChanges.first else { return }
        if healed { schedule(.run { [weak self] in self?.sendPendingChange() }, afterMs: 100) }
        let running = nodes.filter { $0.runtime != nil }.map(\.id)
        guard !running.isEmpty else { return }
        let to = running[rng.uniform(0..<running.count)]
        deliver(
            .client(
                ClientCall(request: .changeCluster(change)) { [weak self] response in
                    guard let self, case .done = response, self.pendingChanges.first == change else { return }
                    self.pendingChanges.removeFirst()
                    self.faults["membership change recorded", default: 0] += 1
                }
            ),
            to: to
        )
    }

    /// Groups whose replicas have not applied the same entries to the same state, each as a violation.
    func replicaDifferences() -> [String] {
        var differences: [String] = []
        var describe: ClusterDescription?
        let metadataGroup = Catalog.metadataGroup
        // From the metadata group's leader first: a removed node's catalog stops where its removal took effect.
        var leadsMetadata: [SimNode] = []
        for simNode in nodes {
            ask(simNode, .nodeStatus) {
                guard case .nodeStatus(let status) = $0,
                    status.groups.contains(where: { $0.groupID == metadataGroup && $0.leader == simNode.id })
                else { return }
                leadsMetadata.append(simNode)
            }
        }
        for simNode in leadsMetadata + nodes {
            ask(simNode, .describeCluster) { if case .cluster(let c) = $0 { describe = c } }
            if describe != nil { break }
        }
        guard let describe else { return ["no node describes the cluster at the end"] }
        var replicas: [UInt64: Set<UInt64>] = [metadataGroup: Set(describe.nodes.map(\.id))]
        for partition in describe.partitions { replicas[partition.groupID] = Set(partition.replicas) }
        for group in [metadataGroup] + describe.partitions.map(\.groupID) {
            var states: [UInt64: (applied: UInt64, digest: UInt64)] = [:]
            // The group's wanted replicas (a removed node that never learned its removal keeps an old copy).
            for simNode in nodes where replicas[group]!.contains(simNode.id) {
                ask(simNode, .groupDigest(groupID: group)) {
                    if case .digest(let applied, let digest) = $0, applied > 0 {
                        states[simNode.id] = (applied, digest)
                    }
                }
            }
            let distinct = Set(states.values.map { "\($0.applied)/\($0.digest)" })
            if distinct.count > 1 {
                let detail = states.keys.sorted().map { id in
                    var line = "node \(id): applied \(states[id]!.applied)"
                    ask(node(id), .nodeStatus) {
                        guard case .nodeStatus(let status) = $0,
                            let mine = status.groups.first(where: { $0.groupID == group })
                        else { return }
                        line +=
                            " (term \(mine.term), leader \(mine.leader), commit \(mine.commitIndex), voters "
                            + "\(mine.voters), learners \(mine.learners))"
                    }
                    return line
                }
                var leaderView = ""
                for simNode in nodes where !(replicas[group]!.contains(simNode.id)) {
                    ask(simNode, .nodeStatus) {
                        guard case .nodeStatus(let status) = $0,
                            let mine = status.groups.first(where: { $0.groupID == group && $0.leader == simNode.id })
                        else { return }
                        leaderView =
                            "; leader \(simNode.id) (not wanted) sees voters \(mine.voters), learners "
                            + "\(mine.learners), commit \(mine.commitIndex), followers \(mine.followers)"
                    }
                }
                differences.append(
                    "group \(group)'s replicas differ at the end: \(detail.joined(separator: ", "))\(leaderView)"
                )
            }
        }
        return differences
    }

    /// Asks a running node something it answers within the round.
    func ask(_ simNode: SimNode, _ request: ClientRequest, _ answer: @escaping (ClientResponse) -> Void) {
        guard let runtime = simNode.runtime else { return }
        let box = ResponseBox()
        runtime.round(
            [.client(ClientCall(request: request) { box.response = $0 })],
            nowMs: nowMs,
            wallMs: wallMs(of: simNode.id)
        )
        if let response = box.response { answer(response) }
    }

    func heal() {
        for simNode in nodes { simNode.fileSystem.capacityBytes = nil }
        healed = true
        cut = []
        for id in paused.sorted() { resume(id) }
        for simNode in nodes where simNode.runtime == nil { start(simNode.id) }
        sendPendingChange()
    }

    func resume(_ id: UInt64) {
        guard paused.remove(id) != nil, node(id).runtime != nil else { return }
        wake(id, atMs: nowMs)
    }
}
