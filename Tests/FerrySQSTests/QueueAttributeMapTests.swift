import FerryQueue
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

        let rendered = try map.render(
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
        let some = try map.render(attributes, name: "orders.fifo", statistics: .init(), names: ["VisibilityTimeout"])
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
        XCTAssertEqual(code(["FifoQueue": "true"], kind: .fifo, creating: false), "InvalidAttributeName")
        XCTAssertEqual(code(["RedrivePolicy": "{not json"]), "InvalidAttributeValue")
        XCTAssertEqual(
            code(["RedrivePolicy": #"{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:999:dlq","maxReceiveCount":3}"#]),
            "InvalidAttributeValue"
        )
        XCTAssertThrowsError(try map.render(QueueAttributes(), name: "q", statistics: .init(), names: ["Colour"]))
    }
}
