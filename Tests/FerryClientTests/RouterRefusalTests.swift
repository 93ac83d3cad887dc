import FerryClient
import FerryModel
import FerryRouter
import FerryWire
import NIOConcurrencyHelpers
import Testing

/// What a call that found no node to serve it reports (`PartitionRouter.call`).
@Suite struct RouterRefusalTests {
    /// Answers every request with the refusal of the node it is sent to (`.any` goes round the nodes).
    final class Refusals: RouterTransport, @unchecked Sendable {
        let byNode: [UInt64: WireError]
        let lock = NIOLock()
        var asked: [UInt64] = []

        init(_ byNode: [UInt64: WireError]) { self.byNode = byNode }

        func start(
            _ request: ClientRequest,
            at target: RouteTarget,
            timeoutMs: Int64,
            _ completion: @escaping @Sendable (Result<ClientResponse, FerryClientError>) -> Void
        ) {
            let nodes = byNode.keys.sorted()
            let node: UInt64
            switch target {
            case .node(let id): node = id
            case .any(let attempt): node = nodes[attempt % nodes.count]
            }
            lock.withLock { asked.append(node) }
            completion(.success(.error(byNode[node]!)))
        }

        func schedule(afterMs ms: Int64, _ body: @escaping @Sendable () -> Void) { body() }
        func learned(_ cluster: ClusterDescription) {}
        func knows(_ node: UInt64) -> Bool { byNode[node] != nil }
    }

    static func call(_ transport: Refusals) async -> FerryClientError? {
        var options = RouterOptions()
        options.retryDeadlineMs = 300
        let router = PartitionRouter(transport: transport, options: options)
        do throws(FerryClientError) {
            _ = try await router.call(.describeCluster)
            return nil
        } catch {
            return error
        }
    }

    /// A refusal that says why nothing can serve (a repairing replica, a node without a majority) is what the
    /// caller hears, not the `notLeader` of a node that merely knows no leader, whichever node was asked last.
    @Test func aRefusalThatSaysWhyOutlivesALaterNotLeader() async {
        let transport = Refusals([
            1: WireError(.unavailable, "node 1's replica of q.fifo/0 repairs after storage damage"),
            2: WireError(.notLeader, "node 2 does not lead q.fifo/0", leaderHint: 0),
            3: WireError(.notLeader, "node 3 does not lead q.fifo/0", leaderHint: 0),
        ])
        let error = await Self.call(transport)
        #expect(transport.lock.withLock { Set(transport.asked) } == [1, 2, 3], "every node was asked")
        guard case .server(let refusal)? = error else {
            Issue.record("expected a server refusal, got \(String(describing: error))")
            return
        }
        #expect(refusal.code == .unavailable && refusal.message.contains("repairs after storage damage"))
    }

    /// Without such a refusal the last answer stands.
    @Test func otherwiseTheLastRefusalStands() async {
        let transport = Refusals([
            1: WireError(.notLeader, "node 1 does not lead q.fifo/0", leaderHint: 0),
            2: WireError(.notLeader, "node 2 does not lead q.fifo/0", leaderHint: 0),
        ])
        guard case .server(let refusal)? = await Self.call(transport) else {
            Issue.record("expected a server refusal")
            return
        }
        #expect(refusal.code == .notLeader)
    }
}
