import FerryConsole
import FerryHTTP
import FerryModel
import FerryNet
import FerryRouter
import FerrySQS
import FerryWire
import Foundation
import XCTest

final class ConsoleTests: XCTestCase {
    static let owner = "AKIAFERRYOWNER000001"
    static let watcher = "AKIAFERRYWATCH000001"
    static let stranger = "AKIAFERRYOTHER000001"
    static let secret = "console-test-secret-0123456789"

    static var quickOptions: RouterOptions {
        var options = RouterOptions()
        options.retryDeadlineMs = 300
        return options
    }

    /// A console whose router reaches no node: what these tests ask needs none.
    func console(signed: Bool = true) -> ConsoleAPI {
        let verifier = SigV4Verifier(secrets: [
            Self.owner: Self.secret, Self.watcher: Self.secret, Self.stranger: Self.secret,
        ])
        return ConsoleAPI(
            configuration: ConsoleAPI.Configuration(
                nodeID: 2,
                account: "000000000000",
                region: "us-east-1",
                verifier: signed ? verifier : nil,
                keyAccount: { $0 == Self.stranger ? "111122223333" : nil },
                readOnly: { $0 == Self.watcher }
            ),
            router: PartitionRouter(transport: NoNodes(), options: Self.quickOptions)
        )
    }

    func request(
        _ path: String,
        key: String? = nil,
        now: Int64 = Int64(Date().timeIntervalSince1970)
    )
        -> HTTPRequestParts
    {
        var headers: [(name: String, value: String)] = [("Host", "127.0.0.1:9100")]
        if let key {
            headers += SigV4Signer(accessKeyID: key, secret: Self.secret)
                .sign(method: "GET", path: path, headers: headers, body: [], nowSeconds: now)
        }
        return HTTPRequestParts(method: "GET", path: path, query: "", headers: headers, body: [])
    }

    func answer(_ api: ConsoleAPI, _ parts: HTTPRequestParts) async throws -> (Int, [String: Any]) {
        let handler = try XCTUnwrap(api.route(method: parts.method, path: parts.path))
        let (status, _, body) = await handler(parts)
        let json = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] ?? [:]
        return (status, json)
    }

    func testAssetsAreServedAndNothingLoadsFromElsewhere() throws {
        let api = console()
        for path in [
            "/console", "/console/", "/console/app.js", "/console/views.js", "/console/sigv4.js",
            "/console/console.css",
        ] {
            XCTAssertNotNil(api.route(method: "GET", path: path), path)
            let asset = try XCTUnwrap(ConsoleAssets.asset(at: path))
            XCTAssertFalse(asset.body.contains("http://"), "\(path) names another origin")
            XCTAssertFalse(asset.body.contains("https://"), "\(path) names another origin")
        }
        XCTAssertNil(api.route(method: "GET", path: "/console/missing.js"))
        XCTAssertNil(api.route(method: "POST", path: "/status/v1/cluster"))
        XCTAssertNil(api.route(method: "GET", path: "/metrics"))
    }

    func testStatusReadsNeedASignatureOfTheAccountsOwnKeys() async throws {
        let api = console()
        var (status, body) = try await answer(api, request("/status/v1/whoami"))
        XCTAssertEqual(status, 403)
        XCTAssertEqual((body["error"] as? [String: Any])?["code"] as? String, "MissingAuthenticationToken")

        (status, body) = try await answer(api, request("/status/v1/whoami", key: Self.owner))
        XCTAssertEqual(status, 200)
        XCTAssertEqual(body["keyID"] as? String, Self.owner)
        XCTAssertEqual(body["readOnly"] as? Bool, false)
        XCTAssertEqual(body["node"] as? Int, 2)

        (status, body) = try await answer(api, request("/status/v1/whoami", key: Self.watcher))
        XCTAssertEqual(status, 200)
        XCTAssertEqual(body["readOnly"] as? Bool, true)

        (status, body) = try await answer(api, request("/status/v1/whoami", key: Self.stranger))
        XCTAssertEqual(status, 403)
        XCTAssertEqual((body["error"] as? [String: Any])?["code"] as? String, "AccessDenied")

        // A signature of an hour ago is refused, as the SQS API refuses it.
        (status, body) = try await answer(api, request("/status/v1/whoami", key: Self.owner, now: 1_700_000_000))
        XCTAssertEqual(status, 400)
        XCTAssertEqual((body["error"] as? [String: Any])?["code"] as? String, "RequestExpired")

        (status, body) = try await answer(console(signed: false), request("/status/v1/whoami"))
        XCTAssertEqual(status, 200)
        XCTAssertEqual(body["account"] as? String, "000000000000")
    }

    func testReadOnlyKeysMayNotPeekAndUnknownDocumentsAre404() async throws {
        let api = console()
        var (status, body) = try await answer(api, request("/status/v1/queues/orders.fifo/messages", key: Self.watcher))
        XCTAssertEqual(status, 403)
        XCTAssertEqual((body["error"] as? [String: Any])?["code"] as? String, "AccessDenied")
        (status, _) = try await answer(api, request("/status/v1/nothing", key: Self.owner))
        XCTAssertEqual(status, 404)
        (status, _) = try await answer(api, request("/status/v1/queues/a/b/c", key: Self.owner))
        XCTAssertEqual(status, 404)
        // No node answers: the cluster document says so rather than hanging or inventing figures.
        (status, body) = try await answer(api, request("/status/v1/cluster", key: Self.owner))
        XCTAssertEqual(status, 503)
        XCTAssertEqual((body["error"] as? [String: Any])?["code"] as? String, "Unavailable")
    }

    func testHistoryRatesAreDifferencesOfTheTotals() {
        func queue(_ sent: UInt64, _ received: UInt64, visible: Int) -> StatusReports.Queue {
            var report = StatusReader.report(
                QueueDescription(name: "q", id: 1, partitions: 1, attributes: .init()),
                sources: []
            )
            report.sent = sent
            report.received = received
            report.visible = visible
            report.error = nil
            return report
        }
        let history = QueueHistory()
        history.record([queue(100, 0, visible: 100)], atMs: 1_000_000)
        history.record([queue(150, 0, visible: 150)], atMs: 1_002_000)  // closer than half the spacing: dropped
        history.record([queue(300, 100, visible: 200)], atMs: 1_010_000)
        var unread = queue(999, 999, visible: 0)
        unread.error = "no leader"
        history.record([unread], atMs: 1_020_000)  // figures not read: not a sample
        let points = history.points("q")
        XCTAssertEqual(points.map(\.atMs), [1_000_000, 1_010_000])
        XCTAssertEqual(points[1].sentPerSecond, 20)
        XCTAssertEqual(points[1].receivedPerSecond, 10)
        XCTAssertEqual(points[1].visible, 200)
        // Totals that went down: the queue was deleted and created again; its history starts over.
        history.record([queue(5, 0, visible: 5)], atMs: 1_030_000)
        XCTAssertEqual(history.points("q").map(\.atMs), [1_030_000])
        // An hour later the oldest samples are gone.
        history.record([queue(10, 0, visible: 10)], atMs: 1_030_000 + QueueHistory.keepMs + 1)
        XCTAssertEqual(history.points("q").count, 1)
    }

    func testTimelineShowsAChangeSeveralNodesSawOnceAtItsEarliestTime() {
        let seen = [
            NodeHealth(
                nodeID: 1,
                leadershipChanges: [
                    .init(groupID: 7, term: 3, leader: 0, atMs: 1_000),
                    .init(groupID: 7, term: 3, leader: 2, atMs: 1_300),
                ]
            ),
            NodeHealth(nodeID: 2, leadershipChanges: [.init(groupID: 7, term: 3, leader: 2, atMs: 1_200)]),
            NodeHealth(nodeID: 3, leadershipChanges: [.init(groupID: 0, term: 1, leader: 1, atMs: 10)]),
        ]
        let timeline = StatusReader.timeline(seen, places: [7: ("orders.fifo", 2)])
        XCTAssertEqual(timeline.map(\.atMs), [1_200, 1_000, 10])
        XCTAssertEqual(timeline[0].reportedBy, 2)
        XCTAssertEqual(timeline[0].queue, "orders.fifo")
        XCTAssertEqual(timeline[0].partition, 2)
        XCTAssertEqual(timeline[2].queue, "")
    }

    /// The page's SigV4 (JavaScript) signs as the Swift signer does, so the verifier accepts what the browser
    /// sends. Runs the script under Node.js (on these machines); SHA-256 checked against FIPS 180-2's vectors.
    func testThePagesSignatureIsTheSwiftSigners() throws {
        guard let node = ["/usr/bin/node", "/usr/local/bin/node"].first(where: FileManager.default.isExecutableFile)
        else { throw XCTSkip("no node binary to run the page's script") }
        let body = #"{"QueueUrl":"http://127.0.0.1:9100/000000000000/q"}"#
        let script = """
            global.window = {}; global.location = { host: "127.0.0.1:9100" };
            \(ConsoleAssets.sigV4Script)
            const F = window.Ferry;
            const signed = F.sign({ keyId: "\(Self.owner)", secret: "\(Self.secret)", region: "us-east-1" }, "POST", "/",
              \(String(reflecting: body)), { "content-type": "application/x-amz-json-1.0",
              "x-amz-target": "AmazonSQS.PurgeQueue" }, new Date(1765000000000));
            console.log(JSON.stringify({ abc: F.sha256Hex("abc"), empty: F.sha256Hex(""),
              long: F.sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              hmac: F.hmacHex("key", "The quick brown fox jumps over the lazy dog"), authorization: signed.Authorization }));
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: node)
        process.arguments = ["-e", script]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: printed) as? [String: String])
        XCTAssertEqual(result["abc"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(result["empty"], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(result["long"], "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(result["hmac"], "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
        let expected = SigV4Signer(accessKeyID: Self.owner, secret: Self.secret).sign(
            method: "POST",
            path: "/",
            headers: [
                ("Host", "127.0.0.1:9100"), ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amz-Target", "AmazonSQS.PurgeQueue"),
            ],
            body: Array(body.utf8),
            nowSeconds: 1_765_000_000
        )
        XCTAssertEqual(result["authorization"], expected.first { $0.name == "Authorization" }?.value)
    }
}

/// A transport that reaches no node.
private struct NoNodes: RouterTransport {
    func start(
        _ request: ClientRequest,
        at target: RouteTarget,
        timeoutMs: Int64,
        _ completion: @escaping @Sendable (Result<ClientResponse, FerryClientError>) -> Void
    ) {
        completion(.failure(.unreachable("no nodes in this test")))
    }
    func schedule(afterMs ms: Int64, _ body: @escaping @Sendable () -> Void) { body() }
    func learned(_ cluster: ClusterDescription) {}
    func knows(_ node: UInt64) -> Bool { false }
}
