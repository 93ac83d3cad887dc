import NIOCore

/// Why a proposal was refused. Every case is immediate: nothing was appended.
public enum ProposalError: Error, Sendable, Hashable {
    /// This node is not the leader; retry at the hinted leader (nil while an election runs).
    case notLeader(leaderHint: NodeID?)
    /// Leadership is moving to `target`; retry there shortly.
    case leadershipTransferInProgress(target: NodeID)
    /// Too many bytes are appended but not committed yet (followers are slow or unreachable): back off.
    case uncommittedLimitExceeded(uncommittedBytes: Int, limitBytes: Int)
    /// One payload exceeds `RaftConfig.maxEntryBytes`.
    case entryTooLarge(bytes: Int, limitBytes: Int)
    case emptyProposal
    /// The group stopped after a storage failure.
    case stopped(RaftLogError)
}

/// Where a proposal landed. It is committed when an entry with this index *and term* is applied; an entry of
/// another term at that index means the proposal was lost in a leader change (retry it).
public struct ProposalTicket: Sendable, Hashable {
    public var term: Term
    public var firstIndex: LogIndex
    public var lastIndex: LogIndex
}

public enum TransferError: Error, Sendable, Hashable {
    case notLeader(leaderHint: NodeID?)
    case notAVoter(NodeID)
}

/// The leader: proposals, replication with pipelining and batching, commit (Raft §5.3, §5.4.2), heartbeats,
/// check-quorum, snapshot streaming and leadership transfer.
extension RaftCore {
    // MARK: Proposals

    /// Appends one entry per payload to the leader's log and starts replicating them.
    public mutating func propose(_ payloads: [ByteBuffer]) throws(ProposalError) -> ProposalTicket {
        if let failure = storageFailure { throw .stopped(failure) }
        guard case .leader(var leader) = role else { throw .notLeader(leaderHint: leaderHint) }
        guard !payloads.isEmpty else { throw .emptyProposal }
        if let target = leader.transferTarget { throw .leadershipTransferInProgress(target: target) }
        var bytes = 0
        for payload in payloads {
            guard payload.readableBytes <= config.maxEntryBytes else {
                throw .entryTooLarge(bytes: payload.readableBytes, limitBytes: config.maxEntryBytes)
            }
            bytes += payload.readableBytes + Entry.headerBytes
        }
        let limit = config.maxUncommittedBytes
        if limit > 0 && leader.uncommittedBytes > 0 && leader.uncommittedBytes + bytes > limit {
            throw .uncommittedLimitExceeded(uncommittedBytes: leader.uncommittedBytes, limitBytes: limit)
        }
        role = .transitioning
        defer { if case .transitioning = role { role = .leader(leader) } }
        let first = log.lastIndex + 1
        var entries: [Entry] = []
        entries.reserveCapacity(payloads.count)
        for (offset, payload) in payloads.enumerated() {
            entries.append(Entry(index: first + LogIndex(offset), term: term, kind: .normal, payload: payload))
        }
        appendAsLeader(entries, leader: &leader)
        do {
            try broadcastAppend(leader: &leader, sendIfEmpty: false)
        } catch {
            fail(error)
        }
        return ProposalTicket(term: term, firstIndex: first, lastIndex: first + LogIndex(payloads.count) - 1)
    }

    mutating func appendAsLeader(_ entries: [Entry], leader: inout LeaderState) {
        log.append(entries)
        for entry in entries {
            leader.uncommitted.append((entry.index, entry.byteCount))
            leader.uncommittedBytes += entry.byteCount
        }
        leader.progress[id]?.next = log.lastIndex + 1
    }

    // MARK: Leadership transfer

    /// Hands leadership to `target` (thesis §3.10): once its log is caught up it is told to campaign at once.
    /// Proposals are refused meanwhile; the transfer is abandoned after one election timeout.
    public mutating func transferLeadership(to target: NodeID) throws(TransferError) {
        guard case .leader(var leader) = role else { throw .notLeader(leaderHint: leaderHint) }
        guard conf.voters.contains(target) else { throw .notAVoter(target) }
        if target == id || leader.transferTarget == target { return }
        role = .transitioning
        defer { if case .transitioning = role { role = .leader(leader) } }
        leader.transferTarget = target
        electionElapsed = 0
        if leader.progress[target]?.match == log.lastIndex {
            send(.timeoutNow, to: target)
        } else {
            do { _ = try sendAppend(to: target, leader: &leader) } catch { fail(error) }
        }
    }

    // MARK: Ticks

    mutating func tickLeader() throws(RaftLogError) {
        guard case .leader(var leader) = role else { return }
        role = .transitioning
        defer { if case .transitioning = role { role = .leader(leader) } }
        electionElapsed += 1
        leader.heartbeatElapsed += 1
        if config.checkQuorum && !quorumRecentlyHeard(leader) {
            // Check-quorum: we may be on the minority side of a partition. Step down so clients go elsewhere.
            becomeFollower(term: term, leader: nil)
            return
        }
        if electionElapsed >= config.electionTimeoutTicks {
            electionElapsed = 0
            leader.transferTarget = nil  // a transfer that did not finish within an election timeout is abandoned
        }
        if leader.heartbeatElapsed >= config.heartbeatIntervalTicks {
            leader.heartbeatElapsed = 0
            for member in conf.members where member != id {
                guard let pr = leader.progress[member] else { continue }
                send(.heartbeat(commit: min(pr.match, log.committed)), to: member)
            }
        }
    }

    /// True when a quorum of voters (this node included) answered within the last election timeout.
    func quorumRecentlyHeard(_ leader: LeaderState) -> Bool {
        let window = UInt64(config.electionTimeoutTicks)
        var heard = 0
        for voter in conf.voters {
            if voter == id {
                heard += 1
            } else if let pr = leader.progress[voter], ticks - pr.lastHeardTick < window {
                heard += 1
            }
        }
        return heard >= Quorum.size(voters: conf.voters.count)
    }

    // MARK: Messages

    mutating func stepLeader(_ m: RaftMessage) throws(RaftLogError) {
        guard case .leader(var leader) = role else { return }
        guard leader.progress[m.from] != nil, m.from != id else { return }
        role = .transitioning
        defer { if case .transitioning = role { role = .leader(leader) } }
        leader.progress[m.from]?.lastHeardTick = ticks
        switch m.body {
        case .appendResponse(let response):
            try handleAppendResponse(response, from: m.from, leader: &leader)
        case .heartbeatResponse:
            try handleHeartbeatResponse(from: m.from, leader: &leader)
        case .snapshotChunkResponse(let index, let term, let nextOffset):
            handleSnapshotChunkResponse(index: index, term: term, nextOffset: nextOffset, from: m.from, leader: &leader)
        case .append, .heartbeat, .snapshotChunk:
            // Another leader in our term would break Election Safety (Raft §5.2); the simulator checks it.
            break
        case .preVote, .preVoteResponse, .requestVote, .requestVoteResponse, .timeoutNow:
            break
        }
    }

    mutating func handleAppendResponse(
        _ response: AppendResponse,
        from peer: NodeID,
        leader: inout LeaderState
    ) throws(RaftLogError) {
        guard var pr = leader.progress[peer] else { return }
        pr.repairing = response.repairing
        if response.repairing && response.reject && response.hintIndex < pr.match {
            // The follower discarded its log for a repair: what it matched is gone. Probe it from the start (the
            // probe falls back to a snapshot below the first index held here).
            pr.match = 0
            pr.becomeProbe()
            leader.progress[peer] = pr
            _ = try sendAppend(to: peer, leader: &leader)
            return
        }
        if response.reject {
            var matchHint = response.hintIndex
            if response.hintTerm > 0 {
                // Skip every index of ours whose term is above the follower's term there.
                matchHint = try log.findConflictByTerm(index: response.hintIndex, term: response.hintTerm).index
            }
            guard pr.maybeDecrease(rejected: response.index, matchHint: matchHint) else {
                leader.progress[peer] = pr
                // A repairing follower answers heartbeats so (`stepFollower`): handle it as a heartbeat's answer
                // (a lost probe or append is sent again), and as it takes the commit index from appends alone,
                // send it one when it holds everything.
                if response.repairing {
                    try handleHeartbeatResponse(from: peer, leader: &leader)
                    if let after = leader.progress[peer], after.match >= log.lastIndex {
                        _ = try sendAppend(to: peer, leader: &leader)
                    }
                }
                return
            }
            if case .replicate = pr.state { pr.becomeProbe() }
            leader.progress[peer] = pr
            _ = try sendAppend(to: peer, leader: &leader)
            return
        }
        guard response.index <= log.lastIndex else { return }
        let wasPaused = pr.isPaused
        guard pr.maybeUpdate(response.index) else {
            leader.progress[peer] = pr
            return
        }
        switch pr.state {
        case .probe:
            pr.becomeReplicate()
        case .snapshot(let index):
            if pr.match >= index {
                pr.becomeProbe()
                if pr.match + 1 >= log.firstIndex { pr.becomeReplicate() }
            }
        case .replicate:
            pr.inflights.free(upTo: response.index)
        }
        leader.progress[peer] = pr
        if try maybeCommit(leader: &leader) {
            try broadcastAppend(leader: &leader)
        } else if wasPaused {
            _ = try sendAppend(to: peer, leader: &leader)
        }
        // Fill the pipeline.
        while try sendAppend(to: peer, leader: &leader, sendIfEmpty: false) {}
        if leader.transferTarget == peer && leader.progress[peer]?.match == log.lastIndex {
            send(.timeoutNow, to: peer)
        }
    }

    mutating func handleHeartbeatResponse(from peer: NodeID, leader: inout LeaderState) throws(RaftLogError) {
        guard var pr = leader.progress[peer] else { return }
        switch pr.state {
        case .probe:
            pr.probeSent = false
        case .replicate:
            // Appends may have been lost: make room for one more, whose gap the follower would reject.
            if pr.inflights.isFull { pr.inflights.freeFirst() }
        case .snapshot:
            // A chunk (or its answer) may have been lost: send again from what the follower confirmed.
            if var transfer = pr.snapshotTransfer {
                transfer.sentOffset = transfer.ackedOffset
                pr.snapshotTransfer = transfer
            }
            leader.progress[peer] = pr
            sendSnapshotChunk(to: peer, leader: &leader)
            return
        }
        leader.progress[peer] = pr
        if pr.match < log.lastIndex {
            _ = try sendAppend(to: peer, leader: &leader)
        }
    }

    mutating func handleSnapshotChunkResponse(
        index: LogIndex,
        term snapshotTerm: Term,
        nextOffset: UInt64,
        from peer: NodeID,
        leader: inout LeaderState
    ) {
        guard var pr = leader.progress[peer], case .snapshot = pr.state, var transfer = pr.snapshotTransfer,
            transfer.snapshot.metadata.index == index, transfer.snapshot.metadata.term == snapshotTerm
        else { return }
        let total = UInt64(transfer.snapshot.data.readableBytes)
        transfer.ackedOffset = min(nextOffset, total)
        transfer.sentOffset = transfer.ackedOffset
        pr.snapshotTransfer = transfer
        leader.progress[peer] = pr
        if transfer.ackedOffset < total { sendSnapshotChunk(to: peer, leader: &leader) }
    }

    // MARK: Commit

    /// Own entries up to `last` are durable: count our own copy (the leader counts itself only once durable).
    mutating func ownEntriesBecameDurable(upTo last: Entry) throws(RaftLogError) {
        guard case .leader(var leader) = role else { return }
        guard try log.matchTerm(index: last.index, term: last.term) else { return }
        role = .transitioning
        defer { if case .transitioning = role { role = .leader(leader) } }
        _ = leader.progress[id]?.maybeUpdate(last.index)
        if try maybeCommit(leader: &leader) { try broadcastAppend(leader: &leader) }
    }

    /// Raft §5.3 and §5.4.2: commit the highest index durable on a majority, but only by counting replicas of an
    /// entry of the current term; earlier terms' entries commit with it.
    mutating func maybeCommit(leader: inout LeaderState) throws(RaftLogError) -> Bool {
        // A repairing replica's acknowledgements are true, but its term may be one it forgot it had left: a
        // commit must rest on healthy replicas alone (`RaftCore.repairing`).
        let matches = conf.voters.map { voter in leader.progress[voter].map { $0.repairing ? 0 : $0.match } ?? 0 }
        let candidate = Quorum.committedIndex(matches: matches)
        guard candidate > log.committed else { return false }
        guard try log.term(at: candidate) == term else { return false }
        log.commit(to: candidate)
        var released = 0
        while released < leader.uncommitted.count && leader.uncommitted[released].index <= candidate {
            leader.uncommittedBytes -= leader.uncommitted[released].bytes
            released += 1
        }
        leader.uncommitted.removeFirst(released)
        return true
    }

    // MARK: Replication

    /// Sends every follower what its pipeline admits: the first message even if empty (to carry a new commit
    /// index) when `sendIfEmpty`, then further batches while the in-flight limits allow.
    mutating func broadcastAppend(leader: inout LeaderState, sendIfEmpty: Bool = true) throws(RaftLogError) {
        for member in conf.members where member != id {
            guard try sendAppend(to: member, leader: &leader, sendIfEmpty: sendIfEmpty) else { continue }
            while try sendAppend(to: member, leader: &leader, sendIfEmpty: false) {}
        }
    }

    /// Sends the next batch of entries to `peer` if its progress allows; falls back to a snapshot when the
    /// entries it needs were compacted. Returns true if a message was sent.
    @discardableResult
    mutating func sendAppend(
        to peer: NodeID,
        leader: inout LeaderState,
        sendIfEmpty: Bool = true
    ) throws(RaftLogError) -> Bool {
        guard var pr = leader.progress[peer], !pr.isPaused else { return false }
        let prevIndex = pr.next - 1
        guard let prevTerm = try log.termIfPresent(at: prevIndex) else {
            return try startSnapshot(to: peer, leader: &leader)
        }
        let entries = try log.entries(from: pr.next, to: log.lastIndex + 1, maxBytes: config.maxAppendBytes)
        if entries.isEmpty && !sendIfEmpty { return false }
        let request = AppendRequest(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: log.committed)
        send(.append(request), to: peer)
        pr.sentEntries(lastIndex: entries.last?.index ?? prevIndex, bytes: entries.reduce(0) { $0 + $1.byteCount })
        leader.progress[peer] = pr
        return true
    }

    /// The follower needs entries we compacted: stream it the latest snapshot (Raft §7).
    mutating func startSnapshot(to peer: NodeID, leader: inout LeaderState) throws(RaftLogError) -> Bool {
        guard var pr = leader.progress[peer] else { return false }
        // Loading a snapshot for a node that is not answering wastes memory; wait until it is heard from.
        guard ticks - pr.lastHeardTick < UInt64(config.electionTimeoutTicks) else { return false }
        let snapshot: Snapshot
        do {
            snapshot = try log.storage.snapshot()
        } catch {
            if case .snapshotTemporarilyUnavailable = error { return false }
            throw error
        }
        precondition(snapshot.metadata.index >= log.firstIndex - 1, "snapshot older than the compacted log")
        pr.becomeSnapshot(snapshot)
        leader.progress[peer] = pr
        sendSnapshotChunk(to: peer, leader: &leader)
        return true
    }

    /// Sends the chunk at the follower's confirmed offset, unless one is already in flight (stop and wait).
    /// After the whole snapshot was confirmed, sends the last chunk again: its answer releases the follower
    /// from the snapshot state.
    mutating func sendSnapshotChunk(to peer: NodeID, leader: inout LeaderState) {
        guard var pr = leader.progress[peer], var transfer = pr.snapshotTransfer else { return }
        guard transfer.sentOffset == transfer.ackedOffset else { return }
        let data = transfer.snapshot.data
        let total = UInt64(data.readableBytes)
        let chunkBytes = UInt64(config.snapshotChunkBytes)
        var offset = transfer.ackedOffset
        if offset >= total && total > 0 { offset = ((total - 1) / chunkBytes) * chunkBytes }
        let length = min(chunkBytes, total - offset)
        let slice = data.getSlice(at: data.readerIndex + Int(offset), length: Int(length)) ?? ByteBuffer()
        let chunk = SnapshotChunk(metadata: transfer.snapshot.metadata, offset: offset, totalBytes: total, data: slice)
        send(.snapshotChunk(chunk), to: peer)
        transfer.sentOffset = offset + length
        pr.snapshotTransfer = transfer
        leader.progress[peer] = pr
    }
}
