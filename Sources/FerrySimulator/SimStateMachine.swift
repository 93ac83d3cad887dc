import FerryQueue
import FerryRaft
import NIOCore

/// The application every simulated node runs: a hash chain over applied entries, and in queue mode the real
/// `FerryQueue.QueuePartition` applying every non-empty normal entry.
///
/// Two replicas that applied the same entries in the same order have the same `hash`; a snapshot carries the
/// hash (and the queue's snapshot), so a restored replica is checked against the others too.
struct SimStateMachine {
    private(set) var appliedIndex: LogIndex = 0
    private(set) var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    private(set) var appliedCount: UInt64 = 0
    /// Queue mode: the partition state, its state before any entry, and the result of the latest entry.
    private(set) var queue: QueuePartition?
    private let initialQueue: QueuePartition?
    private(set) var lastQueueResult: QueueResult?

    init(queue: QueuePartition? = nil) {
        self.queue = queue
        self.initialQueue = queue
    }

    mutating func apply(_ entry: Entry) {
        precondition(entry.index == appliedIndex + 1, "applying \(entry.index) after \(appliedIndex)")
        appliedIndex = entry.index
        appliedCount += 1
        hash = Self.mix(hash, entry.index)
        hash = Self.mix(hash, entry.term)
        hash = Self.mix(hash, UInt64(entry.kind.rawValue))
        hash = Self.mix(hash, Self.hash(entry.payload))
        lastQueueResult = nil
        if entry.kind == .normal && entry.payload.readableBytes > 0 {
            // In place through the optional: no copy of the partition per entry.
            lastQueueResult = queue?.apply(index: entry.index, payload: entry.payload)
        }
    }

    func snapshotData() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(appliedIndex)
        buffer.writeInteger(hash)
        buffer.writeInteger(appliedCount)
        if let queue {
            var state = queue.snapshot()
            buffer.writeBuffer(&state)
        }
        return buffer
    }

    /// Restores from snapshot data (empty data is the initial state).
    /// - Returns: false when the data is malformed.
    mutating func restore(_ data: ByteBuffer, index: LogIndex) -> Bool {
        var data = data
        if data.readableBytes == 0 {
            self = SimStateMachine(queue: initialQueue)
            return index == 0
        }
        guard let applied = data.readInteger(as: UInt64.self), let hash = data.readInteger(as: UInt64.self),
            let count = data.readInteger(as: UInt64.self), applied == index
        else { return false }
        if initialQueue == nil {
            guard data.readableBytes == 0 else { return false }
        } else {
            guard let restored = try? QueuePartition.restore(from: data), restored.appliedIndex <= applied else {
                return false
            }
            self.queue = restored
        }
        self.appliedIndex = applied
        self.hash = hash
        self.appliedCount = count
        self.lastQueueResult = nil
        return true
    }

    static func mix(_ h: UInt64, _ value: UInt64) -> UInt64 {
        var x = (h ^ value) &* 0x100_0000_01b3
        x ^= x >> 29
        x = x &* 0xbf58_476d_1ce4_e5b9
        return x ^ (x >> 32)
    }

    /// FNV-1a over the readable bytes.
    static func hash(_ buffer: ByteBuffer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        buffer.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                h ^= UInt64(byte)
                h = h &* 0x100_0000_01b3
            }
        }
        return h
    }
}
