import FerryModel
import FoundationEssentials

/// Receipt handles and queue URLs as SQS clients see them.
package enum Handles {
    /// A receipt handle: base64url of `version 1 | queue id u64 | partition u32 | index u64 | slot u16 |
    /// fencing token u64` (31 bytes). The queue id keeps a handle of a deleted and recreated queue from naming a
    /// message of the new one.
    package static func receiptHandle(queueID: UInt64, _ handle: ReceiptHandle) -> String {
        var bytes: [UInt8] = [1]
        func put<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        put(queueID)
        put(handle.position.partition)
        put(handle.position.index)
        put(handle.position.slot)
        put(handle.fencingToken)
        return String(
            Data(bytes).base64EncodedString().compactMap { character -> Character? in
                character == "+" ? "-" : character == "/" ? "_" : character == "=" ? nil : character
            }
        )
    }

    /// - Throws: `ReceiptHandleIsInvalid` for anything this node did not hand out for this queue.
    package static func receiptHandle(_ text: String, queueID: UInt64) throws(SQSError) -> ReceiptHandle {
        var base64 = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        guard text.utf8.count <= 1_024, let data = Data(base64Encoded: base64), data.count == 31, data.first == 1 else {
            throw .receiptHandleIsInvalid(text)
        }
        let bytes = Array(data)
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
