import FerryCrypto

/// SQS's message checksums, as AWS documents them ("Calculating the MD5 message digest for message
/// attributes"); SDKs other than boto3 verify them on send and receive.
package enum Checksums {
    /// Lowercase hex MD5 of the body's UTF-8 bytes.
    package static func md5OfBody(_ body: [UInt8]) -> String { Digests.hex(Digests.md5(body)) }

    /// MD5 over the attributes sorted by name, each as: name, data type, transport type (1 string, 2 binary,
    /// 3 string list, 4 binary list) and value(s), every string or byte field prefixed by its length as a 4-byte
    /// big-endian integer. Nil when there are no attributes (AWS then omits the member).
    package static func md5OfAttributes(_ attributes: [String: DecodedAttribute]) -> String? {
        guard !attributes.isEmpty else { return nil }
        var bytes: [UInt8] = []
        func field(_ value: [UInt8]) {
            let length = UInt32(value.count)
            bytes += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
            bytes += value
        }
        for name in attributes.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let attribute = attributes[name]!
            field(Array(name.utf8))
            field(Array(attribute.dataType.utf8))
            switch attribute.value {
            case .string(let text):
                bytes.append(1)
                field(Array(text.utf8))
            case .binary(let data):
                bytes.append(2)
                field(data)
            }
        }
        return Digests.hex(Digests.md5(bytes))
    }
}

/// A message attribute after validation: its data type and a string or binary value.
package struct DecodedAttribute: Sendable, Equatable {
    package enum Value: Sendable, Equatable {
        case string(String)
        case binary([UInt8])
    }
    package var dataType: String
    package var value: Value

    package init(dataType: String, value: Value) {
        self.dataType = dataType
        self.value = value
    }
}
