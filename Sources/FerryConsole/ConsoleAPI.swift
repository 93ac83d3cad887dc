import FerryHTTP
import FerryRouter
import FerrySQS
import Foundation

/// The operator's console on a node's HTTP port (issue 20): the page and its scripts at `/console` (embedded in
/// the binary: nothing loads from elsewhere) and the status API at `/status/v1/…` that the page and scripts read.
///
/// Reads are signed like the SQS API's requests (SigV4, service `sqs`, the same keys) unless the API runs with
/// `sqs.auth: none`; a key of another account is refused, as `ListQueues` shows it none of this account's queues.
/// The page acts (purge, redrive) through the SQS API itself, signed in the browser, so an action meets the same
/// operations and permissions as any SQS client: a read-only key is refused there, by the SQS service.
public final class ConsoleAPI: Sendable {
    public struct Configuration: Sendable {
        public var nodeID: UInt64
        /// The API's own account (owner of every queue).
        public var account: String
        public var region: String
        /// Verifies signed reads; nil accepts unsigned ones (`sqs.auth: none`).
        public var verifier: SigV4Verifier?
        /// The account of a key (nil: the API's own).
        public var keyAccount: @Sendable (String) -> String?
        /// Whether a key may only read.
        public var readOnly: @Sendable (String) -> Bool
        /// How long the status API waits for another node's answer.
        public var nodeTimeoutMs: Int64 = 1_000

        public init(
            nodeID: UInt64,
            account: String,
            region: String,
            verifier: SigV4Verifier?,
            keyAccount: @escaping @Sendable (String) -> String?,
            readOnly: @escaping @Sendable (String) -> Bool
        ) {
            self.nodeID = nodeID
            self.account = account
            self.region = region
            self.verifier = verifier
            self.keyAccount = keyAccount
            self.readOnly = readOnly
        }
    }

    let configuration: Configuration
    let status: StatusReader
    let history: QueueHistory

    public init(configuration: Configuration, router: PartitionRouter) {
        self.configuration = configuration
        history = QueueHistory()
        status = StatusReader(
            router: router,
            nodeID: configuration.nodeID,
            timeoutMs: configuration.nodeTimeoutMs,
            region: configuration.region,
            account: configuration.account
        )
    }

    /// The handler of `method path`, or nil when the console does not serve it.
    public func route(method: String, path: String) -> HTTPAPIHandler? {
        guard method == "GET" || method == "HEAD" else { return nil }
        if let asset = ConsoleAssets.asset(at: path) {
            return { _ in
                (
                    200,
                    [("Content-Type", asset.contentType), ("Cache-Control", "no-cache"), ("X-Frame-Options", "DENY")],
                    Array(asset.body.utf8)
                )
            }
        }
        guard path.hasPrefix("/status/v1/") else { return nil }
        return { [self] parts in await answer(parts) }
    }

    private func answer(_ parts: HTTPRequestParts) async -> (status: Int, headers: [(String, String)], body: [UInt8]) {
        let identity: StatusReports.Identity
        switch authenticate(parts) {
        case .success(let who): identity = who
        case .failure(let failure): return failure.reply
        }
        history.touched(wallMs: Self.wallMs())
        history.startSampling(status)
        let path = String(parts.path.dropFirst("/status/v1/".count))
        do throws(StatusFailure) {
            switch path {
            case "whoami":
                return Self.json(identity)
            case "cluster":
                return Self.json(try await status.cluster())
            case "queues":
                let queues = try await status.queues()
                history.record(queues, atMs: Self.wallMs())
                return Self.json(StatusReports.Queues(queues: queues))
            default:
                let segments = path.split(separator: "/", omittingEmptySubsequences: false)
                if segments.count == 3, segments[0] == "queues", segments[2] == "messages", !segments[1].isEmpty {
                    guard !identity.readOnly else {
                        throw StatusFailure(
                            403,
                            "AccessDenied",
                            "key \(identity.keyID) is read-only: a peek shows message bodies, which needs the "
                                + "permission to receive"
                        )
                    }
                    return Self.json(try await status.peek(String(segments[1])))
                }
                if segments.count == 3, segments[0] == "queues", segments[2] == "groups", !segments[1].isEmpty {
                    return Self.json(try await status.groups(String(segments[1])))
                }
                guard segments.count == 2, segments[0] == "queues", !segments[1].isEmpty else {
                    throw StatusFailure(404, "NotFound", "no status document at \(parts.path)")
                }
                let name = String(segments[1])
                var detail = try await status.queue(name)
                history.record([detail.queue], atMs: Self.wallMs())
                detail.history = history.points(name)
                return Self.json(detail)
            }
        } catch {
            return error.reply
        }
    }

    /// Who signed the request: a key of the API's account (read-only or not). A refusal says why in SQS's words.
    func authenticate(_ parts: HTTPRequestParts) -> Result<StatusReports.Identity, StatusFailure> {
        guard let verifier = configuration.verifier else {
            return .success(
                StatusReports.Identity(
                    keyID: "",
                    account: configuration.account,
                    readOnly: false,
                    node: configuration.nodeID
                )
            )
        }
        let request = SigV4Verifier.Request(
            method: parts.method,
            path: parts.path,
            query: parts.query,
            headers: parts.headers,
            body: parts.body
        )
        switch verifier.verify(request, nowSeconds: Int64(Date().timeIntervalSince1970)) {
        case .failure(let error):
            return .failure(StatusFailure(error.status, error.code, error.message))
        case .success(let signer):
            let account = configuration.keyAccount(signer.accessKeyID) ?? configuration.account
            guard account == configuration.account else {
                return .failure(
                    StatusFailure(
                        403,
                        "AccessDenied",
                        "key \(signer.accessKeyID) belongs to account \(account), not to this cluster's "
                            + "\(configuration.account)"
                    )
                )
            }
            return .success(
                StatusReports.Identity(
                    keyID: signer.accessKeyID,
                    account: account,
                    readOnly: configuration.readOnly(signer.accessKeyID),
                    node: configuration.nodeID
                )
            )
        }
    }

    static func wallMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000) }

    static func json<T: Encodable>(_ value: T, status: Int = 200) -> (Int, [(String, String)], [UInt8]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(value)).map { Array($0) } ?? Array("{}".utf8)
        return (status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], body)
    }
}

/// A status request that could not be answered: HTTP status, a stable code, a message.
struct StatusFailure: Error {
    var status: Int
    var code: String
    var message: String

    init(_ status: Int, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    var reply: (status: Int, headers: [(String, String)], body: [UInt8]) {
        ConsoleAPI.json(StatusReports.Failure(error: .init(code: code, message: message)), status: status)
    }
}
