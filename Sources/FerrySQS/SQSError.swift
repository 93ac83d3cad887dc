/// An error the SQS API answers with, as AWS does: HTTP status, the error shape (JSON 1.0: `__type`
/// `<namespace>#<Shape>`), the legacy code (the query protocol's `<Code>`, and the JSON protocol's
/// `x-amzn-query-error: <Code>;Sender` header that boto3 and aws-cli read the code from, the model being
/// "awsQueryCompatible"), the message and the fault. Stable: clients match on the codes and messages, which are
/// AWS's wherever AWS documents them (or its SDKs' users have recorded them).
public struct SQSError: Error, Sendable, Equatable {
    /// HTTP status.
    public let status: Int
    /// The error shape: `__type` is `namespace#shape`.
    public let shape: String
    public let namespace: String
    /// The legacy (query protocol) code: what `ClientError.response["Error"]["Code"]` shows.
    public let code: String
    public let message: String
    /// `Sender` (the request was wrong) or `Receiver` (the service failed).
    public let fault: String

    public init(
        status: Int,
        shape: String,
        code: String? = nil,
        message: String,
        namespace: String = "com.amazonaws.sqs",
        fault: String = "Sender"
    ) {
        self.status = status
        self.shape = shape
        self.namespace = namespace
        self.code = code ?? shape
        self.message = message
        self.fault = fault
    }

    public var type: String { "\(namespace)#\(shape)" }

    /// The same error with another message.
    func with(message: String) -> SQSError {
        SQSError(status: status, shape: shape, code: code, message: message, namespace: namespace, fault: fault)
    }

    // Authentication and the protocol (AWS's common errors: they come from the service framework, not the SQS
    // model).
    static let coral = "com.amazon.coral.service"

    public static let missingAuthenticationToken = SQSError(
        status: 403,
        shape: "MissingAuthenticationTokenException",
        code: "MissingAuthenticationToken",
        message: "Request is missing Authentication Token",
        namespace: coral
    )
    /// The codes of a credential the API refused (an unknown key, a wrong signature: what guessing produces),
    /// counted and limited per source address by the node. A missing, malformed or expired signature is not.
    public static let authenticationCodes: Set<String> = ["InvalidClientTokenId", "SignatureDoesNotMatch"]

    public static func incompleteSignature(_ message: String) -> SQSError {
        SQSError(
            status: 400,
            shape: "IncompleteSignatureException",
            code: "IncompleteSignature",
            message: message,
            namespace: coral
        )
    }
    public static let invalidClientTokenID = SQSError(
        status: 403,
        shape: "InvalidClientTokenId",
        message: "The security token included in the request is invalid.",
        namespace: coral
    )
    public static let signatureDoesNotMatch = SQSError(
        status: 403,
        shape: "SignatureDoesNotMatch",
        message:
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        namespace: coral
    )
    public static func requestExpired(signed: String, now: String, skewSeconds: Int64) -> SQSError {
        SQSError(
            status: 400,
            shape: "RequestExpired",
            message:
                "Signature expired: \(signed) is now earlier or later than \(now) by more than \(skewSeconds / 60) min.",
            namespace: coral
        )
    }
    /// JSON protocol: no `X-Amz-Target`, or one naming no SQS operation.
    static func unknownOperation(_ target: String?) -> SQSError {
        SQSError(
            status: 400,
            shape: "UnknownOperationException",
            message: target.map { "The operation \($0) is not recognized." } ?? "",
            namespace: coral
        )
    }
    /// Query protocol: an `Action` that is not an SQS operation.
    static func invalidAction(_ action: String) -> SQSError {
        SQSError(
            status: 400,
            shape: "InvalidAction",
            message: "The action \(action) is not valid for this endpoint.",
            namespace: coral
        )
    }
    /// A request body that is not valid JSON or whose members have the wrong types.
    static func serialization(_ message: String) -> SQSError {
        SQSError(status: 400, shape: "SerializationException", message: message, namespace: coral)
    }
    static func requestTooLarge(limitBytes: Int) -> SQSError {
        SQSError(
            status: 413,
            shape: "RequestEntityTooLarge",
            message: "Request body must be no longer than \(limitBytes) bytes.",
            namespace: coral
        )
    }

    // Validation. AWS names the shapes `InvalidParameterValueException` and `MissingRequiredParameterException`;
    // the legacy codes in the header are what SDK users match on.
    public static func invalidParameterValue(_ message: String) -> SQSError {
        SQSError(
            status: 400,
            shape: "InvalidParameterValueException",
            code: "InvalidParameterValue",
            message: message,
            namespace: coral
        )
    }
    public static func missingParameter(_ name: String) -> SQSError {
        SQSError(
            status: 400,
            shape: "MissingRequiredParameterException",
            code: "MissingParameter",
            message: "The request must contain the parameter \(name).",
            namespace: coral
        )
    }
    /// `Value <value> for parameter <name> is invalid. Reason: <reason>` (AWS's usual form).
    static func invalidValue(_ value: String, parameter: String, reason: String) -> SQSError {
        .invalidParameterValue("Value \(value) for parameter \(parameter) is invalid. Reason: \(reason)")
    }
    public static func invalidAttributeName(_ name: String) -> SQSError {
        SQSError(status: 400, shape: "InvalidAttributeName", message: "Unknown Attribute \(name).")
    }
    public static func invalidAttributeValue(_ name: String, _ value: String, reason: String? = nil) -> SQSError {
        SQSError(
            status: 400,
            shape: "InvalidAttributeValue",
            message: "Invalid value for the parameter \(name)." + (reason.map { " Reason: \($0)" } ?? "")
        )
    }
    /// A read-only key asked for an action that changes something (`SQSAuthorization.readActions`).
    static func readOnlyKey(_ principal: String, action: String) -> SQSError {
        SQSError(
            status: 403,
            shape: "AccessDeniedException",
            code: "AccessDenied",
            message: "User: \(principal) is not authorized to perform: sqs:\(action) because the key is read-only",
            namespace: coral
        )
    }

    /// IAM's refusal (403, `AccessDenied`), in AWS's words; nothing of the key but its ARN.
    static func accessDenied(_ principal: String, action: String, resource: String, explicit: Bool) -> SQSError {
        SQSError(
            status: 403,
            shape: "AccessDeniedException",
            code: "AccessDenied",
            message: "User: \(principal) is not authorized to perform: sqs:\(action) on resource: \(resource) "
                + (explicit
                    ? "with an explicit deny in a resource-based policy"
                    : "because no resource-based policy allows the sqs:\(action) action"),
            namespace: coral
        )
    }
    public static let queueDoesNotExist = SQSError(
        status: 400,
        shape: "QueueDoesNotExist",
        code: "AWS.SimpleQueueService.NonExistentQueue",
        message: "The specified queue does not exist."
    )
    static func queueAlreadyExists(attribute: String?) -> SQSError {
        SQSError(
            status: 400,
            shape: "QueueNameExists",
            code: "QueueAlreadyExists",
            message: "A queue already exists with the same name and a different value for attribute "
                + (attribute ?? "(s)")
        )
    }

    // Receipt handles.
    public static func receiptHandleIsInvalid(_ handle: String) -> SQSError {
        SQSError(
            status: 400,
            shape: "ReceiptHandleIsInvalid",
            message: "The input receipt handle \"\(handle)\" is not a valid receipt handle."
        )
    }
    /// FIFO: a handle whose delivery's visibility timeout ended (SQS knowledge center, "sqs-receipt-handle-error").
    static func receiptHandleExpired(_ handle: String) -> SQSError {
        .invalidValue(handle, parameter: "ReceiptHandle", reason: "The receipt handle has expired.")
    }
    /// ChangeMessageVisibility of a message that was deleted (or, FIFO, whose delivery ended).
    static func notAvailableForVisibilityChange(_ handle: String) -> SQSError {
        .invalidValue(
            handle,
            parameter: "ReceiptHandle",
            reason: "Message does not exist or is not available for visibility timeout change."
        )
    }
    static func messageNotInflight() -> SQSError {
        SQSError(
            status: 400,
            shape: "MessageNotInflight",
            code: "AWS.SimpleQueueService.MessageNotInflight",
            message: "The message referred to isn't in flight."
        )
    }

    // Batches.
    static func emptyBatch(_ entry: String) -> SQSError {
        SQSError(
            status: 400,
            shape: "EmptyBatchRequest",
            code: "AWS.SimpleQueueService.EmptyBatchRequest",
            message: "There should be at least one \(entry) in the request."
        )
    }
    static func tooManyEntries(_ count: Int, limit: Int) -> SQSError {
        SQSError(
            status: 400,
            shape: "TooManyEntriesInBatchRequest",
            code: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            message: "Maximum number of entries per request are \(limit). You have sent \(count)."
        )
    }
    static let invalidBatchEntryID = SQSError(
        status: 400,
        shape: "InvalidBatchEntryId",
        code: "AWS.SimpleQueueService.InvalidBatchEntryId",
        message:
            "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
    )
    static func batchEntryIDsNotDistinct(_ id: String) -> SQSError {
        SQSError(
            status: 400,
            shape: "BatchEntryIdsNotDistinct",
            code: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            message: "Id \(id) repeated."
        )
    }
    static func batchRequestTooLong(totalBytes: Int, limitBytes: Int) -> SQSError {
        SQSError(
            status: 400,
            shape: "BatchRequestTooLong",
            code: "AWS.SimpleQueueService.BatchRequestTooLong",
            message: "Batch requests cannot be longer than \(limitBytes) bytes. You have sent \(totalBytes) bytes."
        )
    }

    static func resourceNotFound(_ message: String) -> SQSError {
        SQSError(status: 404, shape: "ResourceNotFoundException", message: message)
    }
    static func overLimit(_ message: String) -> SQSError {
        SQSError(status: 403, shape: "OverLimit", message: message)
    }
    /// A failure of the cluster, not of the request (no quorum, a leader change that outlasted the retries).
    static func internalError(_ message: String) -> SQSError {
        SQSError(
            status: 500,
            shape: "InternalError",
            message: "\(message); retry the request.",
            namespace: coral,
            fault: "Receiver"
        )
    }
}
