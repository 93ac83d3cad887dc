import ArgumentParser
import FerryClient
import FerryModel
import FerryNode
import FerryWire
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// `ferry`: the one binary (DESIGN §3): the node and the client commands.
struct Ferry: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Ferry: a replicated FIFO queue cluster.",
        subcommands: [
            NodeCommand.self, QueueCommandGroup.self, SendCommand.self, ReceiveCommand.self, ClusterCommandGroup.self,
            BenchCommandGroup.self, AuthCommandGroup.self, TopCommand.self,
        ]
    )
}

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run one node of a cluster.",
        discussion: """
            Reads the YAML config (see Cluster/node.yaml.template); every field can also be given as a flag,
            which wins over the file. Start-up checks the config and names a bad field; a second process on the
            same data directory is refused.
            """
    )

    @Option(help: "Path of the node's YAML config.")
    var config: String?

    @Option(help: "This node's id (positive; one of the members).")
    var nodeId: UInt64?

    @Option(help: "The cluster's id; peers with another id are refused.")
    var clusterId: String?

    @Option(help: "Directory of the node's log, snapshots and lock file.")
    var dataDir: String?

    @Option(help: "always (default: fsync before acknowledging), interval:<ms>, or never.")
    var fsync: String?

    @Option(help: "Raft tick in milliseconds (default 50); the election timeout is tick-ms × election-ticks.")
    var tickMs: Int?

    @Option(help: "Election timeout in ticks (default 10).")
    var electionTicks: Int?

    @Option(help: "Heartbeat interval in ticks (default 2).")
    var heartbeatTicks: Int?

    @Option(help: "Take a snapshot of a group every this many applied entries (default 10000).")
    var snapshotEveryEntries: Int?

    @Option(help: "Log entries kept below a snapshot for slow followers (default 1000).")
    var entriesKeptAfterSnapshot: Int?

    @Option(
        help: "A member as id=host:peerPort:clientPort:httpPort; repeat for each member (replaces the file's list)."
    )
    var member: [String] = []

    func run() throws {
        var loaded: NodeConfig
        if let path = config {
            guard let text = Self.read(path) else { throw ValidationError("cannot read \(path)") }
            loaded = try NodeConfig.parse(yaml: text)
        } else {
            guard let nodeId, let clusterId, let dataDir else {
                throw ValidationError("give --config, or --node-id, --cluster-id, --data-dir and --member")
            }
            loaded = NodeConfig(nodeID: nodeId, clusterID: clusterId, dataDirectory: dataDir, members: [])
        }
        if let nodeId { loaded.nodeID = nodeId }
        if let clusterId { loaded.clusterID = clusterId }
        if let dataDir { loaded.dataDirectory = dataDir }
        if let fsync { loaded.fsync = fsync }
        if let tickMs { loaded.tickMs = tickMs }
        if let electionTicks { loaded.electionTicks = electionTicks }
        if let heartbeatTicks { loaded.heartbeatTicks = heartbeatTicks }
        if let snapshotEveryEntries { loaded.snapshotEveryEntries = snapshotEveryEntries }
        if let entriesKeptAfterSnapshot { loaded.entriesKeptAfterSnapshot = entriesKeptAfterSnapshot }
        if !member.isEmpty { loaded.members = try member.map(Self.parseMember) }
        // Blocked before any thread starts, so every thread inherits the mask and only sigwait sees them (SIGHUP's
        // default action would end the process).
        var signals = Self.handledSignals
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let server = try FerryNodeServer(
            config: loaded,
            authorize: nativeAuthorizer(config: loaded),
            api: { router, keys in sqsAPI(config: loaded, router: router, keys: keys) }
        )
        while Self.waitForSignal() == SIGHUP {
            NodeLog.info("SIGHUP: reloading the TLS files")
            if (try? server.reloadTLS()) == .some(nil) { NodeLog.info("no tls: section, nothing to reload") }
        }
        NodeLog.info("stopping")
        server.stop()
    }

    static var handledSignals: sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, signal) }
        return signals
    }

    static func parseMember(_ text: String) throws -> MemberConfig {
        let parts = text.split(separator: "=", maxSplits: 1)
        let fields = parts.count == 2 ? parts[1].split(separator: ":") : []
        guard parts.count == 2, let id = UInt64(parts[0]), fields.count == 4, let peer = UInt16(fields[1]),
            let client = UInt16(fields[2]), let http = UInt16(fields[3])
        else { throw ValidationError("--member \(text): expected id=host:peerPort:clientPort:httpPort") }
        return MemberConfig(id: id, host: String(fields[0]), peerPort: peer, clientPort: client, httpPort: http)
    }

    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var text = ""
        var chunk = [CChar](repeating: 0, count: 4_096)
        while fgets(&chunk, Int32(chunk.count), file) != nil {
            let line = chunk.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            text += String(decoding: line, as: UTF8.self)
        }
        return text
    }

    /// Blocks until SIGTERM, SIGINT or SIGHUP (already blocked), and returns which.
    static func waitForSignal() -> Int32 {
        var signals = handledSignals
        var received: Int32 = 0
        sigwait(&signals, &received)
        return received
    }
}

Ferry.main()
