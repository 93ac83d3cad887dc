import FoundationEssentials
import NIOCore

/// SQS message attributes: AWS's validation, and the bytes FerryQueue stores for them (opaque to it):
/// `count u16 | (name u16+bytes | dataType u16+bytes | kind u8 (1 string, 2 binary) | value u32+bytes)*`,
/// names in sorted order.
package enum MessageAttributes {
    static let maxAttributes = 10
    static let maxNameBytes = 256
    static let maxDataTypeBytes = 256

    /// Checks AWS's rules and decodes base64 binaries. - Returns: the attributes and the bytes AWS counts toward the
    /// message size (names, data types and values).
    package static func validate(
        _ attributes: [String: MessageAttributeValue]
    ) throws(SQSError)
        -> (attributes: [String: DecodedAttribute], countedBytes: Int)
    {
        guard attributes.count <= maxAttributes else {
            throw .invalidParameterValue(
                "Number of message attributes [\(attributes.count)] exceeds the allowed maximum [10]."
            )
        }
        var decoded: [String: DecodedAttribute] = [:]
        var counted = 0
        for (name, value) in attributes {
            try validateName(name)
            guard let dataType = value.dataType, !dataType.isEmpty else {
                throw .invalidParameterValue(
                    "The message attribute '\(name)' must contain non-empty message attribute type."
                )
            }
            guard dataType.utf8.count <= maxDataTypeBytes else {
                throw .invalidParameterValue("Message attribute type '\(dataType)' exceeds 256 bytes.")
            }
            let base = dataType.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""
            switch base {
            case "String", "Number":
                guard let text = value.stringValue, value.binaryValue == nil else {
                    throw .invalidParameterValue(
                        "The message attribute '\(name)' with type '\(base)' must use field 'String'."
                    )
                }
                guard !text.isEmpty else {
                    throw .invalidParameterValue(
                        "The message attribute '\(name)' must contain non-empty message attribute value for message attribute type '\(base)'."
                    )
                }
                if base == "Number" && !isNumber(text) {
                    throw .invalidParameterValue(
                        "Can't cast the value of message (user) attribute '\(name)' to a number."
                    )
                }
                decoded[name] = DecodedAttribute(dataType: dataType, value: .string(text))
                counted += text.utf8.count
            case "Binary":
                guard let text = value.binaryValue, value.stringValue == nil else {
                    throw .invalidParameterValue(
                        "The message attribute '\(name)' with type 'Binary' must use field 'Binary'."
                    )
                }
                guard let bytes = Data(base64Encoded: text), !bytes.isEmpty else {
                    throw .invalidParameterValue(
                        "The message attribute '\(name)' must contain non-empty message attribute value for message attribute type 'Binary'."
                    )
                }
                decoded[name] = DecodedAttribute(dataType: dataType, value: .binary(Array(bytes)))
                counted += bytes.count
            default:
                throw .invalidParameterValue(
                    "The type of message (user) attribute '\(name)' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
                )
            }
            counted += name.utf8.count + dataType.utf8.count
        }
        return (decoded, counted)
    }

    /// AWS: up to 256 of A–Z a–z 0–9 _ - . ; no leading, trailing or doubled `.`; not `AWS.` or `Amazon.` first.
    static func validateName(_ name: String) throws(SQSError) {
        let bytes = Array(name.utf8)
        let allowed = bytes.allSatisfy { byte in
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
        let lowered = name.lowercased()
        guard !bytes.isEmpty, bytes.count <= maxNameBytes, allowed, bytes.first != UInt8(ascii: "."),
            bytes.last != UInt8(ascii: "."), !name.contains(".."), !lowered.hasPrefix("aws."),
            !lowered.hasPrefix("amazon.")
        else {
            throw .invalidParameterValue("Message (user) attribute '\(name)' is not a valid attribute name.")
        }
    }

    /// A decimal number (sign, digits, point, exponent); not `nan` or `inf`, which Double would also take.
    static func isNumber(_ text: String) -> Bool {
        text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || "+-.eE".utf8.contains($0) } && Double(text) != nil
    }

    package static func encode(_ attributes: [String: DecodedAttribute]) -> ByteBuffer {
        var buffer = ByteBuffer()
        guard !attributes.isEmpty else { return buffer }
        buffer.writeInteger(UInt16(attributes.count))
        for name in attributes.keys.sorted() {
            let attribute = attributes[name]!
            buffer.writeInteger(UInt16(name.utf8.count))
            buffer.writeString(name)
            buffer.writeInteger(UInt16(attribute.dataType.utf8.count))
            buffer.writeString(attribute.dataType)
            switch attribute.value {
            case .string(let text):
                buffer.writeInteger(UInt8(1))
                buffer.writeInteger(UInt32(text.utf8.count))
                buffer.writeString(text)
            case .binary(let bytes):
                buffer.writeInteger(UInt8(2))
                buffer.writeInteger(UInt32(bytes.count))
                buffer.writeBytes(bytes)
            }
        }
        return buffer
    }

    /// Nil when the bytes are not this encoding (a message sent through the native protocol with its own).
    package static func decode(_ stored: ByteBuffer) -> [String: DecodedAttribute]? {
        var buffer = stored
        guard buffer.readableBytes > 0 else { return [:] }
        guard let count = buffer.readInteger(as: UInt16.self) else { return nil }
        var attributes: [String: DecodedAttribute] = [:]
        for _ in 0..<count {
            guard let nameLength = buffer.readInteger(as: UInt16.self),
                let name = buffer.readString(length: Int(nameLength)),
                let typeLength = buffer.readInteger(as: UInt16.self),
                let dataType = buffer.readString(length: Int(typeLength)),
                let kind = buffer.readInteger(as: UInt8.self),
                let valueLength = buffer.readInteger(as: UInt32.self),
                let bytes = buffer.readBytes(length: Int(valueLength))
            else { return nil }
            switch kind {
            case 1:
                attributes[name] = DecodedAttribute(
                    dataType: dataType,
                    value: .string(String(decoding: bytes, as: UTF8.self))
                )
            case 2: attributes[name] = DecodedAttribute(dataType: dataType, value: .binary(bytes))
            default: return nil
            }
        }
        return buffer.readableBytes == 0 ? attributes : nil
    }

    /// The JSON shape of stored attributes.
    static func shape(_ attributes: [String: DecodedAttribute]) -> [String: MessageAttributeValue] {
        attributes.mapValues { attribute in
            switch attribute.value {
            case .string(let text): return MessageAttributeValue(stringValue: text, dataType: attribute.dataType)
            case .binary(let bytes):
                return MessageAttributeValue(
                    binaryValue: Data(bytes).base64EncodedString(),
                    dataType: attribute.dataType
                )
            }
        }
    }

    /// AWS's selection: `All`, `.*`, a name, or a prefix ending in `.*`.
    package static func select(_ attributes: [String: DecodedAttribute], names: [String]) -> [String: DecodedAttribute]
    {
        guard !names.isEmpty else { return [:] }
        if names.contains("All") || names.contains(".*") { return attributes }
        return attributes.filter { name, _ in
            names.contains { wanted in
                wanted.hasSuffix(".*") ? name.hasPrefix(String(wanted.dropLast(1))) : wanted == name
            }
        }
    }
}
