import FerryClient
import FerryModel
import FerryNode
import FerryWire
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `GET /metrics` on each node's HTTP port, and idle groups quiescing (DESIGN §6): measured through the metrics
/// a user would scrape.
@Suite(.serialized) struct MetricsAndQuiescenceTests {
    /// A blocking `GET path` over a plain socket; the body, or nil when the node does not answer.
    static func httpGet(_ host: String, _ port: UInt16, _ path: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count <= 0 { break }
            response += chunk[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 200"), let split = text.firstRange(of: "\r\n\r\n") else { return nil }
        return String(text[split.upperBound...])
    }

    /// The value of the series `name{labels}` (labels exactly as rendered), or nil.
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.split(separator: " ").last!)
        }
        return nil
    }

    static func sum(_ text: String, _ name: String) -> Double {
        text.split(separator: "\n").filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
            .compactMap { Double($0.split(separator: " ").last!) }.reduce(0, +)
    }

    @Test func metricsCountAQueuesTrafficOnceAndRaftStateOnEveryReplica() throws {
        let cluster = LocalCluster(name: "metrics")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("metered.fifo", partitions: 1)
        for n in 0..<3 {
            var body = ByteBuffer()
            body.writeString("m\(n)")
            _ = try client.send(queue.name, [SendRequest(body: body, groupID: "g", deduplicationID: "d\(n)")])
        }
        let received = try client.receive(queue.name, maxMessages: 10, waitMs: 1_000)
        #expect(received.count == 3)
        _ = try client.delete(queue.name, partition: 0, received.prefix(1).map(\.delivery.handle))

        let pages = cluster.members.compactMap { Self.httpGet($0.host, $0.httpPort, "/metrics") }
        #expect(pages.count == 3, "every node serves /metrics")
        let labels = "{queue=\"metered.fifo\",partition=\"0\"}"
        let leaders = pages.filter { Self.value($0, "ferry_queue_sent_messages_total" + labels) != nil }
        #expect(leaders.count == 1, "the queue's series come from the partition's leader only")
        if let page = leaders.first {
            #expect(Self.value(page, "ferry_queue_sent_messages_total" + labels) == 3)
            #expect(Self.value(page, "ferry_queue_received_messages_total" + labels) == 3)
            #expect(Self.value(page, "ferry_queue_deleted_messages_total" + labels) == 1)
            #expect(Self.value(page, "ferry_queue_in_flight_messages" + labels) == 2)
            #expect(Self.value(page, "ferry_queue_visible_messages" + labels) == 0)
        }
        for page in pages {
            #expect(page.contains("ferry_raft_term{"), "Raft series on every replica")
            #expect(page.contains("ferry_storage_fsync_seconds_bucket"))
            #expect(!page.contains("m0") && !page.contains("m1"), "no message bodies")
        }
        for member in cluster.members {
            #expect(Self.httpGet(member.host, member.httpPort, "/health") == "ok\n")
        }
    }

    /// Idle groups stop ticking (no per-group heartbeats): after a quiet moment every group of every node is
    /// quiesced; a send wakes its partition and is acknowledged, and a crashed leader of a quiesced group is
    /// replaced so that sends go on.
    @Test func idleGroupsQuiesceAndWakeForSendsAndFailover() throws {
        let cluster = LocalCluster(name: "quiesce")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("idle.fifo", partitions: 4)
        func quiesced() -> [Double] {
            cluster.members.filter { cluster.servers[$0.id] != nil }.map {
                Self.sum(Self.httpGet($0.host, $0.httpPort, "/metrics") ?? "", "ferry_raft_quiesced")
            }
        }
        let groupsPerNode = 5.0  // four partitions and the metadata group, each on every node
        let allQuiet = (0..<50).contains { _ in
            usleep(100_000)
            return quiesced() == [groupsPerNode, groupsPerNode, groupsPerNode]
        }
        #expect(allQuiet, "every group quiesced: \(quiesced())")

        var body = ByteBuffer()
        body.writeString("wake")
        let first = try client.send(queue.name, [SendRequest(body: body, groupID: "g", deduplicationID: "w")])
        guard case .success? = first.first else {
            Issue.record("send to a quiesced partition answered \(first)")
            return
        }
        // Crash the leader of a quiesced partition: its connections close, and the others elect a new one.
        let leader = cluster.statuses(client).values.lazy.compactMap {
            $0.groups.first { $0.queue == queue.name && $0.partition == 1 && $0.leader != 0 }?.leader
        }.first
        usleep(500_000)
        cluster.crash(try #require(leader))
        for n in 0..<8 {
            var body = ByteBuffer()
            body.writeString("after\(n)")
            let outcome = try client.send(
                queue.name,
                [SendRequest(body: body, groupID: "g\(n)", deduplicationID: "a\(n)")]
            )
            guard case .success? = outcome.first else {
                Issue.record("send after the crash answered \(outcome)")
                continue
            }
        }
    }
}

@Suite struct ConfigTemplateTests {
    /// The template users copy parses, and every field in it is one `NodeConfig` knows.
    @Test func theConfigTemplateParsesAndValidates() throws {
        let root = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let file = fopen("/" + root + "/Cluster/node.yaml.template", "r")
        let handle = try #require(file)
        defer { fclose(handle) }
        var text = ""
        var line = [CChar](repeating: 0, count: 4_096)
        while fgets(&line, Int32(line.count), handle) != nil {
            text += String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        let config = try NodeConfig.parse(yaml: text)
        try config.validate()
        #expect(config.members.count == 3 && config.fsync == "always" && config.snapshotEveryEntries == 10_000)
        #expect(config.slowDiskMs == 250 && config.storageFaults == nil, "no fault layer on a real node")
        #expect(
            config.sqs.auth == "sigv4" && config.sqs.accessKeys.count == 1 && config.sqs.accountID == "000000000000"
        )
    }

    /// A bad `sqs:` field is named; an absent section means SigV4 with no keys (the API refuses everyone).
    @Test func badSQSSettingsAreNamed() throws {
        let base =
            "node_id: 1\ncluster_id: c\ndata_dir: /tmp/x\nmembers:\n  - {id: 1, host: 127.0.0.1, peer_port: 1, client_port: 2, http_port: 3}\n"
        let plain = try NodeConfig.parse(yaml: base)
        #expect(plain.sqs.auth == "sigv4" && plain.sqs.accessKeys.isEmpty)
        func field(_ sqs: String) -> String? {
            do {
                try NodeConfig.parse(yaml: base + "sqs:\n" + sqs).validate()
                return nil
            } catch {
                return error.field
            }
        }
        #expect(field("  auth: open\n") == "sqs.auth")
        #expect(throws: ConfigError.self) { try NodeConfig.parse(yaml: base + "slow_disk_ms: -1\n").validate() }
        let faults = try NodeConfig.parse(yaml: base + "storage_faults:\n  power_loss: true\n")
        #expect(faults.storageFaults == StorageFaultsConfig(powerLoss: true, controlFile: nil))
        #expect(field("  account_id: \"12\"\n") == "sqs.account_id")
        #expect(field("  access_keys:\n    - {id: short, secret: 0123456789abcdef}\n") == "sqs.access_keys[0].id")
        #expect(
            field("  access_keys:\n    - {id: AKFR0000000000000000, secret: short}\n") == "sqs.access_keys[0].secret"
        )
        #expect(
            field("  access_keys:\n    - {id: AKFR0000000000000000, secret: 0123456789abcdef, account_id: \"1\"}\n")
                == "sqs.access_keys[0].account_id"
        )
        let partner =
            "  access_keys:\n    - {id: AKFR0000000000000000, secret: 0123456789abcdef, account_id: \"111122223333\"}\n"
        #expect(field(partner) == nil)
        #expect(try NodeConfig.parse(yaml: base + "sqs:\n" + partner).sqs.accessKeys.first?.accountID == "111122223333")
        #expect(field("  auth: none\n") == nil)
    }
}
