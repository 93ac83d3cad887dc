import FerryQueue
import FerryWire
import FoundationEssentials
import NIOCore

/// The SQS API of one node: verifies a request, decodes its operation, calls the backend, answers in AWS's
/// shapes. Blocking (a long poll waits in the backend): call it off the event loop.
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

        public init(
            authentication: Authentication,
            account: String = "000000000000",
            defaultRegion: String = "us-east-1"
        ) {
            self.authentication = authentication
            self.account = account
            self.defaultRegion = defaultRegion
        }
    }

    let configuration: Configuration
    let backend: any SQSBackend

    public init(configuration: Configuration, backend: any SQSBackend) {
        self.configuration = configuration
        self.backend = backend
    }

    /// Answers one HTTP request.
    /// - Parameters:
    ///   - nowSeconds: the clock, seconds since the epoch (SigV4's skew check).
    ///   - requestID: echoed in `x-amzn-RequestId`.
    public func handle(
        _ request: SigV4Verifier.Request,
        nowSeconds: Int64,
        requestID: String
    ) -> (
        status: Int, headers: [(String, String)], body: [UInt8]
    ) {
        let reply: AWSJSON.Reply
        do throws(SQSError) {
            reply = try answer(request, nowSeconds: nowSeconds, requestID: requestID)
        } catch {
            reply = AWSJSON.failure(error, requestID: requestID)
        }
        return (reply.status, reply.headers, reply.body)
    }

    private func answer(
        _ request: SigV4Verifier.Request,
        nowSeconds: Int64,
        requestID: String
    ) throws(SQSError)
        -> AWSJSON.Reply
    {
        let region: String
        switch configuration.authentication {
        case .sigV4(let verifier):
            region = try verifier.verify(request, nowSeconds: nowSeconds).get().region
        case .none:
            region = configuration.defaultRegion
        }
        guard request.method == "POST" else {
            throw SQSError(
                status: 400,
                shape: "InvalidAction",
                message: "Only POST requests are supported.",
                namespace: SQSError.coral
            )
        }
        guard let target = request.values("x-amz-target").first, target.hasPrefix(AWSJSON.targetPrefix) else {
            throw SQSError(
                status: 400,
                shape: "UnknownOperationException",
                message: "An X-Amz-Target header naming an AmazonSQS operation is required.",
                namespace: SQSError.coral
            )
        }
        let host = request.values("host").first ?? "localhost"
        let context = Context(
            service: self,
            arns: ARNs(region: region, account: configuration.account),
            baseURL: "http://\(host)/\(configuration.account)/",
            body: request.body,
            requestID: requestID
        )
        return try context.perform(String(target.dropFirst(AWSJSON.targetPrefix.count)))
    }
}

/// One request's operation.
package struct Context {
    let service: SQSService
    let arns: ARNs
    let baseURL: String
    let body: [UInt8]
    let requestID: String

    var backend: any SQSBackend { service.backend }
    var account: String { service.configuration.account }

    func input<T: Decodable>(_ type: T.Type) throws(SQSError) -> T {
        let data = body.isEmpty ? Data("{}".utf8) : Data(body)
        do {
            return try AWSJSON.decoder().decode(type, from: data)
        } catch {
            throw SQSError(
                status: 400,
                shape: "SerializationException",
                message: "The request body is not a valid \(T.self) (\(error)).",
                namespace: SQSError.coral
            )
        }
    }

    func ok<T: Encodable>(_ output: T) -> AWSJSON.Reply { AWSJSON.success(output, requestID: requestID) }

    func url(of name: String) -> String { baseURL + name }

    /// The queue a `QueueUrl` names, from the cluster.
    func queue(url: String?) throws(SQSError) -> QueueDescription {
        guard let url else { throw .missingParameter("QueueUrl") }
        guard let name = Handles.queueName(ofURL: url, account: account) else { throw .queueDoesNotExist }
        return try call { () throws(WireError) in try backend.queue(name) }
    }

    /// Runs a backend call, mapping its refusal to AWS's error.
    func call<T>(_ body: () throws(WireError) -> T) throws(SQSError) -> T {
        do {
            return try body()
        } catch {
            throw SQSError(error)
        }
    }

    func perform(_ operation: String) throws(SQSError) -> AWSJSON.Reply {
        switch operation {
        case "CreateQueue": return try createQueue()
        case "GetQueueUrl": return try getQueueURL()
        case "ListQueues": return try listQueues()
        case "DeleteQueue":
            let queue = try queue(url: try input(QueueURLInput.self).queueUrl)
            try call { () throws(WireError) in try backend.deleteQueue(queue.name) }
            return ok(EmptyOutput())
        case "PurgeQueue":
            let queue = try queue(url: try input(QueueURLInput.self).queueUrl)
            try call { () throws(WireError) in try backend.purgeQueue(queue.name) }
            return ok(EmptyOutput())
        case "ListDeadLetterSourceQueues": return try listDeadLetterSourceQueues()
        case "GetQueueAttributes": return try getQueueAttributes()
        case "SetQueueAttributes": return try setQueueAttributes()
        case "SendMessage": return try sendMessage()
        case "SendMessageBatch": return try sendMessageBatch()
        case "ReceiveMessage": return try receiveMessage()
        case "DeleteMessage": return try deleteMessage()
        case "DeleteMessageBatch": return try deleteMessageBatch()
        case "ChangeMessageVisibility": return try changeMessageVisibility()
        case "ChangeMessageVisibilityBatch": return try changeMessageVisibilityBatch()
        case "StartMessageMoveTask": return try startMessageMoveTask()
        case "CancelMessageMoveTask": return try cancelMessageMoveTask()
        case "ListMessageMoveTasks": return try listMessageMoveTasks()
        case "TagQueue": return try tagQueue()
        case "UntagQueue": return try untagQueue()
        case "ListQueueTags": return try listQueueTags()
        case "AddPermission": return try addPermission()
        case "RemovePermission": return try removePermission()
        default:
            throw SQSError(
                status: 400,
                shape: "UnsupportedOperation",
                code: "AWS.SimpleQueueService.UnsupportedOperation",
                message: "Operation \(operation) is not supported by this Ferry node."
            )
        }
    }
}

extension SQSError {
    /// AWS's error for a Ferry refusal.
    init(_ error: WireError) {
        switch error.code {
        case .queueNotFound: self = .queueDoesNotExist
        case .queueAlreadyExists:
            self = SQSError(
                status: 400,
                shape: "QueueNameExists",
                code: "QueueAlreadyExists",
                message: "A queue already exists with the same name and a different value for attribute(s)."
            )
        case .invalidArgument: self = .invalidParameterValue(error.message)
        case .messageTooLarge: self = .invalidParameterValue(error.message)
        case .tooManyEntries:
            self = SQSError(
                status: 400,
                shape: "TooManyEntriesInBatchRequest",
                code: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                message: error.message
            )
        case .invalidReceiptHandle, .staleReceiptHandle:
            self = SQSError(status: 400, shape: "ReceiptHandleIsInvalid", message: error.message)
        case .messageNotInFlight:
            self = SQSError(
                status: 400,
                shape: "MessageNotInflight",
                code: "AWS.SimpleQueueService.MessageNotInflight",
                message: error.message
            )
        case .overLimit: self = SQSError(status: 403, shape: "OverLimit", message: error.message)
        case .throttled:
            self = SQSError(status: 400, shape: "RequestThrottled", message: error.message)
        case .unauthorized: self = .invalidClientTokenID
        case .unavailable, .notLeader, .timeout, .internal, .unsupportedVersion, .outOfOrderSequence, .producerFenced,
            .unknownProducer:
            self = SQSError(
                status: 500,
                shape: "InternalError",
                message: "\(error.message) (\(error.code)); retry the request.",
                namespace: SQSError.coral,
                fault: "Receiver"
            )
        case .moveTaskAlreadyRunning, .moveTaskNotFound:
            self = SQSError(status: 400, shape: "ResourceNotFoundException", message: error.message)
        }
    }
}
