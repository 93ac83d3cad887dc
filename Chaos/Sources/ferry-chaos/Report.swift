import ChaosCheck
import Foundation

/// The run's report in its directory: `summary.txt` (the table), `summary.json` (for tools) and `report.html`
/// (the table and a timeline: acknowledged sends per second and send latency, faults shaded).
enum Report {
    static func table(_ scenario: Scenario, _ report: CheckReport, durationMs: Int64) -> String {
        var lines: [String] = []
        lines.append("scenario \(scenario.name), seed \(scenario.seed), \(durationMs / 1_000) s")
        lines.append(row("operations", "\(report.operations)"))
        let faults = report.faultsByKind.keys.sorted().map { "\($0) \(report.faultsByKind[$0]!)" }
        lines.append(row("faults", faults.isEmpty ? "none" : faults.joined(separator: ", ")))
        lines.append(row("acknowledged sends", "\(report.acknowledgedSends)"))
        lines.append(row("deliveries", "\(report.deliveries)"))
        lines.append(row("dead-lettered messages", "\(report.deadLettered)"))
        lines.append(row("losses", "\(report.count(.lost))"))
        lines.append(row("overwritten positions", "\(report.count(.overwritten))"))
        lines.append(row("fate unknown (delete unanswered)", "\(report.fateUnknown)"))
        lines.append(row("duplicate enqueues", "\(report.count(.duplicate) + report.count(.differentID))"))
        lines.append(
            row("order violations", "\(report.count(.order) + report.count(.inFlight) + report.count(.sessionOrder))")
        )
        lines.append(row("phantom deliveries", "\(report.count(.phantom))"))
        lines.append(row("redeliveries after delete", "\(report.count(.redelivered))"))
        lines.append(row("dead letters twice", "\(report.count(.deadLetterTwice))"))
        lines.append(row("replica divergence", "\(report.count(.replicasDiverge))"))
        lines.append(row("unavailability over bound", "\(report.count(.unavailable))"))
        for kind in report.worstUnavailabilityMs.keys.sorted() {
            lines.append(row("worst unavailability, \(kind)", "\(report.worstUnavailabilityMs[kind]!) ms"))
        }
        if !report.clientView.isEmpty {
            lines.append(row("steady rate (median second)", "\(report.steadySendsPerSecond) acknowledged sends/s"))
            lines.append(
                "client view per fault kind: faults | longest send wait p50/max | seconds below half the steady "
                    + "rate p50/max (none acknowledged, max) | producers blocked max | sends acknowledged in the windows"
            )
            for kind in report.clientView.keys.sorted() {
                let views = report.clientView[kind]!
                let waits = views.map(\.longestSendMs).sorted()
                let slow = views.map(\.slowSeconds).sorted()
                let silent = views.map(\.silentSeconds).max() ?? 0
                let blocked = views.map(\.blockedProducers).max() ?? 0
                lines.append(
                    "  \(kind): \(views.count) | \(waits[(waits.count - 1) / 2])/\(waits.last!) ms | "
                        + "\(slow[(slow.count - 1) / 2])/\(slow.last!) s (\(silent) s) | \(blocked) of \(views[0].producers)"
                        + " | \(views.map(\.acknowledgedSends).reduce(0, +))"
                )
            }
        }
        lines.append(report.passed ? "verdict: PASS" : "verdict: FAIL (\(report.violations.count) violations)")
        for violation in report.violations.prefix(20) { lines.append("  \(violation)") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func row(_ name: String, _ value: String) -> String {
        name.padding(toLength: 44, withPad: " ", startingAt: 0) + value
    }

    static func write(
        to directory: String,
        scenario: Scenario,
        report: CheckReport,
        history: [HistoryEvent],
        durationMs: Int64
    ) throws {
        let text = table(scenario, report, durationMs: durationMs)
        try text.write(toFile: directory + "/summary.txt", atomically: true, encoding: .utf8)
        var json: [String: Any] = [
            "scenario": scenario.name, "seed": scenario.seed, "duration_ms": durationMs,
            "operations": report.operations, "faults": report.faultsByKind,
            "acknowledged_sends": report.acknowledgedSends, "deliveries": report.deliveries,
            "fate_unknown": report.fateUnknown,
            "worst_unavailability_ms": report.worstUnavailabilityMs, "passed": report.passed,
            "steady_sends_per_second": report.steadySendsPerSecond,
            "client_view": report.clientView.mapValues { views in
                views.map {
                    [
                        "at_ms": $0.atMs, "longest_send_ms": $0.longestSendMs, "slow_seconds": $0.slowSeconds,
                        "silent_seconds": $0.silentSeconds, "blocked_producers": $0.blockedProducers,
                        "producers": $0.producers, "acknowledged_sends": $0.acknowledgedSends,
                    ] as [String: Any]
                }
            },
        ]
        var counts: [String: Int] = [:]
        for kind in Violation.Kind.allCases { counts[kind.rawValue] = report.count(kind) }
        json["violations"] = counts
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: directory + "/summary.json"))
        try html(text, history, durationMs).write(toFile: directory + "/report.html", atomically: true, encoding: .utf8)
    }

    /// An HTML page with the table and an inline SVG timeline.
    static func html(_ table: String, _ history: [HistoryEvent], _ durationMs: Int64) -> String {
        let seconds = max(1, Int((durationMs + 999) / 1_000))
        var acknowledged = [Int](repeating: 0, count: seconds + 1)
        var latencies = [[Int64]](repeating: [], count: seconds + 1)
        var invokes: [String: Int64] = [:]
        var faults: [(start: Int64, end: Int64, label: String)] = []
        for event in history {
            let key = "\(event.process)#\(event.op)"
            if event.type == .invoke {
                invokes[key] = event.t
                if event.f == "fault" { faults.append((event.t, durationMs, event.fault ?? "?")) }
                continue
            }
            if event.f == "fault", let at = faults.lastIndex(where: { $0.label == (event.fault ?? "?") }) {
                faults[at].end = event.t
            }
            guard event.f == "send", event.type == .ok, let start = invokes[key] else { continue }
            let second = min(seconds, Int(event.t / 1_000))
            acknowledged[second] += 1
            latencies[second].append(event.t - start)
        }
        let width = 1_000.0
        let height = 260.0
        let x = { (ms: Int64) in 50 + Double(ms) / Double(seconds * 1_000) * (width - 70) }
        let maxRate = Double(max(1, acknowledged.max() ?? 1))
        let worst = latencies.map { $0.max() ?? 0 }
        let maxLatency = Double(max(1, worst.max() ?? 1))
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height) + 40)'>"
        svg += "<rect x='0' y='0' width='\(Int(width))' height='\(Int(height) + 40)' fill='white'/>"
        for fault in faults {
            let left = x(fault.start)
            let span = max(2, x(fault.end) - left)
            svg += "<rect x='\(left)' y='10' width='\(span)' height='\(height - 20)' fill='#f4a6a6' opacity='0.45'/>"
            svg += "<text x='\(left + 2)' y='22' font-size='10' fill='#a00'>\(fault.label)</text>"
        }
        var rate = ""
        var latency = ""
        for second in 0...seconds {
            let px = x(Int64(second) * 1_000)
            rate += "\(px),\(height - 10 - Double(acknowledged[second]) / maxRate * (height - 40)) "
            latency += "\(px),\(height - 10 - Double(worst[second]) / maxLatency * (height - 40)) "
        }
        svg += "<polyline points='\(rate)' fill='none' stroke='#1f5fbf' stroke-width='1.5'/>"
        svg += "<polyline points='\(latency)' fill='none' stroke='#d08000' stroke-width='1'/>"
        svg += "<line x1='50' y1='\(height - 10)' x2='\(width - 20)' y2='\(height - 10)' stroke='black'/>"
        svg += "<text x='50' y='\(height + 10)' font-size='11'>0 s</text>"
        svg += "<text x='\(width - 60)' y='\(height + 10)' font-size='11'>\(seconds) s</text>"
        svg +=
            "<text x='60' y='\(height + 30)' font-size='11' fill='#1f5fbf'>acknowledged sends/s (max \(Int(maxRate)))</text>"
        svg +=
            "<text x='400' y='\(height + 30)' font-size='11' fill='#d08000'>worst send latency per second (max \(Int(maxLatency)) ms)</text>"
        svg += "<text x='750' y='\(height + 30)' font-size='11' fill='#a00'>faults shaded</text>"
        svg += "</svg>"
        let escaped = table.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return "<!doctype html><html><head><meta charset='utf-8'><title>Ferry chaos run</title></head><body>"
            + "<h1>Ferry chaos run</h1><pre>\(escaped)</pre>\(svg)</body></html>\n"
    }
}
