import FerryClient
import FerryModel
import FerryNode
import FerryRaft
import FerryTLS
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// TLS on every port of in-process nodes with certificates from `Cluster/certs` (issue 17's bad input): each
/// refusal is a typed error for the client and a log line naming its cause on the node, and changes nothing.
@Suite(.serialized) struct TLSClusterTests {
    /// Each node on its own loopback address, so a certificate names exactly one member.
    static let hosts = ["127.0.1.1", "127.0.1.2", "127.0.1.3"]

    /// Runs `Cluster/certs ARGS` from the checkout.
    static func certs(_ arguments: [String]) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let process = Process()
        process.executableURL = root.appendingPathComponent("Cluster/certs")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "Cluster/certs \(arguments.joined(separator: " "))")
    }

    /// A CA and a certificate per node in the cluster's directory.
    static func tlsCluster(_ name: String) throws -> LocalCluster {
        let cluster = LocalCluster(name: name, hosts: hosts)
        let tls = cluster.directory + "/tls"
        try certs(["ca", tls])
        for member in cluster.members { try certs(["node", tls, "node-\(member.id)", member.host]) }
        cluster.tlsDirectory = tls
        return cluster
    }

    /// Log lines the nodes write while `body` runs.
    static func logged(_ body: () throws -> Void) rethrows -> [String] {
        let lines = NIOLockedValueBox<[String]>([])
        NodeLog.observer = { _, message in lines.withLockedValue { $0.append(message) } }
        defer { NodeLog.observer = nil }
        try body()
        return lines.withLockedValue { $0 }
    }

    /// What a raw connection got: the bytes the server sent before it closed, and whether it closed within the
    /// wait.
    struct Probe {
        var received: [UInt8]
        var closed: Bool
        var text: String { String(decoding: received, as: UTF8.self) }
    }

    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = NIOLockedValueBox<[UInt8]>([])

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            bytes.withLockedValue { $0 += buffer.readableBytesView }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    /// Connects to `host:port` (from `source`), with TLS as `tls` configures it (nil: clear text), writes
    /// `payload` and waits up to `waitMs` for the server to close.
    static func probe(
        _ host: String,
        _ port: UInt16,
        from source: String? = nil,
        tls: TLSConfiguration?,
        payload: ByteBuffer,
        waitMs: Int64 = 2_000
    ) throws -> Probe {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let collector = Collector()
        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        var bootstrap = ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: context, serverHostname: nil)
                        )
                    }
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel = try bootstrap.connect(host: host, port: Int(port)).wait()
        channel.writeAndFlush(payload, promise: nil)
        let deadline = LocalCluster.nowMs() + waitMs
        while channel.isActive && LocalCluster.nowMs() < deadline { usleep(20_000) }
        let closed = !channel.isActive
        try? channel.close().wait()
        return Probe(received: collector.bytes.withLockedValue { $0 }, closed: closed)
    }

    /// A client configuration presenting `name`'s certificate from `directory`, trusting `ca`.
    static func presenting(_ directory: String, _ name: String, ca: String) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(ca)
        configuration.certificateVerification = .noHostnameVerification
        configuration.certificateChain = try NIOSSLCertificate.fromPEMFile("\(directory)/\(name).pem").map {
            .certificate($0)
        }
        configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: "\(directory)/\(name).key", format: .pem))
        return configuration
    }

    /// Every group's term on every node.
    static func terms(_ cluster: LocalCluster, _ client: FerryClient) -> [String] {
        cluster.statuses(client).sorted { $0.key < $1.key }.flatMap { node, status in
            status.groups.map { "\(node)/\($0.groupID):\($0.term)" }
        }
    }

    @Test func aTLSClusterServesClientsWithTheCAAndRefusesPlaintextAndAWrongCA() throws {
        let cluster = try Self.tlsCluster("tls-serve")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        _ = try client.createQueue("tls.fifo", partitions: 2)
        var body = ByteBuffer()
        body.writeString("over TLS")
        let sent = try client.send("tls.fifo", [SendRequest(body: body, groupID: "g", deduplicationID: "d1")])
        guard case .success? = sent.first else {
            Issue.record("send over TLS failed: \(sent)")
            return
        }
        let statuses = cluster.statuses(client)
        #expect(statuses.count == 3)
        let now = Int64(Date().timeIntervalSince1970)
        #expect(statuses.values.allSatisfy { $0.tlsNotAfter > now + 86_400 * 800 }, "expiry in ferry cluster status")

        let member = cluster.members[0]
        let lines = try Self.logged {
            // A plain native client: a typed refusal that says why.
            var options = FerryClient.Options()
            options.retryDeadlineMs = 2_000
            let plain = try FerryClient(endpoints: cluster.endpoints, options: options)
            #expect {
                _ = try plain.listQueues(prefix: "")
            } throws: { error in
                guard case FerryClientError.refused(let detail) = error else { return false }
                return detail.contains("requires TLS")
            }
            // A client that trusts another CA refuses the node's certificate.
            let other = cluster.directory + "/other-ca"
            try Self.certs(["ca", other])
            let wrong = try FerryClient(
                endpoints: cluster.endpoints,
                options: options,
                tls: try ClientTLS(caFile: other + "/ca.pem")
            )
            #expect {
                _ = try wrong.listQueues(prefix: "")
            } throws: { error in
                guard case FerryClientError.refused(let detail) = error else { return false }
                return detail.contains("CERTIFICATE_VERIFY_FAILED")
            }
            // Plain HTTP to the TLS HTTP port: a 400 that says why, then the connection closes.
            let http = try Self.probe(
                member.host,
                member.httpPort,
                tls: nil,
                payload: ByteBuffer(string: "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            )
            #expect(http.closed)
            #expect(http.text.hasPrefix("HTTP/1.1 400") && http.text.contains("requires TLS"), "\(http.text)")
        }
        #expect(lines.contains { $0.contains("plaintext connection to the TLS client port") }, "\(lines)")
        #expect(lines.contains { $0.contains("plaintext connection to the TLS http port") }, "\(lines)")
        #expect(
            lines.contains { $0.contains("TLS handshake on the client port") && $0.contains("UNKNOWN_CA") },
            "\(lines)"
        )
        // HTTPS with the CA works, and /metrics shows the expiry and the refusals.
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(cluster.tlsDirectory! + "/ca.pem")
        let page = try Self.probe(
            member.host,
            member.httpPort,
            tls: configuration,
            payload: ByteBuffer(string: "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        )
        #expect(page.text.hasPrefix("HTTP/1.1 200"), "\(page.text.prefix(200))")
        #expect(page.text.contains("ferry_tls_certificate_expiry_timestamp_seconds"))
        #expect(page.text.contains("ferry_tls_refused_connections_total{port=\"client\",cause=\"plaintext\"}"))
        // Nothing changed: the queue holds the one message.
        let received = try client.receive("tls.fifo", maxMessages: 10, waitMs: 2_000)
        #expect(received.count == 1)
    }

    @Test func peersWithoutAMembersValidCertificateAreRefusedAndChangeNothing() throws {
        let cluster = try Self.tlsCluster("tls-peers")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        _ = try client.createQueue("peers.fifo", partitions: 1)
        let tls = cluster.tlsDirectory!
        let ca = tls + "/ca.pem"
        let other = cluster.directory + "/other-ca"
        try Self.certs(["ca", other])
        try Self.certs(["node", tls, "foreign", Self.hosts[1], "--ca", other])
        try Self.certs(["node", tls, "expired", Self.hosts[1], "--days", "-1"])
        try Self.certs(["node", tls, "future", Self.hosts[1], "--not-before", "20400101000000Z"])
        try Self.certs(["node", tls, "stranger", "127.0.1.9"])
        // Every group led on every node first, so no term moves on its own while the strangers knock.
        let settle = LocalCluster.nowMs() + 10_000
        while LocalCluster.nowMs() < settle {
            let statuses = cluster.statuses(client)
            if statuses.count == 3,
                statuses.values.allSatisfy({ $0.groups.count == 2 && $0.groups.allSatisfy { $0.leader != 0 } })
            {
                break
            }
            usleep(50_000)
        }
        let before = Self.terms(cluster, client)
        let target = cluster.members[0]
        // A vote request far ahead: a node that believed it would raise its term.
        func hostile(from: UInt64) -> ByteBuffer {
            var bytes = PeerHello(clusterID: "test", from: from, to: target.id).encoded()
            var frame = PeerFrame(
                groupID: 1,
                message: RaftMessage(
                    from: from,
                    to: target.id,
                    term: 1_000,
                    body: .requestVote(lastIndex: 1_000_000, lastTerm: 999, leadershipTransfer: false)
                )
            ).encoded()
            bytes.writeBuffer(&frame)
            return bytes
        }
        let cases: [(String, TLSConfiguration?, String?, String)] = [
            ("plaintext", nil, nil, "plaintext connection to the TLS peer port"),
            (
                "another CA", try Self.presenting(tls, "foreign", ca: ca), Self.hosts[1],
                "not signed by the cluster's CA"
            ),
            ("expired", try Self.presenting(tls, "expired", ca: ca), Self.hosts[1], "certificate has expired"),
            (
                "not yet valid", try Self.presenting(tls, "future", ca: ca), Self.hosts[1],
                "certificate is not yet valid"
            ),
            ("not a member", try Self.presenting(tls, "stranger", ca: ca), "127.0.1.9", "not a member of the cluster"),
            // Node 3's own valid certificate, speaking as node 2.
            ("another member's name", try Self.presenting(tls, "node-3", ca: ca), Self.hosts[2], "not node 2's host"),
        ]
        for (name, configuration, source, cause) in cases {
            var probe: Probe?
            let lines = try Self.logged {
                probe = try Self.probe(
                    target.host,
                    target.peerPort,
                    from: source,
                    tls: configuration,
                    payload: hostile(from: 2)
                )
            }
            #expect(probe?.closed == true, "\(name): the connection is closed")
            #expect(lines.contains { $0.contains(cause) }, "\(name): a log line names the cause: \(lines)")
            #expect(!lines.joined().contains("BEGIN"), "no key material in the log")
        }
        usleep(300_000)
        #expect(Self.terms(cluster, client) == before, "no refused peer changed a term")
        let refusals = cluster.servers[target.id]!.tlsRefusals
        #expect(refusals["peer/plaintext"] == 1)
        #expect(refusals["peer/certificate"] == 4, "\(refusals)")
        #expect(refusals["peer/identity"] == 1, "\(refusals)")
    }

    @Test func certificatesReloadUnderLoadWithoutAFailedRequest() throws {
        let cluster = try Self.tlsCluster("tls-reload")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        _ = try client.createQueue("reload.fifo", partitions: 2)
        let before = cluster.statuses(client).mapValues(\.tlsNotAfter)
        let failures = NIOLockedValueBox<[String]>([])
        let acknowledged = NIOLockedValueBox(0)
        let stop = NIOLockedValueBox(false)
        let producer = Thread {
            // Bounded: at most 4,000 sends or until told to stop.
            for n in 0..<4_000 where !stop.withLockedValue({ $0 }) {
                var body = ByteBuffer()
                body.writeString("m\(n)")
                do {
                    let results = try client.send(
                        "reload.fifo",
                        [SendRequest(body: body, groupID: "g\(n % 4)", deduplicationID: "r\(n)")]
                    )
                    if case .success? = results.first {
                        acknowledged.withLockedValue { $0 += 1 }
                    } else {
                        failures.withLockedValue { $0.append("\(results)") }
                    }
                } catch {
                    failures.withLockedValue { $0.append("\(error)") }
                }
            }
        }
        producer.start()
        defer { stop.withLockedValue { $0 = true } }
        usleep(500_000)
        let tls = cluster.tlsDirectory!
        // New certificates (another validity) for every node, loaded while the producer runs.
        for member in cluster.members {
            try Self.certs(["node", tls, "node-\(member.id)", member.host, "--days", "400"])
            #expect(try cluster.servers[member.id]!.reloadTLS() != nil)
        }
        // A broken file is refused and the old material stays in use.
        try "not a certificate".write(toFile: tls + "/node-1.pem", atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) { try cluster.servers[1]!.reloadTLS() }
        usleep(500_000)
        // New connections (a new client) get the new certificates; the old client's connections were kept.
        let fresh = try cluster.client()
        let after = cluster.statuses(fresh).mapValues(\.tlsNotAfter)
        #expect(after.count == 3)
        for (node, notAfter) in after { #expect(notAfter < before[node]!, "node \(node) serves the new certificate") }
        let sentBefore = acknowledged.withLockedValue { $0 }
        usleep(500_000)
        stop.withLockedValue { $0 = true }
        while !producer.isFinished { usleep(10_000) }
        #expect(
            failures.withLockedValue { $0 }.isEmpty,
            "no failed request: \(failures.withLockedValue { $0.prefix(3) })"
        )
        #expect(acknowledged.withLockedValue { $0 } > sentBefore, "sends went on after the reload")
    }
}
