import DequeModule
import FerryModel
import HeapModule

extension QueuePartition {
    /// Checks the invariants stated on `QueuePartition` by recomputing every derived structure; empty when all
    /// hold. O(state): for tests and the simulator, not the hot path.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        var inFlight = 0
        var delayed = 0
        var expectedGroups: [String: GroupState] = [:]
        // The store checks its own order (sequence numbers strictly increasing) and count.
        problems += messages.invariantViolations()
        problems += dedup.invariantViolations
        for (sequence, message) in messages {
            switch message.state {
            case .inFlight: inFlight += 1
            case .delayed: delayed += 1
            case .available: break
            }
            if kind == .fifo {
                guard let groupID = message.groupID else {
                    problems.append("FIFO message \(sequence) without a group")
                    continue
                }
                expectedGroups[groupID, default: GroupState()].messages.append(sequence)
                if case .inFlight = message.state { expectedGroups[groupID]!.inFlight += 1 }
            }
        }
        if inFlight != counters.inFlight { problems.append("in flight \(counters.inFlight), counted \(inFlight)") }
        if delayed != counters.delayed { problems.append("delayed \(counters.delayed), counted \(delayed)") }
        for (groupID, expected) in expectedGroups.sorted(by: { $0.key < $1.key }) {
            guard let group = groups[groupID] else {
                problems.append("group \(groupID) missing")
                continue
            }
            if Array(group.messages) != Array(expected.messages) || group.inFlight != expected.inFlight {
                problems.append("group \(groupID) holds \(Array(group.messages)) / \(group.inFlight) in flight")
            }
            let shouldBeReady =
                group.inFlight == 0 && group.messages.first.map { messages[$0]?.state == .available } == true
            if ready.contains(groupID) != shouldBeReady {
                problems.append("group \(groupID) ready: \(ready.contains(groupID)), expected \(shouldBeReady)")
            }
            if let key = ready.current[groupID],
                key.headSequence != group.messages.first
                    || key.availableAtMs != group.messages.first.flatMap({ messages[$0]?.availableAtMs })
            {
                problems.append("group \(groupID) ready at a stale head")
            }
        }
        for groupID in groups.keys.sorted() where expectedGroups[groupID] == nil {
            problems.append("empty group \(groupID) kept")
        }
        if ready.count > expectedGroups.count { problems.append("ready index holds groups that do not exist") }
        let busyGroups = expectedGroups.values.filter { $0.inFlight > 0 }.count
        if busyGroups != counters.groupsWithInFlight {
            problems.append("groups with in flight \(counters.groupsWithInFlight), counted \(busyGroups)")
        }
        var timed: Set<Timer> = []
        for timer in timers.unordered { timed.insert(timer) }
        for (sequence, message) in messages {
            if let timer = Self.timer(for: sequence, message), !timed.contains(timer) {
                problems.append("message \(sequence) has no timer at its deadline")
            }
            if kind == .standard, message.state == .available, !standardReady.unordered.contains(sequence) {
                problems.append("standard message \(sequence) available but not ready")
            }
        }
        return problems
    }
}

extension QueuePartition {
    /// How many chunks of the large collections (messages, dedup window) this partition shares with `other`, of
    /// how many: a copy (a snapshot's) shares all, and each change after it unshares only what it touched.
    package func chunks(sharedWith other: QueuePartition) -> (shared: Int, total: Int) {
        let store = messages.chunks(sharedWith: other.messages)
        let window = dedup.chunks(sharedWith: other.dedup)
        return (store.shared + window.shared, store.total + window.total)
    }
}
