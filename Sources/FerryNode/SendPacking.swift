import FerryQueue

/// How the Raft thread cuts one partition's client send batches of a round into Raft entries
/// (`NodeRuntime.proposePendingSends`): consecutive ranges in arrival order, each at most
/// `MessagePosition.maxSlots` messages (the slots of one entry's positions) and `entryBytes` body bytes, except
/// that a range always takes at least one batch (one client batch is within a request's limits already).
public enum SendPacking {
    /// A packed entry stops growing at this many body bytes.
    public static let entryBytes = 1 << 20

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
