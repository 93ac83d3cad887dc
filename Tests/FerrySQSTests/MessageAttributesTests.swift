import FerrySQS
import XCTest

/// AWS's rules and messages for message attributes (LocalStack's recorded tests and the SQS emulators that copy
/// AWS's messages), and the system attributes a send may set.
final class MessageAttributesTests: XCTestCase {
    func message(_ attributes: [String: MessageAttributeValue]) -> String? {
        do throws(SQSError) {
            _ = try MessageAttributes.validate(attributes)
            return nil
        } catch {
            XCTAssertEqual(error.code, "InvalidParameterValue")
            return error.message
        }
    }

    func testInvalidAttributesGetAWSMessages() {
        let string = { (value: String) in MessageAttributeValue(stringValue: value, dataType: "String") }
        XCTAssertEqual(
            message(["ErrorDetails": string("")]),
            "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'."
        )
        XCTAssertEqual(
            message(["aWs.x": string("v")]),
            "You can't use message attribute names beginning with 'AWS.' or 'Amazon.'. These strings are reserved for internal use."
        )
        XCTAssertEqual(message([".x": string("v")]), "Message (user) attribute name must not begin with character '.'.")
        XCTAssertEqual(message(["x.": string("v")]), "Message (user) attribute name must not end with character '.'.")
        XCTAssertEqual(
            message(["a..b": string("v")]),
            "Message (user) attribute name must not have successive '.' characters."
        )
        for character in ["!", "\"", "§", "(", "?"] {
            XCTAssertEqual(
                message(["Invalid-\(character)-attr": string("v")]),
                "Message (user) attributes name can only contain upper and lower score characters, digits, periods, hyphens and underscores. "
            )
        }
        XCTAssertEqual(
            message([String(repeating: "L", count: 257): string("v")]),
            "Message (user) attribute name must be shorter than 256 bytes."
        )
        XCTAssertEqual(
            message(["n": MessageAttributeValue(stringValue: "v", dataType: "Invalid")]),
            "The type of message (user) attribute 'n' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
        )
        XCTAssertEqual(
            message([
                "n": MessageAttributeValue(stringValue: "v", dataType: "Number." + String(repeating: "L", count: 256))
            ]),
            "Message (user) attribute type must be shorter than 256 bytes."
        )
        XCTAssertEqual(
            message(["n": MessageAttributeValue(stringValue: "x", dataType: "Number")]),
            "Can't cast the value of message (user) attribute 'n' to a number."
        )
        XCTAssertEqual(message(["s": string("Invalid-\u{8},\u{B}")]), Context.invalidCharactersMessage)
        XCTAssertEqual(
            message((0..<11).reduce(into: [:]) { $0["a\($1)"] = string("v") }),
            "Number of message attributes [11] exceeds the allowed maximum [10]."
        )
        // Letters of any script are allowed (AWS took "attr.1øßä" in LocalStack's recorded test).
        XCTAssertNil(message(["attr.1øßä": string("Valida")]))
    }

    /// The checksum AWS answered for this trace header in LocalStack's recorded test.
    func testTraceHeaderIsASystemAttributeWithAWSChecksumAndRoundTrips() throws {
        let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        let (system, _) = try MessageAttributes.validate(
            ["AWSTraceHeader": MessageAttributeValue(stringValue: trace, dataType: "String")],
            kind: .system
        )
        XCTAssertEqual(Checksums.md5OfAttributes(system), "5ae4d5d7636402d80f4eb6d213245a88")
        let (user, _) = try MessageAttributes.validate(
            ["timestamp": MessageAttributeValue(stringValue: "1493147359900", dataType: "Number")]
        )
        let stored = MessageAttributes.encode(user, system: system)
        let decoded = try XCTUnwrap(MessageAttributes.decodeAll(stored))
        XCTAssertEqual(decoded.user, user)
        XCTAssertEqual(decoded.system, system)
        // Readers of the user attributes alone see what they saw before system attributes existed.
        XCTAssertEqual(MessageAttributes.decode(stored), user)
        XCTAssertEqual(MessageAttributes.decodeAll(MessageAttributes.encode(user))?.system, [:])
        XCTAssertThrowsError(
            try MessageAttributes.validate(
                ["Other": MessageAttributeValue(stringValue: "x", dataType: "String")],
                kind: .system
            )
        ) { XCTAssertEqual(($0 as? SQSError)?.message, "Message system attribute name 'Other' is invalid.") }
    }
}
