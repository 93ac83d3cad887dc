import FoundationEssentials
import NIOCore

/// SQS message attributes: AWS's validation, and the bytes FerryQueue stores for them (opaque to it):
/// `count u16 | (name u16+bytes | dataType u16+bytes | kind u8 (1 string, 2 binary) | value u32+bytes)*`, names in
/// sorted order, then, when the message has system attributes (`AWSTraceHeader`), a `0x53` byte and the same
/// form again.
package enum MessageAttributes {
    static let maxAttributes = 10
    static let maxNameBytes = 256
    static let maxDataTypeBytes = 256
    /// The system attributes a send may set (SQS: only the X-Ray trace header).
    static let systemNames: Set<String> = ["AWSTraceHeader"]
    static let systemMarker: UInt8 = 0x53

    /// Which attributes: a message's own (`(user)`), or the system ones a send may set.
    package enum Kind: String {
        case user = "(user)"
        case system
    }

    /// Checks AWS's rules and decodes base64 binaries (in sorted name order, so the first broken rule found is
    /// always the same one). - Returns: the attributes and the bytes AWS counts toward the message size (names,
    /// data types and values).
    package static func validate(
        _ attributes: [String: MessageAttributeValue],
        kind: Kind = .user
    ) throws(SQSError) -> (attributes: [String: DecodedAttribute], countedBytes: Int) {
        let type = kind.rawValue
        if kind == .system, let name = attributes.keys.sorted().first(where: { !systemNames.contains($0) }) {
            throw .invalidParameterValue("Message system attribute name '\(name)' is invalid.")
        }
        guard attributes.count <= maxAttributes else {
            throw .invalidParameterValue(
                "Number of message attributes [\(attributes.count)] exceeds the allowed maximum [\(maxAttributes)]."
            )
        }
        var decoded: [String: DecodedAttribute] = [:]
        var counted = 0
        for name in attributes.keys.sorted() {
            let value = attributes[name]!
            try validateName(name, type: type)
            guard let dataType = value.dataType, !dataType.isEmpty else {
                throw .invalidParameterValue(
                    "The message \(type) attribute '\(name)' must contain a non-empty message attribute type."
                )
            }
            let base = dataType.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""
            guard ["String", "Number", "Binary"].contains(base), dataType.first != "." else {
                throw .invalidParameterValue(
                    "The type of message \(type) attribute '\(name)' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
                )
            }
            if value.stringValue == "" || value.binaryValue == ""
                || (value.stringValue == nil && value.binaryValue == nil)
            {
                throw .invalidParameterValue(
                    "Message \(type) attribute '\(name)' must contain a non-empty value of type '\(dataType)'."
                )
            }
            guard value.stringValue == nil || value.binaryValue == nil else {
                throw .invalidParameterValue("Message \(type) attribute '\(name)' must have a single value.")
            }
            guard dataType.utf8.count <= maxDataTypeBytes else {
                throw .invalidParameterValue("Message \(type) attribute type must be shorter than 256 bytes.")
            }
            if kind == .system && base != "String" {
                throw .invalidParameterValue(
                    "Message system attribute '\(name)' with type '\(dataType)' must use field 'String'."
                )
            }
            switch base {
            case "String", "Number":
                guard let text = value.stringValue else {
                    throw .invalidParameterValue(
                        "Message \(type) attribute '\(name)' with type '\(base)' must use field 'String'."
                    )
                }
                if base == "Number" && !isNumber(text) {
                    throw .invalidParameterValue(
                        "Can't cast the value of message \(type) attribute '\(name)' to a number."
                    )
                }
                // AWS answers InvalidParameterValue here, with the words it uses for a body.
                guard text.unicodeScalars.allSatisfy(Context.isAllowedInBody) else {
                    throw .invalidParameterValue(Context.invalidCharactersMessage)
                }
                decoded[name] = DecodedAttribute(dataType: dataType, value: .string(text))
                counted += text.utf8.count
            default:
                guard let text = value.binaryValue else {
                    throw .invalidParameterValue(
                        "Message \(type) attribute '\(name)' with type 'Binary' must use field 'Binary'."
                    )
                }
                guard let bytes = Data(base64Encoded: text), !bytes.isEmpty else {
                    throw .invalidParameterValue(
                        "Message \(type) attribute '\(name)' must contain a non-empty value of type '\(dataType)'."
                    )
                }
                decoded[name] = DecodedAttribute(dataType: dataType, value: .binary(Array(bytes)))
                counted += bytes.count
            }
            counted += name.utf8.count + dataType.utf8.count
        }
        return (decoded, counted)
    }

    /// AWS: up to 256 bytes of letters (any script), digits, `_`, `-` and `.`; no leading, trailing or doubled
    /// `.`; not `AWS.` or `Amazon.` first (in any case).
    static func validateName(_ name: String, type: String) throws(SQSError) {
        guard name.utf8.count < maxNameBytes else {
            throw .invalidParameterValue("Message \(type) attribute name must be shorter than \(maxNameBytes) bytes.")
        }
        guard !name.allSatisfy(\.isWhitespace) else {
            throw .invalidParameterValue("The request must contain non-empty message \(type) attribute names.")
        }
        let lowered = name.drop(while: \.isWhitespace).lowercased()
        if lowered.hasPrefix("aws.") || lowered.hasPrefix("amazon.") {
            throw .invalidParameterValue(
                "You can't use message attribute names beginning with 'AWS.' or 'Amazon.'. These strings are reserved for internal use."
            )
        }
        if name.hasPrefix(".") {
            throw .invalidParameterValue("Message \(type) attribute name must not begin with character '.'.")
        }
        if name.hasSuffix(".") {
            throw .invalidParameterValue("Message \(type) attribute name must not end with character '.'.")
        }
        if name.contains("..") {
            throw .invalidParameterValue("Message \(type) attribute name must not have successive '.' characters.")
        }
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-"
                || scalar == "."
        }
        guard allowed else {
            throw .invalidParameterValue(
                "Message \(type) attributes name can only contain upper and lower score characters, digits, periods, hyphens and underscores. "
            )
        }
    }

    /// A decimal number (sign, digits, point, exponent); not `nan` or `inf`, which Double would also take.
    static func isNumber(_ text: String) -> Bool {
        text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || "+-.eE".utf8.contains($0) } && Double(text) != nil
    }

    package static func encode(
        _ attributes: [String: DecodedAttribute],
        system: [String: DecodedAttribute] = [:]
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        guard !attributes.isEmpty || !system.isEmpty else { return buffer }
        write(attributes, into: &buffer)
        if !system.isEmpty {
            buffer.writeInteger(systemMarker)
            write(system, into: &buffer)
        }
        return buffer
    }

    private static func write(_ attributes: [String: DecodedAttribute], into buffer: inout ByteBuffer) {
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
    }

    /// The message's own attributes; nil when the bytes are not this encoding (a message sent through the
    /// native protocol with its own).
    package static func decode(_ stored: ByteBuffer) -> [String: DecodedAttribute]? {
        decodeAll(stored)?.user
    }

    /// The message's own attributes and its system attributes.
    package static func decodeAll(
        _ stored: ByteBuffer
    ) -> (user: [String: DecodedAttribute], system: [String: DecodedAttribute])? {
        var buffer = stored
        guard buffer.readableBytes > 0 else { return ([:], [:]) }
        guard let user = read(&buffer) else { return nil }
        guard buffer.readableBytes > 0 else { return (user, [:]) }
        guard buffer.readInteger(as: UInt8.self) == systemMarker, let system = read(&buffer),
            buffer.readableBytes == 0
        else { return nil }
        return (user, system)
    }

    private static func read(_ buffer: inout ByteBuffer) -> [String: DecodedAttribute]? {
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
        return attributes
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

    /// AWS's selection: `All`, `.*` or `*` for every attribute, a name, or a prefix followed by `.*` (`Hel.*`
    /// selects `Hello` and `Help.Me`, as AWS answered LocalStack's recorded test).
    package static func select(_ attributes: [String: DecodedAttribute], names: [String]) -> [String: DecodedAttribute]
    {
        guard !names.isEmpty else { return [:] }
        if names.contains("All") || names.contains(".*") || names.contains("*") { return attributes }
        return attributes.filter { name, _ in
            names.contains { wanted in
                wanted.hasSuffix(".*") ? name.hasPrefix(String(wanted.dropLast(2))) : wanted == name
            }
        }
    }
}
