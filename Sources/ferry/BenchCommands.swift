import ArgumentParser
import CSpawn
import FerryClient
import FerryModel
import FerryTLS
import FerryWire
import NIOCore
import Yams

#if canImport(Glibc)
    import Glibc
#endif

struct BenchCommandGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a cluster: load (the default), fail-over time, idle CPU.",
        subcommands: [LoadBench.self, Failover.self, IdleCPU.self],
        defaultSubcommand: LoadBench.self
    )
}

/// The local cluster's `cluster.json` (DESIGN §7), read with Yams (JSON is YAML).
struct LocalClusterFile: Decodable {
    struct Node: Decodable {
        var id: UInt64
        var pid: Int32
        var address: String
        var client_port: Int
    }

    /// The cluster's SQS key (`sqs:` in the node config).
    struct SQS: Decodable {
        var access_key_id: String
        var secret_access_key: String
    }

    var directory: String
    var nodes: [Node]
    var sqs: SQS?
    /// The CA of a cluster started with `--tls` (its ports then use TLS).
    var tls_ca: String?

    static func load(_ directory: String) throws -> LocalClusterFile {
        let path = directory + "/cluster.json"
        guard let text = NodeCommand.read(path) else {
            throw ValidationError("cannot read \(path): run Cluster/local up")
        }
        return try YAMLDecoder().decode(LocalClusterFile.self, from: text)
    }

    /// TLS to the cluster's client ports: `FERRY_TLS_CA`, else the CA Cluster/local made for it.
    func clientTLS() throws -> ClientTLS? {
        try TLSOptions().client(defaultCA: tls_ca)
    }

    /// The key for the client ports: the environment's or profile's, else the cluster's own (a root key).
    var credentials: Credentials? {
        EndpointOptions.credentials() ?? sqs.map { Credentials(keyID: $0.access_key_id, secret: $0.secret_access_key) }
    }
}

func monotonicMs() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) * 1_000 + Double(spec.tv_nsec) / 1e6
}

/// Runs `Cluster/local <arguments>` and waits for it.
func clusterLocal(_ arguments: [String], directory: String) -> Int32 {
    let script = (getenv("FERRY_CLUSTER_SCRIPT").map { String(cString: $0) }) ?? "Cluster/local"
    var argv: [UnsafeMutablePointer<CChar>?] = ([script] + arguments + ["--dir", directory]).map { strdup($0) }
    argv.append(nil)
    defer { for pointer in argv { free(pointer) } }
    // Only stdin, stdout and stderr reach the script and the nodes it starts: a node holding a copy of one of
    // this process's sockets would keep that connection open after this process closes it.
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    ferry_spawn_file_actions_addclosefrom(&actions, 3)
    var pid: pid_t = 0
    guard posix_spawnp(&pid, script, &actions, nil, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return status
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1)]
}

func format(_ ms: Double) -> String { String(Double(Int(ms * 10)) / 10) }

extension BenchCommandGroup {
    /// Kills (or isolates) the leader of a one-partition queue again and again and measures the time from the
    /// fault to the first acknowledged send on the new leader.
    struct Failover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time from SIGKILL (or isolation) of a partition leader to the first acknowledged send.",
            discussion: """
                Needs a cluster from Cluster/local up (its directory: --dir or FERRY_CLUSTER_DIR, default .ferry).
                --mode kill: SIGKILL the leader (its connections reset), restart it after each trial.
                --mode isolate: cut the leader off with iptables (no reset; root), heal after each trial.
                Prints every trial and p50 / p99 / max.
                """
        )
        @Option(help: "Cluster directory (default $FERRY_CLUSTER_DIR or .ferry).")
        var dir: String?
        @Option(help: "Number of faults.")
        var trials: Int = 20
        @Option(help: "kill or isolate.")
        var mode: String = "kill"

        func run() throws {
            let directory = dir ?? getenv("FERRY_CLUSTER_DIR").map { String(cString: $0) } ?? ".ferry"
            guard mode == "kill" || mode == "isolate" else { throw ValidationError("--mode kill or isolate") }
            var cluster = try LocalClusterFile.load(directory)
            var options = FerryClient.Options()
            options.requestTimeoutMs = 300
            options.retryDeadlineMs = 30_000
            let client = try FerryClient(
                endpoints: cluster.nodes.map { "\($0.address):\($0.client_port)" },
                options: options,
                tls: cluster.clientTLS(),
                credentials: cluster.credentials
            )
            let queue = "failover-bench.fifo"
            if (try? client.listQueues(prefix: queue))?.contains(where: { $0.name == queue }) != true {
                _ = try client.createQueue(queue, partitions: 1)
            }
            var samples: [Double] = []
            var sequence = 0
            func send() throws {
                sequence += 1
                var body = ByteBuffer()
                body.writeString("probe \(sequence)")
                let request = SendRequest(body: body, groupID: "g", deduplicationID: "probe-\(getpid())-\(sequence)")
                guard case .success? = try client.send(queue, [request]).first else { throw ExitCode(1) }
            }
            for trial in 1...trials {
                try send()
                guard let leader = leaderOfPartition0(client, cluster, queue) else {
                    print("trial \(trial): no leader found")
                    continue
                }
                let node = cluster.nodes.first { $0.id == leader }!
                let start = monotonicMs()
                if mode == "kill" {
                    kill(node.pid, SIGKILL)
                } else {
                    _ = clusterLocal(["partition", String(leader)], directory: directory)
                }
                try send()
                let elapsed = monotonicMs() - start
                samples.append(elapsed)
                print(
                    "trial \(trial): leader \(leader) \(mode == "kill" ? "killed" : "isolated"), first acknowledged send after \(format(elapsed)) ms"
                )
                if mode == "kill" {
                    // The killed process may take a moment to be gone; start it again only then.
                    while kill(node.pid, 0) == 0 { usleep(10_000) }
                    _ = clusterLocal(["start", String(leader)], directory: directory)
                    cluster = try LocalClusterFile.load(directory)
                } else {
                    _ = clusterLocal(["heal"], directory: directory)
                }
                waitUntilCaughtUp(client, cluster)
            }
            print(
                "failover (\(mode)) over \(samples.count) trials: p50 \(format(percentile(samples, 50))) ms, "
                    + "p99 \(format(percentile(samples, 99))) ms, max \(format(samples.max() ?? .nan)) ms"
            )
        }

        func leaderOfPartition0(_ client: FerryClient, _ cluster: LocalClusterFile, _ queue: String) -> UInt64? {
            for node in cluster.nodes {
                guard let status = try? client.nodeStatus(host: node.address, port: node.client_port),
                    let group = status.groups.first(where: { $0.queue == queue && $0.partition == 0 }),
                    group.leader == status.nodeID
                else { continue }
                return status.nodeID
            }
            return nil
        }

        /// Waits until every node answers and applied its groups' commit index (at most 20 s), plus one second.
        func waitUntilCaughtUp(_ client: FerryClient, _ cluster: LocalClusterFile) {
            let end = monotonicMs() + 20_000
            while monotonicMs() < end {
                let statuses = cluster.nodes.compactMap {
                    try? client.nodeStatus(host: $0.address, port: $0.client_port)
                }
                let caughtUp = statuses.allSatisfy {
                    $0.groups.allSatisfy { $0.leader != 0 && $0.appliedIndex >= $0.commitIndex }
                }
                if statuses.count == cluster.nodes.count && caughtUp { break }
                usleep(100_000)
            }
            usleep(1_000_000)
        }
    }

    /// CPU of an idle cluster holding many queues.
    struct IdleCPU: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "idle-cpu",
            abstract: "Create queues, wait, and report each node's CPU use while idle (from /proc/<pid>/stat)."
        )
        @Option(help: "Cluster directory (default $FERRY_CLUSTER_DIR or .ferry).")
        var dir: String?
        @Option(help: "Queues to create.")
        var queues: Int = 100
        @Option(help: "Partitions per queue.")
        var partitions: UInt32 = 4
        @Option(help: "Seconds to measure.")
        var seconds: Int = 30

        func run() throws {
            let directory = dir ?? getenv("FERRY_CLUSTER_DIR").map { String(cString: $0) } ?? ".ferry"
            let cluster = try LocalClusterFile.load(directory)
            let client = try FerryClient(
                endpoints: cluster.nodes.map { "\($0.address):\($0.client_port)" },
                tls: cluster.clientTLS(),
                credentials: cluster.credentials
            )
            for n in 0..<queues { _ = try client.createQueue("idle-\(n)", partitions: partitions) }
            usleep(5_000_000)
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            let before = cluster.nodes.map { cpuTicks($0.pid) }
            let start = monotonicMs()
            usleep(UInt32(seconds) * 1_000_000)
            let wall = (monotonicMs() - start) / 1_000
            for (node, first) in zip(cluster.nodes, before) {
                let used = Double(cpuTicks(node.pid) - first) / ticks
                print(
                    "node \(node.id): \(format(used / wall * 100))% of a core idle with \(queues) queues × \(partitions) partitions"
                )
            }
        }

        func cpuTicks(_ pid: Int32) -> Int {
            guard let text = NodeCommand.read("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else {
                return 0
            }
            let fields = text[text.index(after: close)...].split(separator: " ")
            // After the command name: state is field 3; utime and stime are fields 14 and 15.
            guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return 0 }
            return user + system
        }
    }
}
