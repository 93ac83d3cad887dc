import NIOConcurrencyHelpers

/// The last hour of each queue's figures on this node, for the console's charts: one sample per queue every
/// `spacingMs`, taken by a sampler that runs while the status API was used in the last hour (a node nobody
/// watches asks its partitions for nothing), plus the figures each status document reads anyway. Rates are the
/// differences of the replicated totals (sent, received, deleted), so they are right whichever node leads.
package final class QueueHistory: Sendable {
    struct Sample: Sendable, Equatable {
        var atMs: Int64
        var visible: Int
        var inFlight: Int
        var sent: UInt64
        var received: UInt64
        var deleted: UInt64
    }

    static let spacingMs: Int64 = 10_000
    package static let keepMs: Int64 = 3_600_000

    private struct State {
        var samples: [String: [Sample]] = [:]
        var lastUseMs: Int64 = 0
        var sampling = false
    }

    private let state = NIOLockedValueBox(State())

    /// The status API was used at `wallMs`: the sampler goes on for an hour from then.
    func touched(wallMs: Int64) { state.withLockedValue { $0.lastUseMs = wallMs } }

    /// Starts the sampler, once. It holds the history only while it samples: when the console is gone (its
    /// node stopped), the next wake-up ends it.
    func startSampling(_ reader: StatusReader) {
        let start = state.withLockedValue { state -> Bool in
            guard !state.sampling else { return false }
            state.sampling = true
            return true
        }
        guard start else { return }
        Task.detached { [weak self] in
            while true {
                try? await Task.sleep(nanoseconds: UInt64(QueueHistory.spacingMs) * 1_000_000)
                guard let self else { return }
                let now = ConsoleAPI.wallMs()
                guard now - self.state.withLockedValue({ $0.lastUseMs }) < Self.keepMs else { continue }
                if let queues = try? await reader.queues() { self.record(queues, atMs: ConsoleAPI.wallMs()) }
            }
        }
    }

    package init() {}

    /// Records the figures of queues that were read (not those whose `error` says they were not). A queue's
    /// sample closer than half the spacing to its last one is dropped; samples older than an hour are forgotten.
    package func record(_ queues: [StatusReports.Queue], atMs: Int64) {
        state.withLockedValue { state in
            for queue in queues where queue.error == nil {
                var samples = state.samples[queue.name] ?? []
                if let last = samples.last, atMs - last.atMs < Self.spacingMs / 2 { continue }
                // A total that went down is a queue deleted and created again under the same name.
                if let last = samples.last, queue.sent < last.sent { samples = [] }
                samples.append(
                    Sample(
                        atMs: atMs,
                        visible: queue.visible,
                        inFlight: queue.inFlight,
                        sent: queue.sent,
                        received: queue.received,
                        deleted: queue.deleted
                    )
                )
                samples.removeFirst(samples.prefix { atMs - $0.atMs > Self.keepMs }.count)
                state.samples[queue.name] = samples
            }
        }
    }

    /// The queue's samples as chart points, oldest first.
    package func points(_ name: String) -> [StatusReports.HistoryPoint] {
        let samples = state.withLockedValue { $0.samples[name] ?? [] }
        return Self.points(samples)
    }

    static func points(_ samples: [Sample]) -> [StatusReports.HistoryPoint] {
        var points: [StatusReports.HistoryPoint] = []
        for (index, sample) in samples.enumerated() {
            var point = StatusReports.HistoryPoint(
                atMs: sample.atMs,
                visible: sample.visible,
                inFlight: sample.inFlight,
                sentPerSecond: 0,
                receivedPerSecond: 0,
                deletedPerSecond: 0
            )
            if index > 0 {
                let previous = samples[index - 1]
                let seconds = Double(max(1, sample.atMs - previous.atMs)) / 1_000
                func rate(_ now: UInt64, _ before: UInt64) -> Double {
                    now >= before ? Double(now - before) / seconds : 0
                }
                point.sentPerSecond = rate(sample.sent, previous.sent)
                point.receivedPerSecond = rate(sample.received, previous.received)
                point.deletedPerSecond = rate(sample.deleted, previous.deleted)
            }
            points.append(point)
        }
        return points
    }
}
