import FerryRaft
import FerryWire
import NIOCore

/// The simulated network and the clients that propose through it.
extension Simulation {
    // MARK: Network

    func send(_ message: RaftMessage) {
        if case .requestVoteResponse(granted: true) = message.body {
            checker.nodeGrantedVote(message.from, term: message.term, candidate: message.to)
        }
        let frame = PeerFrame(groupID: 1, message: message).encoded()
        if faultPhase && rng.chance(percent: config.dropPercent) {
            trace.record(now, .dropped(message, reason: "loss"))
            probe(.messageLost)
            return
        }
        var copies = 1
        if faultPhase && rng.chance(percent: config.duplicatePercent) {
            copies = 2
            probe(.messageDuplicated)
        }
        for _ in 0..<copies {
            var latency = rng.uniform(config.minLatency...config.maxLatency)
            if rng.chance(percent: config.slowPercent) {
                latency += rng.uniform(0...config.slowLatency)
            }
            queue.schedule(.deliver(from: message.from, to: message.to, frame: frame), at: now + latency)
        }
    }

    func deliver(_ frame: ByteBuffer, from: NodeID, to: NodeID) throws(InvariantViolation) {
        let i = index(to)
        guard nodes[i].isUp else { return }
        if blocked.contains(Link(from: from, to: to)) {
            probe(.partitionDropped)
            return
        }
        if nodes[i].paused {
            nodes[i].pausedInbox.append((from, frame))
            return
        }
        var buffer = frame
        let decoded: PeerFrame?
        do {
            decoded = try PeerFrame.decode(from: &buffer)
        } catch {
            throw InvariantViolation(invariant: "codec", detail: "frame from \(from) does not decode: \(error)")
        }
        guard let message = decoded?.message, buffer.readableBytes == 0 else {
            throw InvariantViolation(invariant: "codec", detail: "frame from \(from) decoded incompletely")
        }
        trace.record(now, .deliver(message))
        probeDelivery(message)
        nodes[i].core!.step(message)
        try processReady(to)
    }

    // MARK: Clients

    /// A client sends one proposal (sometimes a batch) to a node; most go to the node it believes leads.
    func proposeFromClient() throws(InvariantViolation) {
        let up = nodes.filter { $0.isUp && !$0.paused }
        guard !up.isEmpty else { return }
        let leader = up.first { $0.core!.isLeader }
        let target =
            (leader != nil && rng.uniform(0..<10) < 8) ? leader! : up.randomElement(using: &rng)!
        let count = rng.uniform(0..<4) == 0 ? rng.uniform(2...4) : 1
        var payloads: [ByteBuffer] = []
        var ids: [UInt64] = []
        for _ in 0..<count {
            var payload = ByteBuffer()
            payload.writeInteger(nextPayloadID)
            ids.append(nextPayloadID)
            nextPayloadID += 1
            let filler = rng.uniform(0...config.maxPayloadFillerBytes)
            payload.writeRepeatingByte(UInt8(truncatingIfNeeded: filler), count: filler)
            payloads.append(payload)
        }
        let i = index(target.id)
        do {
            let ticket = try nodes[i].core!.propose(payloads)
            for (offset, id) in ids.enumerated() {
                pendingProposals[ProposalKey(node: target.id, index: ticket.firstIndex + LogIndex(offset))] =
                    (ticket.term, id)
            }
        } catch {
            // Refused at once (not leader, transfer, back-pressure): the client would retry elsewhere.
            try proposalRefused(error)
        }
        try processReady(target.id)
    }

    /// A proposal the core refused: the refusals a client retries elsewhere are counted; any other is a bug.
    func proposalRefused(_ error: ProposalError) throws(InvariantViolation) {
        switch error {
        case .notLeader: probe(.proposalRefusedNotLeader)
        case .leadershipTransferInProgress: probe(.proposalRefusedTransfer)
        case .uncommittedLimitExceeded: probe(.proposalRefusedUncommitted)
        case .entryTooLarge, .emptyProposal, .stopped:
            throw InvariantViolation(invariant: "proposal", detail: "unexpected refusal: \(error)")
        }
    }
}

extension Simulation {
    func probeDelivery(_ message: RaftMessage) {
        switch message.body {
        case .preVoteResponse(granted: false): probe(.preVoteRejected)
        case .requestVoteResponse(granted: false): probe(.voteRejected)
        case .appendResponse(let response) where response.reject: probe(.appendRejected)
        case .snapshotChunk: probe(.snapshotChunkDelivered)
        case .timeoutNow: probe(.timeoutNowDelivered)
        default: break
        }
    }
}
