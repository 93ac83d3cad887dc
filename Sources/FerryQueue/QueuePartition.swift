import DequeModule
import FerryModel
import HeapModule
import NIOCore

/// One partition of one queue: the deterministic state machine every replica of the partition's Raft group
/// applies in log order (DESIGN §2, §4, §9). Time comes only from the leader's entry timestamps; there is no
/// clock and no I/O, so replicas that applied the same entries are in the same state, and `snapshot()` /
/// `restore(from:)` carry that state across log compaction.
///
/// Message ids and sequence numbers derive from (partition, log index, slot in the entry); a message's state is
/// `delayed`, `available` or `inFlight`. On FIFO queues the available groups are kept in a `ReadyIndex`, so a
/// receive costs O(log groups) per message handed out whatever the backlog of other groups.
///
/// - Invariants (checked by `invariantViolations()`):
///   - `groups[g].messages` lists the live messages of FIFO group `g` in sequence order; `inFlight` counts those
///     in flight; a group with neither is absent.
///   - `ready` holds exactly the FIFO groups with nothing in flight whose oldest message is available.
///   - `counters.inFlight` / `counters.delayed` count the messages in those states.
///   - Every delayed or in-flight message has a timer at its deadline.
public struct QueuePartition: Sendable {
    public let queueName: String
    public let queueID: UInt64
    public let partition: UInt32
    public let partitionCount: UInt32
    public let kind: QueueKind
    public internal(set) var attributes: QueueAttributes

    /// The latest entry time seen (entry stamps are taken as max with this, so time never goes back here).
    public internal(set) var nowMs: Int64 = 0
    /// The log index of the latest applied entry.
    public internal(set) var appliedIndex: UInt64 = 0

    struct StoredMessage: Sendable {
        enum State: Sendable, Hashable {
            case delayed(untilMs: Int64)
            case available
            case inFlight(untilMs: Int64)
        }

        /// The body, the message attributes and the deduplication id's UTF-8 bytes, one after the other, in the
        /// arena the messages of an entry or a restore run share (`BodyPacking`): 16 bytes here, where three
        /// fields took 64 and an id longer than 15 bytes a string allocation more.
        var payload: Payload
        var groupID: String?
        var sentAtMs: Int64
        var state: State
        var receiveCount: UInt32 = 0
        var attributesLength: UInt32
        /// `noDeduplicationID` when the message has none.
        var deduplicationIDLength: UInt16
        var firstReceiveAtMs: Int64 = 0
        /// The fencing token of the latest delivery (0: never delivered).
        var token: UInt64 = 0
        var deliveredAtMs: Int64 = 0
        /// Where a moved message came from, boxed: most messages have none, and inline it took 40 bytes of each.
        var originBox: OriginBox?
        /// When the message last became receivable: its send (or the end of its delay), or the end of its latest
        /// delivery's visibility. A FIFO group's place in the ready index is its head's (SQS's order).
        var availableAtMs: Int64 = 0

        var origin: MoveOrigin? {
            get { originBox?.origin }
            set { originBox = newValue.map(OriginBox.init) }
        }

        var moveCount: UInt16 { origin?.moveCount ?? 0 }

        var isInFlight: Bool {
            if case .inFlight = state { return true }
            return false
        }
    }

    final class OriginBox: Sendable {
        let origin: MoveOrigin

        init(_ origin: MoveOrigin) { self.origin = origin }
    }

    struct GroupState: Sendable {
        var messages = Deque<UInt64>()
        var inFlight = 0
    }

    /// A deadline of a delayed or in-flight message; stale timers (the message moved on) are skipped.
    struct Timer: Sendable, Hashable, Comparable {
        var atMs: Int64
        var sequence: UInt64

        static func < (a: Timer, b: Timer) -> Bool { (a.atMs, a.sequence) < (b.atMs, b.sequence) }
    }

    /// The key of a move taken in: the source queue and the message's position there.
    struct MoveKey: Sendable, Hashable {
        var queueID: UInt64
        var position: MessagePosition
    }

    struct Counters: Sendable, Hashable {
        var inFlight = 0
        var delayed = 0
        var groupsWithInFlight = 0
        var sent: UInt64 = 0
        var received: UInt64 = 0
        var deleted: UInt64 = 0
        var deadLettered: UInt64 = 0
        var expired: UInt64 = 0
        /// Outbox moves dropped unacknowledged: none since issue 18 (kept for the snapshot format).
        var movesAbandoned: UInt64 = 0
    }

    /// Live messages by sequence number, in send order.
    var messages = MessageStore()
    var groups: [String: GroupState] = [:]
    var ready = ReadyIndex()
    /// Standard queues: available messages, oldest first (lazy: stale items are skipped).
    var standardReady = Heap<UInt64>()
    var timers = Heap<Timer>()
    var dedup = DedupWindow()
    var movesTaken = ExpiringTable<MoveKey, DedupRecord>()
    var attempts = ExpiringTable<String, [ReceiptHandle]>()
    var producers = ProducerSessions()
    var nextProducerSweepMs: Int64 = 0
    var outbox = Deque<OutboxMove>()
    var nextOutboxID: UInt64 = 1
    var nextFencingToken: UInt64 = 1
    var moveTask: MoveTaskStatus?
    var finishedMoveTasks: [MoveTaskStatus] = []
    var counters = Counters()

    /// A new, empty partition.
    /// - Throws: `.invalidQueueName` or `.invalidAttribute` (the metadata group checks these first).
    public init(
        queueName: String,
        queueID: UInt64,
        partition: UInt32,
        partitionCount: UInt32,
        attributes: QueueAttributes
    ) throws(QueueError) {
        try QueueName.validate(queueName)
        let kind = QueueName.kind(of: queueName)
        try attributes.validate(for: kind)
        guard partitionCount >= 1, partitionCount <= MessagePosition.maxPartitions, partition < partitionCount else {
            throw .invalidAttribute(name: "Partitions", reason: "partition \(partition) of \(partitionCount)")
        }
        self.queueName = queueName
        self.queueID = queueID
        self.partition = partition
        self.partitionCount = partitionCount
        self.kind = kind
        self.attributes = attributes
        self.dedup = DedupWindow(partition: partition)
    }

    // MARK: Apply

    /// Applies the committed entry at `index`: decodes it, advances time to its stamp, then runs its command.
    /// A payload that does not decode is answered `.rejected(.undecodable)` on every replica alike.
    public mutating func apply(index: UInt64, payload: ByteBuffer) -> QueueResult {
        let entry: QueueEntry
        do {
            entry = try QueueEntry.decode(payload)
        } catch {
            precondition(index > appliedIndex, "applying \(index) after \(appliedIndex)")
            appliedIndex = index
            return .rejected(.undecodable(error))
        }
        return apply(index: index, entry: entry)
    }

    /// Applies a decoded entry. Time passes for every entry (the stamp is the leader's, not the command's), so
    /// a refused command still lets deadlines fire; it changes nothing else.
    /// - Precondition: `index` is above every applied index and below `MessagePosition.maxIndex`.
    public mutating func apply(index: UInt64, entry: QueueEntry) -> QueueResult {
        precondition(index > appliedIndex, "applying \(index) after \(appliedIndex)")
        precondition(index < MessagePosition.maxIndex, "log index \(index) beyond message positions")
        appliedIndex = index
        advanceTime(to: entry.timestampMs)
        let result: QueueResult
        switch entry.command {
        case .send(let requests): result = send(requests, index: index)
        case .receive(let requests): result = .received(requests.map { receive($0) })
        case .delete(let handles): result = delete(handles)
        case .changeVisibility(let changes): result = changeVisibility(changes)
        case .purge: result = .purged(messages: purge())
        case .advanceTime: result = .timeAdvanced
        case .setAttributes(let attributes): result = setAttributes(attributes)
        case .acknowledgeMoves(let ids): result = .movesAcknowledged(acknowledgeMoves(ids))
        case .startMoveTask(let request): result = startMoveTask(request)
        case .cancelMoveTask(let taskID): result = cancelMoveTask(taskID)
        }
        compactIfStale()
        return result
    }

    // MARK: Time

    /// Moves time to `stampMs` (never backwards) and fires everything due: delays and visibility deadlines,
    /// retention, the dedup / move / attempt windows, idle producer sessions, move tasks. Outbox moves never
    /// expire: each is sent again until its destination took it (issue 18).
    mutating func advanceTime(to stampMs: Int64) {
        nowMs = max(nowMs, stampMs)
        while let timer = timers.min, timer.atMs <= nowMs {
            timers.removeMin()
            fire(timer)
        }
        expireRetention()
        dedup.expire(nowMs: nowMs, windowMs: attributes.dedupWindowMs)
        movesTaken.expire(nowMs: nowMs, windowMs: QueueLimits.moveRecordRetentionMs)
        attempts.expire(nowMs: nowMs, windowMs: QueueLimits.receiveAttemptWindowMs)
        if nowMs >= nextProducerSweepMs {
            producers.expire(nowMs: nowMs, idleMs: attributes.producerIdleMs)
            nextProducerSweepMs = nowMs + QueueLimits.producerSweepIntervalMs
        }
        progressMoveTask()
    }

    mutating func fire(_ timer: Timer) {
        guard let message = messages[timer.sequence] else { return }
        switch message.state {
        case .delayed(let until) where until == timer.atMs:
            messages[timer.sequence]!.state = .available
            messages[timer.sequence]!.availableAtMs = until
            counters.delayed -= 1
            becameAvailable(timer.sequence, groupID: message.groupID)
        case .inFlight(let until) where until == timer.atMs:
            endDelivery(timer.sequence, atMs: until)
        default:
            break  // stale: the message moved on since this timer was set
        }
    }

    /// An in-flight message becomes available again at `atMs` (its visibility deadline, or now when it was set to 0).
    mutating func endDelivery(_ sequence: UInt64, atMs: Int64) {
        let groupID = messages[sequence]!.groupID
        messages[sequence]!.state = .available
        messages[sequence]!.availableAtMs = atMs
        counters.inFlight -= 1
        if kind == .fifo, let groupID { adjustInFlight(groupID, by: -1) }
        becameAvailable(sequence, groupID: groupID)
    }

    mutating func becameAvailable(_ sequence: UInt64, groupID: String?) {
        if kind == .fifo, let groupID {
            refreshGroup(groupID)
        } else {
            standardReady.insert(sequence)
        }
    }

    /// Retention counts from the send into this queue; sends are in sequence order and entry time never goes
    /// back, so the oldest messages are the first in `messages`.
    mutating func expireRetention() {
        let retentionMs = Int64(attributes.retentionSeconds) * 1_000
        while let (first, message) = messages.first() {
            guard message.sentAtMs + retentionMs <= nowMs else { break }
            _ = removeMessage(first)
            counters.expired += 1
        }
    }

    // MARK: Bookkeeping

    mutating func adjustInFlight(_ groupID: String, by delta: Int) {
        let before = groups[groupID]?.inFlight ?? 0
        groups[groupID, default: GroupState()].inFlight = before + delta
        let after = before + delta
        if before == 0 && after > 0 { counters.groupsWithInFlight += 1 }
        if before > 0 && after == 0 { counters.groupsWithInFlight -= 1 }
    }

    /// Puts a FIFO group into the ready index or takes it out, and forgets it when it holds nothing.
    mutating func refreshGroup(_ groupID: String) {
        guard let group = groups[groupID] else {
            ready.remove(groupID)
            return
        }
        if group.messages.isEmpty && group.inFlight == 0 {
            groups[groupID] = nil
            ready.remove(groupID)
        } else if group.inFlight == 0, let head = group.messages.first, let message = messages[head],
            message.state == .available
        {
            ready.insert(groupID, headSequence: head, availableAtMs: message.availableAtMs)
        } else {
            ready.remove(groupID)
        }
    }

    /// Removes a live message from every structure and returns it (its slot in `messages` is compacted later).
    mutating func removeMessage(_ sequence: UInt64) -> StoredMessage? {
        guard let message = messages.removeValue(forKey: sequence) else { return nil }
        switch message.state {
        case .delayed: counters.delayed -= 1
        case .inFlight: counters.inFlight -= 1
        case .available: break
        }
        if kind == .fifo, let groupID = message.groupID {
            if let at = groups[groupID]?.messages.firstIndex(of: sequence) {
                groups[groupID]!.messages.remove(at: at)
            }
            if case .inFlight = message.state { adjustInFlight(groupID, by: -1) }
            refreshGroup(groupID)
        }
        return message
    }

    /// Drops stale items from `messages`, `standardReady` and `timers` when they outnumber the live ones, so
    /// memory follows the live backlog. Each filter walks only the structure it compacts, and runs only after
    /// the structure doubled its live count, so the cost is amortized O(1) per removal. Runs once per entry,
    /// never in the middle of a command.
    mutating func compactIfStale() {
        // The front of `messages` is always live after an entry: the oldest message is read in O(1).
        messages.compact()
        if standardReady.count > 64 && standardReady.count > 2 * (messages.count - counters.inFlight - counters.delayed)
        {
            standardReady = Heap(Set(standardReady.unordered.filter { messages[$0]?.state == .available }))
        }
        if timers.count > 64 && timers.count > 2 * (counters.inFlight + counters.delayed) {
            timers = Heap(Set(timers.unordered.filter { Self.timer(for: $0.sequence, messages[$0.sequence]) == $0 }))
        }
    }

    static func timer(for sequence: UInt64, _ message: StoredMessage?) -> Timer? {
        switch message?.state {
        case .delayed(let until)?, .inFlight(let until)?: return Timer(atMs: until, sequence: sequence)
        default: return nil
        }
    }

    func position(of sequence: UInt64) -> MessagePosition {
        MessagePosition(partition: partition, index: sequence >> 10, slot: UInt16(sequence & 1_023))
    }

    /// The in-flight limit of this partition: the queue's limit shared evenly by its partitions.
    public var inFlightLimit: Int {
        (attributes.maxInFlightMessages + Int(partitionCount) - 1) / Int(partitionCount)
    }

    // MARK: Attributes

    mutating func setAttributes(_ new: QueueAttributes) -> QueueResult {
        do {
            try new.validate(for: kind)
        } catch {
            return .rejected(error)
        }
        attributes = new
        // A shorter retention takes effect at once; the other attributes apply to later sends and receives.
        expireRetention()
        return .attributesSet
    }

    // MARK: Queries

    /// Whether the message at `position` is still in this queue (in any state).
    public func contains(_ position: MessagePosition) -> Bool {
        position.partition == partition && messages[position.sequenceNumber] != nil
    }

    /// Whether a receive now would deliver something: a FIFO group whose head is free (or, standard, any
    /// visible message), within the in-flight limit. Long polls wait for this, not for "visible": a FIFO
    /// message behind an in-flight one of its group is visible but cannot be delivered.
    public var hasDeliverableMessages: Bool {
        guard counters.inFlight < inFlightLimit else { return false }
        if kind == .fifo { return !ready.isEmpty }
        return messages.count - counters.inFlight - counters.delayed > 0
    }

    /// What a receive here would hand out now, for a client that fills one batch from several partitions: it
    /// asks each partition for at most what this says, so no partition takes into flight more than the batch
    /// returns. Counted up to `limit`, in O(limit + ready groups looked at); changes nothing.
    /// - Parameter atMs: the leader's clock: a delay or visibility deadline at or before it has passed, although
    ///   no entry applied it yet (a receive's entry would, first).
    public func deliverableSummary(
        limit: Int,
        requestAttemptID: String? = nil,
        atMs: Int64? = nil
    ) -> DeliverableSummary {
        var summary = DeliverableSummary(count: 0, repeatedAttemptCount: 0, firstAvailableAtMs: nil)
        summary.pendingDeadline = timers.min.map { $0.atMs <= max(nowMs, atMs ?? nowMs) } ?? false
        if let attemptID = requestAttemptID,
            let handles = attempts.lookup(attemptID, nowMs: nowMs, windowMs: QueueLimits.receiveAttemptWindowMs)
        {
            summary.repeatedAttemptCount = handles.count {
                guard let message = messages[$0.position.sequenceNumber] else { return false }
                return message.token == $0.fencingToken && message.isInFlight
            }
        }
        let wanted = min(limit, max(0, inFlightLimit - counters.inFlight))
        guard wanted > 0 else { return summary }
        if kind == .standard {
            summary.count = min(wanted, messages.count - counters.inFlight - counters.delayed)
            return summary
        }
        summary.firstAvailableAtMs = ready.first?.key.availableAtMs
        // Unordered, but the answer is not: it is min(messages of ready groups, wanted) whatever the order.
        for groupID in ready.groups {
            // A receive takes a group's messages from its head while they are available (none is in flight).
            for sequence in groups[groupID]?.messages ?? [] {
                guard messages[sequence]?.state == .available, summary.count < wanted else { break }
                summary.count += 1
            }
            if summary.count >= wanted { break }
        }
        return summary
    }

    public var statistics: QueueStatistics {
        QueueStatistics(
            visible: messages.count - counters.inFlight - counters.delayed,
            inFlight: counters.inFlight,
            delayed: counters.delayed,
            oldestSentAtMs: messages.oldest?.value.sentAtMs,
            groups: groups.count,
            groupsWithInFlight: counters.groupsWithInFlight,
            outbox: outbox.count,
            deduplicationRecords: dedup.count,
            producerSessions: producers.sessions.count,
            sent: counters.sent,
            received: counters.received,
            deleted: counters.deleted,
            deadLettered: counters.deadLettered,
            expired: counters.expired,
            movesExhausted: movesExhausted
        )
    }

    /// Messages past the redrive policy's maxReceiveCount that stay in this queue because they were moved
    /// `QueueLimits.maxMessageMoves` times already (a dead-letter loop ends there); a move task still moves them.
    /// Counted on demand: statistics are asked for now and then, messages change all the time.
    var movesExhausted: UInt64 {
        guard let redrive = attributes.redrivePolicy else { return 0 }
        var count: UInt64 = 0
        for message in messages.values
        where Int(message.moveCount) >= QueueLimits.maxMessageMoves
            && Int(message.receiveCount) >= redrive.maxReceiveCount
        {
            count += 1
        }
        return count
    }

    /// Whether a send with this deduplication id was accepted inside the window (as of the latest entry).
    public func sendStatus(deduplicationID: String, groupID: String? = nil) -> SendStatus {
        let key = DedupWindow.key(
            deduplicationID: deduplicationID,
            groupID: groupID,
            scope: attributes.deduplicationScope
        )
        guard let record = dedup.lookup(key, nowMs: nowMs, windowMs: attributes.dedupWindowMs) else { return .unknown }
        return .accepted(record.position, atMs: record.acceptedAtMs)
    }

    /// Whether a producer-session send was accepted here, and where, if its result is still remembered.
    public func sendStatus(producer stamp: ProducerStamp) -> SendStatus {
        guard case .duplicate(let position) = producers.check(stamp) else { return .unknown }
        return .accepted(position, atMs: nil)
    }

    /// The moves waiting for their destination, oldest first; the leader sends them in this order, so a
    /// group's dead letters reach the dead-letter queue in order.
    public func pendingMoves(limit: Int = .max) -> [OutboxMove] {
        Array(outbox.prefix(limit))
    }

    /// Moves waiting in the outbox.
    public var pendingMoveCount: Int { outbox.count }

    /// The running move task (if any) and the latest finished ones.
    public var moveTasks: [MoveTaskStatus] {
        (moveTask.map { [$0] } ?? []) + finishedMoveTasks.reversed()
    }

    /// The earliest time at which an entry would change state on its own (a delay or visibility deadline,
    /// retention, a running move task): a leader with no traffic proposes `advanceTime` once it has passed.
    public var nextDeadlineMs: Int64? {
        var deadline = timers.min?.atMs
        if let message = messages.oldest?.value {
            let expiry = message.sentAtMs + Int64(attributes.retentionSeconds) * 1_000
            deadline = min(deadline ?? expiry, expiry)
        }
        if let task = moveTask {
            let next = nowMs + max(1, 1_000 / Int64(task.maxMessagesPerSecond))
            deadline = min(deadline ?? next, next)
        }
        return deadline
    }
}
