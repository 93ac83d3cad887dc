/// The shapes of the hot operations read from and written to `JSONValue` (see FastJSON.swift).
package protocol FastJSONInput {
    /// The input, or nil when `json` holds anything the fast path does not take (Foundation decides then).
    static func fast(_ json: JSONValue) -> Self?
}

package protocol FastJSONOutput {
    var fastJSON: JSONValue { get }
}

extension JSONValue {
    /// An object of the optional members that are present.
    package static func members(_ members: [(String, JSONValue?)]) -> JSONValue {
        .object(members.compactMap { key, value in value.map { (key, $0) } })
    }

    static func optional(_ text: String?) -> JSONValue? { text.map(JSONValue.string) }

    static func optional(_ texts: [String]?) -> JSONValue? { texts.map { .array($0.map(JSONValue.string)) } }

    /// A map of message attributes, or null; nil for anything else.
    func attributeMap<Value>(_ value: (JSONValue) -> Value?) -> [String: Value]?? {
        switch self {
        case .null: return .some(nil)
        case .object(let members):
            var map: [String: Value] = [:]
            for (key, item) in members {
                guard let decoded = value(item) else { return nil }
                map[key] = decoded
            }
            return .some(map)
        default: return nil
        }
    }

    /// An array of `Entry`, or null; nil for anything else.
    func entries<Entry: FastJSONInput>(_: Entry.Type) -> [Entry]?? {
        switch self {
        case .null: return .some(nil)
        case .array(let items):
            var entries: [Entry] = []
            entries.reserveCapacity(items.count)
            for item in items {
                guard let entry = Entry.fast(item) else { return nil }
                entries.append(entry)
            }
            return .some(entries)
        default: return nil
        }
    }
}

// MARK: Inputs

extension MessageAttributeValue: FastJSONInput, FastJSONOutput {
    package static func fast(_ json: JSONValue) -> MessageAttributeValue? {
        guard case .object(let members) = json else { return nil }
        var value = MessageAttributeValue()
        for (key, member) in members {
            switch key {
            case "StringValue":
                guard let v = member.optionalString else { return nil }
                value.stringValue = v
            case "BinaryValue":
                guard let v = member.optionalString else { return nil }
                value.binaryValue = v
            case "StringListValues":
                guard let v = member.optionalStrings else { return nil }
                value.stringListValues = v
            case "BinaryListValues":
                guard let v = member.optionalStrings else { return nil }
                value.binaryListValues = v
            case "DataType":
                guard let v = member.optionalString else { return nil }
                value.dataType = v
            default: return nil
            }
        }
        return value
    }

    package var fastJSON: JSONValue {
        .members([
            ("BinaryListValues", .optional(binaryListValues)), ("BinaryValue", .optional(binaryValue)),
            ("DataType", .optional(dataType)), ("StringListValues", .optional(stringListValues)),
            ("StringValue", .optional(stringValue)),
        ])
    }
}

extension MessageSystemAttributeValue: FastJSONInput {
    package static func fast(_ json: JSONValue) -> MessageSystemAttributeValue? {
        guard let value = MessageAttributeValue.fast(json) else { return nil }
        var system = MessageSystemAttributeValue()
        system.stringValue = value.stringValue
        system.binaryValue = value.binaryValue
        system.stringListValues = value.stringListValues
        system.binaryListValues = value.binaryListValues
        system.dataType = value.dataType
        return system
    }
}

extension SendMessageInput: FastJSONInput {
    /// A batch entry's members with `QueueUrl` in place of `Id`.
    package static func fast(_ json: JSONValue) -> SendMessageInput? {
        guard case .object(let members) = json else { return nil }
        var input = SendMessageInput()
        var rest: [(key: String, value: JSONValue)] = []
        for (key, member) in members {
            switch key {
            case "QueueUrl":
                guard let v = member.optionalString else { return nil }
                input.queueUrl = v
            case "Id": return nil
            default: rest.append((key, member))
            }
        }
        guard let entry = SendMessageBatchEntry.fast(.object(rest)) else { return nil }
        input.messageBody = entry.messageBody
        input.delaySeconds = entry.delaySeconds
        input.messageAttributes = entry.messageAttributes
        input.messageSystemAttributes = entry.messageSystemAttributes
        input.messageDeduplicationId = entry.messageDeduplicationId
        input.messageGroupId = entry.messageGroupId
        return input
    }
}

extension SendMessageBatchEntry: FastJSONInput {
    package static func fast(_ json: JSONValue) -> SendMessageBatchEntry? {
        guard case .object(let members) = json else { return nil }
        var entry = SendMessageBatchEntry()
        for (key, member) in members {
            switch key {
            case "Id":
                guard let v = member.optionalString else { return nil }
                entry.id = v
            case "MessageBody":
                guard let v = member.optionalString else { return nil }
                entry.messageBody = v
            case "DelaySeconds":
                guard let v = member.optionalInt else { return nil }
                entry.delaySeconds = v
            case "MessageAttributes":
                guard let v = member.attributeMap(MessageAttributeValue.fast) else { return nil }
                entry.messageAttributes = v
            case "MessageSystemAttributes":
                guard let v = member.attributeMap(MessageSystemAttributeValue.fast) else { return nil }
                entry.messageSystemAttributes = v
            case "MessageDeduplicationId":
                guard let v = member.optionalString else { return nil }
                entry.messageDeduplicationId = v
            case "MessageGroupId":
                guard let v = member.optionalString else { return nil }
                entry.messageGroupId = v
            default: return nil
            }
        }
        return entry
    }
}

extension SendMessageBatchInput: FastJSONInput {
    package static func fast(_ json: JSONValue) -> SendMessageBatchInput? {
        guard case .object(let members) = json else { return nil }
        var input = SendMessageBatchInput()
        for (key, member) in members {
            switch key {
            case "QueueUrl":
                guard let v = member.optionalString else { return nil }
                input.queueUrl = v
            case "Entries":
                guard let v = member.entries(SendMessageBatchEntry.self) else { return nil }
                input.entries = v
            default: return nil
            }
        }
        return input
    }
}

extension ReceiveMessageInput: FastJSONInput {
    package static func fast(_ json: JSONValue) -> ReceiveMessageInput? {
        guard case .object(let members) = json else { return nil }
        var input = ReceiveMessageInput()
        for (key, member) in members {
            switch key {
            case "QueueUrl":
                guard let v = member.optionalString else { return nil }
                input.queueUrl = v
            case "AttributeNames":
                guard let v = member.optionalStrings else { return nil }
                input.attributeNames = v
            case "MessageSystemAttributeNames":
                guard let v = member.optionalStrings else { return nil }
                input.messageSystemAttributeNames = v
            case "MessageAttributeNames":
                guard let v = member.optionalStrings else { return nil }
                input.messageAttributeNames = v
            case "MaxNumberOfMessages":
                guard let v = member.optionalInt else { return nil }
                input.maxNumberOfMessages = v
            case "VisibilityTimeout":
                guard let v = member.optionalInt else { return nil }
                input.visibilityTimeout = v
            case "WaitTimeSeconds":
                guard let v = member.optionalInt else { return nil }
                input.waitTimeSeconds = v
            case "ReceiveRequestAttemptId":
                guard let v = member.optionalString else { return nil }
                input.receiveRequestAttemptId = v
            default: return nil
            }
        }
        return input
    }
}

extension DeleteMessageInput: FastJSONInput {
    package static func fast(_ json: JSONValue) -> DeleteMessageInput? {
        guard case .object(let members) = json else { return nil }
        var input = DeleteMessageInput()
        for (key, member) in members {
            switch key {
            case "QueueUrl":
                guard let v = member.optionalString else { return nil }
                input.queueUrl = v
            case "ReceiptHandle":
                guard let v = member.optionalString else { return nil }
                input.receiptHandle = v
            default: return nil
            }
        }
        return input
    }
}

extension DeleteMessageBatchEntry: FastJSONInput {
    package static func fast(_ json: JSONValue) -> DeleteMessageBatchEntry? {
        guard case .object(let members) = json else { return nil }
        var entry = DeleteMessageBatchEntry()
        for (key, member) in members {
            switch key {
            case "Id":
                guard let v = member.optionalString else { return nil }
                entry.id = v
            case "ReceiptHandle":
                guard let v = member.optionalString else { return nil }
                entry.receiptHandle = v
            default: return nil
            }
        }
        return entry
    }
}

extension DeleteMessageBatchInput: FastJSONInput {
    package static func fast(_ json: JSONValue) -> DeleteMessageBatchInput? {
        guard case .object(let members) = json else { return nil }
        var input = DeleteMessageBatchInput()
        for (key, member) in members {
            switch key {
            case "QueueUrl":
                guard let v = member.optionalString else { return nil }
                input.queueUrl = v
            case "Entries":
                guard let v = member.entries(DeleteMessageBatchEntry.self) else { return nil }
                input.entries = v
            default: return nil
            }
        }
        return input
    }
}

// MARK: Outputs

extension SendMessageOutput: FastJSONOutput {
    package var fastJSON: JSONValue {
        .members([
            ("MD5OfMessageAttributes", .optional(md5OfMessageAttributes)),
            ("MD5OfMessageBody", .optional(md5OfMessageBody)),
            ("MD5OfMessageSystemAttributes", .optional(md5OfMessageSystemAttributes)),
            ("MessageId", .optional(messageId)), ("SequenceNumber", .optional(sequenceNumber)),
        ])
    }
}

extension BatchResultErrorEntry: FastJSONOutput {
    package var fastJSON: JSONValue {
        .members([
            ("Code", .string(code)), ("Id", .string(id)), ("Message", .optional(message)),
            ("SenderFault", .bool(senderFault)),
        ])
    }
}

extension SendMessageBatchOutput: FastJSONOutput {
    package var fastJSON: JSONValue {
        .object([
            ("Failed", .array(failed.map(\.fastJSON))),
            (
                "Successful",
                .array(
                    successful.map { entry in
                        .members([
                            ("Id", .string(entry.id)),
                            ("MD5OfMessageAttributes", .optional(entry.md5OfMessageAttributes)),
                            ("MD5OfMessageBody", .string(entry.md5OfMessageBody)),
                            ("MD5OfMessageSystemAttributes", .optional(entry.md5OfMessageSystemAttributes)),
                            ("MessageId", .string(entry.messageId)),
                            ("SequenceNumber", .optional(entry.sequenceNumber)),
                        ])
                    }
                )
            ),
        ])
    }
}

extension MessageShape: FastJSONOutput {
    package var fastJSON: JSONValue {
        .members([
            ("Attributes", attributes.map { map in .object(map.map { ($0.key, .string($0.value)) }) }),
            ("Body", .string(body)), ("MD5OfBody", .string(md5OfBody)),
            ("MD5OfMessageAttributes", .optional(md5OfMessageAttributes)),
            ("MessageAttributes", messageAttributes.map { map in .object(map.map { ($0.key, $0.value.fastJSON) }) }),
            ("MessageId", .string(messageId)), ("ReceiptHandle", .string(receiptHandle)),
        ])
    }
}

extension ReceiveMessageOutput: FastJSONOutput {
    package var fastJSON: JSONValue { .members([("Messages", messages.map { .array($0.map(\.fastJSON)) })]) }
}

extension IDBatchOutput: FastJSONOutput {
    package var fastJSON: JSONValue {
        .object([
            ("Failed", .array(failed.map(\.fastJSON))),
            ("Successful", .array(successful.map { .object([("Id", .string($0.id))]) })),
        ])
    }
}

extension EmptyOutput: FastJSONOutput {
    package var fastJSON: JSONValue { .object([]) }
}
