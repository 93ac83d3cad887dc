import FerryModel
import FerryQueue
import FerryRaft
import NIOCore

/// What the queue workload learns from applied entries and answers, and the contract check at the end of a run.
extension Simulation {
    // MARK: Answers

    /// A node applied an entry: compare its result with the first replica's, or feed the contract checker.
    func queueApplied(_ entry: Entry, at node: NodeID) throws(InvariantViolation) {
        guard let result = nodes[index(node)].stateMachine.lastQueueResult else { return }
        if let first = queueWorkload!.firstResults[entry.index] {
            guard first == result else {
                throw InvariantViolation(
                    invariant: "queueDeterminism",
                    detail: "node \(node) got a different result at \(entry.index): \(result) vs \(first)"
                )
            }
            return
        }
        queueWorkload!.firstResults[entry.index] = result
        let nowMs = nodes[index(node)].stateMachine.queue!.nowMs
        try queueWorkload!.checker.observe(index: entry.index, payload: entry.payload, result: result, nowMs: nowMs)
        if entry.index % 64 == 0 {
            let problems = nodes[index(node)].stateMachine.queue!.invariantViolations()
            guard problems.isEmpty else {
                throw InvariantViolation(invariant: "queueInvariants", detail: problems.joined(separator: "; "))
            }
        }
    }

    /// The proposing node applied the client's entry in the term it proposed it: the client gets the result.
    func queueAcknowledged(_ payloadID: UInt64, at node: NodeID) throws(InvariantViolation) {
        guard let op = queueWorkload!.ops.removeValue(forKey: payloadID),
            let result = nodes[index(node)].stateMachine.lastQueueResult
        else { return }
        func fail(_ detail: String) -> InvariantViolation {
            InvariantViolation(invariant: "queueClient", detail: detail)
        }
        switch (op, result) {
        case (.plain(let p), .sent(let outcomes)):
            guard queueWorkload!.plain[p].pending != nil else { return }
            for outcome in outcomes {
                guard case .success(let sent) = outcome, let position = sent.position else {
                    throw fail("plain send answered \(outcome)")
                }
                guard queueWorkload!.checker.messages[position.sequenceNumber] != nil else {
                    throw fail("plain send acknowledged with \(position), which was never enqueued")
                }
                queueWorkload!.acknowledgedSends.append(position)
            }
            queueWorkload!.plain[p].pending = nil
        case (.session(let epoch, let requests), .sent(let outcomes)):
            try sessionAnswered(epoch: epoch, requests: requests, outcomes: outcomes)
        case (.receive(let c), .received(let outcomes)):
            queueWorkload!.consumers[c].pending = nil
            for outcome in outcomes {
                switch outcome {
                case .success(let received): consume(received)
                case .failure(.tooManyInFlight): break
                case .failure(let error): throw fail("receive refused: \(error)")
                }
            }
        case (.handles(let ids), .deleted(let outcomes)):
            for (id, outcome) in zip(ids, outcomes) {
                switch outcome {
                case .success, .failure(.staleReceiptHandle): break
                case .failure(let error): throw fail("delete \(id) refused: \(error)")
                }
            }
            queueWorkload!.handleOps.removeAll { ids.contains($0.id) }
        case (.handles(let ids), .visibilityChanged(let outcomes)):
            for outcome in outcomes {
                switch outcome {
                case .success, .failure(.staleReceiptHandle), .failure(.messageNotInFlight), .failure(.messageGone):
                    break
                case .failure(let error): throw fail("visibility change refused: \(error)")
                }
            }
            queueWorkload!.handleOps.removeAll { ids.contains($0.id) }
        case (_, .rejected(let error)):
            throw fail("command refused: \(error)")
        default:
            break
        }
    }

    private func sessionAnswered(
        epoch: UInt32,
        requests: [SendRequest],
        outcomes: [Result<SendOutcome, QueueError>]
    ) throws(InvariantViolation) {
        guard epoch == queueWorkload!.session.epoch else { return }
        for (request, outcome) in zip(requests, outcomes) {
            guard let sequence = request.producer?.sequence else { continue }
            // The answer to an earlier attempt can arrive after a later attempt succeeded (another replica
            // applied the earlier entry later): a refusal then says nothing about this sequence any more.
            if case .failure = outcome, queueWorkload!.session.unacked[sequence] == nil { continue }
            switch outcome {
            case .success(let sent):
                queueWorkload!.session.unacked[sequence] = nil
                guard let position = sent.position else { continue }
                queueWorkload!.session.acked[sequence] = position
                queueWorkload!.acknowledgedSends.append(position)
                // Producer order: positions increase with sequence numbers within an epoch.
                for (other, otherPosition) in queueWorkload!.session.acked
                where (other < sequence) != (otherPosition.sequenceNumber < position.sequenceNumber)
                    && other != sequence
                {
                    throw InvariantViolation(
                        invariant: "queueClient",
                        detail: "session sends \(other) and \(sequence) landed at \(otherPosition) and \(position)"
                    )
                }
            case .failure(.outOfOrderSequence):
                queueWorkload!.session.sentAt = 0  // resend from the first unacknowledged at the next step
            case .failure(.unknownProducer) where queueWorkload!.session.acked.isEmpty:
                // The session's first send was lost; sessions never expire within a simulated run.
                queueWorkload!.session.sentAt = 0
            case .failure(let error):
                throw InvariantViolation(invariant: "queueClient", detail: "session send \(sequence) refused: \(error)")
            }
        }
    }

    /// A consumer decides each delivery's fate: delete it soon, change its visibility, or "crash" on it.
    private func consume(_ outcome: ReceiveOutcome) {
        let config = queueWorkload!.config
        for delivery in outcome.deliveries {
            let draw = rng.uniform(0..<100)
            var op = QueueWorkload.HandleOp(id: queueWorkload!.nextHandleOpID, handle: delivery.handle, due: now)
            queueWorkload!.nextHandleOpID += 1
            if draw < config.deletePercent {
                op.due = now + rng.uniform(0...UInt64(config.visibilitySeconds) * 600)
            } else if draw < config.deletePercent + config.changeVisibilityPercent {
                op.seconds = rng.uniform(0..<2) == 0 ? 0 : rng.uniform(1...4)
            } else {
                continue  // the consumer crashed: visibility expires, the message comes back
            }
            queueWorkload!.handleOps.append(op)
        }
    }

    // MARK: End of run

    /// After healing: every move reaches the dead-letter queue, then every acknowledged send is accounted for
    /// on every replica that applied the whole log, replicas at one index hold the same state, and each dead
    /// letter is in the dead-letter queue exactly once.
    func checkQueueContractAtEnd() throws(InvariantViolation) {
        func fail(_ detail: String) -> InvariantViolation {
            InvariantViolation(invariant: "queueContractEnd", detail: detail)
        }
        let checker = queueWorkload!.checker
        let complete = nodes.filter { ($0.stateMachine.queue?.appliedIndex ?? 0) >= checker.observedIndex && $0.isUp }
        guard !complete.isEmpty else { throw fail("no replica applied the whole log") }
        if queueWorkload!.dlq != nil { try pumpMoves(from: complete[0].id, lossy: false) }
        for node in complete {
            let queue = node.stateMachine.queue!
            let problems = queue.invariantViolations()
            guard problems.isEmpty else { throw fail("node \(node.id): \(problems.joined(separator: "; "))") }
            for position in queueWorkload!.acknowledgedSends {
                let sequence = position.sequenceNumber
                guard checker.messages[sequence] != nil else { throw fail("acknowledged \(position) never enqueued") }
                if checker.gone[sequence] == nil && !queue.contains(position) {
                    throw fail("acknowledged send \(position) lost on node \(node.id)")
                }
            }
        }
        let reference = complete[0].stateMachine.queue!
        for node in complete.dropFirst() where node.stateMachine.queue!.appliedIndex == reference.appliedIndex {
            guard node.stateMachine.queue!.snapshot() == reference.snapshot() else {
                throw fail("nodes \(complete[0].id) and \(node.id) differ at index \(reference.appliedIndex)")
            }
        }
        if queueWorkload!.dlq != nil {
            for position in checker.deadLettered where queueWorkload!.dlqOrigins[position] != 1 {
                throw fail(
                    "dead letter \(position) reached the dead-letter queue \(queueWorkload!.dlqOrigins[position] ?? 0) times"
                )
            }
        }
    }
}
