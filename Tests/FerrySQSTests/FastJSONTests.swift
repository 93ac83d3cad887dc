import FerrySQS
import FoundationEssentials
import Testing

/// The hot operations' JSON fast paths against Foundation's coders, on random values: what the writer writes is
/// byte for byte what `AWSJSON.encoder()` writes, and what the parser takes decodes as `AWSJSON.decoder()`
/// decodes it. Whatever the parser does not take goes to Foundation, so the tests also check that the usual
/// requests do take the fast path.
@Suite struct FastJSONTests {
    /// SplitMix64: the same values on every run.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Text with what JSON escapes: quotes, backslashes, slashes, every control character, non-ASCII, astral.
    static func text(_ g: inout Generator) -> String {
        let pieces = ["a", "Z", "0", "\"", "\\", "/", " ", "é", "日本", "🚀", "\u{7F}", "\u{2028}", "-", "_", "."]
        var text = ""
        for _ in 0..<Int.random(in: 0...12, using: &g) {
            if Bool.random(using: &g) {
                text.unicodeScalars.append(Unicode.Scalar(UInt8.random(in: 0..<0x20, using: &g)))
            } else {
                text += pieces.randomElement(using: &g)!
            }
        }
        return text
    }

    /// Names as attribute maps hold them: ASCII letters of both cases, digits, `-_.`.
    static func name(_ g: inout Generator) -> String {
        let alphabet = Array("abcXYZ019-_.MmDd")
        return String((0..<Int.random(in: 1...8, using: &g)).map { _ in alphabet.randomElement(using: &g)! })
    }

    static func maybe<T>(_ g: inout Generator, _ make: (inout Generator) -> T) -> T? {
        Bool.random(using: &g) ? make(&g) : nil
    }

    static func strings(_ g: inout Generator, _ make: (inout Generator) -> String) -> JSONValue {
        .array((0..<Int.random(in: 0...2, using: &g)).map { _ in .string(make(&g)) })
    }

    static func attribute(_ g: inout Generator) -> JSONValue {
        .members([
            ("StringValue", maybe(&g) { .string(text(&$0)) }), ("BinaryValue", maybe(&g) { .string(text(&$0)) }),
            ("DataType", maybe(&g) { .string(text(&$0)) }), ("StringListValues", maybe(&g) { strings(&$0, text) }),
        ])
    }

    static func map(_ g: inout Generator, _ value: (inout Generator) -> JSONValue) -> JSONValue {
        var keys = Set<String>()
        return .object(
            (0..<Int.random(in: 0...4, using: &g)).compactMap { _ in
                let key = name(&g)
                return keys.insert(key).inserted ? (key, value(&g)) : nil
            }
        )
    }

    static func written(_ json: JSONValue) -> [UInt8] {
        var writer = JSONWriter()
        writer.write(json)
        return writer.bytes
    }

    /// A value of `T` from `json`, through Foundation (the shapes' initializers are the module's own).
    static func value<T: Decodable>(_: T.Type, _ json: JSONValue) throws -> T {
        try AWSJSON.decoder().decode(T.self, from: Data(written(json)))
    }

    static func foundation<T: Encodable>(_ value: T) throws -> [UInt8] { Array(try AWSJSON.encoder().encode(value)) }

    static func fast(_ value: some FastJSONOutput) -> [UInt8] { written(value.fastJSON) }

    static func some(_ g: inout Generator) -> JSONValue { .string(text(&g)) }

    @Test func answersAreWrittenAsFoundationWritesThem() throws {
        var g = Generator(state: 15)
        for round in 0..<300 {
            let messages = JSONValue.array(
                (0..<Int.random(in: 0...3, using: &g)).map { _ in
                    .members([
                        ("MessageId", Self.some(&g)), ("ReceiptHandle", Self.some(&g)), ("MD5OfBody", Self.some(&g)),
                        ("Body", Self.some(&g)), ("Attributes", Self.maybe(&g) { Self.map(&$0, Self.some) }),
                        ("MD5OfMessageAttributes", Self.maybe(&g, Self.some)),
                        ("MessageAttributes", Self.maybe(&g) { Self.map(&$0, Self.attribute) }),
                    ])
                }
            )
            let receive = try Self.value(
                ReceiveMessageOutput.self,
                .members([("Messages", Bool.random(using: &g) ? messages : nil)])
            )
            #expect(Self.fast(receive) == (try Self.foundation(receive)), "round \(round): receive")

            let failed = JSONValue.array(
                (0..<Int.random(in: 0...2, using: &g)).map { _ in
                    .members([
                        ("Id", Self.some(&g)), ("SenderFault", .bool(Bool.random(using: &g))), ("Code", Self.some(&g)),
                        ("Message", Self.maybe(&g, Self.some)),
                    ])
                }
            )
            let successful = JSONValue.array(
                (0..<Int.random(in: 0...3, using: &g)).map { _ in
                    .members([
                        ("Id", Self.some(&g)), ("MessageId", Self.some(&g)), ("MD5OfMessageBody", Self.some(&g)),
                        ("MD5OfMessageAttributes", Self.maybe(&g, Self.some)),
                        ("MD5OfMessageSystemAttributes", Self.maybe(&g, Self.some)),
                        ("SequenceNumber", Self.maybe(&g, Self.some)),
                    ])
                }
            )
            let sent = try Self.value(
                SendMessageBatchOutput.self,
                .object([("Successful", successful), ("Failed", failed)])
            )
            #expect(Self.fast(sent) == (try Self.foundation(sent)), "round \(round): send batch")
            let one = try Self.value(
                SendMessageOutput.self,
                .members([
                    ("MD5OfMessageBody", Self.maybe(&g, Self.some)), ("MessageId", Self.maybe(&g, Self.some)),
                    ("MD5OfMessageAttributes", Self.maybe(&g, Self.some)),
                    ("MD5OfMessageSystemAttributes", Self.maybe(&g, Self.some)),
                    ("SequenceNumber", Self.maybe(&g, Self.some)),
                ])
            )
            #expect(Self.fast(one) == (try Self.foundation(one)), "round \(round): send")
            let ids = JSONValue.array(
                (0..<Int.random(in: 0...3, using: &g)).map { _ in .object([("Id", Self.some(&g))]) }
            )
            let deleted = try Self.value(IDBatchOutput.self, .object([("Successful", ids), ("Failed", failed)]))
            #expect(Self.fast(deleted) == (try Self.foundation(deleted)), "round \(round): id batch")
        }
        let empty = try Self.value(EmptyOutput.self, .object([]))
        #expect(Self.fast(empty) == (try Self.foundation(empty)))
    }

    /// Decodes `json` both ways; when the fast path takes it, Foundation must decode the same value (compared
    /// by Foundation's encoding of both). Answers whether the fast path took it.
    @discardableResult
    static func agree<T: FastJSONInput & Codable>(_: T.Type, _ json: [UInt8]) throws -> Bool {
        guard let parsed = JSONParser.parse(json), let fast = T.fast(parsed) else { return false }
        let slow = try AWSJSON.decoder().decode(T.self, from: Data(json))
        #expect(try foundation(fast) == foundation(slow), "\(String(decoding: json, as: UTF8.self))")
        return true
    }

    @Test func requestsAreReadAsFoundationReadsThem() throws {
        var g = Generator(state: 16)
        var taken = 0
        for _ in 0..<300 {
            let entries = JSONValue.array(
                (0..<Int.random(in: 0...3, using: &g)).map { _ in
                    .members([
                        ("Id", Self.some(&g)), ("MessageBody", Self.some(&g)),
                        ("DelaySeconds", Self.maybe(&g) { .int(Int.random(in: -5...900, using: &$0)) }),
                        ("MessageAttributes", Self.maybe(&g) { Self.map(&$0, Self.attribute) }),
                        ("MessageGroupId", Self.maybe(&g, Self.some)),
                        ("MessageDeduplicationId", Self.maybe(&g, Self.some)),
                    ])
                }
            )
            let batch = JSONValue.members([("QueueUrl", Self.some(&g)), ("Entries", Self.maybe(&g) { _ in entries })])
            if try Self.agree(SendMessageBatchInput.self, Self.written(batch)) { taken += 1 }
            let one = JSONValue.members([
                ("QueueUrl", Self.some(&g)), ("MessageBody", Self.some(&g)),
                ("DelaySeconds", Self.maybe(&g) { .int(Int.random(in: 0...900, using: &$0)) }),
                ("MessageAttributes", Self.maybe(&g) { Self.map(&$0, Self.attribute) }),
                ("MessageGroupId", Self.maybe(&g, Self.some)), ("MessageDeduplicationId", Self.maybe(&g, Self.some)),
            ])
            if try Self.agree(SendMessageInput.self, Self.written(one)) { taken += 1 }

            let receive = JSONValue.members([
                ("QueueUrl", Self.some(&g)),
                ("MaxNumberOfMessages", Self.maybe(&g) { .int(Int.random(in: -1...11, using: &$0)) }),
                ("WaitTimeSeconds", Self.maybe(&g) { .int(Int.random(in: 0...20, using: &$0)) }),
                ("VisibilityTimeout", Self.maybe(&g) { .int(Int.random(in: 0...43_200, using: &$0)) }),
                ("AttributeNames", Self.maybe(&g) { Self.strings(&$0, Self.name) }),
                ("MessageAttributeNames", Self.maybe(&g) { Self.strings(&$0, Self.name) }),
                ("ReceiveRequestAttemptId", Self.maybe(&g, Self.some)),
                ("WaitTimeSeconds", nil),
            ])
            if try Self.agree(ReceiveMessageInput.self, Self.written(receive)) { taken += 1 }

            let handles = JSONValue.array(
                (0..<Int.random(in: 0...3, using: &g)).map { _ in
                    .object([("Id", Self.some(&g)), ("ReceiptHandle", Self.some(&g))])
                }
            )
            let delete = JSONValue.object([("QueueUrl", Self.some(&g)), ("Entries", handles)])
            if try Self.agree(DeleteMessageBatchInput.self, Self.written(delete)) { taken += 1 }
        }
        #expect(taken == 1_200, "every request written by AWS's rules takes the fast path")
    }

    /// What SDKs send, with spacing, escapes and nulls: the fast path takes it and agrees with Foundation.
    @Test func sdkRequestsTakeTheFastPath() throws {
        let requests = [
            #"{"QueueUrl": "http://127.0.0.1:9324/000000000000/q.fifo", "Entries": [{"Id": "0", "MessageBody": "caf\u00e9 \ud83d\ude80 \/ \"x\"", "MessageGroupId": "g", "MessageDeduplicationId": "d", "DelaySeconds": null}]}"#,
            #"{"QueueUrl":"u","MaxNumberOfMessages":10,"WaitTimeSeconds":20,"AttributeNames":["All"],"MessageAttributeNames":["All"]}"#,
            #" { "QueueUrl" : "u" , "Entries" : [ { "Id" : "a" , "ReceiptHandle" : "h" } ] } "#,
            #"{"QueueUrl":"u","MessageBody":"b","MessageAttributes":{"k":{"DataType":"String","StringValue":"v"}}}"#,
        ]
        #expect(try Self.agree(SendMessageBatchInput.self, Array(requests[0].utf8)))
        #expect(try Self.agree(ReceiveMessageInput.self, Array(requests[1].utf8)))
        #expect(try Self.agree(DeleteMessageBatchInput.self, Array(requests[2].utf8)))
        #expect(try Self.agree(SendMessageInput.self, Array(requests[3].utf8)))
    }

    /// What the fast path leaves to Foundation: other spellings, other types, duplicates, fractions, bad JSON.
    @Test func theUnusualGoesToFoundation() throws {
        let others = [
            #"{"queueUrl":"u"}"#, #"{"QueueUrl":"u","Unknown":1}"#, #"{"QueueUrl":1}"#,
            #"{"QueueUrl":"u","QueueUrl":"v"}"#,
            #"{"QueueUrl":"u","MaxNumberOfMessages":1.0}"#, #"{"QueueUrl":"u","MaxNumberOfMessages":1e1}"#,
            #"{"QueueUrl":"u","MaxNumberOfMessages":"10"}"#,
            #"{"QueueUrl":"u","MaxNumberOfMessages":99999999999999999999}"#,
            #"{"QueueUrl":"u",}"#, #"{"QueueUrl":"u""#, #"["QueueUrl"]"#, #"{"QueueUrl":"\ud800"}"#,
            #"{"QueueUrl":"a\x"}"#,
            #"{"QueueUrl":"u"} x"#, #"{"QueueUrl":01}"#, "{\"QueueUrl\":\"a\u{01}\"}", "",
        ]
        for text in others {
            #expect(JSONParser.parse(Array(text.utf8)).flatMap(ReceiveMessageInput.fast) == nil, "\(text)")
        }
        #expect(JSONParser.parse([0x22, 0xFF, 0x22]) == nil, "invalid UTF-8")
    }
}
