import FerryRaft
import NIOCore

/// Drives a few `RaftCore`s by text commands and prints what they do: the engine of the golden interaction
/// tests in `Tests/FerryRaftTests/testdata` (etcd's `rafttest.InteractionEnv`, in our own words).
///
/// Persistence is synchronous here: `process-ready` writes a ready to the node's `MemoryLog`, queues its
/// messages (both kinds), applies its committed entries and advances. Messages wait in a mailbox until
/// `deliver-msgs` or `stabilize` hands them over, so a transcript shows every step.
///
/// Commands (one per block; `key=value` options):
/// - `add-nodes N [voters=1,2,3] [learners=4] [election=10] [heartbeat=1] [prevote=true] [checkquorum=true]
///   [max-append-bytes=N] [inflight=N] [chunk=N]`
/// - `campaign ID`, `tick ID [count]`, `tick-heartbeat ID`, `tick-election ID`
/// - `propose ID TEXT`, `transfer-leadership FROM TO`
/// - `add-empty-node ID` (a machine that joins: empty log, no membership), `change ID add-learner|promote|remove
///   NODE`, `membership ID`
/// - `process-ready [ID...]`, `deliver-msgs [ID...]`, `drop-msgs [ID...]`, `stabilize [ID...]`
/// - `partition ID... -- ID...`, `isolate ID`, `heal`
/// - `crash ID`, `restart ID`, `compact ID INDEX`
/// - `status ID`, `log ID`
public struct InteractionEnv {
    struct Node {
        var storage: MemoryLog
        var core: RaftCore?
        var applied: [Entry] = []
    }

    var config = RaftConfig()
    var nodes: [NodeID: Node] = [:]
    var mailbox: [RaftMessage] = []
    var blocked: Set<[NodeID]> = []
    var seed: UInt64 = 1
    var output: [String] = []

    public init() {}

    public enum CommandError: Error, CustomStringConvertible {
        case bad(String)
        public var description: String {
            switch self {
            case .bad(let text): return text
            }
        }
    }

    /// Runs one command line and returns what it printed.
    public mutating func run(_ line: String) -> String {
        output = []
        let words = line.split(separator: " ").map(String.init)
        guard let command = words.first else { return "" }
        let arguments = Array(words.dropFirst())
        do {
            try execute(command, arguments)
        } catch {
            output.append("error: \(error)")
        }
        return output.isEmpty ? "ok" : output.joined(separator: "\n")
    }

    mutating func execute(_ command: String, _ arguments: [String]) throws(CommandError) {
        let positional = arguments.filter { !$0.contains("=") }
        var options: [String: String] = [:]
        for argument in arguments where argument.contains("=") {
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            options[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        switch command {
        case "add-nodes":
            try addNodes(positional, options)
        case "campaign":
            try withCore(positional) { core in
                core.campaign()
                return []
            }
        case "tick":
            let count = positional.count > 1 ? Int(positional[1]) ?? 1 : 1
            try withCore(positional) { core in
                for _ in 0..<count { core.tick() }
                return []
            }
        case "tick-heartbeat":
            try withCore(positional) { core in
                for _ in 0..<core.config.heartbeatIntervalTicks { core.tick() }
                return []
            }
        case "tick-election":
            // Enough ticks for any randomized timeout, stopping as soon as the node changes its role.
            try withCore(positional) { core in
                let role = core.roleKind
                for _ in 0..<(2 * core.config.electionTimeoutTicks) where core.roleKind == role {
                    core.tick()
                }
                return []
            }
        case "propose":
            guard positional.count >= 2 else { throw .bad("propose ID TEXT") }
            var payload = ByteBuffer()
            payload.writeString(positional[1...].joined(separator: " "))
            try withCore(positional) { core in
                do {
                    let ticket = try core.propose([payload])
                    return ["proposed at index \(ticket.firstIndex) term \(ticket.term)"]
                } catch {
                    return ["refused: \(error)"]
                }
            }
        case "add-empty-node":
            guard positional.count == 1, let id = NodeID(positional[0]), nodes[id] == nil else {
                throw .bad("add-empty-node ID (a new id)")
            }
            nodes[id] = Node(storage: MemoryLog(conf: ConfState(voters: [])))
            try start(id)
        case "change":
            try proposeChange(positional)
        case "membership":
            let id = try ids(positional)[0]
            guard let core = nodes[id]?.core else { throw .bad("node \(id) is down") }
            let conf = core.membership
            output.append("\(id): voters=\(conf.voters) learners=\(conf.learners)")
        case "transfer-leadership":
            guard positional.count == 2, let target = NodeID(positional[1]) else { throw .bad("transfer FROM TO") }
            try withCore(positional) { core in
                do { try core.transferLeadership(to: target) } catch { return ["refused: \(error)"] }
                return []
            }
        case "process-ready":
            for id in try ids(positional) { processReady(id) }
        case "deliver-msgs":
            for id in try ids(positional) { deliver(to: id) }
        case "drop-msgs":
            let targets = Set(try ids(positional))
            let dropped = mailbox.filter { targets.contains($0.to) }
            mailbox.removeAll { targets.contains($0.to) }
            for message in dropped { output.append("dropped \(TraceBuffer.describe(message))") }
        case "stabilize":
            try stabilize(ids(positional))
        case "partition":
            guard let split = positional.firstIndex(of: "--") else { throw .bad("partition A... -- B...") }
            let left = positional[..<split].compactMap { NodeID($0) }
            let right = positional[(split + 1)...].compactMap { NodeID($0) }
            for a in left {
                for b in right {
                    blocked.insert([a, b])
                    blocked.insert([b, a])
                }
            }
        case "isolate":
            let node = try ids(positional)[0]
            for other in nodes.keys where other != node {
                blocked.insert([node, other])
                blocked.insert([other, node])
            }
        case "heal":
            blocked = []
        case "crash":
            let node = try ids(positional)[0]
            nodes[node]?.core = nil
            mailbox.removeAll { $0.to == node }
        case "restart":
            let node = try ids(positional)[0]
            try start(node)
        case "compact":
            guard positional.count == 2, let index = LogIndex(positional[1]) else { throw .bad("compact ID INDEX") }
            try compact(try ids(positional)[0], to: index)
        case "status":
            try status(ids(positional)[0])
        case "log":
            try printLog(ids(positional)[0])
        default:
            throw .bad("unknown command \(command)")
        }
    }

    func ids(_ positional: [String]) throws(CommandError) -> [NodeID] {
        let named = positional.compactMap { NodeID($0) }.filter { nodes[$0] != nil }
        return named.isEmpty ? nodes.keys.sorted() : named
    }

    /// Runs `body` on the node named first; what it returns is printed.
    mutating func withCore(_ positional: [String], _ body: (inout RaftCore) -> [String]) throws(CommandError) {
        guard let first = positional.first, let id = NodeID(first), var node = nodes[id] else {
            throw .bad("no node \(positional.first ?? "")")
        }
        guard var core = node.core else { throw .bad("node \(id) is down") }
        output.append(contentsOf: body(&core))
        node.core = core
        nodes[id] = node
    }
}

extension InteractionEnv {
    mutating func addNodes(_ positional: [String], _ options: [String: String]) throws(CommandError) {
        guard let first = positional.first, let count = Int(first), count > 0 else { throw .bad("add-nodes N") }
        func list(_ key: String) -> [NodeID]? {
            options[key].map { $0.split(separator: ",").compactMap { NodeID($0) } }
        }
        let voters = list("voters") ?? (1...count).map { NodeID($0) }
        let learners = list("learners") ?? []
        config.electionTimeoutTicks = options["election"].flatMap(Int.init) ?? config.electionTimeoutTicks
        config.heartbeatIntervalTicks = options["heartbeat"].flatMap(Int.init) ?? config.heartbeatIntervalTicks
        config.preVote = options["prevote"].map { $0 == "true" } ?? config.preVote
        config.checkQuorum = options["checkquorum"].map { $0 == "true" } ?? config.checkQuorum
        config.maxAppendBytes = options["max-append-bytes"].flatMap(Int.init) ?? config.maxAppendBytes
        config.maxInflightMessages = options["inflight"].flatMap(Int.init) ?? config.maxInflightMessages
        config.snapshotChunkBytes = options["chunk"].flatMap(Int.init) ?? config.snapshotChunkBytes
        let conf = ConfState(voters: voters, learners: learners)
        for id in conf.members {
            nodes[id] = Node(storage: MemoryLog(conf: conf))
            try start(id)
        }
        output.append("nodes \(conf.members.map(String.init).joined(separator: ",")) voters=\(conf.voters)")
    }

    mutating func proposeChange(_ positional: [String]) throws(CommandError) {
        guard positional.count == 3, let node = NodeID(positional[2]) else {
            throw .bad("change ID add-learner|promote|remove NODE")
        }
        let change: MembershipChange
        switch positional[1] {
        case "add-learner": change = .addLearner(node)
        case "promote": change = .promote(node)
        case "remove": change = .remove(node)
        default: throw .bad("unknown change \(positional[1])")
        }
        try withCore(positional) { core in
            do {
                let ticket = try core.proposeMembershipChange(change)
                return ["proposed \(change) at index \(ticket.firstIndex) term \(ticket.term)"]
            } catch {
                return ["refused: \(error)"]
            }
        }
    }

    mutating func start(_ id: NodeID) throws(CommandError) {
        guard var node = nodes[id] else { throw .bad("no node \(id)") }
        do {
            // The seed fixes each node's randomized election timeout, so transcripts are stable.
            node.core = try RaftCore(id: id, config: config, storage: node.storage, randomSeed: seed &+ id)
        } catch {
            throw .bad("node \(id) cannot start: \(error)")
        }
        let snapshotIndex = node.storage.latestSnapshot.metadata.index
        node.applied.removeAll { $0.index > snapshotIndex }
        nodes[id] = node
    }

    /// Writes, sends, applies and advances one ready (synchronous persistence) through `RaftReadyLoop`.
    mutating func processReady(_ id: NodeID) {
        guard let node = nodes[id], var core = node.core, core.hasReady else { return }
        let ready = core.ready()
        output.append("> \(id) handles ready")
        if let soft = ready.softState {
            output.append("  role: \(soft.role.rawValue) leader=\(soft.leader.map(String.init) ?? "none")")
        }
        var performer = TranscriptPerformer(
            node: node,
            core: core,
            blocked: blocked,
            up: Set(nodes.compactMap { $0.value.core == nil ? nil : $0.key })
        )
        RaftReadyLoop.write(ready, to: &performer)
        RaftReadyLoop.complete(ready, by: &performer)
        output += performer.output
        mailbox += performer.delivered
        performer.node.core = performer.core
        nodes[id] = performer.node
    }

    mutating func deliver(to id: NodeID) {
        let incoming = mailbox.filter { $0.to == id }
        mailbox.removeAll { $0.to == id }
        guard !incoming.isEmpty, var node = nodes[id], var core = node.core else { return }
        output.append("> \(id) receives")
        for message in incoming {
            if blocked.contains([message.from, message.to]) {
                output.append("  \(TraceBuffer.describe(message)) (dropped: partitioned)")
                continue
            }
            output.append("  \(TraceBuffer.describe(message))")
            core.step(message)
        }
        node.core = core
        nodes[id] = node
    }

    mutating func stabilize(_ ids: [NodeID]) {
        for _ in 0..<1_000 {
            var progressed = false
            for id in ids where nodes[id]?.core?.hasReady == true {
                processReady(id)
                progressed = true
            }
            for id in ids where mailbox.contains(where: { $0.to == id }) {
                deliver(to: id)
                progressed = true
            }
            if !progressed { return }
        }
        output.append("error: stabilize did not converge")
    }

    mutating func compact(_ id: NodeID, to index: LogIndex) throws(CommandError) {
        guard let node = nodes[id] else { throw .bad("no node \(id)") }
        let applied = node.applied.filter { $0.index <= index }
        guard let last = applied.last, last.index == index else { throw .bad("node \(id) has not applied \(index)") }
        var data = ByteBuffer()
        data.writeString("state@\(index)")
        let conf = node.core?.membership(at: index) ?? node.storage.latestSnapshot.metadata.conf
        let metadata = SnapshotMetadata(index: index, term: last.term, conf: conf)
        do {
            try node.storage.createSnapshot(Snapshot(metadata: metadata, data: data), compactTo: index)
        } catch {
            throw .bad("compact failed: \(error)")
        }
        output.append("node \(id) log now starts at \(node.storage.firstIndex)")
    }

    mutating func status(_ id: NodeID) throws(CommandError) {
        guard let core = nodes[id]?.core else { throw .bad("node \(id) is down") }
        let s = core.status
        var lines = [
            "\(id): \(s.role.rawValue) term=\(s.term) vote=\(s.vote) leader=\(s.leader.map(String.init) ?? "none") "
                + "log=[\(s.firstIndex),\(s.lastIndex)] commit=\(s.commit) applied=\(s.applied)"
        ]
        for member in s.progress.keys.sorted() {
            let p = s.progress[member]!
            lines.append("  \(member): \(p.state) match=\(p.match) next=\(p.next) inflight=\(p.inflightMessages)")
        }
        output.append(contentsOf: lines)
    }

    mutating func printLog(_ id: NodeID) throws(CommandError) {
        guard let node = nodes[id] else { throw .bad("no node \(id)") }
        let entries =
            (try? node.storage.entries(
                from: node.storage.firstIndex,
                to: node.storage.lastIndex + 1,
                maxBytes: .max
            )) ?? []
        output.append("\(id): " + (entries.isEmpty ? "empty" : Self.describe(entries)))
    }

    static func describe(_ entries: [Entry]) -> String {
        entries.map { entry in
            switch entry.kind {
            case .noop: return "\(entry.index)/\(entry.term) noop"
            case .config:
                let conf = ConfState(entryPayload: entry.payload)
                return
                    "\(entry.index)/\(entry.term) config voters=\(conf?.voters ?? []) learners=\(conf?.learners ?? [])"
            case .normal: return "\(entry.index)/\(entry.term) \(String(buffer: entry.payload))"
            }
        }.joined(separator: ", ")
    }
}

/// The golden transcripts' side of the ready loop: synchronous storage, every step written down. The
/// immediate messages are written down with the ones sent after persisting (after the writes), as they were
/// before the loop was shared; after a storage error the ready's remaining writes are skipped.
struct TranscriptPerformer: RaftReadyPerformer {
    typealias Failure = Never

    var node: InteractionEnv.Node
    var core: RaftCore
    let blocked: Set<[NodeID]>
    /// Nodes that are running (a message to any other is dropped).
    let up: Set<NodeID>
    var output: [String] = []
    /// Messages that reach the mailbox.
    var delivered: [RaftMessage] = []
    private var immediate: [RaftMessage] = []
    private var failed = false

    init(node: InteractionEnv.Node, core: RaftCore, blocked: Set<[NodeID]>, up: Set<NodeID>) {
        self.node = node
        self.core = core
        self.blocked = blocked
        self.up = up
    }

    mutating func send(_ messages: [RaftMessage]) { immediate = messages }

    mutating func persist(snapshot: Snapshot) {
        write {
            $0.output.append("  install snapshot (\(snapshot.metadata.index),\(snapshot.metadata.term))")
            try $0.node.storage.applySnapshot(snapshot)
            $0.node.applied.removeAll()
        }
    }

    mutating func persist(entries: [Entry]) {
        write {
            $0.output.append("  persist entries: \(InteractionEnv.describe(entries))")
            try $0.node.storage.append(entries)
        }
    }

    mutating func persist(hardState state: HardState) {
        write {
            $0.output.append("  persist hard state: term=\(state.term) vote=\(state.vote) commit=\(state.commit)")
            try $0.node.storage.setHardState(state)
        }
    }

    private mutating func write(_ body: (inout Self) throws -> Void) {
        guard !failed else { return }
        do { try body(&self) } catch {
            output.append("  storage error: \(error)")
            failed = true
        }
    }

    mutating func sendAfterPersist(_ messages: [RaftMessage]) {
        for (message, afterPersist) in immediate.map({ ($0, false) }) + messages.map({ ($0, true) }) {
            let partitioned = blocked.contains([message.from, message.to])
            let down = !up.contains(message.to)
            output.append(
                "  send\(afterPersist ? " after persist" : "") \(TraceBuffer.describe(message))"
                    + (partitioned ? " (dropped: partitioned)" : down ? " (dropped: node down)" : "")
            )
            if !partitioned && !down { delivered.append(message) }
        }
    }

    /// The snapshot's state was restored when it was installed (`applied` cleared).
    mutating func restore(_ snapshot: Snapshot) {}

    mutating func apply(_ entries: [Entry]) {
        output.append("  apply: \(InteractionEnv.describe(entries))")
        node.applied.append(contentsOf: entries)
    }

    mutating func advance(_ ready: RaftReady) { core.advance(ready) }
}
