import FerryModel
import FerryNode
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The peer connections of two real transports on loopback.
@Suite(.serialized) struct PeerTransportTests {
    /// Polls `condition` every 20 ms for up to `seconds`; whether it came true.
    static func eventually(seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = LocalCluster.nowMs() + Int64(seconds * 1_000)
        while LocalCluster.nowMs() < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// A node answers a forwarded request on its own connection to the asker. Right after a restart that
    /// connection is still being redialled: the answer waits for it instead of being dropped (the deploy drill's
    /// SQS producer waited out the asker's 5 s timeout on every rolling restart).
    @Test func aForwardedAnswerWaitsForTheConnectionBack() throws {
        let cluster = LocalCluster(nodes: 2, name: "peer-reply")
        let (one, two) = (cluster.members[0], cluster.members[1])
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let asker = PeerTransport(
            config: NodeConfig(
                nodeID: 1,
                clusterID: "test",
                dataDirectory: "\(cluster.directory)/1",
                members: [one, two]
            ),
            group: group,
            mailbox: Mailbox()
        )
        // Node 2 knows only itself for now: it takes node 1's connection but has none of its own to node 1.
        let answererMailbox = Mailbox()
        let answerer = PeerTransport(
            config: NodeConfig(nodeID: 2, clusterID: "test", dataDirectory: "\(cluster.directory)/2", members: [two]),
            group: group,
            mailbox: answererMailbox
        )
        try answerer.start()
        try asker.start()
        defer {
            asker.stop()
            answerer.stop()
        }
        #expect(Self.eventually(seconds: 5) { asker.send([], to: 2) }, "node 1 connected to node 2")

        let answered = NIOLockedValueBox<ClientResponse?>(nil)
        let id = asker.forwarded.register(
            peer: 2,
            Answer { result in answered.withLockedValue { $0 = try? result.get() } }
        )
        #expect(asker.send([PeerControl.forward(from: 1, .request(id, .describeCluster)).encoded()], to: 2))
        var call: ClientCall?
        _ = Self.eventually(seconds: 5) {
            for case .client(let received) in answererMailbox.takeNow() { call = received }
            return call != nil
        }
        let request = try #require(call, "node 2 got the forwarded request")
        let answer = ClientResponse.error(WireError(.unavailable, "answered"))
        request.reply(answer)
        usleep(200_000)
        // Now node 2 dials node 1, as after a restart once its backoff ends, or once it learns of node 1.
        answerer.connect([one, two])
        #expect(Self.eventually(seconds: 5) { answered.withLockedValue { $0 } != nil }, "the answer arrived")
        #expect(answered.withLockedValue { $0 } == answer)
    }
}
