import FerryRaft

/// Measures simulated election time with default timeouts and no faults but the leader's crash: how many
/// ticks pass between the leader's death and a new leader that every running node follows.
public enum ElectionBenchmark {
    public struct Stats: Sendable {
        public var trials: Int
        public var voters: Int
        public var electionTimeoutTicks: Int
        /// Ticks from the crash of the leader to the next stable leader, sorted.
        public var failoverTicks: [Double]

        public func percentile(_ p: Double) -> Double {
            guard !failoverTicks.isEmpty else { return 0 }
            let rank = Int((p / 100 * Double(failoverTicks.count)).rounded(.up)) - 1
            return failoverTicks[min(max(rank, 0), failoverTicks.count - 1)]
        }

        public var report: String {
            func f(_ x: Double) -> String { String(Int((x * 10).rounded())).withDecimal }
            return
                "elections: \(trials) leader crashes, \(voters) voters, electionTimeoutTicks=\(electionTimeoutTicks) "
                + "(randomized \(electionTimeoutTicks)..<\(2 * electionTimeoutTicks)), pre-vote and check-quorum on\n"
                + "elections: failover ticks p50=\(f(percentile(50))) p90=\(f(percentile(90))) "
                + "p99=\(f(percentile(99))) max=\(f(failoverTicks.last ?? 0))"
        }
    }

    public static func run(trials: Int, voters: Int, seed: UInt64) -> Stats {
        let config = SimConfig.quiet(voters: voters)
        let simulation = Simulation(seed: seed, config: config)
        var samples: [Double] = []
        do {
            try simulation.start()
            for _ in 0..<trials {
                // Let the cluster settle: a stable leader for a few election timeouts.
                let settle = simulation.now + 3 * UInt64(config.raft.electionTimeoutTicks) * config.tickInterval
                while simulation.now < settle || !simulation.hasStableLeader() { try simulation.step() }
                guard let leader = simulation.currentLeader else { break }
                let oldTerm = simulation.nodes[simulation.index(leader)].core!.term
                let crashedAt = simulation.now
                try simulation.crash(leader)
                while true {
                    try simulation.step()
                    if simulation.hasStableLeader(), let next = simulation.currentLeader,
                        simulation.nodes[simulation.index(next)].core!.term > oldTerm
                    {
                        break
                    }
                }
                samples.append(Double(simulation.now - crashedAt) / Double(config.tickInterval))
                try simulation.startNode(leader)
            }
        } catch {
            print("elections: simulation failed: \(error)")
        }
        return Stats(
            trials: samples.count,
            voters: voters,
            electionTimeoutTicks: config.raft.electionTimeoutTicks,
            failoverTicks: samples.sorted()
        )
    }
}

extension String {
    /// "123" (tenths) → "12.3".
    fileprivate var withDecimal: String {
        let digits = self.count < 2 ? String(repeating: "0", count: 2 - self.count) + self : self
        return String(digits.dropLast()) + "." + String(digits.last!)
    }
}
