import FerryQueue
import FerryRaft
import FerryWire

/// Long polls: receives that found nothing wait (`parked`) until their partition can deliver or their deadline
/// passes; polls that only watch a partition (`awaitMessages`, `summarizeDeliverable`) wait in `awaiting` until
/// their answer is ready. Both are served after each round's applies and ticks, on the Raft thread.
extension NodeRuntime {
    /// A receive; an empty answer waits (long poll) until messages arrive or the deadline passes.
    func receive(
        _ request: ReceiveRequest,
        at group: GroupDriver,
        deadlineMs: Int64,
        _ reply: @escaping @Sendable (ClientResponse) -> Void
    ) {
        propose(.receive([request]), to: group, refused: reply) { [weak self] result in
            guard case .queue(.received(let outcomes))? = result, let outcome = outcomes.first else {
                return reply(.error(Self.failure(result)))
            }
            switch outcome {
            case .failure(let error):
                reply(.error(WireError(error)))
            case .success(let received) where received.deliveries.isEmpty && MonotonicClock.wallMs() < deadlineMs:
                self?.parked[group.groupID, default: []].append((request, deadlineMs, reply))
            case .success(let received):
                reply(.received(received.deliveries))
            }
        }
    }

    /// Answers a poll that watches a partition at once when it can (or when `waitMs` is 0), else parks it until
    /// `serveAwaiting` can, for up to 20 s.
    func watch(
        _ group: GroupDriver,
        waitMs: UInt32,
        _ reply: @escaping @Sendable (ClientResponse) -> Void,
        _ answer: @escaping (QueuePartition, _ final: Bool) -> ClientResponse?
    ) {
        if let response = answer(group.partition!, waitMs == 0) { return reply(response) }
        let deadline = MonotonicClock.wallMs() + Int64(min(waitMs, 20_000))
        awaiting[group.groupID, default: []].append(PartitionPoll(deadlineMs: deadline, answer: answer, reply: reply))
    }

    /// Answers the parked partition polls that can be answered now or whose time is up; a node that no longer
    /// leads the partition (or no longer has it) sends its polls to the leader it knows.
    func serveAwaiting(_ wall: Int64) {
        for (groupID, waiting) in awaiting {
            guard let group = groups[groupID], let partition = group.partition, group.isLeader else {
                let refusal = WireError(
                    .notLeader,
                    "node \(config.nodeID) no longer leads group \(groupID)",
                    leaderHint: groups[groupID]?.core.leaderHint ?? 0
                )
                for poll in waiting { poll.reply(.error(refusal)) }
                awaiting[groupID] = nil
                continue
            }
            var left: [PartitionPoll] = []
            for poll in waiting {
                if let response = poll.answer(partition, poll.deadlineMs <= wall) {
                    poll.reply(response)
                } else {
                    left.append(poll)
                }
            }
            awaiting[groupID] = left.isEmpty ? nil : left
        }
    }

    func serveParked(_ group: GroupDriver) {
        guard var waiting = parked[group.groupID], !waiting.isEmpty else { return }
        let wall = MonotonicClock.wallMs()
        let expired = waiting.filter { $0.deadlineMs <= wall }
        for receive in expired { receive.reply(.received([])) }
        waiting.removeAll { $0.deadlineMs <= wall }
        parked[group.groupID] = nil
        guard group.partition?.hasDeliverableMessages == true else {
            if !waiting.isEmpty { parked[group.groupID] = waiting }
            return
        }
        for receive in waiting {
            self.receive(receive.request, at: group, deadlineMs: receive.deadlineMs, receive.reply)
        }
    }
}

/// A long poll that watches one partition without changing it: `answer` gives the response once there is one
/// (`final`: the deadline passed, so it must give one).
struct PartitionPoll {
    var deadlineMs: Int64
    var answer: (QueuePartition, _ final: Bool) -> ClientResponse?
    var reply: @Sendable (ClientResponse) -> Void
}
