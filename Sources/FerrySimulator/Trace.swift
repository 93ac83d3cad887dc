import FerryRaft
import NIOCore

/// What happened at one step of a run; rendered to text only when someone reads the trace.
enum TraceEvent {
    case deliver(RaftMessage)
    case dropped(RaftMessage, reason: String)
    case tick(NodeID)
    case sync(NodeID, writes: Int)
    case note(String)
}

/// The last `capacity` events of a run, for the failure report. With `echo`, every event is printed as it
/// happens (a replay of one seed with `--trace`).
struct TraceBuffer {
    let capacity: Int
    let echo: Bool
    private var records: [(time: UInt64, event: TraceEvent)] = []
    private var start = 0

    init(capacity: Int, echo: Bool) {
        self.capacity = capacity
        self.echo = echo
        records.reserveCapacity(capacity)
    }

    mutating func record(_ time: UInt64, _ event: TraceEvent) {
        if echo { print(Self.render(time, event)) }
        if records.count < capacity {
            records.append((time, event))
        } else {
            records[start] = (time, event)
            start = (start + 1) % capacity
        }
    }

    func lines() -> [String] {
        let ordered = Array(records[start...]) + Array(records[..<start])
        return ordered.map { Self.render($0.time, $0.event) }
    }

    static func render(_ time: UInt64, _ event: TraceEvent) -> String {
        let t = "t=\(time)"
        switch event {
        case .deliver(let m): return "\(t) deliver \(describe(m))"
        case .dropped(let m, let reason): return "\(t) drop(\(reason)) \(describe(m))"
        case .tick(let node): return "\(t) tick \(node)"
        case .sync(let node, let writes): return "\(t) fsync \(node) (\(writes) writes durable)"
        case .note(let text): return "\(t) \(text)"
        }
    }

    /// A one-line description of a message, shared with the golden transcripts.
    static func describe(_ m: RaftMessage) -> String {
        "\(m.from)->\(m.to) \(m.body.name) term=\(m.term)\(describeBody(m.body))"
    }

    static func describeBody(_ body: RaftMessage.Body) -> String {
        switch body {
        case .preVote(let lastIndex, let lastTerm):
            return " last=(\(lastIndex),\(lastTerm))"
        case .requestVote(let lastIndex, let lastTerm, let transfer):
            return " last=(\(lastIndex),\(lastTerm))\(transfer ? " transfer" : "")"
        case .preVoteResponse(let granted), .requestVoteResponse(let granted):
            return granted ? " granted" : " rejected"
        case .append(let request):
            let entries = request.entries.map { "\($0.index)/\($0.term)\($0.kind == .noop ? " noop" : "")" }
            return " prev=(\(request.prevIndex),\(request.prevTerm)) commit=\(request.commit)"
                + " entries=[\(entries.joined(separator: ", "))]"
        case .appendResponse(let response):
            if response.reject {
                return " reject index=\(response.index) hint=(\(response.hintIndex),\(response.hintTerm))"
            }
            return " index=\(response.index)"
        case .heartbeat(let commit):
            return " commit=\(commit)"
        case .heartbeatResponse, .timeoutNow:
            return ""
        case .snapshotChunk(let chunk):
            return " snapshot=(\(chunk.metadata.index),\(chunk.metadata.term)) bytes=\(chunk.offset)+"
                + "\(chunk.data.readableBytes)/\(chunk.totalBytes)"
        case .snapshotChunkResponse(let index, let term, let nextOffset):
            return " snapshot=(\(index),\(term)) next=\(nextOffset)"
        }
    }
}
