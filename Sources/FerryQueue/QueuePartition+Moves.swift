import DequeModule
import FerryModel

extension QueuePartition {
    // MARK: Dead letters and the outbox

    func shouldDeadLetter(_ message: StoredMessage) -> Bool {
        guard let redrive = attributes.redrivePolicy else { return false }
        return Int(message.receiveCount) >= redrive.maxReceiveCount
            && Int(message.moveCount) < QueueLimits.maxMessageMoves
    }

    /// Moves a message past its maxReceiveCount to the outbox for the queue's dead-letter queue.
    mutating func deadLetter(_ sequence: UInt64) {
        guard let destination = attributes.redrivePolicy?.deadLetterQueue else { return }
        moveToOutbox(sequence, destination: destination, reason: .deadLetter)
        counters.deadLettered += 1
    }

    /// Takes a message out of the queue and into the outbox, as a send to `destination` whose origin (this
    /// queue, this position) lets the destination take it in exactly once however often the leader repeats it.
    mutating func moveToOutbox(_ sequence: UInt64, destination: String, reason: OutboxMove.Reason) {
        guard let message = removeMessage(sequence) else { return }
        let origin = MoveOrigin(
            sourceQueueID: queueID,
            sourceQueue: queueName,
            position: position(of: sequence),
            moveCount: message.moveCount + 1,
            receiveCount: message.receiveCount
        )
        let request = SendRequest(
            body: message.body,
            messageAttributes: message.messageAttributes,
            groupID: message.groupID,
            deduplicationID: message.deduplicationID,
            origin: origin
        )
        outbox.append(
            OutboxMove(id: nextOutboxID, destination: destination, request: request, reason: reason, createdAtMs: nowMs)
        )
        nextOutboxID += 1
    }

    /// Forgets the moves their destinations committed. Unknown ids (acknowledged before) are ignored.
    mutating func acknowledgeMoves(_ ids: [UInt64]) -> Int {
        var removed = 0
        for id in ids {
            if outbox.first?.id == id {
                outbox.removeFirst()
                removed += 1
            } else if let at = outbox.firstIndex(where: { $0.id == id }) {
                outbox.remove(at: at)
                removed += 1
            }
        }
        return removed
    }

    // MARK: Move tasks (redrive)

    mutating func startMoveTask(_ request: MoveTaskRequest) -> QueueResult {
        let id = request.taskID
        guard !id.isEmpty, id.utf8.count <= QueueLimits.maxMoveTaskIDCharacters,
            id.utf8.allSatisfy(MessageIdentifier.isAllowed)
        else {
            return .rejected(
                .invalidParameter(
                    name: "TaskHandle",
                    reason: "1…\(QueueLimits.maxMoveTaskIDCharacters) printable ASCII characters"
                )
            )
        }
        guard (1...QueueLimits.maxMoveRatePerSecond).contains(request.maxMessagesPerSecond) else {
            return .rejected(
                .invalidParameter(
                    name: "MaxNumberOfMessagesPerSecond",
                    reason: "\(request.maxMessagesPerSecond) is outside 1…\(QueueLimits.maxMoveRatePerSecond)"
                )
            )
        }
        if let destination = request.destination {
            do {
                try QueueName.validate(destination)
            } catch {
                return .rejected(error)
            }
            guard QueueName.kind(of: destination) == kind else {
                return .rejected(
                    .invalidParameter(
                        name: "DestinationArn",
                        reason: "a move keeps the kind of queue (FIFO or standard)"
                    )
                )
            }
        }
        if let running = moveTask { return .rejected(.moveTaskAlreadyRunning(taskID: running.taskID)) }
        let task = MoveTaskStatus(
            taskID: id,
            destination: request.destination,
            maxMessagesPerSecond: request.maxMessagesPerSecond,
            state: .running,
            startedAtMs: nowMs,
            messagesToMove: messages.count,
            messagesMoved: 0,
            messagesSkipped: 0,
            endSequence: appliedIndex << 10,
            cursor: 0
        )
        moveTask = task
        return .moveTaskStarted(task)
    }

    mutating func cancelMoveTask(_ taskID: String) -> QueueResult {
        guard var task = moveTask, task.taskID == taskID else { return .rejected(.moveTaskNotFound(taskID: taskID)) }
        task.state = .cancelled
        finish(task)
        return .moveTaskCancelled(task)
    }

    private mutating func finish(_ task: MoveTaskStatus) {
        moveTask = nil
        finishedMoveTasks.append(task)
        if finishedMoveTasks.count > QueueLimits.keptFinishedMoveTasks { finishedMoveTasks.removeFirst() }
    }

    /// Moves as many of the messages present at the task's start as its rate allows by now, oldest first.
    /// In-flight messages, messages without a source to return to and messages moved too often stay (skipped).
    mutating func progressMoveTask() {
        guard var task = moveTask else { return }
        let allowed = (nowMs - task.startedAtMs) * Int64(task.maxMessagesPerSecond) / 1_000
        var budget = min(Int(allowed) - task.messagesMoved, QueueLimits.maxMovesPerEntry)
        guard budget > 0 else { return }
        // `messages` is sorted; find the cursor by bisection, then walk. Removals leave positions as they are.
        var at = messages.index(atOrAfter: task.cursor)
        while budget > 0, at < messages.endIndex, messages.sequence(at: at) < task.endSequence {
            let sequence = messages.sequence(at: at)
            at += 1
            task.cursor = sequence + 1
            guard let message = messages[sequence] else { continue }
            guard case .inFlight = message.state else {
                // A message whose moves are exhausted moves too: an operator's redrive is how it leaves.
                if let destination = task.destination ?? message.origin?.sourceQueue {
                    moveToOutbox(sequence, destination: destination, reason: .redrive(taskID: task.taskID))
                    task.messagesMoved += 1
                    budget -= 1
                } else {
                    task.messagesSkipped += 1
                }
                continue
            }
            task.messagesSkipped += 1
        }
        if at >= messages.endIndex || messages.sequence(at: at) >= task.endSequence {
            task.state = .completed
            finish(task)
        } else {
            moveTask = task
        }
    }
}
