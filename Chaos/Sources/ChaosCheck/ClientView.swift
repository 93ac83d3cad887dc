/// One fault as the clients saw it (issue 18). `longestSendMs`: the longest wait, first attempt to
/// acknowledgement (or to the run's end), of a plain producer's send that was waiting at the fault or began in its
/// window. `slowSeconds`: the longest run of whole seconds in the window whose acknowledged sends fell below half
/// the steady rate; `silentSeconds`: those with none at all. `blockedProducers` of `producers` had a send wait a
/// second or more in the window: the producers are closed loops (one send at a time, queues in turn), so when
/// all of them block on the partitions a fault stopped, the whole workload stops although other partitions
/// serve; the gap between `worstUnavailabilityMs` (the cluster's first answer) and these is that blocking.
/// `acknowledgedSends`: the sends (sessions' included) acknowledged in the window.
public struct ClientView: Sendable, Hashable {
    public var atMs: Int64
    public var longestSendMs: Int64 = 0
    public var acknowledgedSends = 0
    public var slowSeconds = 0
    public var silentSeconds = 0
    public var blockedProducers = 0
    public var producers: Int

    public init(atMs: Int64, producers: Int) {
        self.atMs = atMs
        self.producers = producers
    }
}

extension Checker {
    /// The clients' view of each fault (issue 18): how long the sends it touched waited, from their first
    /// attempt to their acknowledgement, and how far the acknowledged sends per second fell below the steady rate.
    /// A fault's window is from it to the next fault (at most 10 s).
    static func measureClientView(_ sends: [Send], _ faults: [HistoryEvent], _ endT: Int64, _ report: inout CheckReport)
    {
        // Logical sends: a process's consecutive attempts of one body (its retries), from the first attempt to
        // the answer of the last (`ok`, a refusal, or the last unknown outcome; the run's end when unanswered).
        var logical: [(process: String, firstT: Int64, doneT: Int64, acknowledged: Bool)] = []
        var open: [String: (body: String, index: Int)] = [:]
        for send in sends.filter({ $0.sessionIndex == nil }).sorted(by: { $0.invokeT < $1.invokeT }) {
            let doneT = min(send.completeT, endT)
            if let current = open[send.process], current.body == send.body, !logical[current.index].acknowledged {
                logical[current.index].doneT = doneT
                logical[current.index].acknowledged = send.outcome == .ok
                continue
            }
            logical.append((send.process, send.invokeT, doneT, send.outcome == .ok))
            open[send.process] = (send.body, logical.count - 1)
        }
        let producers = Set(logical.map(\.process)).count
        // Acknowledged sends per second (sessions included), and the steady rate: the median second.
        let seconds = Int(max(0, endT) / 1_000) + 1
        var perSecond = [Int](repeating: 0, count: seconds)
        for send in sends where send.outcome == .ok && send.completeT >= 0 && send.completeT < endT {
            perSecond[Int(send.completeT / 1_000)] += 1
        }
        // The first and last seconds are partial (start-up, drain): the steady rate comes from the rest.
        let middle = perSecond.count > 4 ? Array(perSecond[2..<(perSecond.count - 2)]) : perSecond
        let steady = middle.sorted()[middle.count / 2]
        report.steadySendsPerSecond = steady
        let ordered = faults.sorted { $0.t < $1.t }
        for (position, fault) in ordered.enumerated() {
            let next = position + 1 < ordered.count ? ordered[position + 1].t : endT
            let windowEnd = min(next, fault.t + 10_000, endT)
            var view = ClientView(atMs: fault.t, producers: producers)
            var blocked: Set<String> = []
            for send in logical where send.firstT <= windowEnd && send.doneT > fault.t {
                let waited = send.doneT - send.firstT
                view.longestSendMs = max(view.longestSendMs, waited)
                if waited >= 1_000 { blocked.insert(send.process) }
            }
            view.blockedProducers = blocked.count
            view.acknowledgedSends =
                sends.filter {
                    $0.outcome == .ok && $0.completeT >= fault.t && $0.completeT < windowEnd
                }.count
            // Whole seconds in the window below half the steady rate: the longest run of them.
            var run = 0
            var second = Int((fault.t + 999) / 1_000)
            while second < perSecond.count && Int64(second) * 1_000 < windowEnd {
                if perSecond[second] * 2 < steady {
                    run += 1
                    view.slowSeconds = max(view.slowSeconds, run)
                    if perSecond[second] == 0 { view.silentSeconds += 1 }
                } else {
                    run = 0
                }
                second += 1
            }
            report.clientView[fault.fault ?? "?", default: []].append(view)
        }
    }
}
