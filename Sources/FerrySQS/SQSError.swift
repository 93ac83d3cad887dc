/// An error the SQS API answers with, in AWS's JSON 1.0 shape: HTTP status, `__type`
/// (`<namespace>#<Shape>`), `message`, and the `x-amzn-query-error: <LegacyCode>;Sender` header that boto3 and
/// aws-cli read the error code from (the model is "awsQueryCompatible"). Stable: clients match on the codes.
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

    // Authentication (AWS's common errors; they come from the service framework, not the SQS model).
    static let coral = "com.amazon.coral.service"

    public static let missingAuthenticationToken = SQSError(
        status: 403,
        shape: "MissingAuthenticationTokenException",
        code: "MissingAuthenticationToken",
        message: "Request is missing Authentication Token",
        namespace: coral
    )
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

    // Validation. AWS answers model validation with `com.amazon.coral.validate#ValidationException`; the
    // legacy code in the header is what SDK users match on.
    static let validate = "com.amazon.coral.validate"

    public static func invalidParameterValue(_ message: String) -> SQSError {
        SQSError(
            status: 400,
            shape: "ValidationException",
            code: "InvalidParameterValue",
            message: message,
            namespace: validate
        )
    }
    public static func missingParameter(_ name: String) -> SQSError {
        SQSError(
            status: 400,
            shape: "ValidationException",
            code: "MissingParameter",
            message: "The request must contain the parameter \(name).",
            namespace: validate
        )
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
    public static let queueDoesNotExist = SQSError(
        status: 400,
        shape: "QueueDoesNotExist",
        code: "AWS.SimpleQueueService.NonExistentQueue",
        message: "The specified queue does not exist."
    )
    public static func receiptHandleIsInvalid(_ handle: String) -> SQSError {
        SQSError(
            status: 400,
            shape: "ReceiptHandleIsInvalid",
            message: "The input receipt handle \"\(handle.prefix(80))\" is not a valid receipt handle."
        )
    }
}
