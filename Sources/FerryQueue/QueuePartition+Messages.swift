import DequeModule
import FerryModel
import HeapModule
import NIOCore

extension QueuePartition {
    // MARK: Send

    /// Enqueues each request in order; slot `i` of the entry is request `i`'s position, so sequence numbers
    /// increase with the log. Each request is answered on its own: a refused one changes nothing.
    mutating func send(_ requests: [SendRequest], index: UInt64) -> QueueResult {
        guard !requests.isEmpty else { return .rejected(.emptyBatch) }
        guard requests.count <= MessagePosition.maxSlots else {
            return .rejected(.tooManyEntries(count: requests.count, limit: MessagePosition.maxSlots))
        }
        var results: [Result<SendOutcome, QueueError>] = []
        results.reserveCapacity(requests.count)
        let payloads = BodyPacking.payloads(requests)
        for (slot, request) in requests.enumerated() {
            let position = MessagePosition(partition: partition, index: index, slot: UInt16(slot))
            do {
                results.append(.success(try send(request, payload: payloads[slot], at: position)))
            } catch {
                results.append(.failure(error))
            }
        }
        return .sent(results)
    }

    private mutating func send(
        _ request: SendRequest,
        payload: Payload,
        at position: MessagePosition
    ) throws(QueueError) -> SendOutcome {
        try validate(request)
        if let stamp = request.producer {
            switch producers.check(stamp) {
            case .accept: break
            case .duplicate(let first): return .duplicate(first)
            case .duplicateResultForgotten: return .duplicateResultForgotten
            case .outOfOrderSequence(let expected): throw .outOfOrderSequence(expected: expected)
            case .fenced(let epoch): throw .producerFenced(currentEpoch: epoch)
            case .unknownProducer: throw .unknownProducer
            }
        }
        if let origin = request.origin {
            let key = MoveKey(queueID: origin.sourceQueueID, position: origin.position)
            if let first = movesTaken.lookup(key, nowMs: nowMs, windowMs: QueueLimits.moveRecordRetentionMs) {
                return .duplicate(first.position)
            }
            movesTaken.insert(key, DedupRecord(position: position, acceptedAtMs: nowMs), atMs: nowMs)
        } else if kind == .fifo, let id = request.deduplicationID {
            let key = DedupWindow.key(
                deduplicationID: id,
                groupID: request.groupID,
                scope: attributes.deduplicationScope
            )
            if let first = dedup.lookup(key, nowMs: nowMs, windowMs: attributes.dedupWindowMs) {
                // A new producer sequence carrying an old dedup id: the session moves on, the answer is the first.
                if let stamp = request.producer { producers.record(stamp, position: first.position, nowMs: nowMs) }
                return .duplicate(first.position)
            }
            dedup.insert(key, DedupRecord(position: position, acceptedAtMs: nowMs))
        }
        if let stamp = request.producer { producers.record(stamp, position: position, nowMs: nowMs) }
        enqueue(request, payload: payload, at: position)
        return .enqueued(position)
    }

    /// SQS's rules for one message, against the queue's kind and current attributes.
    func validate(_ request: SendRequest) throws(QueueError) {
        // A move carries a message another queue accepted: only the global size limit applies, so a dead
        // letter is never refused for a smaller MaximumMessageSize.
        let sizeLimit = request.origin == nil ? attributes.maximumMessageBytes : QueueLimits.maxMessageBytes
        guard request.sizeBytes <= sizeLimit else {
            throw .messageTooLarge(bytes: request.sizeBytes, limitBytes: sizeLimit)
        }
        if let delay = request.delaySeconds {
            guard kind == .standard else { throw .perMessageDelayOnFIFO }
            guard (0...QueueLimits.maxDelaySeconds).contains(delay) else {
                throw .invalidParameter(
                    name: "DelaySeconds",
                    reason: "\(delay) s is outside 0…\(QueueLimits.maxDelaySeconds) s"
                )
            }
        }
        if let groupID = request.groupID { try MessageIdentifier.validateGroupID(groupID) }
        if let id = request.deduplicationID {
            guard kind == .fifo || request.origin != nil else {
                throw .invalidDeduplicationID(reason: "applies to FIFO queues only")
            }
            try MessageIdentifier.validateDeduplicationID(id)
        }
        if kind == .fifo {
            guard request.groupID != nil else { throw .invalidGroupID(reason: "required on FIFO queues") }
            // The node puts the SHA-256 of the body here for content-based deduplication (DESIGN §9).
            guard request.deduplicationID != nil || request.origin != nil else { throw .missingDeduplicationID }
        }
    }

    private mutating func enqueue(_ request: SendRequest, payload: Payload, at position: MessagePosition) {
        let sequence = position.sequenceNumber
        let delaySeconds = request.origin != nil ? 0 : (request.delaySeconds ?? attributes.delaySeconds)
        let until = nowMs + Int64(delaySeconds) * 1_000
        let message = StoredMessage(
            payload: payload,
            attributesLength: request.messageAttributes.readableBytes,
            deduplicationIDLength: request.deduplicationID?.utf8.count,
            groupID: request.groupID,
            sentAtMs: nowMs,
            state: delaySeconds > 0 ? .delayed(untilMs: until) : .available,
            originBox: request.origin.map(OriginBox.init),
            availableAtMs: until
        )
        messages.append(sequence, message)
        counters.sent += 1
        if delaySeconds > 0 {
            counters.delayed += 1
            timers.insert(Timer(atMs: until, sequence: sequence))
        }
        if kind == .fifo, let groupID = request.groupID {
            // A message behind an existing head changes neither the head nor the group's readiness.
            if Self.append(sequence, to: &groups[groupID, default: GroupState()]) { refreshGroup(groupID) }
        } else if delaySeconds == 0 {
            standardReady.insert(sequence)
        }
    }

    /// Appends to a group's messages (one hash of the group id); true when the message is the group's new head.
    private static func append(_ sequence: UInt64, to group: inout GroupState) -> Bool {
        group.messages.append(sequence)
        return group.messages.count == 1
    }

    // MARK: Receive

    /// Hands out up to `maxMessages` messages. FIFO: the oldest messages of the groups with nothing in flight,
    /// oldest group head first, several of one group in order; never a later message of a group while an
    /// earlier one is in flight. Standard: the oldest available messages. A message past its queue's
    /// maxReceiveCount goes to the outbox for the dead-letter queue instead of being delivered.
    mutating func receive(_ request: ReceiveRequest) -> Result<ReceiveOutcome, QueueError> {
        guard (1...QueueLimits.maxReceiveMessages).contains(request.maxMessages) else {
            return .failure(
                .invalidParameter(
                    name: "MaxNumberOfMessages",
                    reason: "\(request.maxMessages) is outside 1…\(QueueLimits.maxReceiveMessages)"
                )
            )
        }
        let seconds = request.visibilityTimeoutSeconds ?? attributes.visibilityTimeoutSeconds
        guard (0...QueueLimits.maxVisibilityTimeoutSeconds).contains(seconds) else {
            return .failure(
                .invalidParameter(
                    name: "VisibilityTimeout",
                    reason: "\(seconds) s is outside 0…\(QueueLimits.maxVisibilityTimeoutSeconds) s"
                )
            )
        }
        let visibilityMs = Int64(seconds) * 1_000
        if let attemptID = request.requestAttemptID {
            guard !attemptID.isEmpty, attemptID.utf8.count <= QueueLimits.maxReceiveAttemptIDCharacters,
                attemptID.utf8.allSatisfy(MessageIdentifier.isAllowed)
            else {
                return .failure(
                    .invalidParameter(
                        name: "ReceiveRequestAttemptId",
                        reason: "1…\(QueueLimits.maxReceiveAttemptIDCharacters) letters, digits or ASCII punctuation"
                    )
                )
            }
            if let handles = attempts.lookup(attemptID, nowMs: nowMs, windowMs: QueueLimits.receiveAttemptWindowMs) {
                return .success(repeatAttempt(handles, visibilityMs: visibilityMs))
            }
        }
        guard counters.inFlight < inFlightLimit else { return .failure(.tooManyInFlight(limit: inFlightLimit)) }
        let wanted = min(request.maxMessages, inFlightLimit - counters.inFlight)
        var outcome = ReceiveOutcome()
        if kind == .fifo {
            receiveFIFO(wanted, visibilityMs: visibilityMs, into: &outcome)
        } else {
            receiveStandard(wanted, visibilityMs: visibilityMs, into: &outcome)
        }
        if let attemptID = request.requestAttemptID, !outcome.deliveries.isEmpty {
            attempts.insert(attemptID, outcome.deliveries.map(\.handle), atMs: nowMs)
        }
        return .success(outcome)
    }

    private mutating func receiveFIFO(_ wanted: Int, visibilityMs: Int64, into outcome: inout ReceiveOutcome) {
        while outcome.deliveries.count < wanted, let (groupID, _) = ready.popFirst() {
            var taken = 0
            while outcome.deliveries.count < wanted, let group = groups[groupID], taken < group.messages.count {
                let sequence = group.messages[taken]
                guard messages[sequence]?.state == .available else { break }
                if shouldDeadLetter(messages[sequence]!) {
                    deadLetter(sequence)
                    outcome.deadLettered.append(position(of: sequence))
                    continue
                }
                outcome.deliveries.append(deliver(sequence, visibilityMs: visibilityMs))
                adjustInFlight(groupID, by: 1)
                taken += 1
            }
            refreshGroup(groupID)
        }
    }

    private mutating func receiveStandard(_ wanted: Int, visibilityMs: Int64, into outcome: inout ReceiveOutcome) {
        while outcome.deliveries.count < wanted, let sequence = standardReady.popMin() {
            guard let message = messages[sequence], message.state == .available else { continue }
            if shouldDeadLetter(message) {
                deadLetter(sequence)
                outcome.deadLettered.append(position(of: sequence))
                continue
            }
            outcome.deliveries.append(deliver(sequence, visibilityMs: visibilityMs))
        }
    }

    /// A delivery of an available message: a fresh fencing token, one more receive, a visibility deadline.
    private mutating func deliver(_ sequence: UInt64, visibilityMs: Int64) -> Delivery {
        var message = messages[sequence]!
        let until = nowMs + visibilityMs
        message.state = .inFlight(untilMs: until)
        message.receiveCount += 1
        if message.receiveCount == 1 { message.firstReceiveAtMs = nowMs }
        message.token = nextFencingToken
        message.deliveredAtMs = nowMs
        nextFencingToken += 1
        messages[sequence] = message
        timers.insert(Timer(atMs: until, sequence: sequence))
        counters.inFlight += 1
        counters.received += 1
        return delivery(sequence, message)
    }

    func delivery(_ sequence: UInt64, _ message: StoredMessage) -> Delivery {
        let position = position(of: sequence)
        let until: Int64
        if case .inFlight(let deadline) = message.state { until = deadline } else { until = nowMs }
        return Delivery(
            handle: ReceiptHandle(position: position, fencingToken: message.token),
            body: message.body,
            messageAttributes: message.messageAttributes,
            groupID: message.groupID,
            deduplicationID: message.deduplicationID,
            sentAtMs: message.sentAtMs,
            receiveCount: message.receiveCount,
            firstReceiveAtMs: message.firstReceiveAtMs,
            visibleAgainAtMs: until,
            origin: message.origin,
            availableAtMs: message.availableAtMs
        )
    }

    /// SQS: a retry with the same attempt id gets the same messages and receipt handles, and their visibility
    /// timeout starts again. Messages of the batch deleted or delivered again since are left out.
    private mutating func repeatAttempt(_ handles: [ReceiptHandle], visibilityMs: Int64) -> ReceiveOutcome {
        var outcome = ReceiveOutcome(repeatedAttempt: true)
        for handle in handles {
            let sequence = handle.position.sequenceNumber
            guard let message = messages[sequence], message.token == handle.fencingToken,
                case .inFlight = message.state
            else { continue }
            let until = nowMs + visibilityMs
            messages[sequence]!.state = .inFlight(untilMs: until)
            timers.insert(Timer(atMs: until, sequence: sequence))
            outcome.deliveries.append(delivery(sequence, messages[sequence]!))
        }
        return outcome
    }

    /// Up to `limit` messages in the partition's order (visible, in flight and delayed alike), changing
    /// nothing: no receive is counted and no visibility changes. Their handles carry fencing token 0, which
    /// `check` refuses, so a peek deletes and hides nothing; `visibleAgainAtMs` is the deadline of a message in
    /// flight and 0 for any other.
    public func peek(limit: Int) -> [Delivery] {
        var answer: [Delivery] = []
        var at = messages.index(atOrAfter: 0)
        while answer.count < limit, at < messages.endIndex {
            let sequence = messages.sequence(at: at)
            at += 1
            guard let message = messages[sequence] else { continue }
            var delivery = delivery(sequence, message)
            delivery.handle = ReceiptHandle(position: delivery.position, fencingToken: 0)
            if !message.isInFlight { delivery.visibleAgainAtMs = 0 }
            answer.append(delivery)
        }
        return answer
    }

    /// The `limit` FIFO groups with the most messages (ties: the older head first), changing nothing. A walk
    /// over every group: the console asks for it on demand, not on every refresh.
    public func groupBacklog(limit: Int) -> [GroupBacklog] {
        var all: [GroupBacklog] = []
        all.reserveCapacity(groups.count)
        for (id, group) in groups where !group.messages.isEmpty {
            let oldest = group.messages.first.flatMap { messages[$0]?.sentAtMs } ?? 0
            all.append(
                GroupBacklog(
                    groupID: id,
                    messages: group.messages.count,
                    inFlight: group.inFlight,
                    oldestSentAtMs: oldest
                )
            )
        }
        all.sort { ($0.messages, -$0.oldestSentAtMs, $0.groupID) > ($1.messages, -$1.oldestSentAtMs, $1.groupID) }
        return Array(all.prefix(limit))
    }

    // MARK: Delete and change visibility

    /// Looks a handle up: the message's sequence number, or nil when the message is gone (deleted, expired,
    /// purged or moved) but the handle names a position this partition had.
    private func check(_ handle: ReceiptHandle) throws(QueueError) -> UInt64? {
        guard handle.position.partition == partition, handle.position.index <= appliedIndex else {
            throw .invalidReceiptHandle
        }
        let sequence = handle.position.sequenceNumber
        guard let message = messages[sequence] else { return nil }
        if handle.fencingToken == 0 || handle.fencingToken > message.token { throw .invalidReceiptHandle }
        if handle.fencingToken < message.token { throw .staleReceiptHandle }
        return sequence
    }

    mutating func delete(_ handles: [ReceiptHandle]) -> QueueResult {
        guard !handles.isEmpty else { return .rejected(.emptyBatch) }
        return .deleted(
            handles.map { handle -> Result<DeleteOutcome, QueueError> in
                do throws(QueueError) {
                    guard let sequence = try check(handle) else { return .success(.alreadyGone) }
                    // SQS FIFO: a receipt handle expires with its visibility timeout.
                    if kind == .fifo && !messages[sequence]!.isInFlight { throw .staleReceiptHandle }
                    _ = removeMessage(sequence)
                    counters.deleted += 1
                    return .success(.deleted)
                } catch {
                    return .failure(error)
                }
            }
        )
    }

    mutating func changeVisibility(_ changes: [VisibilityChange]) -> QueueResult {
        guard !changes.isEmpty else { return .rejected(.emptyBatch) }
        return .visibilityChanged(
            changes.map { change -> Result<Int64, QueueError> in
                do throws(QueueError) {
                    return .success(try changeVisibility(change))
                } catch {
                    return .failure(error)
                }
            }
        )
    }

    private mutating func changeVisibility(_ change: VisibilityChange) throws(QueueError) -> Int64 {
        let seconds = change.visibilityTimeoutSeconds
        guard (0...QueueLimits.maxVisibilityTimeoutSeconds).contains(seconds) else {
            throw .invalidParameter(
                name: "VisibilityTimeout",
                reason: "\(seconds) s is outside 0…\(QueueLimits.maxVisibilityTimeoutSeconds) s"
            )
        }
        guard let sequence = try check(change.handle) else { throw .messageGone }
        let message = messages[sequence]!
        guard case .inFlight = message.state else { throw .messageNotInFlight }
        let until = nowMs + Int64(seconds) * 1_000
        guard until <= message.deliveredAtMs + Int64(QueueLimits.maxVisibilityTimeoutSeconds) * 1_000 else {
            throw .visibilityBeyondMaximum
        }
        if seconds == 0 {
            endDelivery(sequence, atMs: nowMs)
        } else {
            messages[sequence]!.state = .inFlight(untilMs: until)
            timers.insert(Timer(atMs: until, sequence: sequence))
        }
        return until
    }

    // MARK: Purge

    /// Removes every message (SQS PurgeQueue); deduplication records, producer sessions and the outbox stay, so
    /// a retry after a purge is still not enqueued twice and moves in progress still arrive.
    mutating func purge() -> Int {
        let count = messages.count
        messages.removeAll()
        groups = [:]
        ready = ReadyIndex()
        standardReady = []
        timers = []
        counters.inFlight = 0
        counters.delayed = 0
        counters.groupsWithInFlight = 0
        return count
    }
}
