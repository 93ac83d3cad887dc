import FerryRaft
import NIOCore

/// A core with its in-memory log, persisted synchronously: what most rule tests need.
struct TestNode {
    var core: RaftCore
    let storage: MemoryLog

    init(id: NodeID, voters: [NodeID] = [1, 2, 3], learners: [NodeID] = [], config: RaftConfig = RaftConfig()) {
        storage = MemoryLog(conf: ConfState(voters: voters, learners: learners))
        core = try! RaftCore(id: id, config: config, storage: storage, randomSeed: id)
    }

    init(id: NodeID, storage: MemoryLog, config: RaftConfig = RaftConfig()) {
        self.storage = storage
        core = try! RaftCore(id: id, config: config, storage: storage, randomSeed: id)
    }

    /// Takes one ready, persists it, advances, and returns it.
    @discardableResult
    mutating func persist() -> RaftReady {
        let ready = core.ready()
        if let snapshot = ready.snapshot { try! storage.applySnapshot(snapshot) }
        try! storage.append(ready.entries)
        if let state = ready.hardState { try! storage.setHardState(state) }
        core.advance(ready)
        return ready
    }

    /// Steps a message and returns every message it causes (immediate and after persisting), persisting.
    mutating func handle(_ message: RaftMessage) -> [RaftMessage] {
        core.step(message)
        return drain()
    }

    /// Persists every pending ready and returns all messages sent meanwhile.
    mutating func drain() -> [RaftMessage] {
        var sent: [RaftMessage] = []
        while core.hasReady {
            let ready = persist()
            sent += ready.messages + ready.messagesAfterPersist
        }
        return sent
    }

    /// Wins an election by granted votes (every other member grants each pre-vote and vote) but delivers no
    /// append: the leader's no-op stays uncommitted.
    mutating func becomeLeaderWithoutCommitting() {
        core.campaign()
        for _ in 0..<3 {
            for message in drain() {
                switch message.body {
                case .preVote:
                    core.step(msg(message.to, core.id, message.term, .preVoteResponse(granted: true)))
                case .requestVote:
                    core.step(msg(message.to, core.id, message.term, .requestVoteResponse(granted: true)))
                default:
                    break
                }
            }
        }
    }

    /// Makes this node leader of a cluster whose other members answer every vote with a grant.
    mutating func becomeLeader() {
        becomeLeaderWithoutCommitting()
        precondition(core.isLeader, "test node did not become leader")
        _ = drain()
    }
}

func bytes(_ text: String) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeString(text)
    return buffer
}

func entry(_ index: LogIndex, _ term: Term, _ text: String = "") -> Entry {
    Entry(index: index, term: term, kind: .normal, payload: bytes(text))
}

func msg(_ from: NodeID, _ to: NodeID, _ term: Term, _ body: RaftMessage.Body) -> RaftMessage {
    RaftMessage(from: from, to: to, term: term, body: body)
}

/// A log that already holds `terms[i]` at index i+1, with the hard state at the last term.
func storage(terms: [Term], voters: [NodeID] = [1, 2, 3], commit: LogIndex = 0) -> MemoryLog {
    let log = MemoryLog(conf: ConfState(voters: voters))
    try! log.append(terms.enumerated().map { entry(LogIndex($0.offset + 1), $0.element, "e\($0.offset + 1)") })
    try! log.setHardState(HardState(term: terms.last ?? 0, vote: 0, commit: commit))
    return log
}
