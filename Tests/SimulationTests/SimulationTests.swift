import FerryRaft
import FerrySimulator
import Foundation
import Testing

/// The deterministic simulation: CI runs `FERRY_SIM_SEEDS` swarm seeds (default 1,000) of `FERRY_SIM_EVENTS`
/// fault-phase events (default 2,000) each, plus every regression seed. A long run is
/// `FERRY_SIM_SEEDS=100000 swift run -c release ferry-sim run` (see README).
@Suite struct SimulationTests {
    static func environment(_ name: String, default value: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap(Int.init) ?? value
    }

    static let events = environment("FERRY_SIM_EVENTS", default: 2_000)
    static let ciSeeds: ClosedRange<UInt64> = 1...UInt64(environment("FERRY_SIM_SEEDS", default: 1_000))

    static func run(_ seed: UInt64) {
        do {
            _ = try Simulation(seed: seed).run(events: events)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test(arguments: RegressionSeeds.all)
    func regressionSeedPasses(_ seed: UInt64) {
        Self.run(seed)
    }

    @Test(arguments: ciSeeds)
    func swarmSeedPasses(_ seed: UInt64) {
        Self.run(seed)
    }

    static let membershipSeeds: ClosedRange<UInt64> = 1...UInt64(environment("FERRY_MEMBERSHIP_SEEDS", default: 1_000))

    /// Membership changes under the swarm's faults (`SimConfig.membershipSwarm`): `FERRY_MEMBERSHIP_SEEDS` seeds
    /// (default 1,000) and every membership regression seed.
    @Test(arguments: RegressionSeeds.membership + Array(membershipSeeds))
    func membershipSeedPasses(_ seed: UInt64) {
        do {
            _ = try Simulation(seed: seed, config: .membershipSwarm(seed: seed)).run(events: Self.events)
        } catch {
            Issue.record("\(error)")
        }
    }

    /// Membership seeds reach every membership path: joins, promotions, removals, a leader removing itself, and
    /// a second change refused while the first is pending.
    @Test func membershipRunsReachEveryMembershipProbe() throws {
        var coverage: [SimProbe: Int] = [:]
        for seed in UInt64(1)...100 {
            let result = try Simulation(seed: seed, config: .membershipSwarm(seed: seed)).run(events: 2_000)
            coverage.merge(result.coverage, uniquingKeysWith: +)
        }
        let missed = SimProbe.membership.filter { coverage[$0] == nil }
        #expect(missed.isEmpty, "membership probes never reached in 100 seeds: \(missed)")
    }

    /// A failing seed must replay exactly: two runs of one seed do the same thing.
    @Test func sameSeedReplaysExactly() throws {
        let first = try Simulation(seed: 77).run(events: 1_500)
        let second = try Simulation(seed: 77).run(events: 1_500)
        #expect(first.events == second.events)
        #expect(first.simulatedTicks == second.simulatedTicks)
        #expect(first.proposalsAcknowledged == second.proposalsAcknowledged)
        #expect(first.highestCommitted == second.highestCommitted)
    }

    /// The simulation does reach the interesting states: commits, leader changes, faults, and every path
    /// the coverage probes name (snapshot transfers, transfers, rejections, torn writes, back-pressure…).
    @Test func swarmRunsReachEveryProbe() throws {
        var acknowledged = 0
        var faults = 0
        var terms = 0
        var coverage: [SimProbe: Int] = [:]
        for seed in UInt64(1)...60 {
            let result = try Simulation(seed: seed).run(events: 2_000)
            acknowledged += result.proposalsAcknowledged
            faults += result.faults
            terms += result.leaderTerms
            coverage.merge(result.coverage, uniquingKeysWith: +)
        }
        #expect(acknowledged > 600)
        #expect(faults > 60)
        #expect(terms > 120)
        let missed = SimProbe.allCases.filter { coverage[$0] == nil && !SimProbe.membership.contains($0) }
        #expect(missed.isEmpty, "probes never reached in 60 seeds: \(missed)")
    }

    /// With default timeouts and no faults but leader crashes, a new leader follows within about one and a
    /// half election timeouts in the median.
    @Test func failoverElectsNewLeaderWithinBoundedTicks() {
        let stats = ElectionBenchmark.run(trials: 50, voters: 3, seed: 5)
        #expect(stats.trials == 50)
        #expect(stats.percentile(99) < Double(4 * stats.electionTimeoutTicks))
    }
}
