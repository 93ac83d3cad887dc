import FerryModel
import FerrySQS
import Foundation
import XCTest

final class HandlesTests: XCTestCase {
    func testReceiptHandlesRoundTripAndRejectForeignOrGarbled() throws {
        let handle = ReceiptHandle(position: MessagePosition(partition: 3, index: 123_456, slot: 7), fencingToken: 99)
        let text = Handles.receiptHandle(queueID: 42, handle)
        XCTAssertEqual(try Handles.receiptHandle(text, queueID: 42), handle)
        XCTAssertFalse(text.contains("+") || text.contains("/") || text.contains("="))
        for bad in ["", "not-a-handle", String(text.dropLast()), text + "AA"] {
            XCTAssertThrowsError(try Handles.receiptHandle(bad, queueID: 42)) { error in
                XCTAssertEqual((error as? SQSError)?.code, "ReceiptHandleIsInvalid")
            }
        }
        // A handle of another queue (a deleted and recreated one has a new id) names nothing here.
        XCTAssertThrowsError(try Handles.receiptHandle(text, queueID: 43))
    }

    /// Base64url as Foundation writes it (standard alphabet with `-` and `_`, padding dropped), for every length
    /// and random bytes; a text Foundation would not produce is refused.
    func testBase64URLMatchesFoundationAndRefusesWhatItDoesNotWrite() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<40 {
            for _ in 0..<20 {
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let foundation = String(
                    Data(bytes).base64EncodedString().compactMap { character -> Character? in
                        character == "+" ? "-" : character == "/" ? "_" : character == "=" ? nil : character
                    }
                )
                XCTAssertEqual(Base64URL.encode(bytes), foundation)
                XCTAssertEqual(Base64URL.decode(foundation), bytes)
            }
        }
        for bad in ["A", "AAAAA", "AA==", "AA+A", "AA/A", "AB", "AAB", "A A="] {
            XCTAssertNil(Base64URL.decode(bad), bad)
        }
        // A receipt handle garbled in its last character (bits past the end) or with the standard alphabet.
        let text = Handles.receiptHandle(
            queueID: 42,
            ReceiptHandle(position: MessagePosition(partition: 0, index: 1, slot: 0), fencingToken: 0x3E3E3E)
        )
        for bad in [String(text.dropLast()) + "B", text.replacingOccurrences(of: "-", with: "+")] where bad != text {
            XCTAssertThrowsError(try Handles.receiptHandle(bad, queueID: 42))
        }
    }

    func testQueueURLsOfThisAccountOnly() {
        let account = "000000000000"
        XCTAssertEqual(
            Handles.queueName(ofURL: "http://127.0.0.11:7300/000000000000/orders.fifo", account: account),
            "orders.fifo"
        )
        XCTAssertEqual(Handles.queueName(ofURL: "https://sqs.local/000000000000/q", account: account), "q")
        XCTAssertEqual(Handles.queueName(ofURL: "/000000000000/q", account: account), "q")
        XCTAssertNil(Handles.queueName(ofURL: "http://127.0.0.11:7300/123456789012/q", account: account))
        XCTAssertNil(Handles.queueName(ofURL: "http://127.0.0.11:7300/000000000000/", account: account))
        XCTAssertNil(Handles.queueName(ofURL: "http://127.0.0.11:7300/000000000000/q/extra", account: account))
        XCTAssertNil(Handles.queueName(ofURL: "q", account: account))
    }

    func testBatchRules() {
        func code(_ ids: [String?]?) -> String? {
            do throws(SQSError) {
                _ = try Context.checkBatch(ids, entry: "SendMessageBatchRequestEntry")
                return nil
            } catch {
                return error.code
            }
        }
        XCTAssertNil(code(["a", "b-1", "C_2"]))
        XCTAssertEqual(code([]), "AWS.SimpleQueueService.EmptyBatchRequest")
        XCTAssertEqual(code(nil), "AWS.SimpleQueueService.EmptyBatchRequest")
        XCTAssertEqual(code((0..<11).map { "e\($0)" }), "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
        XCTAssertEqual(code(["a", "a"]), "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        XCTAssertEqual(code(["has space"]), "AWS.SimpleQueueService.InvalidBatchEntryId")
        XCTAssertEqual(code([String(repeating: "x", count: 81)]), "AWS.SimpleQueueService.InvalidBatchEntryId")
    }

    func testMessageAttributesValidateEncodeAndSelect() throws {
        let (decoded, counted) = try MessageAttributes.validate([
            "Kind": MessageAttributeValue(stringValue: "order", dataType: "String"),
            "Weight": MessageAttributeValue(stringValue: "-1.5e3", dataType: "Number.kg"),
            "Blob": MessageAttributeValue(binaryValue: "AAH/", dataType: "Binary"),
        ])
        XCTAssertEqual(decoded["Blob"]?.value, .binary([0, 1, 255]))
        XCTAssertEqual(counted, "Kind".utf8.count + 6 + 5 + "Weight".utf8.count + 9 + 6 + "Blob".utf8.count + 6 + 3)
        XCTAssertEqual(MessageAttributes.decode(MessageAttributes.encode(decoded)), decoded)
        XCTAssertEqual(Set(MessageAttributes.select(decoded, names: ["Kind", "Blob"]).keys), ["Kind", "Blob"])
        XCTAssertEqual(MessageAttributes.select(decoded, names: ["All"]), decoded)
        let dotted = ["order.id": decoded["Kind"]!, "order.total": decoded["Weight"]!, "orders": decoded["Blob"]!]
        // AWS's prefix filter is a plain prefix: `Hel.*` selected `Hello` and `Help.Me` in LocalStack's recorded test.
        XCTAssertEqual(
            Set(MessageAttributes.select(dotted, names: ["order.*"]).keys),
            ["order.id", "order.total", "orders"]
        )
        XCTAssertEqual(Set(MessageAttributes.select(dotted, names: ["order..*"]).keys), ["order.id", "order.total"])
        XCTAssertEqual(MessageAttributes.select(dotted, names: ["*"]), dotted)
        XCTAssertTrue(MessageAttributes.select(decoded, names: []).isEmpty)
        for bad: [String: MessageAttributeValue] in [
            ["AWS.Reserved": MessageAttributeValue(stringValue: "x", dataType: "String")],
            ["a..b": MessageAttributeValue(stringValue: "x", dataType: "String")],
            ["n": MessageAttributeValue(stringValue: "nan", dataType: "Number")],
            ["n": MessageAttributeValue(stringValue: "x", dataType: "Date")],
            ["n": MessageAttributeValue(binaryValue: "!!", dataType: "Binary")],
            ["n": MessageAttributeValue(dataType: "String")],
        ] {
            XCTAssertThrowsError(try MessageAttributes.validate(bad), "\(bad)")
        }
    }
}
