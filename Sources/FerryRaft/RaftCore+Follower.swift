import NIOCore

/// The follower's side of replication: AppendEntries (Raft §5.3), heartbeats, InstallSnapshot in chunks (§7)
/// and TimeoutNow (thesis §3.10).
extension RaftCore {
    mutating func stepFollower(_ m: RaftMessage) throws(RaftLogError) {
        switch m.body {
        case .append(let request):
            heardFromLeader(m.from)
            try handleAppend(request, from: m.from)
            finishRepairIfDone()
        case .heartbeat(let commit):
            heardFromLeader(m.from)
            // A heartbeat's commit index rests on what the leader believes this log matches; a repairing
            // replica's log was discarded, so it takes commit indexes only from appends (checked entry by entry),
            // and answers with where its log ends, so that a leader whose group is idle still sends them.
            if repairing {
                let last = log.lastIndex
                send(
                    .appendResponse(AppendResponse(index: last, reject: true, hintIndex: last, repairing: true)),
                    to: m.from
                )
            } else {
                log.commit(to: commit)
                send(.heartbeatResponse, to: m.from)
            }
        case .snapshotChunk(let chunk):
            heardFromLeader(m.from)
            try handleSnapshotChunk(chunk, from: m.from)
            finishRepairIfDone()
        case .timeoutNow:
            // Leadership transfer: campaign at once, skipping pre-vote, bypassing the others' leases.
            try campaign(transfer: true)
        case .preVote, .preVoteResponse, .requestVote, .requestVoteResponse, .appendResponse, .heartbeatResponse,
            .snapshotChunkResponse:
            break
        }
    }

    /// Ends a repair (`RaftCore.repairing`) once this log holds the leader's commit index and the entry there is of
    /// the leader's term. The leader counted only healthy replicas toward that commit, so every entry committed
    /// in an earlier term lies at or below it (Leader Completeness) and is here now, whatever this replica
    /// acknowledged before its storage failed; and a majority of healthy replicas were in this term, so no
    /// candidate of a later term won with a vote this replica forgot. It still abstains through this term.
    mutating func finishRepairIfDone() {
        guard repairing, log.committed > 0, (try? log.termIfPresent(at: log.committed)) == term else { return }
        repairing = false
        abstainThroughTerm = max(abstainThroughTerm, term)
    }

    mutating func heardFromLeader(_ leader: NodeID) {
        electionElapsed = 0
        role = .follower(leader: leader)
    }

    /// Raft §5.3. Acknowledgements promise durability, so they wait for the ready's writes.
    mutating func handleAppend(_ request: AppendRequest, from leader: NodeID) throws(RaftLogError) {
        if request.prevIndex < log.committed {
            // Everything up to our commit index matches the leader already (Leader Completeness).
            sendAfterPersist(.appendResponse(AppendResponse(index: log.committed, repairing: repairing)), to: leader)
            return
        }
        if let lastNew = try log.maybeAppend(request) {
            sendAfterPersist(.appendResponse(AppendResponse(index: lastNew, repairing: repairing)), to: leader)
            return
        }
        // Mismatch at prevIndex: tell the leader where our log could match, skipping whole terms.
        let probe = min(request.prevIndex, log.lastIndex)
        let hint = try log.findConflictByTerm(index: probe, term: request.prevTerm)
        sendAfterPersist(
            .appendResponse(
                AppendResponse(
                    index: request.prevIndex,
                    reject: true,
                    hintIndex: hint.index,
                    hintTerm: hint.term,
                    repairing: repairing
                )
            ),
            to: leader
        )
    }

    /// Collects snapshot chunks in order; a chunk at an unexpected offset is answered with the offset we need.
    mutating func handleSnapshotChunk(_ chunk: SnapshotChunk, from leader: NodeID) throws(RaftLogError) {
        let metadata = chunk.metadata
        if metadata.index <= log.committed {
            incomingSnapshot = nil
            sendAfterPersist(.appendResponse(AppendResponse(index: log.committed, repairing: repairing)), to: leader)
            return
        }
        if incomingSnapshot?.metadata != metadata || incomingSnapshot?.totalBytes != chunk.totalBytes {
            incomingSnapshot = nil
            guard chunk.offset == 0 else {
                send(.snapshotChunkResponse(index: metadata.index, term: metadata.term, nextOffset: 0), to: leader)
                return
            }
            incomingSnapshot = IncomingSnapshot(metadata: metadata, totalBytes: chunk.totalBytes, data: ByteBuffer())
        }
        guard var incoming = incomingSnapshot else { return }
        let held = UInt64(incoming.data.readableBytes)
        guard chunk.offset == held, held + UInt64(chunk.data.readableBytes) <= incoming.totalBytes else {
            send(.snapshotChunkResponse(index: metadata.index, term: metadata.term, nextOffset: held), to: leader)
            return
        }
        var data = chunk.data
        incoming.data.writeBuffer(&data)
        let now = UInt64(incoming.data.readableBytes)
        guard now == incoming.totalBytes else {
            incomingSnapshot = incoming
            send(.snapshotChunkResponse(index: metadata.index, term: metadata.term, nextOffset: now), to: leader)
            return
        }
        incomingSnapshot = nil
        let snapshot = Snapshot(metadata: metadata, data: incoming.data)
        if try restore(snapshot) {
            sendAfterPersist(.appendResponse(AppendResponse(index: log.lastIndex, repairing: repairing)), to: leader)
        } else {
            sendAfterPersist(.appendResponse(AppendResponse(index: log.committed, repairing: repairing)), to: leader)
        }
    }

    /// Installs a complete snapshot unless our log already holds it. Returns true when the log was replaced.
    mutating func restore(_ snapshot: Snapshot) throws(RaftLogError) -> Bool {
        let metadata = snapshot.metadata
        if metadata.index <= log.committed { return false }
        if try log.matchTerm(index: metadata.index, term: metadata.term) {
            // Our log already has the snapshot's last entry: only the commit index moves.
            log.commit(to: metadata.index)
            return false
        }
        log.restore(snapshot)
        conf = metadata.conf
        confIndex = metadata.index
        confHistory = [(metadata.index, metadata.conf)]
        return true
    }
}
