import Foundation
import Yams

/// A chaos scenario (`Chaos/scenarios/*.yaml`): one workload composed with fault kinds, and the bounds the
/// checker holds the run to. Every field has a default; units are in the names.
struct Scenario: Decodable {
    var name = "chaos"
    /// How long the workload and the nemesis run before the heal and the drain.
    var durationSeconds = 60
    var nodes = 3
    var fsync = "always"
    /// Extra node.yaml lines for every node (`node_config`), e.g. small segments for disk faults.
    var nodeConfig = ""
    var seed: UInt64 = 1
    var workload = Workload()
    var nemesis = Nemesis()
    /// Longest time after a fault until a send invoked after it is acknowledged, per fault kind.
    var unavailabilityBoundMs: [String: Int64] = [:]

    struct Workload: Decodable {
        var queues = 3
        var partitions: UInt32 = 4
        var groupsPerProducer = 8
        var sessionProducers = 1
        var plainProducers = 2
        var consumers = 2
        /// The queues' deduplication window, shortened so that retries land inside and after it.
        var dedupWindowSeconds = 5
        var visibilityTimeoutSeconds = 3
        /// The first queue sends dead letters to `chaos-dlq.fifo` after this many receives.
        var maxReceiveCount = 3
        /// A consumer "crashes" on a message (never deletes it) with this probability.
        var crashProbability = 0.03
        /// After an acknowledged plain send, repeat it at once (inside the window) / after the window.
        var repeatInsideProbability = 0.03
        var repeatAfterProbability = 0.01
        /// Pause between a plain producer's sends, and messages per producer-session call.
        var sendIntervalMs = 10
        var sessionBatch = 20

        enum CodingKeys: String, CodingKey {
            case queues, partitions, consumers
            case groupsPerProducer = "groups_per_producer"
            case sessionProducers = "session_producers"
            case plainProducers = "plain_producers"
            case dedupWindowSeconds = "dedup_window_seconds"
            case visibilityTimeoutSeconds = "visibility_timeout_seconds"
            case maxReceiveCount = "max_receive_count"
            case crashProbability = "crash_probability"
            case repeatInsideProbability = "repeat_inside_probability"
            case repeatAfterProbability = "repeat_after_probability"
            case sendIntervalMs = "send_interval_ms"
            case sessionBatch = "session_batch"
        }

        init() {}

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            var w = Workload()
            w.queues = try c.decodeIfPresent(Int.self, forKey: .queues) ?? w.queues
            w.partitions = try c.decodeIfPresent(UInt32.self, forKey: .partitions) ?? w.partitions
            w.consumers = try c.decodeIfPresent(Int.self, forKey: .consumers) ?? w.consumers
            w.groupsPerProducer = try c.decodeIfPresent(Int.self, forKey: .groupsPerProducer) ?? w.groupsPerProducer
            w.sessionProducers = try c.decodeIfPresent(Int.self, forKey: .sessionProducers) ?? w.sessionProducers
            w.plainProducers = try c.decodeIfPresent(Int.self, forKey: .plainProducers) ?? w.plainProducers
            w.dedupWindowSeconds = try c.decodeIfPresent(Int.self, forKey: .dedupWindowSeconds) ?? w.dedupWindowSeconds
            w.visibilityTimeoutSeconds =
                try c.decodeIfPresent(Int.self, forKey: .visibilityTimeoutSeconds) ?? w.visibilityTimeoutSeconds
            w.maxReceiveCount = try c.decodeIfPresent(Int.self, forKey: .maxReceiveCount) ?? w.maxReceiveCount
            w.crashProbability = try c.decodeIfPresent(Double.self, forKey: .crashProbability) ?? w.crashProbability
            w.repeatInsideProbability =
                try c.decodeIfPresent(Double.self, forKey: .repeatInsideProbability) ?? w.repeatInsideProbability
            w.repeatAfterProbability =
                try c.decodeIfPresent(Double.self, forKey: .repeatAfterProbability) ?? w.repeatAfterProbability
            w.sendIntervalMs = try c.decodeIfPresent(Int.self, forKey: .sendIntervalMs) ?? w.sendIntervalMs
            w.sessionBatch = try c.decodeIfPresent(Int.self, forKey: .sessionBatch) ?? w.sessionBatch
            self = w
        }
    }

    struct Nemesis: Decodable {
        /// Fault kinds, in turn from a seeded start: kill-leader, kill-random, pause, partition-leader,
        /// partition-minority, partition-oneway, partition-bridge, kill-all, delay (every peer chunk held
        /// 100–300 ms by the proxy), drop (the proxy resets a peer connection on 2 % of chunks), join-leave;
        /// disk damage (issue 18): corrupt-random, corrupt-leader, truncate-random; through the storage fault
        /// layer: power-loss-random, power-loss-all, disk-full-random, disk-full-all, slow-disk-leader,
        /// fsync-fail-random; clock-jump-leader, clock-jump-random (libfaketime).
        var faults: [String] = ["kill-leader"]
        /// A fault starts every `interval_seconds`, lasts `fault_seconds`, then heals.
        var intervalSeconds = 10
        var faultSeconds = 3
        /// Quiet time at the start and before the heal.
        var quietSeconds = 5

        enum CodingKeys: String, CodingKey {
            case faults
            case intervalSeconds = "interval_seconds"
            case faultSeconds = "fault_seconds"
            case quietSeconds = "quiet_seconds"
        }

        init() {}

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            var n = Nemesis()
            n.faults = try c.decodeIfPresent([String].self, forKey: .faults) ?? n.faults
            n.intervalSeconds = try c.decodeIfPresent(Int.self, forKey: .intervalSeconds) ?? n.intervalSeconds
            n.faultSeconds = try c.decodeIfPresent(Int.self, forKey: .faultSeconds) ?? n.faultSeconds
            n.quietSeconds = try c.decodeIfPresent(Int.self, forKey: .quietSeconds) ?? n.quietSeconds
            self = n
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, nodes, fsync, seed, workload, nemesis
        case nodeConfig = "node_config"
        case durationSeconds = "duration_seconds"
        case unavailabilityBoundMs = "unavailability_bound_ms"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var s = Scenario()
        s.name = try c.decodeIfPresent(String.self, forKey: .name) ?? s.name
        s.durationSeconds = try c.decodeIfPresent(Int.self, forKey: .durationSeconds) ?? s.durationSeconds
        s.nodes = try c.decodeIfPresent(Int.self, forKey: .nodes) ?? s.nodes
        s.fsync = try c.decodeIfPresent(String.self, forKey: .fsync) ?? s.fsync
        s.nodeConfig = try c.decodeIfPresent(String.self, forKey: .nodeConfig) ?? s.nodeConfig
        s.seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? s.seed
        s.workload = try c.decodeIfPresent(Workload.self, forKey: .workload) ?? s.workload
        s.nemesis = try c.decodeIfPresent(Nemesis.self, forKey: .nemesis) ?? s.nemesis
        s.unavailabilityBoundMs =
            try c.decodeIfPresent([String: Int64].self, forKey: .unavailabilityBoundMs) ?? s.unavailabilityBoundMs
        self = s
    }

    static let knownFaults: Set<String> = [
        "kill-leader", "kill-random", "pause", "partition-leader", "partition-minority", "partition-oneway",
        "partition-bridge", "kill-all", "delay", "drop", "join-leave", "corrupt-random", "corrupt-leader",
        "truncate-random", "power-loss-random", "power-loss-all", "disk-full-random", "disk-full-all",
        "slow-disk-leader", "fsync-fail-random", "clock-jump-leader", "clock-jump-random",
    ]

    /// Faults through the nodes' storage fault layer (node.yaml `storage_faults`, `FaultyFileSystem`).
    var usesStorageFaults: Bool {
        nemesis.faults.contains {
            $0.hasPrefix("power-loss") || $0.hasPrefix("disk-full") || $0.hasPrefix("slow-disk")
                || $0.hasPrefix("fsync-fail")
        }
    }

    /// Power loss: the nodes hold every write in memory until it is fsynced, so every SIGKILL of the run (the
    /// kill faults' too) loses what a power failure would.
    var usesPowerLoss: Bool { nemesis.faults.contains { $0.hasPrefix("power-loss") } }

    /// Clock jumps: the nodes run under libfaketime (Cluster/local's FERRY_FAKETIME_DIR).
    var usesClockJumps: Bool { nemesis.faults.contains { $0.hasPrefix("clock-jump") } }

    /// Faults that need the userspace proxy between the nodes.
    var usesProxy: Bool { nemesis.faults.contains { $0 == "delay" || $0 == "drop" } }

    static func load(_ path: String) throws -> Scenario {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let scenario = try YAMLDecoder().decode(Scenario.self, from: text)
        for fault in scenario.nemesis.faults where !knownFaults.contains(fault) {
            throw ScenarioError("unknown fault \(fault); known: \(knownFaults.sorted().joined(separator: ", "))")
        }
        guard scenario.nodes >= 3, scenario.durationSeconds > 0 else {
            throw ScenarioError("nodes must be ≥ 3 and duration_seconds > 0")
        }
        return scenario
    }
}

struct ScenarioError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The harness's randomness: seeded, so a scenario's choices repeat (SplitMix64).
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}
