import ChaosCheck
import Foundation

/// The run's report in its directory: `summary.txt` (the table), `summary.json` (for tools), `timeline.svg`
/// (`Timeline`: faults, acknowledged sends per second, send latency, unavailability windows) and `report.html`
/// (the table and the timeline).
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
        let svg = Timeline.svg(history, durationMs: durationMs)
        try svg.write(toFile: directory + "/timeline.svg", atomically: true, encoding: .utf8)
        try html(text, svg).write(toFile: directory + "/report.html", atomically: true, encoding: .utf8)
    }

    /// An HTML page with the table and the timeline (`Timeline`, also written alone as `timeline.svg`).
    static func html(_ table: String, _ svg: String) -> String {
        let escaped = table.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return "<!doctype html><html><head><meta charset='utf-8'><title>Ferry chaos run</title></head><body>"
            + "<h1>Ferry chaos run</h1><pre>\(escaped)</pre>\(svg)</body></html>\n"
    }
}
