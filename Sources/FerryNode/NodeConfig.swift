import FerryModel
import FerryStorage
import Logging
import Yams

/// One member of the cluster: its id and where it listens. The catalog records the same value, and clients
/// are told it (`CatalogNode`).
public typealias MemberConfig = CatalogNode

/// The SQS API on the node's HTTP port (`sqs:` in node.yaml).
///
/// ```yaml
/// sqs:
///   auth: sigv4                  # sigv4 (default) | none (local experiments only)
///   account_id: "000000000000"   # in queue URLs and ARNs
///   region: us-east-1            # in ARNs when a request is not signed
///   access_keys:
///     - {id: AKIAFERRYLOCAL0000001, secret: "…"}
///     - {id: AKIAFERRYOTHER0000001, secret: "…", account_id: "111122223333"}  # another account: queue policies
///     - {id: AKIAFERRYWATCH0000001, secret: "…", read_only: true}  # looks, changes nothing (console, both APIs)
/// ```
public struct SQSConfig: Sendable, Hashable, Codable {
    public struct AccessKey: Sendable, Hashable, Codable {
        public var id: String
        public var secret: String
        /// The account the key belongs to (`account_id`; default the API's own account). A key of another
        /// account acts on this cluster's queues only where a queue's policy allows it.
        public var accountID: String?
        /// `read_only: true`: the key may look (the status API, the console, the SQS API's read actions) but
        /// change nothing, on either API.
        public var readOnly: Bool

        public init(id: String, secret: String, accountID: String? = nil, readOnly: Bool = false) {
            self.id = id
            self.secret = secret
            self.accountID = accountID
            self.readOnly = readOnly
        }

        public init(from decoder: any Decoder) throws {
            let values = try decoder.container(keyedBy: CodingKeys.self)
            id = try values.decode(String.self, forKey: .id)
            secret = try values.decode(String.self, forKey: .secret)
            accountID = try values.decodeIfPresent(String.self, forKey: .accountID)
            readOnly = try values.decodeIfPresent(Bool.self, forKey: .readOnly) ?? false
        }

        enum CodingKeys: String, CodingKey {
            case id
            case secret
            case accountID = "account_id"
            case readOnly = "read_only"
        }
    }

    /// `sigv4` or `none`.
    public var auth: String = "sigv4"
    public var accountID: String = "000000000000"
    public var region: String = "us-east-1"
    public var accessKeys: [AccessKey] = []

    public init() {}

    enum CodingKeys: String, CodingKey {
        case auth
        case accountID = "account_id"
        case region
        case accessKeys = "access_keys"
    }

    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        auth = try values.decodeIfPresent(String.self, forKey: .auth) ?? "sigv4"
        accountID = try values.decodeIfPresent(String.self, forKey: .accountID) ?? "000000000000"
        region = try values.decodeIfPresent(String.self, forKey: .region) ?? "us-east-1"
        accessKeys = try values.decodeIfPresent([AccessKey].self, forKey: .accessKeys) ?? []
    }

    func validate() throws(ConfigError) {
        guard auth == "sigv4" || auth == "none" else {
            throw ConfigError(field: "sqs.auth", reason: "sigv4 or none, not \(auth)")
        }
        guard accountID.utf8.count == 12, accountID.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw ConfigError(field: "sqs.account_id", reason: "12 digits, as an AWS account id")
        }
        guard !region.isEmpty else { throw ConfigError(field: "sqs.region", reason: "must not be empty") }
        for (at, key) in accessKeys.enumerated() {
            guard (16...128).contains(key.id.utf8.count) else {
                throw ConfigError(field: "sqs.access_keys[\(at)].id", reason: "16…128 characters")
            }
            guard key.secret.utf8.count >= 16 else {
                throw ConfigError(field: "sqs.access_keys[\(at)].secret", reason: "at least 16 characters")
            }
            if let account = key.accountID {
                guard account.utf8.count == 12, account.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    throw ConfigError(
                        field: "sqs.access_keys[\(at)].account_id",
                        reason: "12 digits, as an AWS account id"
                    )
                }
            }
        }
        guard Set(accessKeys.map(\.id)).count == accessKeys.count else {
            throw ConfigError(field: "sqs.access_keys", reason: "key ids must be distinct")
        }
    }
}

/// A bad configuration, naming the field (STYLE: the error says what to fix).
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "config field \(field): \(reason)" }
}

/// Everything `ferry node` needs, from `node.yaml` and flags. Units are in the names.
///
/// ```yaml
/// node_id: 1
/// cluster_id: local
/// data_dir: /var/lib/ferry/1
/// fsync: always            # always | interval:<ms> | never
/// tick_ms: 50              # Raft tick; election timeout = tick_ms × election_ticks
/// election_ticks: 10
/// heartbeat_ticks: 2
/// join: false             # true: this node joins a running cluster (`ferry cluster add-node`) instead of
///                          # founding one; `members` then names it and some running nodes to reach
/// members:
///   - {id: 1, host: 127.0.0.11, peer_port: 7101, client_port: 7201, http_port: 7301}
///   - {id: 2, host: 127.0.0.12, peer_port: 7101, client_port: 7201, http_port: 7301}
///   - {id: 3, host: 127.0.0.13, peer_port: 7101, client_port: 7201, http_port: 7301}
/// ```
public struct NodeConfig: Sendable, Hashable, Codable {
    public var nodeID: UInt64
    public var clusterID: String
    public var dataDirectory: String
    /// `always` (default), `interval:<ms>` or `never`.
    public var fsync: String = "always"
    public var tickMs: Int = 50
    public var electionTicks: Int = 10
    /// Heartbeats every 2 ticks (100 ms by default, etcd's default), a fifth of the election timeout.
    public var heartbeatTicks: Int = 2
    /// Every voting node, this one included (for a joining node: itself and some running nodes to reach).
    public var members: [MemberConfig]
    /// This node joins a running cluster: it opens the metadata group empty and waits to be added, instead of
    /// founding the cluster with `members` as its voters.
    public var join = false
    /// A partition group takes a snapshot and compacts its log after this many applied entries.
    public var snapshotEveryEntries: Int = 10_000
    /// Size of a write-ahead log segment (`segment_bytes`, 64 KiB … 1 GiB, default 64 MiB). Small segments put
    /// most of the log in sealed segments: the chaos harness's disk faults use them.
    public var segmentBytes: Int = 64 << 20
    /// Entries kept below a snapshot for slow followers (a follower further behind gets the snapshot).
    public var entriesKeptAfterSnapshot: Int = 1_000
    /// The port this node's peer listener binds, when peers reach it through something in between (the chaos
    /// harness's delaying proxy listens on the members' `peer_port`). Default: this member's `peer_port`.
    public var peerListenPort: UInt16?
    /// The SQS API's authentication and naming.
    public var sqs = SQSConfig()
    /// TLS on the peer, client and HTTP ports; nil: plain.
    public var tls: TLSConfig?
    /// The native client port's authentication: `keys` (each connection proves an access key: node.yaml's
    /// `sqs.access_keys` or the cluster's own, and each request is authorized for it) or `none` (anyone who can
    /// connect; the default, for loopback experiments).
    public var clientAuth = "none"
    /// A disk whose group commits take longer than this (the median of the last 8) is slow: the node hands its
    /// leaderships to its followers and is given none until it is fast again (`DiskHealth`; 0: never).
    public var slowDiskMs = 250
    /// The group commit's fdatasync runs on a storage thread while the Raft thread goes on with the next round
    /// (asynchronous storage writes, issue 19; `storage_thread`, default false). Measured on the 2-core machines
    /// Ferry is tested on, it cost 7–10 % of throughput (a thread hand-off per commit, no idle core to use) also
    /// with 3 ms fsyncs, so each round waits for its fsync on the Raft thread unless this is set. Acknowledgements
    /// wait for a majority's fsync either way.
    public var storageThread = false
    /// Log levels by subsystem (`log_levels: {client: debug, raft: warning}`; `LogSubsystem`'s names, swift-log's
    /// levels trace … critical); a subsystem not named logs at `info`.
    public var logLevels: [String: String] = [:]
    /// The storage fault layer (`FaultyFileSystem`, issue 18) for fault-injection runs; nil (the default): none.
    public var storageFaults: StorageFaultsConfig?

    public init(nodeID: UInt64, clusterID: String, dataDirectory: String, members: [MemberConfig]) {
        self.nodeID = nodeID
        self.clusterID = clusterID
        self.dataDirectory = dataDirectory
        self.members = members
    }

    enum CodingKeys: String, CodingKey {
        case nodeID = "node_id"
        case clusterID = "cluster_id"
        case dataDirectory = "data_dir"
        case fsync
        case tickMs = "tick_ms"
        case electionTicks = "election_ticks"
        case heartbeatTicks = "heartbeat_ticks"
        case members
        case snapshotEveryEntries = "snapshot_every_entries"
        case segmentBytes = "segment_bytes"
        case entriesKeptAfterSnapshot = "entries_kept_after_snapshot"
        case peerListenPort = "peer_listen_port"
        case sqs
        case join
        case tls
        case clientAuth = "client_auth"
        case storageFaults = "storage_faults"
        case slowDiskMs = "slow_disk_ms"
        case logLevels = "log_levels"
        case storageThread = "storage_thread"
    }

    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        nodeID = try values.decode(UInt64.self, forKey: .nodeID)
        clusterID = try values.decode(String.self, forKey: .clusterID)
        dataDirectory = try values.decode(String.self, forKey: .dataDirectory)
        members = try values.decode([MemberConfig].self, forKey: .members)
        fsync = try values.decodeIfPresent(String.self, forKey: .fsync) ?? "always"
        tickMs = try values.decodeIfPresent(Int.self, forKey: .tickMs) ?? 50
        electionTicks = try values.decodeIfPresent(Int.self, forKey: .electionTicks) ?? 10
        heartbeatTicks = try values.decodeIfPresent(Int.self, forKey: .heartbeatTicks) ?? 2
        snapshotEveryEntries = try values.decodeIfPresent(Int.self, forKey: .snapshotEveryEntries) ?? 10_000
        segmentBytes = try values.decodeIfPresent(Int.self, forKey: .segmentBytes) ?? 64 << 20
        entriesKeptAfterSnapshot = try values.decodeIfPresent(Int.self, forKey: .entriesKeptAfterSnapshot) ?? 1_000
        peerListenPort = try values.decodeIfPresent(UInt16.self, forKey: .peerListenPort)
        sqs = try values.decodeIfPresent(SQSConfig.self, forKey: .sqs) ?? SQSConfig()
        join = try values.decodeIfPresent(Bool.self, forKey: .join) ?? false
        tls = try values.decodeIfPresent(TLSConfig.self, forKey: .tls)
        clientAuth = try values.decodeIfPresent(String.self, forKey: .clientAuth) ?? "none"
        storageFaults = try values.decodeIfPresent(StorageFaultsConfig.self, forKey: .storageFaults)
        slowDiskMs = try values.decodeIfPresent(Int.self, forKey: .slowDiskMs) ?? 250
        storageThread = try values.decodeIfPresent(Bool.self, forKey: .storageThread) ?? false
        logLevels = try values.decodeIfPresent([String: String].self, forKey: .logLevels) ?? [:]
    }

    /// `log_levels` as `NodeLog.configure` takes them.
    /// - Throws: `ConfigError` naming an unknown subsystem or level.
    public func logLevelTable() throws(ConfigError) -> [LogSubsystem: Logger.Level] {
        var table: [LogSubsystem: Logger.Level] = [:]
        for (name, level) in logLevels {
            guard let subsystem = LogSubsystem(rawValue: name) else {
                throw ConfigError(
                    field: "log_levels.\(name)",
                    reason: "no such subsystem; one of \(LogSubsystem.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            guard let value = Logger.Level(rawValue: level) else {
                throw ConfigError(
                    field: "log_levels.\(name)",
                    reason: "trace, debug, info, notice, warning, error or critical, not \(level)"
                )
            }
            table[subsystem] = value
        }
        return table
    }

    /// Parses YAML text.
    /// - Throws: `ConfigError` naming the missing or mistyped field.
    public static func parse(yaml text: String) throws(ConfigError) -> NodeConfig {
        do {
            return try YAMLDecoder().decode(NodeConfig.self, from: text)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ConfigError(field: Self.path(context.codingPath + [key]), reason: "missing")
        } catch let DecodingError.typeMismatch(type, context) {
            throw ConfigError(field: Self.path(context.codingPath), reason: "expected \(type)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw ConfigError(field: Self.path(context.codingPath), reason: "expected \(type)")
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigError(field: Self.path(context.codingPath), reason: context.debugDescription)
        } catch {
            throw ConfigError(field: "(document)", reason: "\(error)")
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        var path = ""
        for key in keys {
            if let index = key.intValue {
                path += "[\(index)]"
            } else {
                path += (path.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return path
    }

    /// This node's own member entry.
    public var me: MemberConfig { members.first { $0.id == nodeID }! }

    public var fsyncPolicy: FsyncPolicy { FsyncPolicy(parsing: fsync)! }

    /// Checks every field and the relations between them.
    /// - Throws: `ConfigError` naming the first bad field.
    public func validate() throws(ConfigError) {
        guard nodeID > 0 else { throw ConfigError(field: "node_id", reason: "must be a positive integer") }
        guard !clusterID.isEmpty, clusterID.utf8.count <= 64 else {
            throw ConfigError(field: "cluster_id", reason: "1…64 characters")
        }
        guard !dataDirectory.isEmpty else { throw ConfigError(field: "data_dir", reason: "must not be empty") }
        guard FsyncPolicy(parsing: fsync) != nil else {
            throw ConfigError(field: "fsync", reason: "always, interval:<ms> or never, not \(fsync)")
        }
        guard (1...10_000).contains(tickMs) else { throw ConfigError(field: "tick_ms", reason: "1…10000 ms") }
        guard (2...1_000).contains(electionTicks) else {
            throw ConfigError(field: "election_ticks", reason: "2…1000")
        }
        guard (1..<electionTicks).contains(heartbeatTicks) else {
            throw ConfigError(field: "heartbeat_ticks", reason: "1…election_ticks-1")
        }
        _ = try logLevelTable()
        guard (0...60_000).contains(slowDiskMs) else {
            throw ConfigError(field: "slow_disk_ms", reason: "0 (never) … 60000 ms")
        }
        guard (64 << 10...1 << 30).contains(segmentBytes) else {
            throw ConfigError(field: "segment_bytes", reason: "65536…1073741824")
        }
        guard snapshotEveryEntries >= 100 else {
            throw ConfigError(field: "snapshot_every_entries", reason: "at least 100")
        }
        guard entriesKeptAfterSnapshot >= 0 else {
            throw ConfigError(field: "entries_kept_after_snapshot", reason: "must not be negative")
        }
        if peerListenPort == 0 { throw ConfigError(field: "peer_listen_port", reason: "must be 1…65535") }
        try sqs.validate()
        try tls?.validate()
        guard clientAuth == "none" || clientAuth == "keys" else {
            throw ConfigError(field: "client_auth", reason: "keys or none, not \(clientAuth)")
        }
        if clientAuth == "keys" && sqs.accessKeys.isEmpty {
            throw ConfigError(
                field: "client_auth",
                reason: "keys needs at least one key in sqs.access_keys (the cluster's root keys)"
            )
        }
        guard !members.isEmpty else { throw ConfigError(field: "members", reason: "at least one") }
        for (at, member) in members.enumerated() {
            let field = "members[\(at)]"
            guard member.id > 0 else { throw ConfigError(field: "\(field).id", reason: "must be positive") }
            guard !member.host.isEmpty else { throw ConfigError(field: "\(field).host", reason: "must not be empty") }
            for (name, port) in [
                ("peer_port", member.peerPort), ("client_port", member.clientPort), ("http_port", member.httpPort),
            ]
            where port == 0 {
                throw ConfigError(field: "\(field).\(name)", reason: "must be 1…65535")
            }
        }
        guard Set(members.map(\.id)).count == members.count else {
            throw ConfigError(field: "members", reason: "member ids must be distinct")
        }
        guard members.contains(where: { $0.id == nodeID }) else {
            throw ConfigError(field: "node_id", reason: "\(nodeID) is not among the members")
        }
    }
}
