import ChaosCheck
import ChaosCluster
import FerryClient
import FerryModel
import FerryWire
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#endif

/// ferry-chaos SCENARIO.yaml [--out DIR] [--duration SECONDS] [--seed N] [--base B] [--keep] [--fail-fast]
///
/// Starts a cluster with Cluster/local, runs the scenario's workload and nemesis, heals, drains, compares the
/// replicas, checks the history and writes the report into the run's directory. Exit status 1 when the
/// checker finds a violation (or the run could not be made), 0 otherwise.
struct Arguments {
    var scenario = ""
    var out: String?
    var duration: Int?
    var seed: UInt64?
    var base = 100
    var keep = false
    /// After the heal, end at once (no drain, no replica comparison) if the history already proves a violation
    /// that later events cannot undo: for runs against broken nodes, whose drain may never finish.
    var failFast = false
    /// Check an earlier run's directory again (its history.jsonl) instead of running.
    var check: String?

    static func parse(_ list: [String]) throws -> Arguments {
        var a = Arguments()
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < list.count else { throw ScenarioError("\(list[i - 1]) needs a value") }
            return list[i]
        }
        while i < list.count {
            switch list[i] {
            case "--out": a.out = try value()
            case "--duration": a.duration = Int(try value())
            case "--seed": a.seed = UInt64(try value())
            case "--base": a.base = Int(try value()) ?? a.base
            case "--keep": a.keep = true
            case "--fail-fast": a.failFast = true
            case "--check": a.check = try value()
            case "-h", "--help":
                print(
                    "usage: ferry-chaos SCENARIO.yaml [--out DIR] [--duration SECONDS] [--seed N] [--base B] [--keep]"
                        + " [--fail-fast]"
                )
                exit(0)
            default: a.scenario = list[i]
            }
            i += 1
        }
        guard !a.scenario.isEmpty else { throw ScenarioError("give a scenario file (Chaos/scenarios/*.yaml)") }
        return a
    }
}

func log(_ text: String) {
    FileHandle.standardError.write(Data("ferry-chaos: \(text)\n".utf8))
}

func run() throws -> Bool {
    let arguments = try Arguments.parse(Array(CommandLine.arguments.dropFirst()))
    var scenario = try Scenario.load(arguments.scenario)
    if let duration = arguments.duration { scenario.durationSeconds = duration }
    if let seed = arguments.seed { scenario.seed = seed }
    if let directory = arguments.check { return try recheck(directory, scenario: scenario, base: arguments.base) }
    let root = ProcessInfo.processInfo.environment["FERRY_ROOT"] ?? FileManager.default.currentDirectoryPath
    guard FileManager.default.isExecutableFile(atPath: root + "/Cluster/local") else {
        throw ScenarioError("run from the checkout (no Cluster/local in \(root)) or set FERRY_ROOT")
    }
    let binary = ProcessInfo.processInfo.environment["FERRY_BIN"] ?? root + "/.build/release/ferry"
    let stamp = Int(Date().timeIntervalSince1970)
    let out = arguments.out ?? root + "/.chaos/\(scenario.name)-\(stamp)"
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let cluster = LocalClusterControl(
        root: root,
        directory: out + "/cluster",
        base: arguments.base,
        nodes: scenario.nodes,
        binary: binary
    )
    log(
        "\(scenario.name): \(scenario.nodes) nodes on 127.0.0.\(arguments.base + 1)…, \(scenario.durationSeconds) s, into \(out)"
    )
    // With delay or drop faults, the members advertise port 7150, where the proxy listens and relays to the
    // nodes' real peer listeners on 7100.
    var proxy: PeerProxy?
    var extra = scenario.fsync == "always" ? "" : "fsync: \(scenario.fsync)"
    if !scenario.nodeConfig.isEmpty { extra += "\n" + scenario.nodeConfig }
    if scenario.usesStorageFaults {
        extra += "\nstorage_faults:\n  power_loss: \(scenario.usesPowerLoss)"
    }
    if scenario.usesClockJumps { setenv("FERRY_FAKETIME_DIR", out + "/clocks", 1) }
    if scenario.usesProxy {
        setenv("FERRY_PEER_PORT", "7150", 1)
        extra += "\npeer_listen_port: 7100"
        proxy = try PeerProxy(hosts: (1...scenario.nodes).map(cluster.host), listenPort: 7150, targetPort: 7100)
    }
    try cluster.up(extra: extra)
    defer {
        if !arguments.keep { cluster.down() }
        proxy?.stop()
    }

    // Queues: the first sends dead letters to the dead-letter queue.
    let w = scenario.workload
    var options = FerryClient.Options()
    options.retryDeadlineMs = 20_000
    let admin = try FerryClient(endpoints: cluster.endpoints, options: options)
    let deadLetterQueue = "chaos-dlq.fifo"
    var attributes = QueueAttributes()
    attributes.dedupWindowMs = Int64(w.dedupWindowSeconds) * 1_000
    attributes.visibilityTimeoutSeconds = w.visibilityTimeoutSeconds
    // Creating is idempotent: a call with no answer (a fresh cluster still electing and balancing its leaders,
    // or a broken node under test) is made again for up to a minute rather than ending the run before it began.
    func create(_ name: String, partitions: UInt32, _ attributes: QueueAttributes) throws {
        let deadline = DispatchTime.now().uptimeNanoseconds + 60_000_000_000
        while true {
            do {
                _ = try admin.createQueue(name, partitions: partitions, attributes: attributes)
                return
            } catch .timeout(let detail), .unreachable(let detail) {
                guard DispatchTime.now().uptimeNanoseconds < deadline else { throw FerryClientError.timeout(detail) }
                log("creating \(name): \(detail); again")
                usleep(200_000)
            }
        }
    }
    try create(deadLetterQueue, partitions: 2, attributes)
    let queues = (0..<w.queues).map { "chaos-\($0).fifo" }
    for (at, queue) in queues.enumerated() {
        var queueAttributes = attributes
        if at == 0 {
            queueAttributes.redrivePolicy = RedrivePolicy(
                deadLetterQueue: deadLetterQueue,
                maxReceiveCount: w.maxReceiveCount
            )
        }
        try create(queue, partitions: w.partitions, queueAttributes)
    }

    let recorder = Recorder()
    let workload = WorkloadRunner(
        scenario: scenario,
        recorder: recorder,
        endpoints: cluster.endpoints,
        queues: queues,
        deadLetterQueue: deadLetterQueue
    )
    let nemesis = NemesisRunner(scenario: scenario, cluster: cluster, recorder: recorder, queues: queues)
    nemesis.proxy = proxy
    let endMs = Int64(scenario.durationSeconds) * 1_000
    workload.start()
    nemesis.start(until: endMs)
    while recorder.now < endMs {
        usleep(1_000_000)
        let seconds = recorder.now / 1_000
        if seconds % 10 == 0 { log("\(seconds) s: \(recorder.acknowledged) sends acknowledged") }
    }
    nemesis.wait()
    nemesis.healAll()
    log("healed; stopping producers")
    workload.stopProducers()
    if arguments.failFast {
        // Overwritten positions, order violations and duplicate enqueues stay proven whatever comes later.
        let final: Set<Violation.Kind> = [.overwritten, .order, .duplicate]
        var early = Checker.check(recorder.history, model: checkModel(scenario))
        if early.violations.contains(where: { final.contains($0.kind) }) {
            // Without the drain, messages not yet consumed would count as lost: losses are left out.
            early.violations.removeAll { $0.kind == .lost }
            workload.stopConsumers()
            try recorder.write(to: out + "/history.jsonl")
            try Report.write(
                to: out,
                scenario: scenario,
                report: early,
                history: recorder.history,
                durationMs: recorder.now
            )
            print(Report.table(scenario, early, durationMs: recorder.now), terminator: "")
            print(
                "stopped after the heal (--fail-fast): the history already proves violations; no drain, so losses"
                    + " are not counted"
            )
            print("report: \(out)/report.html")
            return false
        }
    }
    workload.draining.withLockedValue { $0 = true }

    // Drain: consumers go on until every queue is empty (twice in a row) or two minutes pass.
    var empty = 0
    let drainEnd = recorder.now + 120_000
    while empty < 2 && recorder.now < drainEnd {
        usleep(1_000_000)
        var left = 0
        for queue in queues + [deadLetterQueue] {
            guard let (s, _) = try? admin.statistics(queue) else {
                left += 1
                continue
            }
            left += s.visible + s.inFlight + s.delayed + s.outbox
        }
        empty = left == 0 ? empty + 1 : 0
        log("draining: \(left) messages left")
    }
    workload.stopConsumers()
    let durationMs = recorder.now

    // Replicas: every group's applied index and state digest on every node, once they agree on the index.
    var model = checkModel(scenario)
    let description = try? admin.describe()
    model.replicaSets = replicaSets(description, nodes: cluster.nodes)
    let groups = model.replicaSets.keys.sorted()
    let settleEnd = recorder.now + 20_000
    repeat {
        model.replicas = []
        for group in groups {
            for id in model.replicaSets[group]!.map(Int.init) {
                guard let (applied, digest) = try? admin.groupDigest(host: cluster.host(id), port: 7200, group: group)
                else { continue }
                model.replicas.append(ReplicaDigest(group: group, node: UInt64(id), applied: applied, digest: digest))
            }
        }
        let byGroup = Dictionary(grouping: model.replicas, by: \.group)
        let settled = groups.allSatisfy { group in
            let copies = byGroup[group, default: []]
            return Set(copies.map(\.applied)).count == 1 && copies.count == model.replicaSets[group]!.count
        }
        if settled { break }
        usleep(500_000)
    } while recorder.now < settleEnd

    let history = recorder.history
    try recorder.write(to: out + "/history.jsonl")
    let report = Checker.check(history, model: model)
    try Report.write(to: out, scenario: scenario, report: report, history: history, durationMs: durationMs)
    print(Report.table(scenario, report, durationMs: durationMs), terminator: "")
    print("report: \(out)/report.html")
    return report.passed
}

/// The checker's model of a scenario: the dedup window, the dead-letter queue, the unavailability bounds.
func checkModel(_ scenario: Scenario) -> CheckModel {
    var model = CheckModel(dedupWindowMs: Int64(scenario.workload.dedupWindowSeconds) * 1_000)
    model.deadLetterQueues["chaos-0.fifo"] = "chaos-dlq.fifo"
    model.unavailabilityBoundMs = [
        "kill-leader": 5_000, "kill-random": 5_000, "pause": 8_000, "partition-leader": 8_000,
        "partition-minority": 8_000, "partition-oneway": 8_000, "partition-bridge": 8_000, "kill-all": 20_000,
        "delay": 8_000, "drop": 8_000, "join-leave": 8_000,
    ].merging(scenario.unavailabilityBoundMs) { $1 }
    return model
}

/// Group → the nodes holding it: the metadata group on every node, each partition on its replicas. Without a
/// description only the metadata group is known.
func replicaSets(_ description: ClusterDescription?, nodes: Int) -> [UInt64: [UInt64]] {
    var sets: [UInt64: [UInt64]] = [1: (1...nodes).map(UInt64.init)]
    for partition in description?.partitions ?? [] { sets[partition.groupID] = partition.replicas.sorted() }
    return sets
}

/// `--check DIR`: the checker over a run's history again; replica digests from the cluster at `base` when it
/// still runs (a run stopped before its check leaves it up).
func recheck(_ directory: String, scenario: Scenario, base: Int) throws -> Bool {
    let decoder = JSONDecoder()
    var history: [HistoryEvent] = []
    let text = try String(contentsOfFile: directory + "/history.jsonl", encoding: .utf8)
    for line in text.split(separator: "\n") {
        history.append(try decoder.decode(HistoryEvent.self, from: Data(line.utf8)))
    }
    var model = checkModel(scenario)
    let endpoints = (1...scenario.nodes).map { "127.0.0.\(base + $0):7200" }
    if let client = try? FerryClient(endpoints: endpoints), let description = try? client.describe() {
        model.replicaSets = replicaSets(description, nodes: scenario.nodes)
        for group in model.replicaSets.keys.sorted() {
            for id in model.replicaSets[group]!.map(Int.init) {
                guard
                    let (applied, digest) = try? client.groupDigest(
                        host: "127.0.0.\(base + id)",
                        port: 7200,
                        group: group
                    )
                else { continue }
                model.replicas.append(ReplicaDigest(group: group, node: UInt64(id), applied: applied, digest: digest))
            }
        }
    }
    let durationMs = history.last?.t ?? 0
    let report = Checker.check(history, model: model)
    try Report.write(to: directory, scenario: scenario, report: report, history: history, durationMs: durationMs)
    print(Report.table(scenario, report, durationMs: durationMs), terminator: "")
    print("replica digests compared: \(model.replicas.count)")
    return report.passed
}

do {
    exit(try run() ? 0 : 1)
} catch {
    log("\(error)")
    exit(1)
}
