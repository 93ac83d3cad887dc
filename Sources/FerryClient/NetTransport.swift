import FerryModel
import FerryNet
import FerryRouter
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The router's way to the nodes from outside the cluster: one pipelined TCP connection per node's client
/// port (opened without blocking), node addresses from the metadata, the seed endpoints until it is known.
final class NetTransport: RouterTransport, @unchecked Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let seeds: [(host: String, port: Int)]
    private let lock = NIOLock()
    private var connections: [String: Connection] = [:]
    private var connecting: [String: EventLoopFuture<Connection>] = [:]
    private var nodes: [(id: UInt64, host: String, port: Int)] = []
    /// TLS on every connection, when the cluster's client ports use it.
    let security: ConnectionSecurity?
    /// The key each connection proves, when the cluster's client ports want one.
    let credentials: Credentials?

    init(seeds: [(String, Int)], security: ConnectionSecurity?, credentials: Credentials?) {
        self.seeds = seeds
        self.security = security
        self.credentials = credentials
    }

    func shutdown() {
        let open = lock.withLock { Array(connections.values) }
        for connection in open { connection.close() }
        try? group.syncShutdownGracefully()
    }

    /// The client address `target` resolves to now: a known node, else the `attempt`-th candidate (the
    /// metadata's nodes, or the seeds until then).
    func endpoint(_ target: RouteTarget) -> (String, Int) {
        lock.withLock {
            if case .node(let id) = target, let node = nodes.first(where: { $0.id == id }) {
                return (node.host, node.port)
            }
            let attempt = if case .any(let at) = target { at } else { 0 }
            if nodes.isEmpty { return seeds[attempt % seeds.count] }
            let node = nodes[attempt % nodes.count]
            return (node.host, node.port)
        }
    }

    func learned(_ cluster: ClusterDescription) {
        let known = cluster.nodes.map { (id: $0.id, host: $0.host, port: Int($0.clientPort)) }
        lock.withLock { if !known.isEmpty { nodes = known } }
    }

    func knows(_ node: UInt64) -> Bool {
        lock.withLock { nodes.contains { $0.id == node } }
    }

    /// The open connection to `host:port`, connecting (and waiting) when there is none.
    func connection(_ host: String, _ port: Int) throws(FerryClientError) -> Connection {
        let key = "\(host):\(port)"
        if let open = lock.withLock({ connections[key] }), open.isActive { return open }
        let connection = try Connection(host: host, port: port, group: group, security: security)
        if let credentials {
            do {
                try connection.authenticate(credentials, timeoutMs: 5_000).wait()
            } catch let error as FerryClientError {
                connection.close()
                throw error
            } catch {
                connection.close()
                throw .unreachable("\(host):\(port): \(error)")
            }
        }
        lock.withLock { connections[key] = connection }
        return connection
    }

    /// The open connection to `host:port`, or one being opened (shared by every request that needs it).
    private func connect(_ host: String, _ port: Int) -> EventLoopFuture<Connection> {
        let key = "\(host):\(port)"
        return lock.withLock {
            if let open = connections[key], open.isActive { return group.next().makeSucceededFuture(open) }
            if let pending = connecting[key] { return pending }
            let credentials = credentials
            let future = Connection.open(host: host, port: port, group: group, security: security).flatMap {
                connection in
                guard let credentials else { return connection.eventLoop.makeSucceededFuture(connection) }
                return connection.authenticate(credentials, timeoutMs: 5_000).map { connection }
                    .flatMapErrorThrowing { error in
                        connection.close()
                        throw error
                    }
            }
            connecting[key] = future
            future.whenComplete { [self] result in
                lock.withLock {
                    connecting[key] = nil
                    if case .success(let connection) = result { connections[key] = connection }
                }
            }
            return future
        }
    }

    func start(
        _ request: ClientRequest,
        at target: RouteTarget,
        timeoutMs: Int64,
        _ completion: @escaping @Sendable (Result<ClientResponse, FerryClientError>) -> Void
    ) {
        let (host, port) = endpoint(target)
        connect(host, port)
            .flatMap { $0.start(request, timeoutMs: timeoutMs) }
            .whenComplete { result in
                switch result {
                case .success(let response): completion(.success(response))
                case .failure(let error as FerryClientError): completion(.failure(error))
                case .failure(let error): completion(.failure(.unreachable("\(host):\(port): \(error)")))
                }
            }
    }

    func schedule(afterMs ms: Int64, _ body: @escaping @Sendable () -> Void) {
        group.next().scheduleTask(in: .milliseconds(ms), body)
    }
}
