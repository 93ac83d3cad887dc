import ArgumentParser
import CSpawn
import FerryClient
import FerryLoad
import FerryModel
import FerryWire
import Histogram
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// `ferry bench` (its default subcommand): a closed-loop load generator over the native protocol. Producers keep
/// `window` messages in flight each (requests of `batch` messages, sent straight to each partition's leader);
/// consumers keep receives in flight on every partition and delete what they get. Latencies go into
/// HdrHistograms; the server CPU comes from the nodes' `/proc/<pid>/stat`.
struct LoadBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Load a cluster: msgs/s, MB/s, latency percentiles and server CPU per million messages.",
        discussion: """
            The cluster: --fsync MODE starts a 3-node Cluster/local cluster of its own (in a temporary directory,
            node i on 127.0.0.(--base + i)) with that fsync policy and stops it afterwards; --endpoints (or
            $FERRY_ENDPOINTS) uses a running cluster (give --pid for each node to get CPU figures); --dir (or
            $FERRY_CLUSTER_DIR) uses a Cluster/local cluster and its pids. With none of them: --fsync always.

            Producers send to queues bench-<n>.fifo (created with --partitions, deleted at the end), group
            g<k> for k = request number mod --groups. Every body starts with its send time, so consumers measure
            send→received. With --prefill N and no producers, consumers drain N messages sent beforehand
            (not measured) and the rate is deleted messages per second until the queue is empty.
            --keep-queues leaves the queues and what is in them at the end; --existing-queues uses them as they
            are (neither created nor filled; with --prefill N the N messages are already there): a queue filled
            by one run can be drained by another after a restart (Cluster/bench-memory does this).

            Output: a progress line every second (stderr), then a summary, or one JSON object with --json.
            Latencies are in milliseconds; CPU is user + system seconds of the node processes during the
            measured interval, divided by the messages acknowledged (or deleted, for a drain) in millions.
            """
    )

    @Option(help: "Fsync policy of a cluster this command starts itself: always, interval:<ms> or never.")
    var fsync: String?
    @Option(help: "Client endpoints host:port,... of a running cluster (default $FERRY_ENDPOINTS).")
    var endpoints: String?
    @Option(help: "A Cluster/local directory to use (default $FERRY_CLUSTER_DIR).")
    var dir: String?
    @Flag(help: "Start the cluster (with --fsync) with TLS on every port (Cluster/local up --tls).")
    var tls = false
    @OptionGroup var tlsFiles: TLSOptions
    @Option(help: "Pid of a node process for CPU figures (with --endpoints); repeat for each node.")
    var pid: [Int32] = []
    @Option(help: "Address base of a cluster this command starts (node i on 127.0.0.(base + i)).")
    var base: Int = 90

    @Option(help: "Producers (each keeps --window messages in flight).")
    var producers: Int = 1
    @Option(help: "Consumers (each keeps --receives receives in flight, deletes what it gets).")
    var consumers: Int = 0
    @Option(help: "Message body size in bytes (at least 16: the send time).")
    var size: Int = 128
    @Option(help: "Queues (producer and consumer n use queue n mod queues).")
    var queues: Int = 1
    @Option(help: "Partitions per queue.")
    var partitions: UInt32 = 4
    @Option(help: "Message groups per queue.")
    var groups: Int = 64
    @Option(help: "Messages in flight per producer (rounded up to whole batches).")
    var window: Int = 256
    @Option(help: "Messages per send request (1–10).")
    var batch: Int = 1
    @Option(help: "Receives in flight per consumer (spread over the partitions), 10 messages each at most.")
    var receives: Int = 8
    @Option(help: "Seconds to measure (after the warm-up).")
    var duration: Double = 10
    @Option(help: "Stop after this many messages acknowledged in the measured interval (0: no limit).")
    var count: Int = 0
    @Option(help: "Total send rate limit in msgs/s (0: none).")
    var rate: Double = 0
    @Option(help: "Messages sent (and acknowledged) before measuring.")
    var warmup: Int = 200
    @Option(help: "Messages sent before measuring, for consumers to drain (with --producers 0).")
    var prefill: Int = 0
    @Option(help: "Queue kind: fifo or standard.")
    var kind: String = "fifo"
    @Option(
        help: """
            native (the client protocol) or sqs (SendMessageBatch, ReceiveMessage, DeleteMessageBatch over HTTP with \
            SigV4; the key from --access-key-id/--secret-access-key, $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, or \
            the Cluster/local directory's cluster.json).
            """
    )
    var api: String = "native"
    @Option(help: "SQS access key id (with --api sqs).")
    var accessKeyID: String?
    @Option(help: "SQS secret access key (with --api sqs).")
    var secretAccessKey: String?
    @Flag(help: "Leave the queues and their messages in place at the end.")
    var keepQueues = false
    @Flag(help: "Use the queues bench-<n> as they are: neither create, fill nor delete them.")
    var existingQueues = false
    @Flag(help: "Print one JSON object instead of the summary.")
    var json = false
    @Flag(help: "No progress line.")
    var quiet = false

    func validate() throws {
        guard producers >= 0, consumers >= 0, producers + consumers > 0 else {
            throw ValidationError("--producers and --consumers: at least one of them")
        }
        guard size >= LoadBody.timeDigits, size <= QueueLimits.maxMessageBytes else {
            throw ValidationError("--size takes \(LoadBody.timeDigits)…\(QueueLimits.maxMessageBytes)")
        }
        guard (1...QueueLimits.maxBatchEntries).contains(batch) else { throw ValidationError("--batch takes 1…10") }
        guard window >= 1, receives >= 1, queues >= 1, groups >= 1, partitions >= 1 else {
            throw ValidationError("--window, --receives, --queues, --groups and --partitions take at least 1")
        }
        guard duration > 0, count >= 0, rate >= 0, warmup >= 0, prefill >= 0 else {
            throw ValidationError("--duration, --count, --rate, --warmup and --prefill cannot be negative")
        }
        guard kind == "fifo" || kind == "standard" else { throw ValidationError("--kind fifo or standard") }
        guard api == "native" || api == "sqs" else { throw ValidationError("--api native or sqs") }
        guard prefill == 0 || producers == 0, prefill == 0 || consumers > 0 else {
            throw ValidationError("--prefill drains with consumers only: give --producers 0 and --consumers N")
        }
    }

    func run() throws {
        var cluster = try BenchCluster.open(
            fsync: fsync,
            endpoints: endpoints,
            dir: dir,
            pids: pid,
            base: base,
            quiet: json,
            tls: tls
        )
        defer { cluster.close() }
        let file = cluster.directory.flatMap { try? LocalClusterFile.load($0) }
        let tls = try tlsFiles.client(defaultCA: file?.tls_ca)
        guard tls == nil || api == "native" else { throw ValidationError("--api sqs does not speak TLS yet") }
        let credentials = EndpointOptions.credentials() ?? file?.credentials
        let client = try FerryClient(endpoints: cluster.endpoints, tls: tls, credentials: credentials)
        let names = (0..<queues).map { "bench-\($0)" + (kind == "fifo" ? ".fifo" : "") }
        for name in names where !existingQueues {
            if (try? client.queueDescription(name)) != nil { try? client.deleteQueue(name) }
            var attributes = QueueAttributes()
            attributes.retentionSeconds = 3_600
            _ = try client.createQueue(name, partitions: partitions, attributes: attributes)
        }
        defer { for name in names where !keepQueues && !existingQueues { try? client.deleteQueue(name) } }
        let sqs = api == "sqs" ? try sqsCredentials(cluster) : nil
        let engine = try LoadEngine(
            cluster: try LoadEngine.settledCluster(client, queues: names),
            queues: names,
            settings: load
        ) { cluster, queues, group in
            if let sqs {
                return try SQSLoadTransport(cluster: cluster, queues: queues, credentials: sqs, loop: group.next())
            }
            return try NativeLoadTransport(
                cluster: cluster,
                queues: queues,
                group: group,
                security: tls.map(FerryClient.security),
                credentials: credentials
            )
        }
        defer { engine.shutdown() }
        if !existingQueues && (prefill > 0 || warmup > 0) {
            let fill = prefill > 0 ? prefill : warmup
            if !json && !quiet { writeError("warm-up: sending \(fill) messages\n") }
            try engine.fill(fill)
        }
        let before = cluster.cpuSeconds()
        let result = try engine.measure(progress: !quiet && !json)
        let cpu = cluster.cpuSeconds().map { $0 - (before ?? 0) }
        let report = BenchReport(settings: self, result: result, serverCPUSeconds: before == nil ? nil : cpu)
        print(json ? report.json : report.text)
    }
}

extension LoadBench {
    /// The options the load engine reads.
    var load: LoadSettings {
        var load = LoadSettings()
        load.kind = kind
        load.size = size
        load.producers = producers
        load.consumers = consumers
        load.groups = groups
        load.window = window
        load.batch = batch
        load.receives = receives
        load.duration = duration
        load.count = count
        load.rate = rate
        load.prefill = prefill
        return load
    }

    /// The key for `--api sqs`: the options, the environment as aws-cli reads it, or the local cluster's file.
    func sqsCredentials(_ cluster: BenchCluster) throws -> SQSCredentials {
        let environment = { (name: String) in getenv(name).map { String(cString: $0) } }
        if let id = accessKeyID ?? environment("AWS_ACCESS_KEY_ID"),
            let secret = secretAccessKey ?? environment("AWS_SECRET_ACCESS_KEY")
        {
            return SQSCredentials(accessKeyID: id, secret: secret)
        }
        if let directory = cluster.directory, let sqs = try LocalClusterFile.load(directory).sqs {
            return SQSCredentials(accessKeyID: sqs.access_key_id, secret: sqs.secret_access_key)
        }
        throw ValidationError("--api sqs needs a key: --access-key-id and --secret-access-key, or AWS_ACCESS_KEY_ID")
    }
}

/// The cluster a bench runs against: its endpoints, node pids, and whether to stop it afterwards.
struct BenchCluster {
    var endpoints: [String]
    var pids: [Int32]
    /// Set when this command started the cluster (Cluster/local directory to take down).
    var ownDirectory: String?
    /// The Cluster/local directory, when there is one.
    var directory: String?

    static func open(
        fsync: String?,
        endpoints: String?,
        dir: String?,
        pids: [Int32],
        base: Int,
        quiet: Bool,
        tls: Bool = false
    ) throws -> BenchCluster {
        let environment = { (name: String) in getenv(name).map { String(cString: $0) } }
        if fsync == nil, let list = endpoints ?? (dir == nil ? environment("FERRY_ENDPOINTS") : nil) {
            return BenchCluster(endpoints: list.split(separator: ",").map(String.init), pids: pids)
        }
        if fsync == nil, let directory = dir ?? environment("FERRY_CLUSTER_DIR") {
            let file = try LocalClusterFile.load(directory)
            return BenchCluster(
                endpoints: file.nodes.map { "\($0.address):\($0.client_port)" },
                pids: file.nodes.map(\.pid),
                directory: directory
            )
        }
        let directory = "/tmp/ferry-bench-\(getpid())"
        setenv("FERRY_FSYNC", fsync ?? "always", 1)
        setenv("FERRY_LOCAL_BASE", String(base), 1)
        if !quiet {
            writeError("starting a 3-node cluster (fsync \(fsync ?? "always")\(tls ? ", TLS" : "")) in \(directory)\n")
        }
        let status = Self.quietClusterLocal(["up", "--nodes", "3"] + (tls ? ["--tls"] : []), directory: directory)
        guard status == 0 else {
            _ = Self.quietClusterLocal(["down"], directory: directory)
            throw ValidationError("Cluster/local up failed (status \(status)); is this the repository's root?")
        }
        let file = try LocalClusterFile.load(directory)
        return BenchCluster(
            endpoints: file.nodes.map { "\($0.address):\($0.client_port)" },
            pids: file.nodes.map(\.pid),
            ownDirectory: directory,
            directory: directory
        )
    }

    mutating func close() {
        guard let directory = ownDirectory else { return }
        ownDirectory = nil
        _ = Self.quietClusterLocal(["down"], directory: directory)
    }

    /// Runs Cluster/local with its standard output on /dev/null: what it prints (how to use the cluster) is not
    /// the bench's output, which may be JSON for a tool. Its errors still reach standard error.
    static func quietClusterLocal(_ arguments: [String], directory: String) -> Int32 {
        fflush(nil)
        let saved = dup(1)
        let null = Glibc.open("/dev/null", O_WRONLY)
        dup2(null, 1)
        defer {
            dup2(saved, 1)
            Glibc.close(null)
            Glibc.close(saved)
        }
        return clusterLocal(arguments, directory: directory)
    }

    /// User + system CPU seconds of the node processes so far (nil: no pids known).
    func cpuSeconds() -> Double? {
        guard !pids.isEmpty else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return Double(pids.map(Self.cpuTicks).reduce(0, +)) / ticks
    }

    static func cpuTicks(_ pid: Int32) -> Int {
        guard let text = NodeCommand.read("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3; utime and stime are fields 14 and 15.
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return 0 }
        return user + system
    }
}
