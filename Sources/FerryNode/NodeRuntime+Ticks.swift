import FerryModel
import FerryQueue
import FerryRaft
import FerryWire
import Logging
import NIOCore

/// Ticks (DESIGN §6): groups tick unless quiesced, idle leaders quiesce their groups, one `alive` frame per
/// peer stands in for the heartbeats of every quiesced group, and a lost or silent peer's groups elect at once.
extension NodeRuntime {
    /// One tick: every group not quiesced ticks; an idle leader quiesces its group; every heartbeat interval one
    /// `alive` frame per peer stands in for the heartbeats of all quiesced groups; a peer silent for an election
    /// timeout is treated as lost (its followers campaign now, as when its connection is reset).
    func tickGroups(now: Int64) {
        tickCount += 1
        for (peer, silentMs) in liveness.newlySilent(at: now) {
            NodeLog.log(
                .warning,
                "peer \(peer) silent for \(silentMs) ms; its groups elect new leaders",
                .peer,
                event: "peer-lost"
            )
            peerLost(peer)
            // Leaders here that lost their majority tick again, so that check-quorum steps them down.
            for group in orderedGroups where group.quiesced && group.isLeader && !hasLiveQuorum(group) {
                group.wake()
            }
        }
        for group in orderedGroups {
            if group.quiesced {
                if group.isLeader { continue }
                if let leader = group.core.leaderHint, !liveness.isSilent(leader) { continue }
                group.wake()
            }
            if group.isLeader {
                if isIdle(group) {
                    group.quietTicks += 1
                    // Past a heartbeat interval of quiet, every follower holds the final commit index: stop here,
                    // before this tick could send another heartbeat behind the quiesce frames.
                    if group.quietTicks > config.heartbeatTicks {
                        quiesce(group)
                        continue
                    }
                } else {
                    group.quietTicks = 0
                }
            }
            if group.campaignRetries > 0 {
                group.campaignRetryTicks -= 1
                if group.core.leaderHint != nil {
                    group.campaignRetries = 0
                } else if group.campaignRetryTicks <= 0 {
                    group.campaignRetries -= 1
                    group.campaignRetryTicks = 2
                    group.core.campaign()
                }
            }
            group.core.tick()
        }
        if tickCount % UInt64(config.heartbeatTicks) == 0 {
            let alive = PeerControl.alive(from: config.nodeID, wallMs: wallMs, slowDisk: diskHealth.isSlow).encoded()
            for peer in peerIDs where peer != config.nodeID {
                outgoing[peer, default: []].append(alive)
            }
        }
    }

    /// True when this node heard from enough of the group's other voters within the election timeout to make a
    /// majority with itself (node liveness: any frame counts).
    func hasLiveQuorum(_ group: GroupDriver) -> Bool {
        liveness.hasLiveQuorum(group.core.membership.voters)
    }

    /// A leader with nothing to replicate, no client waiting and no outbox to pump, that hears a majority (one
    /// that does not must keep ticking, so that check-quorum steps it down).
    func isIdle(_ group: GroupDriver) -> Bool {
        guard group.waiters.isEmpty, parked.isEmpty(group: group.groupID), awaiting.isEmpty(group: group.groupID),
            movesInFlight[group.groupID] == nil,
            (group.partition?.pendingMoveCount ?? 0) == 0, hasLiveQuorum(group)
        else { return false }
        return group.core.isQuietLeader
    }

    func quiesce(_ group: GroupDriver) {
        group.quiesced = true
        let frame = PeerControl.quiesce(
            groupID: group.groupID,
            from: config.nodeID,
            term: group.core.term,
            commit: group.core.commitIndex
        ).encoded()
        let membership = group.core.membership
        for member in (membership.voters + membership.learners).sorted() where member != config.nodeID {
            outgoing[member, default: []].append(frame)
        }
    }

    /// A peer's connection broke (its process may have died): the followers of groups it led forget it, and the
    /// one with the lowest id starts a pre-vote at once instead of waiting out the election timeout.
    func peerLost(_ peer: UInt64) {
        for id in groups.keys.sorted() {
            let group = groups[id]!
            guard !group.core.isLeader, group.core.leaderHint == peer else { continue }
            group.wake()
            group.core.forgetLeader()
            // One follower campaigns, the others only forget the leader so that they grant its pre-vote at once:
            // two simultaneous pre-candidates would split the vote and fall back to the election timeout.
            let others = group.core.membership.voters.filter { $0 != peer }
            if others.min() == config.nodeID {
                group.core.campaign()
                group.campaignRetries = 3
                group.campaignRetryTicks = 2
            }
        }
    }

    /// Once per tick: bootstrap, time entries for due deadlines, attribute changes, parked receives.
    func housekeeping() {
        let now = nowMs
        if metadata.core.isLeader && catalog.nodes.isEmpty && !bootstrapProposed {
            let nodes = config.members
            let entry = CatalogEntry(
                timestampMs: metadata.stamp(clusterWallMs: clusterWallMs, nowMs: nowMs),
                command: .bootstrap(clusterID: config.clusterID, nodes: nodes)
            )
            bootstrapProposed =
                (try? metadata.propose(entry.encoded()) { [weak self] result in
                    if result == nil { self?.bootstrapProposed = false }
                }) != nil
        }
        let catalog = self.catalog
        for group in orderedGroups where group.isLeader && group.partition != nil {
            // Fields read in place: binding the partition would copy (retain) its whole state per group per tick.
            if let name = group.partition?.queueName, let queue = catalog.queues[name],
                queue.id == group.partition?.queueID,
                queue.attributes != group.partition?.attributes, now - group.lastTimeProposalMs > 200
            {
                group.lastTimeProposalMs = now
                propose(.setAttributes(queue.attributes), to: group, refused: { _ in }) { _ in }
            } else if let deadline = group.partition?.nextDeadlineMs,
                deadline <= group.timeMs(clusterWallMs: clusterWallMs, nowMs: nowMs),
                now - group.lastTimeProposalMs >= Int64(config.tickMs)
            {
                group.lastTimeProposalMs = now
                propose(.advanceTime, to: group, refused: { _ in }) { _ in }
            }
            serveParked(group)
            pumpOutbox(group, catalog: catalog)
        }
        serveAwaiting(nowMs)
        balanceLeaders()
        evictLeadersFromSlowDisk()
        reconcileMembership()
    }
}
