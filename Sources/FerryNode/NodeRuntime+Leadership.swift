import FerryQueue
import FerryRaft
import FerryWire

/// Leadership: handing every leadership off before a graceful stop, and giving partitions back to their
/// preferred leaders (`LeaderBalancer`).
extension NodeRuntime {
    /// Graceful stop: every group this node leads hands leadership to its most caught-up follower, so that
    /// clients see no failed send; the loop ends when none is led here or after `handOffMs`.
    func beginStop(handOffMs: Int64 = 3_000) {
        stopDeadlineMs = nowMs + handOffMs
        for id in groups.keys.sorted() {
            let group = groups[id]!
            guard group.core.isLeader else { continue }
            group.wake()
            let progress = group.core.status.progress
            let best = progress.keys.filter { $0 != config.nodeID }.max {
                (progress[$0]!.match, $1) < (progress[$1]!.match, $0)
            }
            if let best { try? group.core.transferLeadership(to: best) }
        }
        NodeLog.info("stopping: handing off \(groups.values.filter { $0.core.isLeader }.count) leaderships")
    }

    /// A slow disk (`DiskHealth`), checked each tick: every group led here hands its leadership to its most caught-up follower whose disk is not slow.
    func evictLeadersFromSlowDisk() {
        guard diskHealth.isSlow, stopDeadlineMs == nil else { return }
        for group in orderedGroups where group.core.isLeader {
            let progress = group.core.status.progress
            let candidates = progress.keys.filter {
                $0 != config.nodeID && !slowPeers.contains($0) && group.core.membership.voters.contains($0)
            }
            guard let best = candidates.max(by: { (progress[$0]!.match, $1) < (progress[$1]!.match, $0) }) else {
                continue
            }
            group.wake()
            try? group.core.transferLeadership(to: best)
        }
    }

    /// Every few seconds (`LeaderBalancer`): a partition led here whose preferred leader is another, caught-up
    /// replica is handed back to it.
    func balanceLeaders() {
        guard balancer.roundDue(at: nowMs, stopping: stopDeadlineMs != nil) else { return }
        var led: [LeaderBalancer.Led] = []
        for queue in catalog.sortedQueues {
            for placed in queue.partitions
            where placed.preferredLeader != config.nodeID && !slowPeers.contains(placed.preferredLeader) {
                guard let group = groups[placed.groupID], group.core.isLeader else { continue }
                led.append(
                    LeaderBalancer.Led(
                        groupID: placed.groupID,
                        preferredLeader: placed.preferredLeader,
                        preferredMatch: group.core.status.progress[placed.preferredLeader]?.match,
                        lastIndex: group.core.lastIndex
                    )
                )
            }
        }
        for (groupID, to) in balancer.transfers(led) {
            guard let group = groups[groupID] else { continue }
            group.wake()
            try? group.core.transferLeadership(to: to)
        }
    }
}
