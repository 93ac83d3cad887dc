import FoundationEssentials

/// AWS JSON 1.0 as SQS speaks it: `POST /` with `X-Amz-Target: AmazonSQS.<Operation>` and a JSON body; answers
/// are JSON with `Content-Type: application/x-amz-json-1.0`, errors `{"__type": …, "message": …}` plus the
/// `x-amzn-query-error` header.
package enum AWSJSON {
    static let contentType = "application/x-amz-json-1.0"
    static let targetPrefix = "AmazonSQS."

    /// An HTTP answer, before Hummingbird.
    package struct Reply: Sendable, Equatable {
        package var status: Int
        package var headers: [(String, String)]
        package var body: [UInt8]

        package static func == (a: Reply, b: Reply) -> Bool {
            a.status == b.status && a.body == b.body
                && a.headers.map { "\($0.0):\($0.1)" } == b.headers.map { "\($0.0):\($0.1)" }
        }
    }

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

    package static func success<Output: Encodable>(_ output: Output, requestID: String) -> Reply {
        let body = (try? encoder().encode(output)).map(Array.init) ?? Array("{}".utf8)
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
