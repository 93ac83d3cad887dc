/// Message ids and sequence numbers, derived from where a message landed so that every replica and every retry
/// agrees on them without coordination (DESIGN §9).
public struct MessagePosition: Sendable, Hashable, Comparable {
    /// The queue's partition.
    public var partition: UInt32
    /// The log index of the entry that enqueued the message.
    public var index: UInt64
    /// The message's place within that entry's batch (0 ..< 1024).
    public var slot: UInt16

    public static let maxSlots = 1_024
    /// Partitions per queue, and log indexes per partition, that fit the id's 64 low bits.
    public static let maxPartitions: UInt32 = 2_048
    public static let maxIndex: UInt64 = 1 << 43

    public init(partition: UInt32, index: UInt64, slot: UInt16) {
        precondition(Int(slot) < Self.maxSlots, "slot \(slot) beyond \(Self.maxSlots)")
        precondition(partition < Self.maxPartitions, "partition \(partition) beyond \(Self.maxPartitions)")
        precondition(index < Self.maxIndex, "index \(index) beyond 2^43")
        self.partition = partition
        self.index = index
        self.slot = slot
    }

    /// The FIFO sequence number: increases with every message of a partition (index, then slot).
    public var sequenceNumber: UInt64 { index << 10 | UInt64(slot) }

    public static func < (a: MessagePosition, b: MessagePosition) -> Bool {
        (a.partition, a.index, a.slot) < (b.partition, b.index, b.slot)
    }

    /// An SQS-style message id (a UUID's 8-4-4-4-12 hex form) from the queue's id and this position.
    /// - Parameter queueID: the queue's catalog id (never reused, so ids of a deleted queue's messages never
    ///   come back).
    public func messageID(queueID: UInt64) -> String {
        // 64 bits of queue id, 11 of partition, 53 of sequence number: distinct positions give distinct ids.
        // Written digit by digit (a receive of ten messages names ten ids; building them from `String(radix:)`
        // pieces took 8 % of the SQS API's time).
        let low = UInt64(partition) << 53 | sequenceNumber
        var bytes = [UInt8]()
        bytes.reserveCapacity(36)
        for digit in 0..<32 {
            if digit == 8 || digit == 12 || digit == 16 || digit == 20 { bytes.append(UInt8(ascii: "-")) }
            let word = digit < 16 ? queueID : low
            bytes.append(Self.hexDigits[Int(truncatingIfNeeded: word >> UInt64(60 - 4 * (digit % 16))) & 0xF])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
