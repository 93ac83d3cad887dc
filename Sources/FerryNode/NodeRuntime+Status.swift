import FerryQueue
import FerryRaft
import FerryWire

/// What the node's TLS reports (FerryTLS's store, kept out of the runtime, which the simulator runs).
package protocol TLSReport: AnyObject, Sendable {
    /// When the certificate in use expires (seconds since the epoch).
    var certificateNotAfter: Int64 { get }
    /// Refused connections by `port/cause`.
    var refusedConnections: [String: Int] { get }
}

/// What the node tells about itself: `/metrics` and `ferry cluster status`.
extension NodeRuntime {
    func renderMetrics() -> String {
        for group in orderedGroups {
            metrics.record(group: group, node: config.nodeID)
            if group.isLeader, let partition = group.partition {
                metrics.record(
                    queue: partition.queueName,
                    partition: partition.partition,
                    statistics: partition.statistics,
                    nowMs: partition.nowMs
                )
            }
        }
        let now = nowMs
        for (peer, heard) in liveness.lastHeardMs.sorted(by: { $0.key < $1.key }) {
            metrics.gauge(
                "ferry_peer_last_heard_seconds",
                [("peer", String(peer))],
                Double(now - heard) / 1_000,
                help: "Time since any frame from the peer"
            )
        }
        counters(
            "ferry_auth_failures_total",
            labels: ("api", "reason"),
            keys.failureCounts,
            help: "Failed authentications and refused requests, by API and reason"
        )
        if let tls {
            metrics.gauge(
                "ferry_tls_certificate_expiry_timestamp_seconds",
                [],
                Double(tls.certificateNotAfter),
                help: "When the node's TLS certificate expires (seconds since the epoch)"
            )
            counters(
                "ferry_tls_refused_connections_total",
                labels: ("port", "cause"),
                tls.refusedConnections,
                help: "Connections refused by TLS: plaintext, failed handshakes, refused certificates"
            )
        }
        metrics.gauge(
            "ferry_storage_full",
            [],
            storageFull == nil ? 0 : 1,
            help: "1 while the node's disk is full: it refuses writes and its groups wait for space"
        )
        metrics.gauge(
            "ferry_storage_slow_disk",
            [],
            diskHealth.isSlow ? 1 : 0,
            help: "1 while the node judges its disk slow (slow_disk_ms) and hands its leaderships away"
        )
        if let disk = diskSpace?() {
            metrics.gauge(
                "ferry_storage_disk_total_bytes",
                [],
                Double(disk.total),
                help: "Size of the file system that holds the data directory"
            )
            metrics.gauge(
                "ferry_storage_disk_free_bytes",
                [],
                Double(disk.free),
                help: "Space left to the node on the file system that holds the data directory"
            )
        }
        return metrics.render()
    }

    /// Counters kept by `first/second` keys, as series with those two labels.
    private func counters(_ name: String, labels: (String, String), _ counts: [String: Int], help: String) {
        for (key, count) in counts.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            metrics.counter(
                name,
                [(labels.0, parts[0]), (labels.1, parts.count > 1 ? parts[1] : "")],
                UInt64(count),
                help: help
            )
        }
    }

    func status() -> NodeStatus {
        let groups = groups.keys.sorted().map { id -> GroupStatus in
            let group = self.groups[id]!
            let status = group.core.status
            let followers = status.progress.keys.sorted().filter { $0 != config.nodeID }.map {
                GroupStatus.FollowerProgress(node: $0, matchIndex: status.progress[$0]!.match)
            }
            var answer = GroupStatus(
                groupID: id,
                queue: group.partition?.queueName ?? "",
                partition: group.partition?.partition ?? 0,
                leader: status.leader ?? 0,
                term: status.term,
                commitIndex: status.commit,
                appliedIndex: status.applied,
                followers: followers
            )
            answer.voters = group.core.membership.voters
            answer.learners = group.core.membership.learners
            answer.repairing = group.core.repairing
            return answer
        }
        var answer = NodeStatus(
            nodeID: config.nodeID,
            fsync: config.fsync,
            groups: groups,
            tlsNotAfter: tls?.certificateNotAfter ?? 0
        )
        answer.storageFull = storageFull ?? ""
        return answer
    }

    func health() -> NodeHealth {
        let (median, max) = healthRecord.syncFigures
        let disk = diskSpace?() ?? (total: 0, free: 0)
        return NodeHealth(
            nodeID: config.nodeID,
            fsyncMedianMicros: median,
            fsyncMaxMicros: max,
            diskTotalBytes: disk.total,
            diskFreeBytes: disk.free,
            slowDisk: diskHealth.isSlow,
            leadershipChanges: healthRecord.leadershipChanges
        )
    }
}
