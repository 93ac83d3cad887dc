import FerryModel
import FerrySQS
import XCTest

final class QueueAttributeMapTests: XCTestCase {
    let map = QueueAttributeMap(arns: ARNs(region: "eu-west-1", account: "000000000000"))

    func testAWSAttributesApplyIncludingRedrivePolicyJSON() throws {
        var attributes = QueueAttributes()
        try map.apply(
            [
                "FifoQueue": "true", "VisibilityTimeout": "45", "DelaySeconds": "0",
                "ContentBasedDeduplication": "true",
                "RedrivePolicy":
                    #"{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:000000000000:orders-dlq.fifo","maxReceiveCount":"3"}"#,
                "DeduplicationWindowSeconds": "60",
            ],
            to: &attributes,
            kind: .fifo,
            creating: true
        )
        XCTAssertEqual(attributes.visibilityTimeoutSeconds, 45)
        XCTAssertTrue(attributes.contentBasedDeduplication)
        XCTAssertEqual(attributes.redrivePolicy, RedrivePolicy(deadLetterQueue: "orders-dlq.fifo", maxReceiveCount: 3))
        XCTAssertEqual(attributes.dedupWindowMs, 60_000)

        let rendered = map.render(
            attributes,
            name: "orders.fifo",
            statistics: QueueAttributeStatistics(visible: 7),
            names: ["All"]
        )
        XCTAssertEqual(rendered["QueueArn"], "arn:aws:sqs:eu-west-1:000000000000:orders.fifo")
        XCTAssertEqual(rendered["ApproximateNumberOfMessages"], "7")
        XCTAssertEqual(rendered["FifoQueue"], "true")
        XCTAssertEqual(
            rendered["RedrivePolicy"],
            #"{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:000000000000:orders-dlq.fifo","maxReceiveCount":3}"#
        )
        let some = map.render(attributes, name: "orders.fifo", statistics: .init(), names: ["VisibilityTimeout"])
        XCTAssertEqual(some, ["VisibilityTimeout": "45"])
    }

    func testBadAttributesAreRefusedWithAWSCodesAndChangeNothing() {
        func code(_ values: [String: String], kind: QueueKind = .standard, creating: Bool = true) -> String? {
            var attributes = QueueAttributes()
            do {
                try map.apply(values, to: &attributes, kind: kind, creating: creating)
                return nil
            } catch {
                return error.code
            }
        }
        XCTAssertEqual(code(["Colour": "blue"]), "InvalidAttributeName")
        XCTAssertEqual(code(["VisibilityTimeout": "ten"]), "InvalidAttributeValue")
        XCTAssertEqual(code(["VisibilityTimeout": "43201"]), "InvalidAttributeValue")
        XCTAssertEqual(code(["ContentBasedDeduplication": "true"]), "InvalidAttributeName")
        XCTAssertEqual(code(["FifoQueue": "true"]), "InvalidParameterValue")
        // SetQueueAttributes may repeat a FIFO queue's FifoQueue=true, nothing else.
        XCTAssertNil(code(["FifoQueue": "true"], kind: .fifo, creating: false))
        XCTAssertEqual(code(["FifoQueue": "false"], kind: .fifo, creating: false), "InvalidAttributeValue")
        XCTAssertEqual(code(["FifoQueue": "true"], kind: .standard, creating: false), "InvalidAttributeName")
        // AWS answers a bad RedrivePolicy with InvalidParameterValue and its reason (LocalStack's recorded tests).
        XCTAssertEqual(code(["RedrivePolicy": "{not json"]), "InvalidParameterValue")
        XCTAssertEqual(
            code(["RedrivePolicy": #"{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:999:dlq","maxReceiveCount":3}"#]),
            "InvalidParameterValue"
        )
        func message(_ values: [String: String]) -> String? {
            var attributes = QueueAttributes()
            do throws(SQSError) {
                try map.apply(values, to: &attributes, kind: .standard, creating: true)
                return nil
            } catch {
                return error.message
            }
        }
        let arn = "arn:aws:sqs:us-east-1:000000000000:dlq"
        XCTAssertEqual(
            message(["RedrivePolicy": #"{"deadLetterTargetArn":"\#(arn)","maxReceiveCount":0}"#]),
            #"Value {"deadLetterTargetArn":"\#(arn)","maxReceiveCount":0} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive."#
        )
        XCTAssertEqual(
            message(["RedrivePolicy": #"{"maxReceiveCount":5}"#]),
            #"Value {"maxReceiveCount":5} for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: deadLetterTargetArn."#
        )
        XCTAssertFalse(map.isKnown("Colour"))
        XCTAssertTrue(map.isKnown("KmsMasterKeyId"))
    }

    /// SQS: one kind of server-side encryption at a time; a KMS key turns SQS-managed SSE off, and the reverse.
    func testServerSideEncryptionSettingsAreKeptAndExclusive() throws {
        let map = QueueAttributeMap(arns: ARNs(region: "us-east-1", account: "000000000000"))
        var attributes = QueueAttributes()
        XCTAssertTrue(attributes.sqsManagedSSE)
        try map.apply(
            ["KmsMasterKeyId": "testKeyId", "KmsDataKeyReusePeriodSeconds": "6000"],
            to: &attributes,
            kind: .standard,
            creating: false
        )
        let rendered = map.render(
            attributes,
            name: "q",
            statistics: .init(),
            names: ["KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"]
        )
        XCTAssertEqual(
            rendered,
            ["KmsMasterKeyId": "testKeyId", "KmsDataKeyReusePeriodSeconds": "6000", "SqsManagedSseEnabled": "false"]
        )
        try map.apply(["SqsManagedSseEnabled": "true"], to: &attributes, kind: .standard, creating: false)
        XCTAssertNil(attributes.kmsMasterKeyID)
        var both = QueueAttributes()
        XCTAssertThrowsError(
            try map.apply(
                ["KmsMasterKeyId": "k", "SqsManagedSseEnabled": "true"],
                to: &both,
                kind: .standard,
                creating: false
            )
        ) { error in
            XCTAssertEqual((error as? SQSError)?.code, "InvalidAttributeName")
            XCTAssertEqual(
                (error as? SQSError)?.message,
                "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE."
            )
        }
        var outOfRange = QueueAttributes()
        XCTAssertThrowsError(
            try map.apply(["KmsDataKeyReusePeriodSeconds": "59"], to: &outOfRange, kind: .standard, creating: false)
        )
    }
}
