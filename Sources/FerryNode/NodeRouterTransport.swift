import FerryNet
import FerryRouter
import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The router's way to the nodes from inside a node (the SQS API): a request for this node goes straight to its
/// Raft thread's mailbox; one for another node is forwarded over the peer connection (`PeerControl.forward`)
/// and answered on the peer's connection back. No client connection, no second encoding of a local request.
final class NodeRouterTransport: RouterTransport, @unchecked Sendable {
    let me: UInt64
    /// This node first: `.any(attempt: 0)` is this node. The config's members until the router learns the
    /// catalog's nodes (a node added later, a node forgotten); an empty list learnt never replaces it.
    private let nodes: NIOLockedValueBox<[UInt64]>
    var order: [UInt64] { nodes.withLockedValue { $0 } }
    let mailbox: Mailbox
    let peers: PeerTransport
    let group: any EventLoopGroup

    init(config: NodeConfig, mailbox: Mailbox, peers: PeerTransport, group: any EventLoopGroup) {
        me = config.nodeID
        nodes = NIOLockedValueBox([config.nodeID] + config.members.map(\.id).filter { $0 != config.nodeID })
        self.mailbox = mailbox
        self.peers = peers
        self.group = group
    }

    func learned(_ cluster: ClusterDescription) {
        let others = cluster.nodes.map(\.id).filter { $0 != me }.sorted()
        guard !others.isEmpty else { return }
        nodes.withLockedValue { $0 = [me] + others }
    }

    func knows(_ node: UInt64) -> Bool { nodes.withLockedValue { $0.contains(node) } }

    func start(
        _ request: ClientRequest,
        at target: RouteTarget,
        timeoutMs: Int64,
        _ completion: @escaping @Sendable (Result<ClientResponse, FerryClientError>) -> Void
    ) {
        let node: UInt64
        switch target {
        case .node(let id): node = id
        case .any(let attempt):
            let order = self.order
            node = order[attempt % order.count]
        }
        let answer = Answer(completion)
        let trace = RequestTrace.id
        if node == me {
            mailbox.post(
                .client(ClientCall(request: request, requestID: trace.map(RequestID.api)) { answer.give(.success($0)) })
            )
            let timer = group.next().scheduleTask(in: .milliseconds(timeoutMs)) {
                answer.give(.failure(.timeout("node \(node) did not answer within \(timeoutMs) ms")))
            }
            return answer.cancelling(timer)
        }
        guard knows(node) else { return answer.give(.failure(.unreachable("node \(node) is not a member"))) }
        let id = peers.forwarded.register(peer: node, answer)
        if NodeLog.enabled(.debug, .peer) {
            NodeLog.log(
                .debug,
                "request \(request.kindName) forwarded to node \(node) as n\(me)-f\(id)",
                .peer,
                event: "forwarded",
                requestID: trace,
                ["forwarded_as": .string("n\(me)-f\(id)")]
            )
        }
        guard peers.send([PeerControl.forward(from: me, .request(id, request)).encoded()], to: node) else {
            peers.forwarded.drop(id)
            return answer.give(.failure(.unreachable("no connection to node \(node)")))
        }
        let timer = group.next().scheduleTask(in: .milliseconds(timeoutMs)) { [peers] in
            peers.forwarded.drop(id)
            answer.give(.failure(.timeout("node \(node) did not answer within \(timeoutMs) ms")))
        }
        answer.cancelling(timer)
    }

    func schedule(afterMs ms: Int64, _ body: @escaping @Sendable () -> Void) {
        group.next().scheduleTask(in: .milliseconds(ms), body)
    }
}

/// A completion called once: by the answer, or by the timeout, whichever comes first. The answer cancels the
/// timeout (a node answering hundreds of requests a second keeps no thousands of timers waiting).
package final class Answer: @unchecked Sendable {
    private let lock = NIOLock()
    private var completion: (@Sendable (Result<ClientResponse, FerryClientError>) -> Void)?
    private var timer: Scheduled<Void>?

    package init(_ completion: @escaping @Sendable (Result<ClientResponse, FerryClientError>) -> Void) {
        self.completion = completion
    }

    package func give(_ result: Result<ClientResponse, FerryClientError>) {
        let (waiting, timer) = lock.withLock {
            defer {
                completion = nil
                self.timer = nil
            }
            return (completion, self.timer)
        }
        timer?.cancel()
        waiting?(result)
    }

    /// The timeout that `give` cancels (at once when the answer came first).
    func cancelling(_ timer: Scheduled<Void>) {
        let answered = lock.withLock {
            if completion != nil { self.timer = timer }
            return completion == nil
        }
        if answered { timer.cancel() }
    }
}

/// Requests this node forwarded to peers, by correlation id, until answered, timed out, or their peer's
/// connection broke (then the outcome is unknown: `timeout`).
package final class ForwardedCalls: @unchecked Sendable {
    private let lock = NIOLock()
    private var nextID: UInt32 = 0
    private var waiting: [UInt32: (peer: UInt64, answer: Answer)] = [:]

    package init() {}

    package func register(peer: UInt64, _ answer: Answer) -> UInt32 {
        lock.withLock {
            nextID &+= 1
            waiting[nextID] = (peer, answer)
            return nextID
        }
    }

    package func drop(_ id: UInt32) {
        _ = lock.withLock { waiting.removeValue(forKey: id) }
    }

    /// A peer's answer (an unknown or late id is ignored).
    package func answer(_ id: UInt32, _ response: ClientResponse) {
        lock.withLock { waiting.removeValue(forKey: id) }?.answer.give(.success(response))
    }

    package func connectionBroke(peer: UInt64) {
        let lost = lock.withLock {
            let ids = waiting.filter { $0.value.peer == peer }.map(\.key)
            return ids.compactMap { waiting.removeValue(forKey: $0)?.answer }
        }
        for answer in lost { answer.give(.failure(.timeout("the connection to node \(peer) broke"))) }
    }
}
