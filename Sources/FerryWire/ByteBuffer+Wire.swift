import NIOCore

/// Total readers: each returns the value or throws `.truncated(field)`; none traps on short input.
extension ByteBuffer {
    mutating func readU8(_ field: String) throws(WireDecodeError) -> UInt8 {
        guard let value = readInteger(as: UInt8.self) else { throw .truncated(field: field) }
        return value
    }

    mutating func readU16(_ field: String) throws(WireDecodeError) -> UInt16 {
        guard let value = readInteger(endianness: .big, as: UInt16.self) else { throw .truncated(field: field) }
        return value
    }

    mutating func readU32(_ field: String) throws(WireDecodeError) -> UInt32 {
        guard let value = readInteger(endianness: .big, as: UInt32.self) else { throw .truncated(field: field) }
        return value
    }

    mutating func readU64(_ field: String) throws(WireDecodeError) -> UInt64 {
        guard let value = readInteger(endianness: .big, as: UInt64.self) else { throw .truncated(field: field) }
        return value
    }

    mutating func readBool(_ field: String) throws(WireDecodeError) -> Bool {
        switch try readU8(field) {
        case 0: return false
        case 1: return true
        case let other: throw .invalidValue(field: field, value: UInt64(other))
        }
    }

    /// A `u32` length followed by that many bytes, as a zero-copy slice.
    mutating func readLengthPrefixedSlice(_ field: String) throws(WireDecodeError) -> ByteBuffer {
        let length = Int(try readU32(field))
        guard let slice = readSlice(length: length) else { throw .truncated(field: field) }
        return slice
    }

    mutating func writeU8(_ value: UInt8) { writeInteger(value) }
    mutating func writeU16(_ value: UInt16) { writeInteger(value, endianness: .big) }
    mutating func writeU32(_ value: UInt32) { writeInteger(value, endianness: .big) }
    mutating func writeU64(_ value: UInt64) { writeInteger(value, endianness: .big) }
    mutating func writeBool(_ value: Bool) { writeInteger(value ? UInt8(1) : UInt8(0)) }

    mutating func writeLengthPrefixed(_ bytes: ByteBuffer) {
        precondition(bytes.readableBytes <= Int(UInt32.max), "field longer than u32")
        writeU32(UInt32(bytes.readableBytes))
        var copy = bytes
        writeBuffer(&copy)
    }
}
