import FoundationEssentials

/// AWS JSON 1.0 as SQS speaks it: `POST /` with `X-Amz-Target: AmazonSQS.<Operation>` and a JSON body; answers
/// are JSON with `Content-Type: application/x-amz-json-1.0`, errors `{"__type": …, "message": …}` plus the
/// `x-amzn-query-error` header.
package enum AWSJSON {
    static let contentType = "application/x-amz-json-1.0"
    static let targetPrefix = "AmazonSQS."

    package static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in
            AnyKey(propertyName(forMember: path.last?.stringValue ?? ""))
        }
        return decoder
    }

    package static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .custom { path in
            AnyKey(memberName(forProperty: path.last?.stringValue ?? ""))
        }
        return encoder
    }

    /// `QueueUrl` → `queueUrl`, `MD5OfBody` → `md5OfBody`, `AWSAccountIds` → `awsAccountIds`.
    static func propertyName(forMember member: String) -> String {
        if member == "queueUrls" { return "lowercaseQueueUrls" }
        if member.hasPrefix("MD5") { return "md5" + member.dropFirst(3) }
        if member.hasPrefix("AWS") { return "aws" + member.dropFirst(3) }
        guard let first = member.first else { return member }
        return first.lowercased() + member.dropFirst()
    }

    /// The inverse of `propertyName(forMember:)`, for answers.
    static func memberName(forProperty property: String) -> String {
        if property == "lowercaseQueueUrls" { return "queueUrls" }
        if property.hasPrefix("md5") { return "MD5" + property.dropFirst(3) }
        if property.hasPrefix("aws") { return "AWS" + property.dropFirst(3) }
        guard let first = property.first else { return property }
        return first.uppercased() + property.dropFirst()
    }

    /// What a decoding failure says, in AWS's words where it has them (a member of the wrong type).
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "The request body is not valid JSON." }
        switch error {
        case .typeMismatch(let type, let context):
            let member = context.codingPath.last.map { memberName(forProperty: $0.stringValue) } ?? "the request"
            let expected = type == Int.self ? "an Integer" : type == String.self ? "a String" : "\(type)"
            return "The value of \(member) can not be converted to \(expected)."
        case .dataCorrupted: return "The request body is not valid JSON."
        case .keyNotFound(let key, _): return "The request must contain the parameter \(key.stringValue)."
        case .valueNotFound(_, let context):
            let member = context.codingPath.last.map { memberName(forProperty: $0.stringValue) } ?? "a member"
            return "The value of \(member) is null."
        @unknown default: return "The request body is not valid."
        }
    }

    package static func success<Output: Encodable>(_ output: Output, requestID: String) -> Reply {
        let body: [UInt8]
        if let fast = output as? any FastJSONOutput {
            var writer = JSONWriter()
            writer.write(fast.fastJSON)
            body = writer.bytes
        } else {
            body = (try? encoder().encode(output)).map(Array.init) ?? Array("{}".utf8)
        }
        return Reply(status: 200, headers: headers(requestID: requestID), body: body)
    }

    package static func failure(_ error: SQSError, requestID: String) -> Reply {
        struct Body: Encodable {
            let type: String
            let message: String
            enum CodingKeys: String, CodingKey {
                case type = "__type"
                case message
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(Body(type: error.type, message: error.message))).map(Array.init) ?? []
        var headers = headers(requestID: requestID)
        headers.append(("x-amzn-query-error", "\(error.code);\(error.fault)"))
        return Reply(status: error.status, headers: headers, body: body)
    }

    private static func headers(requestID: String) -> [(String, String)] {
        [("Content-Type", contentType), ("x-amzn-RequestId", requestID)]
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// An HTTP answer, before FerryHTTP writes it.
package struct Reply: Sendable, Equatable {
    package var status: Int
    package var headers: [(String, String)]
    package var body: [UInt8]

    package static func == (a: Reply, b: Reply) -> Bool {
        a.status == b.status && a.body == b.body
            && a.headers.map { "\($0.0):\($0.1)" } == b.headers.map { "\($0.0):\($0.1)" }
    }
}

/// The protocol a request came in, which its answer uses too: AWS JSON 1.0 when it names its operation in
/// `X-Amz-Target` (or says `application/x-amz-json-1.0`), else the query protocol (`Action=` parameters).
package enum SQSProtocol: Sendable {
    case json
    case query

    package init(of request: SigV4Verifier.Request) {
        let type = request.values("content-type").first?.lowercased() ?? ""
        self = !request.values("x-amz-target").isEmpty || type.hasPrefix("application/x-amz-json") ? .json : .query
    }

    func success<Output: Encodable>(_ output: Output, operation: String, requestID: String) -> Reply {
        switch self {
        case .json: return AWSJSON.success(output, requestID: requestID)
        case .query: return AWSQuery.success(output, operation: operation, requestID: requestID)
        }
    }

    package func failure(_ error: SQSError, requestID: String) -> Reply {
        switch self {
        case .json: return AWSJSON.failure(error, requestID: requestID)
        case .query: return AWSQuery.failure(error, requestID: requestID)
        }
    }
}
