import FerryModel
import FerryQueue
import FerryRaft
import FerryWire

/// Long polls: receives that found nothing wait (`parked`) until their partition can deliver or their deadline
/// passes; polls that only watch a partition (`awaitMessages`, `summarizeDeliverable`) wait in `awaiting` until
/// their answer is ready. Both are served after each round's applies and ticks, on the Raft thread. Their
/// deadlines are on the monotonic clock: a wall clock stepped back must not hold a long poll for minutes.
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
            case .success(let received) where received.deliveries.isEmpty && (self?.nowMs ?? .max) < deadlineMs:
                self?.parked.park(
                    ParkedReceive(request: request, reply: reply),
                    group: group.groupID,
                    deadlineMs: deadlineMs
                )
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
        let deadline = nowMs + Int64(min(waitMs, 20_000))
        awaiting.park(PartitionPoll(answer: answer, reply: reply), group: group.groupID, deadlineMs: deadline)
    }

    /// Answers the parked partition polls that can be answered now or whose time is up; a node that no longer
    /// leads the partition (or no longer has it) sends its polls to the leader it knows.
    func serveAwaiting(_ now: Int64) {
        for groupID in awaiting.groups {
            let waiting = awaiting.takeAll(group: groupID)
            guard let group = groups[groupID], let partition = group.partition, group.isLeader else {
                let refusal = WireError(
                    .notLeader,
                    "node \(config.nodeID) no longer leads group \(groupID)",
                    leaderHint: groups[groupID]?.core.leaderHint ?? 0
                )
                for parked in waiting { parked.poll.reply(.error(refusal)) }
                continue
            }
            for parked in waiting {
                if let response = parked.poll.answer(partition, parked.deadlineMs <= now) {
                    parked.poll.reply(response)
                } else {
                    awaiting.park(parked.poll, group: groupID, deadlineMs: parked.deadlineMs)
                }
            }
        }
    }

    func serveParked(_ group: GroupDriver) {
        guard !parked.isEmpty(group: group.groupID) else { return }
        for expired in parked.takeExpired(group: group.groupID, at: nowMs) {
            expired.poll.reply(.received([]))
        }
        guard group.partition?.hasDeliverableMessages == true else { return }
        for waiting in parked.takeAll(group: group.groupID) {
            self.receive(waiting.poll.request, at: group, deadlineMs: waiting.deadlineMs, waiting.poll.reply)
        }
    }
}

/// A receive that found nothing and waits for messages (long poll).
struct ParkedReceive {
    var request: ReceiveRequest
    var reply: @Sendable (ClientResponse) -> Void
}

/// A long poll that watches one partition without changing it: `answer` gives the response once there is one
/// (`final`: the deadline passed, so it must give one).
struct PartitionPoll {
    var answer: (QueuePartition, _ final: Bool) -> ClientResponse?
    var reply: @Sendable (ClientResponse) -> Void
}
