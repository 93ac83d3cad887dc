import FerrySQS
import FoundationEssentials
import XCTest

final class AWSJSONTests: XCTestCase {
    func testMemberNamesMapBothWays() throws {
        let json = #"""
            {"QueueUrl": "http://127.0.0.11:7300/000000000000/a.fifo", "MessageBody": "x", "DelaySeconds": 0,
             "MessageGroupId": "g", "MessageAttributes": {"FifoQueue": {"DataType": "String", "StringValue": "v"}}}
            """#
        let input = try AWSJSON.decoder().decode(SendMessageInput.self, from: Data(json.utf8))
        XCTAssertEqual(input.queueUrl, "http://127.0.0.11:7300/000000000000/a.fifo")
        XCTAssertEqual(input.messageGroupId, "g")
        // Attribute names are data, not members: the key strategy must leave them as sent.
        XCTAssertEqual(input.messageAttributes?["FifoQueue"]?.stringValue, "v")
        XCTAssertEqual(input.messageAttributes?["FifoQueue"]?.dataType, "String")

        let created = try AWSJSON.decoder().decode(
            CreateQueueInput.self,
            from: Data(#"{"QueueName": "q", "Attributes": {"VisibilityTimeout": "5"}, "tags": {"Team": "a"}}"#.utf8)
        )
        XCTAssertEqual(created.attributes, ["VisibilityTimeout": "5"])
        XCTAssertEqual(created.tags, ["Team": "a"])

        // Answers: AWS's names back (decoded from AWS's JSON, encoded again unchanged).
        for (type, json) in [
            (
                SendMessageOutput.self as any Codable.Type,
                #"{"MD5OfMessageBody":"m","MessageId":"id","SequenceNumber":"1"}"#
            ),
            (ListDeadLetterSourceQueuesOutput.self, #"{"queueUrls":["u"]}"#),
            (ListQueueTagsOutput.self, #"{"Tags":{"Team":"a"}}"#),
        ] {
            let value = try AWSJSON.decoder().decode(type, from: Data(json.utf8))
            XCTAssertEqual(String(decoding: AWSJSON.success(value, requestID: "r").body, as: UTF8.self), json)
        }
    }

    func testErrorsHaveAWSShapeStatusAndQueryErrorHeader() {
        let reply = AWSJSON.failure(.signatureDoesNotMatch, requestID: "r-1")
        XCTAssertEqual(reply.status, 403)
        XCTAssertTrue(reply.headers.contains { $0.0 == "x-amzn-query-error" && $0.1 == "SignatureDoesNotMatch;Sender" })
        XCTAssertTrue(reply.headers.contains { $0.0 == "x-amzn-RequestId" && $0.1 == "r-1" })
        let body = String(decoding: reply.body, as: UTF8.self)
        XCTAssertTrue(body.hasPrefix(#"{"__type":"com.amazon.coral.service#SignatureDoesNotMatch","message":"#), body)
    }

    /// Vectors from an independent implementation (Python's hashlib) of AWS's documented algorithm.
    func testMD5OfBodyAndOfMessageAttributes() {
        XCTAssertEqual(Checksums.md5OfBody(Array("héllo".utf8)), "be50e8478cf24ff3595bc7307fb91b50")
        let attributes: [String: DecodedAttribute] = [
            "Weight": DecodedAttribute(dataType: "Number", value: .string("1.5")),
            "Author": DecodedAttribute(dataType: "String", value: .string("Zoë")),
            "Blob": DecodedAttribute(dataType: "Binary", value: .binary([0, 1, 255])),
        ]
        XCTAssertEqual(Checksums.md5OfAttributes(attributes), "88d3859d086fa27318167e1be7ec776e")
        XCTAssertNil(Checksums.md5OfAttributes([:]))
    }
}
