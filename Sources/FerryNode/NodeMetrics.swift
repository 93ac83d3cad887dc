import FerryModel
import FerryQueue
import FerryRaft
import Prometheus

/// The node's Prometheus metrics (`GET /metrics`), refreshed by the Raft thread at each scrape from the state
/// it owns, so the hot path counts nothing twice.
///
/// Queue series come from the replicated partition statistics and are exported by the partition's leader only:
/// summed over the nodes they count each partition once, and a counter keeps its cumulative value across a
/// failover (the new leader reports the same replicated total). Raft series are exported by every replica.
final class NodeMetrics {
    let registry = PrometheusCollectorRegistry()
    private var counters: [String: (counter: Counter, value: UInt64)] = [:]
    private var gauges: [String: Gauge] = [:]
    /// Series touched by the current scrape; the others (groups no longer led or gone) are unregistered.
    private var touched: Set<String> = []
    let fsyncSeconds: DurationHistogram

    init() {
        fsyncSeconds = registry.makeDurationHistogram(
            descriptor: Self.descriptor(
                "ferry_storage_fsync_seconds",
                help: "Time of one group commit's fsync (all groups' writes of a round)"
            ),
            buckets: [
                .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .seconds(1),
            ]
        )
    }

    /// The registry wants a name as base + unit; the joined name is `name` either way.
    private static func descriptor(_ name: String, help: String) -> MetricNameDescriptor {
        let cut = name.lastIndex(of: "_")!
        return MetricNameDescriptor(
            metricName: String(name[..<cut]),
            unitName: String(name[name.index(after: cut)...]),
            helpText: help
        )
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        labels.reduce(name) { $0 + "|" + $1.0 + "=" + $1.1 }
    }

    /// Sets a counter to a cumulative `value` (a replicated total): the registry's counters only increase, so
    /// the difference to the last scrape is added; a fresh series starts from the whole value.
    func counter(_ name: String, _ labels: [(String, String)], _ value: UInt64, help: String) {
        let key = Self.key(name, labels)
        touched.insert(key)
        if let existing = counters[key] {
            if value > existing.value {
                existing.counter.increment(by: Int64(value - existing.value))
                counters[key]!.value = value
            }
            return
        }
        let counter = registry.makeCounter(descriptor: Self.descriptor(name, help: help), labels: labels)
        counter.increment(by: Int64(value))
        counters[key] = (counter, value)
    }

    func gauge(_ name: String, _ labels: [(String, String)], _ value: Double, help: String) {
        let key = Self.key(name, labels)
        touched.insert(key)
        let gauge = gauges[key] ?? registry.makeGauge(descriptor: Self.descriptor(name, help: help), labels: labels)
        gauges[key] = gauge
        gauge.set(value)
    }

    /// Ends a scrape: series not set by it are removed, then the text exposition format.
    func render() -> String {
        for key in counters.keys.sorted() where !touched.contains(key) {
            registry.unregisterCounter(counters.removeValue(forKey: key)!.counter)
        }
        for key in gauges.keys.sorted() where !touched.contains(key) {
            registry.unregisterGauge(gauges.removeValue(forKey: key)!)
        }
        touched = []
        return registry.emitToString()
    }

    /// The queue series of one partition led here.
    func record(queue: String, partition: UInt32, statistics s: QueueStatistics, nowMs: Int64) {
        let labels = [("queue", queue), ("partition", String(partition))]
        counter("ferry_queue_sent_messages_total", labels, s.sent, help: "Messages enqueued (duplicates excluded)")
        counter("ferry_queue_received_messages_total", labels, s.received, help: "Deliveries to consumers")
        counter("ferry_queue_deleted_messages_total", labels, s.deleted, help: "Messages deleted by consumers")
        counter(
            "ferry_queue_dead_lettered_messages_total",
            labels,
            s.deadLettered,
            help: "Messages moved to the dead-letter queue after maxReceiveCount"
        )
        counter("ferry_queue_expired_messages_total", labels, s.expired, help: "Messages dropped by retention")
        gauge("ferry_queue_visible_messages", labels, Double(s.visible), help: "Messages available (queue depth)")
        gauge("ferry_queue_in_flight_messages", labels, Double(s.inFlight), help: "Messages received, not deleted")
        gauge("ferry_queue_delayed_messages", labels, Double(s.delayed), help: "Messages not yet visible (delay)")
        gauge(
            "ferry_queue_oldest_message_age_seconds",
            labels,
            s.oldestSentAtMs.map { Double(max(0, nowMs - $0)) / 1_000 } ?? 0,
            help: "Age of the oldest message, 0 when empty"
        )
        gauge("ferry_queue_outbox_messages", labels, Double(s.outbox), help: "Dead letters and redrives in transit")
        gauge(
            "ferry_queue_moves_exhausted_messages",
            labels,
            Double(s.movesExhausted),
            help: "Messages past maxReceiveCount kept because they were moved too often; a redrive moves them"
        )
    }

    /// The Raft series of one group on this node.
    func record(group: GroupDriver, node: UInt64) {
        let status = group.core.status
        let labels = [
            ("group", String(group.groupID)), ("queue", group.partition?.queueName ?? "_metadata"),
            ("partition", String(group.partition?.partition ?? 0)),
        ]
        gauge("ferry_raft_term", labels, Double(status.term), help: "Current Raft term of the group")
        gauge("ferry_raft_is_leader", labels, status.role == .leader ? 1 : 0, help: "1 when this node leads")
        gauge(
            "ferry_raft_repairing",
            labels,
            status.repairing ? 1 : 0,
            help: "1 while this replica repairs after storage damage (no vote, not counted toward commit)"
        )
        gauge(
            "ferry_raft_commit_lag_entries",
            labels,
            Double(status.lastIndex - min(status.lastIndex, status.commit)),
            help: "Entries in this node's log not yet committed"
        )
        gauge(
            "ferry_raft_apply_lag_entries",
            labels,
            Double(status.commit - min(status.commit, status.applied)),
            help: "Committed entries not yet applied"
        )
        gauge("ferry_raft_quiesced", labels, group.quiesced ? 1 : 0, help: "1 when the group is idle and not ticked")
        counter("ferry_raft_elections_total", labels, group.elections, help: "Elections this node started")
        counter("ferry_raft_leader_changes_total", labels, group.leaderChanges, help: "Leader changes seen here")
        guard status.role == .leader else { return }
        for follower in status.progress.keys.sorted() where follower != node {
            gauge(
                "ferry_raft_follower_lag_entries",
                labels + [("follower", String(follower))],
                Double(status.lastIndex - min(status.lastIndex, status.progress[follower]!.match)),
                help: "Leader's entries a follower does not hold yet"
            )
        }
    }
}
