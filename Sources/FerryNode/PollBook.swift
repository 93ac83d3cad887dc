/// Long polls parked per partition group until their deadline, a part of the node's core with time as an input
/// (no clock, no I/O): the runtime keeps in `Poll` whatever answers a poll, and asks the book which polls a
/// group holds and which of them are past their deadline. Groups come out in id order, polls in arrival order.
package struct PollBook<Poll> {
    package struct Parked {
        package var deadlineMs: Int64
        package var poll: Poll
    }

    private var byGroup: [UInt64: [Parked]] = [:]

    package init() {}

    package mutating func park(_ poll: Poll, group: UInt64, deadlineMs: Int64) {
        byGroup[group, default: []].append(Parked(deadlineMs: deadlineMs, poll: poll))
    }

    package func isEmpty(group: UInt64) -> Bool { byGroup[group]?.isEmpty ?? true }

    /// The groups with parked polls, in id order.
    package var groups: [UInt64] { byGroup.keys.sorted() }

    /// Removes and returns every poll of `group`, in arrival order.
    package mutating func takeAll(group: UInt64) -> [Parked] {
        byGroup.removeValue(forKey: group) ?? []
    }

    /// Removes and returns the polls of `group` whose deadline is `nowMs` or earlier; the others stay parked.
    package mutating func takeExpired(group: UInt64, at nowMs: Int64) -> [Parked] {
        guard let parked = byGroup[group] else { return [] }
        let expired = parked.filter { $0.deadlineMs <= nowMs }
        guard !expired.isEmpty else { return [] }
        let left = parked.filter { $0.deadlineMs > nowMs }
        byGroup[group] = left.isEmpty ? nil : left
        return expired
    }
}
