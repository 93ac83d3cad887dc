import FerryModel
import NIOCore

/// Bodies and message attributes copied into one buffer of exactly their size (issue 19).
///
/// A `ByteBuffer` slice keeps its whole storage alive: a queued message that held a slice of the log entry, the
/// network frame or the snapshot file it arrived in kept all of those bytes (ids, headers, the other records of
/// a snapshot) for as long as it stayed queued, about 1.5 times the bodies again. Messages are packed when they
/// are enqueued (one buffer per entry) and when a snapshot is restored (one per `restoreRun` messages), so a
/// message holds its own bytes and its run's buffer goes when the run's last message does.
enum BodyPacking {
    /// Messages restored from a snapshot share a buffer per this many.
    static let restoreRun = 256

    /// `parts` copied, in order, into one new buffer; the copies are slices of it. Empty parts stay empty
    /// buffers (no storage).
    static func packed(_ parts: [ByteBuffer]) -> [ByteBuffer] {
        let total = parts.reduce(0) { $0 + $1.readableBytes }
        guard total > 0 else { return parts }
        var arena = ByteBufferAllocator().buffer(capacity: total)
        var offsets: [Int] = []
        offsets.reserveCapacity(parts.count)
        for part in parts {
            offsets.append(arena.writerIndex)
            arena.writeImmutableBuffer(part)
        }
        return zip(parts, offsets).map { part, offset in
            part.readableBytes == 0 ? ByteBuffer() : arena.getSlice(at: offset, length: part.readableBytes)!
        }
    }

    /// The requests with their bodies and attributes packed into one buffer.
    static func packed(_ requests: [SendRequest]) -> [SendRequest] {
        let parts = packed(requests.flatMap { [$0.body, $0.messageAttributes] })
        var requests = requests
        for at in requests.indices {
            requests[at].body = parts[2 * at]
            requests[at].messageAttributes = parts[2 * at + 1]
        }
        return requests
    }

    /// The messages with their bodies and attributes packed into one buffer.
    static func packed(_ messages: [(UInt64, QueuePartition.StoredMessage)]) -> [(UInt64, QueuePartition.StoredMessage)]
    {
        let parts = packed(messages.flatMap { [$0.1.body, $0.1.messageAttributes] })
        var messages = messages
        for at in messages.indices {
            messages[at].1.body = parts[2 * at]
            messages[at].1.messageAttributes = parts[2 * at + 1]
        }
        return messages
    }
}
