import FerryModel

/// Receipt handles and queue URLs as SQS clients see them.
package enum Handles {
    /// A receipt handle: base64url of `version 1 | queue id u64 | partition u32 | index u64 | slot u16 |
    /// fencing token u64` (31 bytes). The queue id keeps a handle of a deleted and recreated queue from naming a
    /// message of the new one.
    package static func receiptHandle(queueID: UInt64, _ handle: ReceiptHandle) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(31)
        bytes.append(1)
        func put<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        put(queueID)
        put(handle.position.partition)
        put(handle.position.index)
        put(handle.position.slot)
        put(handle.fencingToken)
        return Base64URL.encode(bytes)
    }

    /// - Throws: `ReceiptHandleIsInvalid` for anything this node did not hand out for this queue.
    package static func receiptHandle(_ text: String, queueID: UInt64) throws(SQSError) -> ReceiptHandle {
        guard text.utf8.count == 42, let bytes = Base64URL.decode(text), bytes.count == 31, bytes[0] == 1 else {
            throw .receiptHandleIsInvalid(text)
        }
        func get<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            bytes[at..<at + MemoryLayout<T>.size].reduce(T(0)) { $0 << 8 | T($1) }
        }
        let partition = get(9, UInt32.self)
        let index = get(13, UInt64.self)
        let slot = get(21, UInt16.self)
        guard get(1, UInt64.self) == queueID, partition < MessagePosition.maxPartitions,
            index < MessagePosition.maxIndex,
            Int(slot) < MessagePosition.maxSlots
        else { throw .receiptHandleIsInvalid(text) }
        return ReceiptHandle(
            position: MessagePosition(partition: partition, index: index, slot: slot),
            fencingToken: get(23, UInt64.self)
        )
    }

    /// The queue name of `http(s)://host[:port]/<account>/<name>` (or of the bare path); nil when the URL is not
    /// one of this account's queue URLs.
    package static func queueName(ofURL url: String, account: String) -> String? {
        var rest = Substring(url)
        if rest.hasPrefix("http://") || rest.hasPrefix("https://") {
            rest = rest.drop { $0 != ":" }.dropFirst(3)
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            rest = rest[slash...]
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].isEmpty, parts[1] == account, !parts[2].isEmpty else { return nil }
        return String(parts[2])
    }
}

/// Base64url without padding (RFC 4648 §5), as receipt handles use it.
package enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = UInt8(value) }
        return table
    }()

    package static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var at = 0
        while at + 3 <= bytes.count {
            let chunk = UInt32(bytes[at]) << 16 | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(chunk >> UInt32(shift) & 63)]) }
            at += 3
        }
        let rest = bytes.count - at
        if rest > 0 {
            let chunk = UInt32(bytes[at]) << 16 | (rest == 2 ? UInt32(bytes[at + 1]) << 8 : 0)
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(chunk >> 6 & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil for a character outside the alphabet, padding, a length no encoding has, or bits set past the end.
    package static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(characters.count * 3 / 4)
        var chunk: UInt32 = 0
        var bits = 0
        for character in characters {
            let value = values[Int(character)]
            guard value != 0xFF else { return nil }
            chunk = chunk << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: chunk >> UInt32(bits)))
                chunk &= (1 << UInt32(bits)) - 1
            }
        }
        guard chunk == 0 else { return nil }
        return out
    }
}
