import FerryModel

/// How the Raft thread cuts one partition's client send batches of a round into Raft entries
/// (`NodeRuntime.proposePendingSends`): consecutive ranges in arrival order, each at most
/// `MessagePosition.maxSlots` messages (the slots of one entry's positions) and `entryBytes` message bytes
/// (bodies and attributes, SQS's message size), except that a range always takes at least one batch (one
/// client batch is within a request's limits already). With at most 1,024 messages of at most a few hundred
/// bytes of ids each on top, a packed entry stays far below `RaftConfig.maxEntryBytes` (16 MiB).
public enum SendPacking {
    /// A packed entry stops growing at this many message bytes.
    public static let entryBytes = 1 << 20

    /// The ranges for client batches, sized by SQS's message size (body and attributes).
    public static func ranges(of batches: [[SendRequest]]) -> [Range<Int>] {
        ranges(batches.map { batch in (messages: batch.count, bytes: batch.reduce(0) { $0 + $1.sizeBytes }) })
    }

    public static func ranges(_ batches: [(messages: Int, bytes: Int)]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        while start < batches.count {
            var end = start
            var messages = 0
            var bytes = 0
            while end < batches.count {
                let next = batches[end]
                if end > start
                    && (messages + next.messages > MessagePosition.maxSlots || bytes + next.bytes > entryBytes)
                {
                    break
                }
                messages += next.messages
                bytes += next.bytes
                end += 1
            }
            ranges.append(start..<end)
            start = end
        }
        return ranges
    }
}
