import FerryClient
import FerryHTTP
import FerryModel
import FerryNode
import FerryRouter
import FerryTLS
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Three nodes in this process on 127.0.0.1, each with its own data directory, ports and Raft thread.
final class LocalCluster {
    let members: [MemberConfig]
    let directory: String
    var servers: [UInt64: FerryNodeServer] = [:]
    /// Each running node's own router (the one its SQS API calls through), as the node handed it out.
    let routers = NIOLockedValueBox<[UInt64: PartitionRouter]>([:])

    static let clusters = NIOLockedValueBox(0)

    static func nowMs() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// The nodes that found the cluster (the others start with `join: true`, to be added later).
    let founders: Int

    /// TLS on every node: `DIR/node-ID.pem|.key` and `DIR/ca.pem` (Cluster/certs), and the clients' CA.
    var tlsDirectory: String?
    /// `client_auth: keys` with this root key (node.yaml's `sqs.access_keys`); the clients use it.
    var rootKey: (id: String, secret: String)?
    /// The native port's authorization (default: a key of the cluster's account only).
    var authorize: NativeAuth.Authorizer?

    /// - Parameter hosts: each node's own loopback address (default all on 127.0.0.1).
    init(nodes: Int = 3, founders: Int? = nil, name: String, hosts: [String]? = nil) {
        self.founders = founders ?? nodes
        // Ports from the process id and a counter, so that parallel clusters and test processes do not collide.
        // All below 32,768, where Linux's ephemeral range starts: an outgoing connection (the peer transport binds
        // its source address to 127.0.0.1) may take any ephemeral port, and a listener placed there can find it
        // in use (CI failed once with "cannot serve HTTP on 127.0.0.1:55099: Address already in use").
        let base =
            10_000 + Int(getpid() % 110) * 200
            + Self.clusters.withLockedValue { count in
                defer { count += 1 }
                return (count % 15) * 13
            }
        members = (1...nodes).map {
            MemberConfig(
                id: UInt64($0),
                host: hosts?[$0 - 1] ?? "127.0.0.1",
                peerPort: UInt16(base + 3 * $0),
                clientPort: UInt16(base + 3 * $0 + 1),
                httpPort: UInt16(base + 3 * $0 + 2)
            )
        }
        var template = Array("/tmp/ferry-\(name)-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    /// Small snapshots for tests that need a follower to catch up by snapshot.
    var snapshotEveryEntries = 10_000
    var entriesKeptAfterSnapshot = 1_000

    func config(_ id: UInt64) -> NodeConfig {
        let founding = Array(members.prefix(founders))
        var config = NodeConfig(
            nodeID: id,
            clusterID: "test",
            dataDirectory: "\(directory)/\(id)",
            members: id <= UInt64(founders) ? founding : founding + [members[Int(id) - 1]]
        )
        config.join = id > UInt64(founders)
        config.tickMs = 20
        config.snapshotEveryEntries = snapshotEveryEntries
        config.entriesKeptAfterSnapshot = entriesKeptAfterSnapshot
        if let rootKey {
            config.clientAuth = "keys"
            config.sqs.accessKeys = [SQSConfig.AccessKey(id: rootKey.id, secret: rootKey.secret)]
        }
        if let tls = tlsDirectory {
            config.tls = TLSConfig(
                certFile: "\(tls)/node-\(id).pem",
                keyFile: "\(tls)/node-\(id).key",
                caFile: "\(tls)/ca.pem"
            )
        }
        return config
    }

    func start(_ id: UInt64) throws {
        servers[id] = try FerryNodeServer(config: config(id), authorize: authorize) { [routers] router, _ in
            routers.withLockedValue { $0[id] = router }
            return HTTPAPI(handler: { _ in (404, [], []) }, metrics: { "" })
        }
    }

    func startAll() throws {
        for member in members.prefix(founders) { try start(member.id) }
    }

    /// Graceful stop (SIGTERM's path).
    func stop(_ id: UInt64) {
        servers.removeValue(forKey: id)?.stop()
    }

    /// Stops a node at once, without hand-off or a final sync (the in-process stand-in for SIGKILL; the real
    /// SIGKILL is in Tests/run's Cluster/local smoke step and `ferry bench failover`).
    func crash(_ id: UInt64) {
        servers.removeValue(forKey: id)?.stop(graceful: false)
    }

    func stopAll() {
        for id in servers.keys.sorted() { stop(id) }
    }

    var endpoints: [String] { members.prefix(founders).map { "\($0.host):\($0.clientPort)" } }

    func client() throws -> FerryClient {
        var options = FerryClient.Options()
        options.requestTimeoutMs = 3_000
        options.retryDeadlineMs = 10_000
        return try FerryClient(
            endpoints: endpoints,
            options: options,
            tls: try tlsDirectory.map { try ClientTLS(caFile: "\($0)/ca.pem") },
            credentials: rootKey.map { Credentials(keyID: $0.id, secret: $0.secret) }
        )
    }

    /// Each running node's status (nil for a node that does not answer).
    func statuses(_ client: FerryClient) -> [UInt64: NodeStatus] {
        var result: [UInt64: NodeStatus] = [:]
        for member in members {
            if let status = try? client.nodeStatus(host: member.host, port: Int(member.clientPort)) {
                result[member.id] = status
            }
        }
        return result
    }

    /// Sends one raw request to each node in turn until one answers with something other than `notLeader`.
    func rawCall(_ request: ClientRequest) -> ClientResponse? {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        for member in members {
            guard let connection = try? Connection(host: member.host, port: Int(member.clientPort), group: group),
                let response = try? connection.call(request, timeoutMs: 3_000)
            else { continue }
            connection.close()
            if case .error(let error) = response, error.code == .notLeader { continue }
            return response
        }
        return nil
    }
}
