import FerryNode
import FerryNodeSim
import Testing

/// The node simulated (`NodeSimulation`): real nodes at virtual time under faults, checked from the clients'
/// side. CI runs many more seeds with `ferry-sim node` (Tests/run's `node-sim` step).
@Suite(.serialized) struct NodeSimulationTests {
    init() { NodeLog.muted = true }

    /// Seeds that caught a node bug when its fix was reverted; each must pass. They replay under the faults
    /// they were found with (`Config.classic`: before pauses and graceful restarts).
    @Test(arguments: NodeRegressionSeeds.all)
    func aRegressionSeedPasses(_ seed: UInt64) {
        let report = NodeSimulation(seed: seed, config: .classic).run()
        #expect(report.violations.isEmpty, "seed \(seed): \(report.violations.prefix(5))")
        #expect(report.acknowledged > 0 && report.delivered > 0, "seed \(seed) did some work")
    }

    /// The same seed replays exactly: every answer the clients got, in the same order at the same time.
    @Test func aSeedReplaysExactly() {
        let first = NodeSimulation(seed: 7).run()
        let second = NodeSimulation(seed: 7).run()
        #expect(first.digest == second.digest && first.rounds == second.rounds)
        #expect(first.faults == second.faults)
    }

    /// A few seeds of the swarm, with every kind of fault among them.
    @Test func aSmallSwarmPassesWithEveryFault() {
        var faults: [String: Int] = [:]
        var deadLettered = 0
        for seed in UInt64(1)...12 {
            let report = NodeSimulation(seed: seed).run()
            #expect(report.violations.isEmpty, "seed \(seed): \(report.violations.prefix(5))")
            faults.merge(report.faults, uniquingKeysWith: +)
            deadLettered += report.deadLettered
        }
        #expect(
            Set(faults.keys) == ["crash", "crash all", "partition", "heal partition", "pause", "graceful restart"]
        )
        #expect(deadLettered > 0, "messages went through the dead-letter queue")
    }
}

/// Node seeds that once failed, with the fix each one guards (found by reverting the fix and running
/// `ferry-sim node`; they fail again when it is reverted).
enum NodeRegressionSeeds {
    static let all: [UInt64] = [
        337,  // only the caught-up metadata leader hearing a majority answers queueNotFound (chaos kill-all)
        388,  // same
        428,  // same
        740,  // a follower quiesces only if it holds the commit index the quiesce frame carries (chaos resets)
    ]
}
