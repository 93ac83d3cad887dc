import FerryNode
import FerryNodeSim
import FerryRaft
import FerrySimulator

#if canImport(Glibc)
    import Glibc
#endif

// ferry-sim: runs the deterministic Raft simulation outside XCTest, for long seed runs, replays and figures.
//
//   ferry-sim run [--queue | --membership] [--seeds N] [--first-seed S] [--events M] [--seed S] [--trace] [--max-failures N]
//
// With --queue every node runs a FerryQueue partition driven by simulated producers and consumers, and the
// queue contract is checked too.
//   ferry-sim elections [--trials N] [--voters 3|5]
//   ferry-sim node [--seeds N] [--first-seed S] [--seed S] [--max-failures N] [--classic] [--max-skew-ms MS] [--wild-clocks-ms MS] [--drain-ms MS] [--membership] [--disk-faults] [--full-disks] [--inline-syncs]
//
// The node mode runs three real nodes (NodeRuntime with FerryStorage on simulated disks) at virtual time with
// crashes, whole-cluster crashes, partitions and lost frames, and checks the clients' view of the queue.
//
// Exit status 1 when a seed fails; the failure names the seed and prints a replay command.

func option(_ name: String, in arguments: [String]) -> String? {
    guard let at = arguments.firstIndex(of: name), at + 1 < arguments.count else { return nil }
    return arguments[at + 1]
}

func number(_ name: String, in arguments: [String], default value: UInt64) -> UInt64 {
    guard let text = option(name, in: arguments) else { return value }
    guard let parsed = UInt64(text) else {
        print("ferry-sim: \(name) needs a whole number, got \(text)")
        exit(2)
    }
    return parsed
}

func monotonicSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

let arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.first ?? "run"

switch command {
case "run":
    let environmentSeeds = ProcessInfoLite.environment("FERRY_SIM_SEEDS").flatMap(UInt64.init) ?? 1_000
    var seeds = number("--seeds", in: arguments, default: environmentSeeds)
    var first = number("--first-seed", in: arguments, default: 1)
    let events = Int(number("--events", in: arguments, default: 2_000))
    let echo = arguments.contains("--trace")
    let maxFailures = Int(number("--max-failures", in: arguments, default: 5))
    let queueMode = arguments.contains("--queue")
    let membershipMode = arguments.contains("--membership")
    if let single = option("--seed", in: arguments).flatMap(UInt64.init) {
        first = single
        seeds = 1
    }
    let started = monotonicSeconds()
    var totalEvents = 0
    var totalTicks: UInt64 = 0
    var acknowledged = 0
    var failures = 0
    var coverage: [SimProbe: Int] = [:]
    var queueCoverage: [QueueProbe: Int] = [:]
    for seed in first..<(first + seeds) {
        SeedReporter.current = seed
        let config =
            queueMode
            ? SimConfig.queueSwarm(seed: seed)
            : membershipMode ? SimConfig.membershipSwarm(seed: seed) : SimConfig.swarm(seed: seed)
        let simulation = Simulation(seed: seed, config: config, echoTrace: echo)
        do {
            let result = try simulation.run(events: events)
            totalEvents += result.events
            totalTicks += result.simulatedTicks
            acknowledged += result.proposalsAcknowledged
            coverage.merge(result.coverage, uniquingKeysWith: +)
            queueCoverage.merge(result.queueCoverage, uniquingKeysWith: +)
        } catch {
            failures += 1
            print(error)
            if queueMode { print("replay: swift run -c release ferry-sim run --queue --seed \(seed) --trace") }
            if membershipMode {
                print("replay: swift run -c release ferry-sim run --membership --seed \(seed) --trace")
            }
            if failures >= maxFailures { break }
        }
    }
    let elapsed = monotonicSeconds() - started
    print(
        "ferry-sim: \(seeds) seeds, \(totalEvents) events (\(events) fault-phase events per seed), "
            + "\(totalTicks) simulated ticks, \(acknowledged) proposals acknowledged"
    )
    print(
        "ferry-sim: \(Double(Int(elapsed * 10)) / 10) s wall, "
            + "\(Int(Double(totalEvents) / max(elapsed, 1e-9))) events/s"
    )
    let missed = SimProbe.allCases.filter {
        coverage[$0] == nil && (membershipMode || !SimProbe.membership.contains($0))
    }
    if !missed.isEmpty && failures == 0 {
        print("ferry-sim: probes never reached: \(missed.map(\.rawValue).joined(separator: ", "))")
    }
    if queueMode {
        let counts = QueueProbe.allCases.map { "\($0.rawValue) \(queueCoverage[$0] ?? 0)" }
        print("ferry-sim: queue probes: \(counts.joined(separator: ", "))")
    }
    print("ferry-sim: \(failures == 0 ? "all seeds passed" : "\(failures) seeds FAILED")")
    exit(failures == 0 ? 0 : 1)
case "node":
    let environmentSeeds = ProcessInfoLite.environment("FERRY_NODE_SIM_SEEDS").flatMap(UInt64.init) ?? 100
    var seeds = number("--seeds", in: arguments, default: environmentSeeds)
    var first = number("--first-seed", in: arguments, default: 1)
    let maxFailures = Int(number("--max-failures", in: arguments, default: 5))
    if let single = option("--seed", in: arguments).flatMap(UInt64.init) {
        first = single
        seeds = 1
    }
    // --classic: the faults before pauses and graceful restarts (how the regression seeds run).
    var config: NodeSimulation.Config = arguments.contains("--classic") ? .classic : NodeSimulation.Config()
    // --max-skew-ms: the largest wall clock error a node is given (default 250 ms).
    if let skew = option("--max-skew-ms", in: arguments).flatMap(Int64.init) { config.maxClockSkewMs = skew }
    // --wild-clocks-ms: one node at a time gets a wall clock off by up to this much (clock jumps, issue 18).
    if let wild = option("--wild-clocks-ms", in: arguments).flatMap(Int64.init) { config.wildClockSkewMs = wild }
    // --drain-ms: how long the consumers drain after the faults heal (default 4,000 ms).
    if let drain = option("--drain-ms", in: arguments).flatMap(Int64.init) { config.drainMs = max(1_500, drain) }
    // --membership: nodes join and leave during the run (issue 16).
    config.membership = arguments.contains("--membership")
    // --disk-faults: bit flips and truncations of a killed node's files (issue 18).
    config.diskFaults = arguments.contains("--disk-faults")
    // --full-disks: one node's disk or every node's full for a while (issue 18).
    config.fullDisks = arguments.contains("--full-disks")
    // --inline-syncs: every group commit finishes in its round (how the seeds found before issue 19 replay).
    if arguments.contains("--inline-syncs") { config.deferredSyncs = false }
    NodeLog.muted = true
    let started = monotonicSeconds()
    var failures = 0
    var acknowledged = 0
    var delivered = 0
    var deadLettered = 0
    var rounds = 0
    var faults: [String: Int] = [:]
    var digest: UInt64 = 0
    for seed in first..<(first + seeds) {
        let report = NodeSimulation(seed: seed, config: config).run()
        acknowledged += report.acknowledged
        delivered += report.delivered
        deadLettered += report.deadLettered
        rounds += report.rounds
        faults.merge(report.faults, uniquingKeysWith: +)
        digest = (digest ^ report.digest) &* 0x100_0000_01b3
        if !report.violations.isEmpty {
            failures += 1
            print("node seed \(seed) FAILED:")
            for violation in report.violations.prefix(10) { print("  \(violation)") }
            let flags =
                (config.nodeFaults ? "" : " --classic")
                + (config.maxClockSkewMs == NodeSimulation.Config().maxClockSkewMs
                    ? "" : " --max-skew-ms \(config.maxClockSkewMs)")
                + (config.wildClockSkewMs == 0 ? "" : " --wild-clocks-ms \(config.wildClockSkewMs)")
                + (config.drainMs == NodeSimulation.Config().drainMs ? "" : " --drain-ms \(config.drainMs)")
                + (config.membership ? " --membership" : "")
                + (config.diskFaults ? " --disk-faults" : "")
                + (config.fullDisks ? " --full-disks" : "")
                + (config.deferredSyncs || !config.nodeFaults ? "" : " --inline-syncs")
            print("replay: swift run -c release ferry-sim node --seed \(seed)\(flags)")
            if failures >= maxFailures { break }
        }
    }
    let elapsed = monotonicSeconds() - started
    let faultCounts = faults.keys.sorted().map { "\($0) \(faults[$0]!)" }.joined(separator: ", ")
    print(
        "ferry-sim node: \(seeds) seeds, \(rounds) node rounds, \(acknowledged) sends acknowledged, "
            + "\(delivered) delivered, \(deadLettered) dead-lettered; faults: \(faultCounts)"
    )
    print(
        "ferry-sim node: \(Double(Int(elapsed * 10)) / 10) s wall, "
            + "\(Double(Int(Double(seeds) / max(elapsed, 1e-9) * 10)) / 10) seeds/s, digest \(String(digest, radix: 16))"
    )
    print("ferry-sim node: \(failures == 0 ? "all seeds passed" : "\(failures) seeds FAILED")")
    exit(failures == 0 ? 0 : 1)
case "elections":
    let trials = Int(number("--trials", in: arguments, default: 1_000))
    let voters = Int(number("--voters", in: arguments, default: 3))
    let stats = ElectionBenchmark.run(trials: trials, voters: voters, seed: number("--seed", in: arguments, default: 1))
    print(stats.report)
default:
    print(
        "usage: ferry-sim run [--queue | --membership] [--seeds N] [--first-seed S] [--events M] [--seed S] [--trace] [--max-failures N]"
    )
    print("       ferry-sim elections [--trials N] [--voters 3|5]")
    print("       ferry-sim node [--seeds N] [--first-seed S] [--seed S] [--max-failures N] [--classic]")
    print("                      [--max-skew-ms MS] [--drain-ms MS]")
    exit(2)
}
