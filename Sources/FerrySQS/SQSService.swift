import FerryModel
import FerryWire
import FoundationEssentials
import NIOCore

/// The SQS API of one node: verifies a request, decodes its operation in either of SQS's protocols, calls the
/// backend, answers in AWS's shapes. Blocking (a long poll waits in the backend): call it off the event loop.
///
/// The protocol is chosen per request, as SQS does: AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Operation>`, what
/// boto3 from 1.28.82 and the current SDKs speak), or the query protocol (form parameters with `Action=`, in a
/// POST body or a GET query string, answered in XML: AWS SDK for Java 1.x, Go v1, older boto3, .NET and PHP
/// before 2024). Both decode into the same operation inputs and render the same outputs.
public final class SQSService: Sendable {
    public enum Authentication: Sendable {
        /// Every request must carry a valid SigV4 signature by one of these keys.
        case sigV4(SigV4Verifier)
        /// Local experiments only: unsigned requests are taken; ARNs name the configured default region.
        case none
    }

    public struct Configuration: Sendable {
        public var authentication: Authentication
        /// The account id in queue URLs and ARNs.
        public var account: String
        /// The region in ARNs when a request names none.
        public var defaultRegion: String
        /// The account of each key that belongs to another account than `account` (by key id).
        public var keyAccounts: [String: String]
        /// The account of a key `keyAccounts` does not name (the cluster's keys), or nil for `account`.
        public var keyAccount: (@Sendable (String) -> String?)?
        /// Whether a key may only read (`read_only` in node.yaml): it is refused every operation but
        /// `SQSAuthorization.readActions`.
        public var readOnly: (@Sendable (String) -> Bool)?

        public init(
            authentication: Authentication,
            account: String = "000000000000",
            defaultRegion: String = "us-east-1",
            keyAccounts: [String: String] = [:],
            keyAccount: (@Sendable (String) -> String?)? = nil,
            readOnly: (@Sendable (String) -> Bool)? = nil
        ) {
            self.authentication = authentication
            self.account = account
            self.defaultRegion = defaultRegion
            self.keyAccounts = keyAccounts
            self.keyAccount = keyAccount
            self.readOnly = readOnly
        }
    }

    let configuration: Configuration
    let backend: any SQSBackend
    /// Counts of what the API did that an operator may want to see (`ferry_sqs_*` metrics).
    public let counters = SQSCounters()

    public init(configuration: Configuration, backend: any SQSBackend) {
        self.configuration = configuration
        self.backend = backend
    }

    /// Answers one HTTP request.
    /// - Parameters:
    ///   - nowSeconds: the clock, seconds since the epoch (SigV4's skew check).
    ///   - requestID: echoed in `x-amzn-RequestId` (and the query protocol's `RequestId`).
    ///   - onAuthenticationFailure: told the code of a refused signature (unknown key, wrong signature, too old).
    public func handle(
        _ request: SigV4Verifier.Request,
        nowSeconds: Int64,
        requestID: String,
        onAuthenticationFailure: (@Sendable (String) -> Void)? = nil
    ) async -> (
        status: Int, headers: [(String, String)], body: [UInt8]
    ) {
        let wire = SQSProtocol(of: request)
        let reply: Reply
        let start = ContinuousClock.now
        var operation = "unknown"
        defer {
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            counters.observe(operation: operation, seconds: seconds)
        }
        do throws(SQSError) {
            reply = try await answer(
                request,
                wire: wire,
                nowSeconds: nowSeconds,
                requestID: requestID,
                operation: &operation
            )
        } catch {
            counters.count(error: error)
            if SQSError.authenticationCodes.contains(error.code) { onAuthenticationFailure?(error.code) }
            reply = wire.failure(error, requestID: requestID)
        }
        return (reply.status, reply.headers, reply.body)
    }

    /// The answer to a request from an address that failed to authenticate too often lately (refused unchecked).
    public func refuseThrottled(
        _ request: SigV4Verifier.Request,
        requestID: String
    ) -> (status: Int, headers: [(String, String)], body: [UInt8]) {
        let error = SQSError(
            status: 400,
            shape: "ThrottlingException",
            code: "Throttling",
            message: "Rate exceeded: too many failed authentications from this address; retry later.",
            namespace: SQSError.coral
        )
        counters.count(error: error)
        let reply = SQSProtocol(of: request).failure(error, requestID: requestID)
        return (reply.status, reply.headers, reply.body)
    }

    /// The answer to a request whose body was longer than `limitBytes` (read and dropped), in its protocol.
    public func refuseTooLarge(
        _ request: SigV4Verifier.Request,
        limitBytes: Int,
        requestID: String
    ) -> (status: Int, headers: [(String, String)], body: [UInt8]) {
        let error = SQSError.requestTooLarge(limitBytes: limitBytes)
        counters.count(error: error)
        let reply = SQSProtocol(of: request).failure(error, requestID: requestID)
        return (reply.status, reply.headers, reply.body)
    }

    private func answer(
        _ request: SigV4Verifier.Request,
        wire: SQSProtocol,
        nowSeconds: Int64,
        requestID: String,
        operation named: inout String
    ) async throws(SQSError) -> Reply {
        let region: String
        var principal: Principal?
        switch configuration.authentication {
        case .sigV4(let verifier):
            let identity = try verifier.verify(request, nowSeconds: nowSeconds).get()
            region = identity.region
            principal = Principal(
                keyID: identity.accessKeyID,
                account: configuration.keyAccounts[identity.accessKeyID]
                    ?? configuration.keyAccount?(identity.accessKeyID) ?? configuration.account
            )
        case .none:
            region = configuration.defaultRegion
        }
        let operation: String
        let input: SQSInput
        switch wire {
        case .json:
            guard request.method == "POST" else {
                throw SQSError(
                    status: 400,
                    shape: "InvalidAction",
                    message: "Only POST requests are supported.",
                    namespace: SQSError.coral
                )
            }
            let target = request.values("x-amz-target").first
            guard let target, target.hasPrefix(AWSJSON.targetPrefix) else { throw .unknownOperation(target) }
            operation = String(target.dropFirst(AWSJSON.targetPrefix.count))
            guard SQSOperation.all.contains(operation) else { throw .unknownOperation(target) }
            input = .json(request.body)
        case .query:
            let parameters = AWSQuery.parameters(of: request)
            guard let action = parameters["Action"] else { throw .unknownOperation(nil) }
            guard SQSOperation.all.contains(action) else { throw .invalidAction(action) }
            // Through a queue's own URL only that queue's actions are valid (SQS's rule).
            let queuePath = Handles.queueName(ofURL: request.path, account: configuration.account) != nil
            if queuePath && SQSOperation.unscoped.contains(action) { throw .invalidAction(action) }
            operation = action
            input = .query(parameters, path: queuePath ? request.path : nil)
        }
        named = operation
        if let principal, configuration.readOnly?(principal.keyID) == true,
            !SQSAuthorization.readActions.contains(operation)
        {
            throw .readOnlyKey(principal.arn, action: operation)
        }
        let host = request.values("host").first ?? "localhost"
        let context = Context(
            service: self,
            wire: wire,
            operation: operation,
            arns: ARNs(region: region, account: configuration.account),
            baseURL: "http://\(host)/\(configuration.account)/",
            input: input,
            requestID: requestID,
            principal: principal
        )
        return try await context.perform()
    }
}

/// The SQS operations (2012-11-05), and those that do not act on one queue.
package enum SQSOperation {
    package static let all: Set<String> = [
        "CreateQueue", "GetQueueUrl", "ListQueues", "DeleteQueue", "PurgeQueue", "ListDeadLetterSourceQueues",
        "GetQueueAttributes", "SetQueueAttributes", "SendMessage", "SendMessageBatch", "ReceiveMessage",
        "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
        "StartMessageMoveTask", "CancelMessageMoveTask", "ListMessageMoveTasks", "TagQueue", "UntagQueue",
        "ListQueueTags", "AddPermission", "RemovePermission",
    ]
    /// Not valid through a queue's URL in the query protocol.
    static let unscoped: Set<String> = ["CreateQueue", "ListQueues"]
}

/// The key that signed a request, and its account.
package struct Principal: Sendable, Equatable {
    let keyID: String
    let account: String

    /// The key's ARN as a policy's `Principal` names it.
    var arn: String { "arn:aws:iam::\(account):user/\(keyID)" }
}

/// A request's members, in the form its protocol gave them.
enum SQSInput {
    case json([UInt8])
    /// Query parameters; `path` is the request's path when it is a queue URL (its `QueueUrl` when the
    /// parameters name none).
    case query([String: String], path: String?)
}

/// One request's operation.
package struct Context {
    let service: SQSService
    let wire: SQSProtocol
    let operation: String
    let arns: ARNs
    let baseURL: String
    let input: SQSInput
    let requestID: String
    /// The key that signed the request and its account; nil when the API takes unsigned requests (the owner).
    let principal: Principal?

    var backend: any SQSBackend { service.backend }
    var account: String { service.configuration.account }

    /// The operation's input members, decoded from either protocol into the same type.
    func input<T: Decodable>(_ type: T.Type) throws(SQSError) -> T {
        let data: Data
        switch input {
        case .json(let body):
            if let fast = T.self as? any FastJSONInput.Type, let json = JSONParser.parse(body),
                let value = fast.fast(json) as? T
            {
                return value
            }
            data = body.isEmpty ? Data("{}".utf8) : Data(body)
        case .query(let parameters, let path):
            data = AWSQuery.json(parameters, operation: operation, queuePath: path.map { baseURLOrigin + $0 })
        }
        do {
            return try AWSJSON.decoder().decode(type, from: data)
        } catch {
            throw .serialization(AWSJSON.describe(error))
        }
    }

    /// `http://host:port` of the request.
    var baseURLOrigin: String {
        String(baseURL.dropLast(account.count + 2))
    }

    func ok<T: Encodable>(_ output: T) -> Reply { wire.success(output, operation: operation, requestID: requestID) }

    /// An operation without output members.
    func done() -> Reply { wire.success(EmptyOutput(), operation: operation, requestID: requestID) }

    func url(of name: String) -> String { baseURL + name }

    /// The queue a `QueueUrl` names, from the cluster.
    func queue(url: String?) async throws(SQSError) -> QueueDescription {
        guard let url else { throw .missingParameter("QueueUrl") }
        guard let name = Handles.queueName(ofURL: url, account: account) else { throw .queueDoesNotExist }
        let queue = try await call { () async throws(WireError) in try await backend.queue(name) }
        try authorize(queue)
        return queue
    }

    /// Whether the request's key may perform this operation on `queue`, as AWS decides it for a resource
    /// policy: a key of the queue's own account may unless the queue's policy denies it; a key of another account
    /// only where the policy allows it, and never an owner-only action. A refusal is `AccessDenied` and changes
    /// nothing. Context keys: `aws:SourceAccount` is the key's account; `aws:SourceArn` is never set (no AWS
    /// service sends through Ferry), so a statement that requires it does not apply.
    func authorize(_ queue: QueueDescription) throws(SQSError) {
        guard let principal else { return }
        if let denial = SQSAuthorization.denial(
            account: principal.account,
            principalARN: principal.arn,
            owner: account,
            operation: operation,
            queueARN: arns.arn(ofQueue: queue.name),
            policy: queue.attributes.policy
        ) {
            throw denial
        }
    }

    /// Runs a backend call, mapping its refusal to AWS's error.
    func call<T>(_ body: () async throws(WireError) -> T) async throws(SQSError) -> T {
        do {
            return try await body()
        } catch {
            throw SQSError(error)
        }
    }

    func perform() async throws(SQSError) -> Reply {
        // Another account's key lists none of this account's queues and may not create or redrive any.
        if let principal, principal.account != account {
            if operation == "ListQueues" { return ok(ListQueuesOutput(queueUrls: nil, nextToken: nil)) }
            if Self.accountActions.contains(operation) {
                throw .accessDenied(
                    principal.arn,
                    action: operation,
                    resource: "arn:aws:sqs:\(arns.region):\(account):*",
                    explicit: false
                )
            }
        }
        switch operation {
        case "CreateQueue": return try await createQueue()
        case "GetQueueUrl": return try await getQueueURL()
        case "ListQueues": return try await listQueues()
        case "DeleteQueue":
            let queue = try await queue(url: try input(QueueURLInput.self).queueUrl)
            try await call { () async throws(WireError) in try await backend.deleteQueue(queue.name) }
            return done()
        case "PurgeQueue":
            let queue = try await queue(url: try input(QueueURLInput.self).queueUrl)
            try await call { () async throws(WireError) in try await backend.purgeQueue(queue.name) }
            return done()
        case "ListDeadLetterSourceQueues": return try await listDeadLetterSourceQueues()
        case "GetQueueAttributes": return try await getQueueAttributes()
        case "SetQueueAttributes": return try await setQueueAttributes()
        case "SendMessage": return try await sendMessage()
        case "SendMessageBatch": return try await sendMessageBatch()
        case "ReceiveMessage": return try await receiveMessage()
        case "DeleteMessage": return try await deleteMessage()
        case "DeleteMessageBatch": return try await deleteMessageBatch()
        case "ChangeMessageVisibility": return try await changeMessageVisibility()
        case "ChangeMessageVisibilityBatch": return try await changeMessageVisibilityBatch()
        case "StartMessageMoveTask": return try await startMessageMoveTask()
        case "CancelMessageMoveTask": return try await cancelMessageMoveTask()
        case "ListMessageMoveTasks": return try await listMessageMoveTasks()
        case "TagQueue": return try await tagQueue()
        case "UntagQueue": return try await untagQueue()
        case "ListQueueTags": return try await listQueueTags()
        case "AddPermission": return try await addPermission()
        case "RemovePermission": return try await removePermission()
        default: throw .invalidAction(operation)
        }
    }
}

extension SQSError {
    /// AWS's error for a Ferry refusal that no operation maps more precisely.
    init(_ error: WireError) {
        switch error.code {
        case .queueNotFound: self = .queueDoesNotExist
        case .queueAlreadyExists: self = .queueAlreadyExists(attribute: nil)
        case .invalidArgument, .messageTooLarge: self = .invalidParameterValue(error.message)
        case .tooManyEntries: self = .invalidParameterValue(error.message)
        case .invalidReceiptHandle, .staleReceiptHandle:
            self = SQSError(status: 400, shape: "ReceiptHandleIsInvalid", message: error.message)
        case .messageNotInFlight: self = .messageNotInflight()
        case .messageGone: self = .invalidParameterValue(error.message)
        case .overLimit: self = .overLimit(error.message)
        case .throttled: self = SQSError(status: 400, shape: "RequestThrottled", message: error.message)
        case .unauthorized: self = .invalidClientTokenID
        case .unavailable, .notLeader, .timeout, .internal, .unsupportedVersion, .outOfOrderSequence, .producerFenced,
            .unknownProducer, .storageFull:
            self = .internalError("\(error.message) (\(error.code))")
        case .moveTaskAlreadyRunning, .moveTaskNotFound:
            self = .resourceNotFound(error.message)
        }
    }
}

/// Who may do what to a queue (issue 17), shared by the SQS API and the native protocol: the queue's own account
/// may do anything its policy does not explicitly deny (and always read and change the policy); another account
/// only what the policy allows, never the owner-only actions. A batch needs its single action.
public enum SQSAuthorization {
    /// What a read-only key may do (on either API): look, never change a queue or its messages. Receiving
    /// changes a message's visibility, so it is not a read.
    public static let readActions: Set<String> = [
        "GetQueueUrl", "GetQueueAttributes", "ListQueues", "ListQueueTags", "ListDeadLetterSourceQueues",
        "ListMessageMoveTasks",
    ]

    /// The refusal, or nil when `operation` (an SQS operation name) on the queue is allowed.
    public static func denial(
        account: String,
        principalARN: String,
        owner: String,
        operation: String,
        queueARN: String,
        policy: String?
    ) -> SQSError? {
        let isOwner = account == owner
        let action = operation.hasSuffix("Batch") ? String(operation.dropLast(5)) : operation
        func denied(explicit: Bool) -> SQSError {
            .accessDenied(principalARN, action: action, resource: queueARN, explicit: explicit)
        }
        if !isOwner && Context.ownerActions.contains(operation) { return denied(explicit: false) }
        // The owner can always read and change the policy, so a Deny it wrote can be undone (S3 keeps the same
        // exception for a bucket's own account).
        if isOwner && Context.policyActions.contains(operation) { return nil }
        guard let policy else { return isOwner ? nil : denied(explicit: false) }
        let request = QueuePolicy.Request(
            account: account,
            principalARN: principalARN,
            action: action,
            resource: queueARN,
            context: ["aws:sourceaccount": account]
        )
        switch (try? QueuePolicy.parse(policy))?.evaluate(request) ?? .notApplicable {
        case .denied: return denied(explicit: true)
        case .allowed: return nil
        case .notApplicable: return isOwner ? nil : denied(explicit: false)
        }
    }
}
