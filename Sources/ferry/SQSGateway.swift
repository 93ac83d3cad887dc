import FerryClient
import FerryNode
import FerryQueue
import FerrySQS
import FerryWire

#if canImport(Glibc)
    import Glibc
#endif

/// The SQS API's way into the cluster from a node: a `FerryClient` aimed at every member's client port, so a
/// request reaching any node is forwarded to the partition leaders (routing, `notLeader` hints and retries are
/// the client's). Lives in the executable because FerrySQS may not import FerryClient (DESIGN §3).
final class ClientSQSBackend: SQSBackend {
    let client: FerryClient

    init(config: NodeConfig) throws {
        // This node first: its own answers need no hop when it leads.
        let members = [config.me] + config.members.filter { $0.id != config.nodeID }
        client = try FerryClient(endpoints: members.map { "\($0.host):\($0.clientPort)" })
    }

    private func run<T>(_ body: () throws(FerryClientError) -> T) throws(WireError) -> T {
        do {
            return try body()
        } catch {
            switch error {
            case .server(let refusal): throw refusal
            case .timeout(let detail): throw WireError(.timeout, detail)
            case .unreachable(let detail): throw WireError(.unavailable, detail)
            case .badEndpoint(let detail): throw WireError(.internal, detail)
            }
        }
    }

    func createQueue(_ name: String, attributes: QueueAttributes) throws(WireError) -> QueueDescription {
        try run { () throws(FerryClientError) in try client.createQueue(name, attributes: attributes) }
    }

    func queue(_ name: String) throws(WireError) -> QueueDescription {
        try run { () throws(FerryClientError) in try client.queueDescription(name) }
    }

    func listQueues(prefix: String) throws(WireError) -> [QueueDescription] {
        try run { () throws(FerryClientError) in try client.listQueues(prefix: prefix) }
    }

    func deleteQueue(_ name: String) throws(WireError) {
        try run { () throws(FerryClientError) in try client.deleteQueue(name) }
    }

    func setAttributes(_ name: String, _ attributes: QueueAttributes) throws(WireError) {
        try run { () throws(FerryClientError) in try client.setAttributes(name, attributes) }
    }

    func purgeQueue(_ name: String) throws(WireError) {
        try run { () throws(FerryClientError) in try client.purgeQueue(name) }
    }

    func statistics(_ name: String) throws(WireError) -> QueueStatistics {
        try run { () throws(FerryClientError) in try client.statistics(name).0 }
    }

    func send(
        _ queue: QueueDescription,
        _ requests: [SendRequest]
    ) throws(WireError) -> [Result<SendOutcome, WireError>] {
        try run { () throws(FerryClientError) in try client.send(queue.name, requests) }
    }

    func receive(_ queue: QueueDescription, _ request: ReceiveRequest, waitMs: Int) throws(WireError) -> [Delivery] {
        try run { () throws(FerryClientError) in
            try client.receive(
                queue.name,
                maxMessages: request.maxMessages,
                waitMs: UInt32(waitMs),
                visibilityTimeoutSeconds: request.visibilityTimeoutSeconds,
                requestAttemptID: request.requestAttemptID
            ).map(\.delivery)
        }
    }

    /// The client groups the handles by partition and asks each partition at once.
    func delete(_ queue: QueueDescription, _ handles: [ReceiptHandle]) throws(WireError) -> [Result<Void, WireError>] {
        try run { () throws(FerryClientError) in try client.delete(queue.name, handles).map { $0.map { _ in () } } }
    }

    func changeVisibility(
        _ queue: QueueDescription,
        _ changes: [VisibilityChange]
    ) throws(WireError)
        -> [Result<Void, WireError>]
    {
        try run { () throws(FerryClientError) in
            try client.changeVisibility(queue.name, changes).map { $0.map { _ in () } }
        }
    }

    func startMoveTask(
        _ queue: String,
        taskID: String,
        destination: String?,
        maxMessagesPerSecond: Int
    ) throws(WireError) -> [MoveTaskStatus] {
        try run { () throws(FerryClientError) in
            try client.startMoveTask(
                queue,
                taskID: taskID,
                destination: destination,
                maxMessagesPerSecond: maxMessagesPerSecond
            )
        }
    }

    func cancelMoveTask(_ queue: String, taskID: String) throws(WireError) -> [MoveTaskStatus] {
        try run { () throws(FerryClientError) in try client.cancelMoveTask(queue, taskID: taskID) }
    }

    func listMoveTasks(_ queue: String) throws(WireError) -> [[MoveTaskStatus]] {
        try run { () throws(FerryClientError) in try client.listMoveTasks(queue) }
    }
}

/// The SQS API on the node's HTTP port (both protocols), and its metrics.
func sqsAPI(config: NodeConfig) throws -> (handler: HTTPAPIHandler, metrics: @Sendable () -> String) {
    let authentication: SQSService.Authentication
    if config.sqs.auth == "none" {
        NodeLog.warning("the SQS API accepts unsigned requests (sqs.auth: none): local experiments only")
        authentication = .none
    } else {
        var secrets: [String: String] = [:]
        for key in config.sqs.accessKeys { secrets[key.id] = key.secret }
        authentication = .sigV4(SigV4Verifier(secrets: secrets))
    }
    let service = SQSService(
        configuration: SQSService.Configuration(
            authentication: authentication,
            account: config.sqs.accountID,
            defaultRegion: config.sqs.region
        ),
        backend: try ClientSQSBackend(config: config)
    )
    let handler: HTTPAPIHandler = { parts in
        let request = SigV4Verifier.Request(
            method: parts.method,
            path: parts.path,
            query: parts.query,
            headers: parts.headers,
            body: parts.body
        )
        let id = (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined(separator: "-")
        if parts.bodyTooLarge {
            return service.refuseTooLarge(request, limitBytes: HTTPLimits.maxBodyBytes, requestID: id)
        }
        return service.handle(request, nowSeconds: Int64(time(nil)), requestID: id)
    }
    return (handler, { service.counters.render() })
}
