import FerryConsole
import FerryHTTP
import FerryModel
import FerryNet
import FerryNode
import FerryRouter
import FerrySQS
import FerryWire
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The SQS API's way into the cluster from a node: the node's own `PartitionRouter`, which answers from this
/// node's Raft thread and forwards to the partition leaders over the peer connections (routing, `notLeader`
/// hints and retries are the router's). Lives in the executable, which joins FerrySQS and FerryNode.
struct RouterSQSBackend: SQSBackend {
    let router: PartitionRouter

    private func run<T>(_ body: () async throws(FerryClientError) -> T) async throws(WireError) -> T {
        do {
            return try await body()
        } catch {
            switch error {
            case .server(let refusal): throw refusal
            case .timeout(let detail): throw WireError(.timeout, detail)
            case .unreachable(let detail), .refused(let detail): throw WireError(.unavailable, detail)
            case .badEndpoint(let detail): throw WireError(.internal, detail)
            }
        }
    }

    func createQueue(_ name: String, attributes: QueueAttributes) async throws(WireError) -> QueueDescription {
        try await run { () async throws(FerryClientError) in try await router.createQueue(name, attributes: attributes)
        }
    }

    func queue(_ name: String) async throws(WireError) -> QueueDescription {
        try await run { () async throws(FerryClientError) in try await router.queue(name) }
    }

    func listQueues(prefix: String) async throws(WireError) -> [QueueDescription] {
        try await run { () async throws(FerryClientError) in try await router.listQueues(prefix: prefix) }
    }

    func deleteQueue(_ name: String) async throws(WireError) {
        try await run { () async throws(FerryClientError) in try await router.deleteQueue(name) }
    }

    func setAttributes(_ name: String, _ attributes: QueueAttributes) async throws(WireError) {
        try await run { () async throws(FerryClientError) in try await router.setAttributes(name, attributes) }
    }

    func purgeQueue(_ name: String) async throws(WireError) {
        try await run { () async throws(FerryClientError) in try await router.purgeQueue(name) }
    }

    func statistics(_ name: String) async throws(WireError) -> QueueStatistics {
        try await run { () async throws(FerryClientError) in try await router.statistics(name).0 }
    }

    func send(
        _ queue: QueueDescription,
        _ requests: [SendRequest]
    ) async throws(WireError) -> [Result<SendOutcome, WireError>] {
        try await run { () async throws(FerryClientError) in try await router.send(queue.name, requests) }
    }

    func receive(
        _ queue: QueueDescription,
        _ request: ReceiveRequest,
        waitMs: Int
    ) async throws(WireError) -> [Delivery] {
        try await run { () async throws(FerryClientError) in
            try await router.receive(
                queue.name,
                maxMessages: request.maxMessages,
                waitMs: UInt32(waitMs),
                visibilityTimeoutSeconds: request.visibilityTimeoutSeconds,
                requestAttemptID: request.requestAttemptID
            ).map(\.delivery)
        }
    }

    /// The router groups the handles by partition and asks each partition at once.
    func delete(
        _ queue: QueueDescription,
        _ handles: [ReceiptHandle]
    ) async throws(WireError) -> [Result<Void, WireError>] {
        try await run { () async throws(FerryClientError) in
            try await router.delete(queue.name, handles).map { $0.map { _ in () } }
        }
    }

    func changeVisibility(
        _ queue: QueueDescription,
        _ changes: [VisibilityChange]
    ) async throws(WireError) -> [Result<Void, WireError>] {
        try await run { () async throws(FerryClientError) in
            try await router.changeVisibility(queue.name, changes).map { $0.map { _ in () } }
        }
    }

    func startMoveTask(
        _ queue: String,
        taskID: String,
        destination: String?,
        maxMessagesPerSecond: Int
    ) async throws(WireError) -> [MoveTaskStatus] {
        try await run { () async throws(FerryClientError) in
            try await router.startMoveTask(
                queue,
                taskID: taskID,
                destination: destination,
                maxMessagesPerSecond: maxMessagesPerSecond
            )
        }
    }

    func cancelMoveTask(_ queue: String, taskID: String) async throws(WireError) -> [MoveTaskStatus] {
        try await run { () async throws(FerryClientError) in try await router.cancelMoveTask(queue, taskID: taskID) }
    }

    func listMoveTasks(_ queue: String) async throws(WireError) -> [[MoveTaskStatus]] {
        try await run { () async throws(FerryClientError) in try await router.listMoveTasks(queue) }
    }
}

/// The SQS API on the node's HTTP port (both protocols), and its metrics. Requests are signed by a key of
/// node.yaml (`sqs.access_keys`) or one of the cluster's keys (`ferry auth`, looked up as this node applied them).
func sqsAPI(config: NodeConfig, router: PartitionRouter, keys: KeyTable) -> HTTPAPI {
    let authentication: SQSService.Authentication
    var verifier: SigV4Verifier?
    if config.sqs.auth == "none" {
        NodeLog.warning("the SQS API accepts unsigned requests (sqs.auth: none): local experiments only")
        authentication = .none
    } else {
        var secrets: [String: String] = [:]
        for key in config.sqs.accessKeys { secrets[key.id] = key.secret }
        let signatures = SigV4Verifier(secrets: secrets) { id in keys.key(id)?.secrets(atMs: MonotonicClock.wallMs()) }
        verifier = signatures
        authentication = .sigV4(signatures)
    }
    let keyAccounts = Dictionary(
        uniqueKeysWithValues: config.sqs.accessKeys.compactMap { key in key.accountID.map { (key.id, $0) } }
    )
    let readOnlyKeys = Set(config.sqs.accessKeys.filter(\.readOnly).map(\.id))
    let service = SQSService(
        configuration: SQSService.Configuration(
            authentication: authentication,
            account: config.sqs.accountID,
            defaultRegion: config.sqs.region,
            keyAccounts: keyAccounts,
            keyAccount: { id in keys.key(id)?.account },
            readOnly: { id in readOnlyKeys.contains(id) }
        ),
        backend: RouterSQSBackend(router: router)
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
        // An address that failed to authenticate too often lately (here or on the native port) is refused
        // unchecked for the rest of the window.
        let remote = parts.remoteAddress ?? "unknown"
        if keys.throttled(remote, nowMs: MonotonicClock.nowMs()) {
            keys.count(api: "sqs", reason: "throttled")
            return service.refuseThrottled(request, requestID: id)
        }
        // The request id goes with the calls this request makes (`RequestTrace`) into the nodes' log lines.
        let answer = await RequestTrace.$id.withValue(id) {
            await service.handle(request, nowSeconds: Int64(time(nil)), requestID: id) { code in
                keys.failed(remote, api: "sqs", reason: code, nowMs: MonotonicClock.nowMs())
            }
        }
        let level: Logger.Level = answer.status >= 500 ? .warning : .debug
        if NodeLog.enabled(level, .sqs) {
            let target = parts.headers.first { $0.name.lowercased() == "x-amz-target" }?.value ?? "query protocol"
            NodeLog.log(
                level,
                "\(parts.method) \(target) from \(remote): \(answer.status)",
                .sqs,
                event: "request",
                requestID: id,
                ["status": .string(String(answer.status))]
            )
        }
        return answer
    }
    let console = ConsoleAPI(
        configuration: ConsoleAPI.Configuration(
            nodeID: config.nodeID,
            account: config.sqs.accountID,
            region: config.sqs.region,
            verifier: verifier,
            keyAccount: { id in keyAccounts[id] ?? keys.key(id)?.account },
            readOnly: { id in readOnlyKeys.contains(id) }
        ),
        router: router
    )
    return HTTPAPI(
        handler: handler,
        metrics: { service.counters.render() },
        pages: { method, path in console.route(method: method, path: path) }
    )
}

/// The native port's authorization (`client_auth: keys`): the SQS API's rules (`SQSAuthorization`), with the
/// queue's ARN in the API's region and the key's ARN as a policy names it.
func nativeAuthorizer(config: NodeConfig) -> NativeAuth.Authorizer {
    let region = config.sqs.region
    return { key, action, queue, policy, owner in
        if key.readOnly && !SQSAuthorization.readActions.contains(action) {
            return "key \(key.id) is read-only: it may not \(action) on \(queue)"
        }
        return SQSAuthorization.denial(
            account: key.account,
            principalARN: "arn:aws:iam::\(key.account):user/\(key.id)",
            owner: owner,
            operation: action,
            queueARN: "arn:aws:sqs:\(region):\(owner):\(queue)",
            policy: policy
        )?.message
    }
}
