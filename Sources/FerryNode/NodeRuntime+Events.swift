import FerryQueue
import FerryRaft
import FerryWire
import Logging

/// The events a round handles: Raft frames and control frames from peers, peers lost and joined, client calls,
/// outbox batches forwarded, metrics requests and stops.
extension NodeRuntime {
    func handle(_ event: NodeEvent) {
        switch event {
        case .peer(let groupID, let message):
            heard(from: message.from)
            guard let group = groups[groupID] else { return }
            if group.quiesced, !(group.isLeader && message.body == .heartbeatResponse) { group.wake() }
            group.core.step(message)
        case .control(.alive(let from, let peerWallMs, let slowDisk)):
            heard(from: from)
            if slowDisk { slowPeers.insert(from) } else { slowPeers.remove(from) }
            if let peerWallMs { peerClocks.heard(from, peerWallMs: peerWallMs, localWallMs: wallMs, nowMs: nowMs) }
        case .control(.quiesce(let groupID, let from, let term, let commit)):
            heard(from: from)
            guard let group = groups[groupID], !group.core.isLeader, group.core.term <= term else { return }
            // The frame stands for the leader's last heartbeat (that one may have been lost with a connection):
            // step it, then stay quiet only if this log holds everything the leader committed.
            group.core.step(RaftMessage(from: from, to: config.nodeID, term: term, body: .heartbeat(commit: commit)))
            if group.core.leaderHint == from && group.core.term == term && group.core.commitIndex >= commit {
                group.quiesced = true
            }
        case .control(.forward(let from, _)), .control(.forwardReply(let from, _)):
            // Served by the peer connection's handler; never posted here.
            heard(from: from)
        case .peerLost(let peer):
            peerLost(peer)
        case .peerJoined(let peer):
            // A restarted peer knows no leaders and quiesced leaders send nothing: wake the groups led here
            // that it is a member of, so their heartbeats tell it at once.
            heard(from: peer)
            for group in orderedGroups where group.quiesced && group.isLeader {
                let membership = group.core.membership
                if membership.voters.contains(peer) || membership.learners.contains(peer) { group.wake() }
            }
        case .client(let call):
            handle(call)
        case .movesForwarded(let groupID, let ids):
            guard let ids else {
                movesInFlight[groupID] = nowMs - 1_500  // retry in half a second
                return
            }
            movesInFlight[groupID] = nil
            if let group = groups[groupID], group.isLeader {
                propose(.acknowledgeMoves(ids), to: group, refused: { _ in }) { _ in }
            }
        case .snapshotWritten(let written):
            snapshotWritten(written)
        case .metrics(let reply):
            reply(renderMetrics())
        case .storageSynced:
            break  // a wake-up: the round's `processReadies` records the finished sync
        case .stop(let graceful):
            if !graceful {
                crashed = true
                running = false
            } else if stopDeadlineMs == nil {
                beginStop()
            }
        }
    }

    func heard(from peer: UInt64) {
        if liveness.heard(from: peer, at: nowMs) {
            NodeLog.log(.info, "peer \(peer) heard again", .peer, event: "peer-heard")
        }
    }
}
