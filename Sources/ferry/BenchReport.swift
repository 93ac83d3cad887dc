import FerryLoad
import FerryModel
import Histogram

/// The summary of one `ferry bench run`.
struct BenchReport {
    let settings: LoadBench
    let result: (counters: LoadEngine.Counters, seconds: Double)
    let serverCPUSeconds: Double?

    /// The figure the CPU is divided by: acknowledged sends, or deleted messages when only consuming.
    var messages: Int { settings.producers > 0 ? result.counters.acknowledged : result.counters.deleted }
    var perSecond: (Int) -> Double { { Double($0) / result.seconds } }

    func latencies(_ histogram: Histogram<UInt64>) -> [(String, String)] {
        guard histogram.totalCount > 0 else { return [] }
        return [
            ("p50", LoadEngine.ms(histogram.valueAtPercentile(50))),
            ("p90", LoadEngine.ms(histogram.valueAtPercentile(90))),
            ("p99", LoadEngine.ms(histogram.valueAtPercentile(99))),
            ("p99_9", LoadEngine.ms(histogram.valueAtPercentile(99.9))),
            ("max", LoadEngine.ms(histogram.max)),
        ]
    }

    var cpuPerMillion: Double? {
        guard let serverCPUSeconds, messages > 0 else { return nil }
        return serverCPUSeconds / (Double(messages) / 1e6)
    }

    var text: String {
        let c = result.counters
        var lines: [String] = []
        lines.append(
            "ferry bench (\(settings.api)): \(settings.producers) producers × window \(settings.window) (batch \(settings.batch)), "
                + "\(settings.consumers) consumers, \(settings.size) B, \(settings.queues) queue(s) × "
                + "\(settings.partitions) partitions, \(settings.groups) groups, \(String(format2(result.seconds))) s"
        )
        if settings.producers > 0 {
            let rate = perSecond(c.acknowledged)
            lines.append(
                "  sent:     \(Int(rate)) msgs/s, \(format2(rate * Double(settings.size) / 1e6)) MB/s "
                    + "(\(c.acknowledged) acknowledged)"
            )
            let send = latencies(c.sendLatencyUs).map { "\($0) \($1)" }.joined(separator: ", ")
            lines.append("  send→acknowledged ms: \(send)")
        }
        if settings.consumers > 0 {
            lines.append(
                "  consumed: \(Int(perSecond(c.deleted))) msgs/s deleted, \(Int(perSecond(c.received))) received "
                    + "(\(c.deleted) deleted; \(c.receives) receives, \(c.emptyReceives) of them empty)"
            )
            let receive = latencies(c.receiveLatencyUs).map { "\($0) \($1)" }.joined(separator: ", ")
            if !receive.isEmpty { lines.append("  send→received ms: \(receive)") }
        }
        if let serverCPUSeconds, let per = cpuPerMillion {
            lines.append(
                "  server CPU: \(format2(serverCPUSeconds)) s (\(format2(serverCPUSeconds / result.seconds * 100))% of a core), "
                    + "\(format2(per)) s per million messages"
            )
        }
        if c.refused > 0 || c.failedRequests > 0 {
            let causes = c.failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            lines.append(
                "  refused messages: \(c.refused), failed requests (sent again): \(c.failedRequests) (\(causes))"
            )
        }
        return lines.joined(separator: "\n")
    }

    var json: String {
        let c = result.counters
        var fields: [(String, String)] = [
            ("producers", "\(settings.producers)"), ("consumers", "\(settings.consumers)"),
            ("size", "\(settings.size)"), ("queues", "\(settings.queues)"), ("partitions", "\(settings.partitions)"),
            ("groups", "\(settings.groups)"), ("window", "\(settings.window)"), ("batch", "\(settings.batch)"),
            ("kind", "\"\(settings.kind)\""), ("api", "\"\(settings.api)\""),
            ("fsync", settings.fsync.map { "\"\($0)\"" } ?? "null"),
            ("seconds", format2(result.seconds)),
            ("acknowledged", "\(c.acknowledged)"), ("received", "\(c.received)"), ("deleted", "\(c.deleted)"),
            ("send_msgs_per_s", format2(perSecond(c.acknowledged))),
            ("send_mb_per_s", format2(perSecond(c.acknowledged) * Double(settings.size) / 1e6)),
            ("received_msgs_per_s", format2(perSecond(c.received))),
            ("deleted_msgs_per_s", format2(perSecond(c.deleted))),
            ("refused", "\(c.refused)"), ("failed_requests", "\(c.failedRequests)"),
            ("receives", "\(c.receives)"), ("empty_receives", "\(c.emptyReceives)"),
            (
                "failures",
                "{" + c.failures.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
                    + "}"
            ),
            ("server_cpu_s", serverCPUSeconds.map(format2) ?? "null"),
            ("server_cpu_s_per_million", cpuPerMillion.map(format2) ?? "null"),
        ]
        for (name, value) in latencies(c.sendLatencyUs) { fields.append(("send_\(name)_ms", value)) }
        for (name, value) in latencies(c.receiveLatencyUs) { fields.append(("received_\(name)_ms", value)) }
        return "{" + fields.map { "\"\($0)\": \($1)" }.joined(separator: ", ") + "}"
    }
}

func format2(_ value: Double) -> String { String(Double(Int((value * 100).rounded())) / 100) }
