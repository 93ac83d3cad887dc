import FerryClient
import FerryModel
import FerryWire

/// One look at the cluster for `ferry top`: the metadata, every node's status and health (nil where it did not
/// answer), and each queue's statistics (nil where they could not be read).
struct TopSnapshot {
    var atMs: Int64
    var description: ClusterDescription
    var nodes: [(node: NodeDescription, status: NodeStatus?, health: NodeHealth?)]
    var queues: [(queue: QueueDescription, statistics: QueueStatistics?)]

    /// Queues whose figures one refresh reads (a call per partition each).
    static let maxQueues = 100

    init(_ client: FerryClient, atMs: Int64) throws(FerryClientError) {
        self.atMs = atMs
        description = try client.describe()
        nodes = description.nodes.map { node in
            (
                node,
                try? client.nodeStatus(host: node.host, port: Int(node.clientPort)),
                try? client.nodeHealth(host: node.host, port: Int(node.clientPort))
            )
        }
        let listed = description.queues.sorted { $0.name < $1.name }.prefix(Self.maxQueues)
        queues = listed.map { queue in (queue, try? client.statistics(queue.name).0) }
    }
}

/// `ferry top`'s screen, as lines, from two snapshots (rates are the differences of the replicated totals over
/// the time between them). Pure: the command draws what this returns.
enum TopView {
    static func render(_ now: TopSnapshot, previous: TopSnapshot?, width: Int, height: Int, clock: String) -> [String] {
        var lines: [String] = []
        let answering = now.nodes.filter { $0.status != nil }.count
        lines.append(
            "ferry top · cluster \(now.description.clusterID) · \(answering)/\(now.nodes.count) nodes answering · "
                + "\(now.queues.count) queues · \(clock) · Ctrl-C quits"
        )
        lines.append("")
        let nodeColumns = [6, 22, 13, 7, 9, 11, 11, 11]
        lines.append(
            row(["NODE", "ADDRESS", "HEALTH", "LEADS", "FOLLOWS", "FSYNC P50", "FSYNC MAX", "DISK FREE"], nodeColumns)
        )
        for (node, status, health) in now.nodes {
            let held = status?.groups ?? []
            let leads = held.filter { $0.leader == node.id }.count
            var state = status == nil ? "unreachable" : "ok"
            if let full = status?.storageFull, !full.isEmpty { state = "disk full" }
            if health?.slowDisk == true { state = "slow disk" }
            lines.append(
                row(
                    [
                        "\(node.id)", "\(node.host):\(node.clientPort)", state, status == nil ? "-" : "\(leads)",
                        status == nil ? "-" : "\(held.count - leads)", micros(health?.fsyncMedianMicros),
                        micros(health?.fsyncMaxMicros), bytes(health?.diskFreeBytes),
                    ],
                    nodeColumns
                )
            )
        }
        lines.append("")
        let queueColumns = [28, 7, 10, 11, 9, 9, 9, 9, 24]
        lines.append(
            row(
                ["QUEUE", "PARTS", "VISIBLE", "IN FLIGHT", "DELAYED", "SENT/S", "RECV/S", "DEL/S", "DEAD-LETTER"],
                queueColumns
            )
        )
        let seconds = previous.map { Double(max(1, now.atMs - $0.atMs)) / 1_000 }
        for (queue, statistics) in now.queues {
            let before = previous?.queues.first { $0.queue.id == queue.id }?.statistics
            func rate(_ pick: (QueueStatistics) -> UInt64) -> String {
                guard let statistics, let before, let seconds, pick(statistics) >= pick(before) else { return "-" }
                return String(format1(Double(pick(statistics) - pick(before)) / seconds))
            }
            lines.append(
                row(
                    [
                        queue.name, "\(queue.partitions)", statistics.map { "\($0.visible)" } ?? "?",
                        statistics.map { "\($0.inFlight)" } ?? "?", statistics.map { "\($0.delayed)" } ?? "?",
                        rate(\.sent), rate(\.received), rate(\.deleted),
                        queue.attributes.redrivePolicy.map { "→ \($0.deadLetterQueue)" } ?? "",
                    ],
                    queueColumns
                )
            )
        }
        lines.append("")
        let partitionColumns = [28, 7, 8, 7, 10, 8]
        lines.append(row(["PARTITION", "GROUP", "LEADER", "TERM", "COMMIT", "MAX LAG"], partitionColumns))
        var led: [UInt64: GroupStatus] = [:]
        for (node, status, _) in now.nodes {
            for group in status?.groups ?? [] where group.leader == node.id { led[group.groupID] = group }
        }
        let names = Dictionary(now.description.queues.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        for partition in now.description.partitions.sorted(by: { $0.groupID < $1.groupID }) {
            let group = led[partition.groupID]
            let lag = group?.followers.map { ClusterView.lag(group!, $0) }.max() ?? 0
            lines.append(
                row(
                    [
                        "\(names[partition.queueID] ?? "?")/\(partition.partition)", "\(partition.groupID)",
                        group.map { "\($0.leader)" } ?? "none", group.map { "\($0.term)" } ?? "-",
                        group.map { "\($0.commitIndex)" } ?? "-", group == nil ? "-" : "\(lag)",
                    ],
                    partitionColumns
                )
            )
        }
        // What does not fit the terminal is cut, rows and columns, with a mark where rows were left out.
        var shown = lines.map { String($0.prefix(max(1, width))) }
        if shown.count > height && height > 1 {
            shown = Array(shown.prefix(height - 1)) + ["… \(lines.count - height + 1) more lines (a taller terminal)"]
        }
        return shown
    }

    /// Cells padded to their column's width (a longer cell keeps one space after it).
    static func row(_ cells: [String], _ widths: [Int]) -> String {
        cells.enumerated().map { index, cell in
            let width = index < widths.count ? widths[index] : 12
            return cell.count >= width ? cell + " " : cell + String(repeating: " ", count: width - cell.count)
        }.joined()
    }

    static func micros(_ value: Int64?) -> String {
        guard let value, value > 0 else { return "-" }
        return value < 1_000 ? "\(value) µs" : "\(format1(Double(value) / 1_000)) ms"
    }

    static func bytes(_ value: UInt64?) -> String {
        guard let value, value > 0 else { return "-" }
        return "\(format1(Double(value) / Double(1 << 30))) GiB"
    }

    /// One decimal, without Foundation's formatter.
    static func format1(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
