import FerrySQS
import FoundationEssentials
import XCTest

/// The query protocol: form parameters as an old SDK sends them (names from botocore 1.31's SQS model) turn into
/// the JSON members of the same input, and outputs and errors come out as SQS's XML.
final class AWSQueryTests: XCTestCase {
    func testFormDecodingKeepsPlusAsSpaceAndPercentEscapes() {
        XCTAssertEqual(
            AWSQuery.form("Action=SendMessage&MessageBody=a+b%26c%0D%0A&Empty="),
            ["Action": "SendMessage", "MessageBody": "a b&c\r\n", "Empty": ""]
        )
    }

    func testFlattenedParametersBecomeTheJSONMembersOfTheSameInput() throws {
        let parameters = [
            "Action": "SendMessageBatch", "Version": "2012-11-05",
            "QueueUrl": "http://127.0.0.11:7300/000000000000/q",
            "SendMessageBatchRequestEntry.1.Id": "a", "SendMessageBatchRequestEntry.1.MessageBody": "one",
            "SendMessageBatchRequestEntry.1.DelaySeconds": "5",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": "Kind",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType": "String",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue": "order",
            "SendMessageBatchRequestEntry.2.Id": "b", "SendMessageBatchRequestEntry.2.MessageBody": "two",
            "SendMessageBatchRequestEntry.10.Id": "c", "SendMessageBatchRequestEntry.10.MessageBody": "ten",
        ]
        let data = AWSQuery.json(parameters, operation: "SendMessageBatch", queuePath: nil)
        let input = try AWSJSON.decoder().decode(SendMessageBatchInput.self, from: data)
        // Numbered entries in number order (10 after 2), integers as numbers, attributes as a map.
        XCTAssertEqual(input.entries?.map(\.id), ["a", "b", "c"])
        XCTAssertEqual(input.entries?[0].delaySeconds, 5)
        XCTAssertEqual(input.entries?[0].messageAttributes?["Kind"]?.stringValue, "order")
        XCTAssertEqual(input.queueUrl, "http://127.0.0.11:7300/000000000000/q")
        // An empty list comes as its member name with no value (botocore's query serializer).
        let empty = try AWSJSON.decoder().decode(
            SendMessageBatchInput.self,
            from: AWSQuery.json(["QueueUrl": "u", "Entries": ""], operation: "SendMessageBatch", queuePath: nil)
        )
        XCTAssertEqual(empty.entries?.count, 0)

        let created = try AWSJSON.decoder().decode(
            CreateQueueInput.self,
            from: AWSQuery.json(
                [
                    "QueueName": "q", "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "5",
                    "Tag.1.Key": "team", "Tag.1.Value": "a",
                ],
                operation: "CreateQueue",
                queuePath: nil
            )
        )
        XCTAssertEqual(created.attributes, ["VisibilityTimeout": "5"])
        XCTAssertEqual(created.tags, ["team": "a"])

        // Sent to the queue's own URL, a request names its queue by the path.
        let received = try AWSJSON.decoder().decode(
            ReceiveMessageInput.self,
            from: AWSQuery.json(
                ["AttributeName.1": "All", "MessageAttributeName.1": "Custom.*", "MaxNumberOfMessages": "10"],
                operation: "ReceiveMessage",
                queuePath: "http://h:1/000000000000/q"
            )
        )
        XCTAssertEqual(received.queueUrl, "http://h:1/000000000000/q")
        XCTAssertEqual(received.attributeNames, ["All"])
        XCTAssertEqual(received.messageAttributeNames, ["Custom.*"])
        XCTAssertEqual(received.maxNumberOfMessages, 10)
    }

    func testOutputsAreSQSXMLWithFlattenedListsAndMaps() throws {
        let output = try AWSJSON.decoder().decode(
            ReceiveMessageOutput.self,
            from: Data(
                #"""
                {"Messages": [{"MessageId": "m", "ReceiptHandle": "h", "MD5OfBody": "d", "Body": "a<b\r",
                "Attributes": {"SenderId": "s"}, "MessageAttributes": {"Kind": {"DataType": "String", "StringValue": "x"}}}]}
                """#.utf8
            )
        )
        let reply = AWSQuery.success(output, operation: "ReceiveMessage", requestID: "r-1")
        XCTAssertEqual(reply.status, 200)
        let xml = String(decoding: reply.body, as: UTF8.self)
        XCTAssertEqual(
            xml,
            #"<?xml version="1.0"?><ReceiveMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">"#
                + "<ReceiveMessageResult><Message><Attribute><Name>SenderId</Name><Value>s</Value></Attribute>"
                + "<Body>a&lt;b&#xD;</Body><MD5OfBody>d</MD5OfBody>"
                + "<MessageAttribute><Name>Kind</Name><Value><DataType>String</DataType><StringValue>x</StringValue></Value></MessageAttribute>"
                + "<MessageId>m</MessageId><ReceiptHandle>h</ReceiptHandle></Message></ReceiveMessageResult>"
                + "<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></ReceiveMessageResponse>"
        )
        let empty = String(
            decoding: AWSQuery.success(EmptyOutput(), operation: "DeleteQueue", requestID: "r").body,
            as: UTF8.self
        )
        XCTAssertFalse(empty.contains("DeleteQueueResult"))
        XCTAssertTrue(empty.contains("<DeleteQueueResponse"))
    }

    func testErrorsAreSQSXMLWithTheLegacyCode() {
        let reply = AWSQuery.failure(.queueDoesNotExist, requestID: "r-2")
        XCTAssertEqual(reply.status, 400)
        XCTAssertEqual(
            String(decoding: reply.body, as: UTF8.self),
            #"<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><Error><Type>Sender</Type>"#
                + "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"
                + "<Message>The specified queue does not exist for this wsdl version.</Message><Detail/></Error>"
                + "<RequestId>r-2</RequestId></ErrorResponse>"
        )
    }
}
