/// A chaos run's timeline as a standalone SVG picture (`timeline.svg` next to the report, and inside
/// `report.html`): faults as shaded bands with their kind and target, acknowledged sends per second, the median
/// and worst send latency per second, and unavailability windows (spans without an acknowledged send while the
/// workload kept sending) as bars with their length. Pure: a function of the history.
public enum Timeline {
    public struct Window: Sendable, Equatable {
        public var startMs: Int64
        public var endMs: Int64

        public init(startMs: Int64, endMs: Int64) {
            self.startMs = startMs
            self.endMs = endMs
        }
    }

    public struct Fault: Sendable, Equatable {
        public var startMs: Int64
        public var endMs: Int64
        public var label: String

        public init(startMs: Int64, endMs: Int64, label: String) {
            self.startMs = startMs
            self.endMs = endMs
            self.label = label
        }
    }

    /// Spans of at least `minimumMs` in which a send was waiting and none was acknowledged: each gap between
    /// two acknowledgements (or before the first, or after the last), cut to the time some send was waiting in
    /// it. A gap in which nothing was sent (the workload's end, its drain) is not a window.
    public static func unavailability(
        _ history: [HistoryEvent],
        durationMs: Int64,
        minimumMs: Int64 = 1_000
    )
        -> [Window]
    {
        var invokes: [String: Int64] = [:]
        var waits: [(start: Int64, end: Int64)] = []
        var acknowledged: [Int64] = []
        for event in history where event.f == "send" {
            let key = "\(event.process)#\(event.op)"
            if event.type == .invoke {
                invokes[key] = event.t
                continue
            }
            guard let start = invokes.removeValue(forKey: key) else { continue }
            waits.append((start, event.t))
            if event.type == .ok { acknowledged.append(event.t) }
        }
        waits += invokes.values.map { ($0, durationMs) }  // never answered
        guard let first = waits.map(\.start).min() else { return [] }
        acknowledged.sort()
        var windows: [Window] = []
        var previous = first
        for next in acknowledged + [durationMs] {
            defer { previous = max(previous, next) }
            let waiting = waits.filter { $0.start < next && $0.end > previous }
            guard let earliest = waiting.map(\.start).min(), let latest = waiting.map(\.end).max() else { continue }
            let window = Window(startMs: max(previous, earliest), endMs: min(next, latest))
            if window.endMs - window.startMs >= minimumMs { windows.append(window) }
        }
        return windows
    }

    /// Faults as spans: each `fault` invoke to its completion (or the end of the run).
    public static func faults(_ history: [HistoryEvent], durationMs: Int64) -> [Fault] {
        var open: [String: Int] = [:]
        var faults: [Fault] = []
        for event in history where event.f == "fault" {
            let key = "\(event.process)#\(event.op)"
            let label = [event.fault, event.target].compactMap { $0 }.joined(separator: " ")
            if event.type == .invoke {
                open[key] = faults.count
                faults.append(Fault(startMs: event.t, endMs: durationMs, label: label.isEmpty ? "fault" : label))
            } else if let index = open.removeValue(forKey: key) {
                faults[index].endMs = max(faults[index].startMs, event.t)
            }
        }
        return faults
    }

    public static func svg(_ history: [HistoryEvent], durationMs: Int64) -> String {
        let seconds = max(1, Int((durationMs + 999) / 1_000))
        var acknowledged = [Int](repeating: 0, count: seconds + 1)
        var latencies = [[Int64]](repeating: [], count: seconds + 1)
        var invokes: [String: Int64] = [:]
        for event in history where event.f == "send" {
            let key = "\(event.process)#\(event.op)"
            if event.type == .invoke {
                invokes[key] = event.t
            } else if event.type == .ok, let start = invokes[key] {
                let second = max(0, min(seconds, Int(event.t / 1_000)))
                acknowledged[second] += 1
                latencies[second].append(event.t - start)
            }
        }
        let worst = latencies.map { $0.max() ?? 0 }
        let median = latencies.map { $0.isEmpty ? 0 : $0.sorted()[($0.count - 1) / 2] }
        let (width, left, right) = (1_000.0, 80.0, 20.0)
        let (rateTop, rateBottom) = (30.0, 190.0)
        let (latencyTop, latencyBottom) = (215.0, 335.0)
        let (laneTop, laneHeight) = (350.0, 14.0)
        let height = 410.0
        let x = { (ms: Int64) in left + Double(ms) / Double(seconds * 1_000) * (width - left - right) }
        let maxRate = Double(max(1, acknowledged.max() ?? 1))
        let maxLatency = Double(max(1, worst.max() ?? 1))
        func number(_ value: Double) -> String { String(Int(value.rounded())) }
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(number(width))' height='\(number(height))' "
        svg += "font-family='sans-serif' font-size='11'>"
        svg += "<rect x='0' y='0' width='\(number(width))' height='\(number(height))' fill='white'/>"
        for fault in faults(history, durationMs: durationMs) {
            let start = x(fault.startMs)
            let span = max(2, x(fault.endMs) - start)
            svg += "<rect class='fault' x='\(number(start))' y='\(number(rateTop))' width='\(number(span))' "
            svg += "height='\(number(latencyBottom - rateTop))' fill='#f4a6a6' opacity='0.45'>"
            svg += "<title>\(escape(fault.label)) \(fault.startMs)–\(fault.endMs) ms</title></rect>"
            svg +=
                "<text x='\(number(start + 2))' y='\(number(rateTop + 12))' fill='#a00'>\(escape(fault.label))</text>"
        }
        for (top, bottom) in [(rateTop, rateBottom), (latencyTop, latencyBottom)] {
            svg += "<line x1='\(number(left))' y1='\(number(bottom))' x2='\(number(width - right))' "
            svg += "y2='\(number(bottom))' stroke='#333'/>"
            svg += "<line x1='\(number(left))' y1='\(number(top))' x2='\(number(left))' y2='\(number(bottom))' "
            svg += "stroke='#333'/>"
        }
        let step = seconds <= 60 ? 10 : seconds <= 300 ? 30 : 60
        for second in stride(from: 0, through: seconds, by: step) {
            let px = x(Int64(second) * 1_000)
            svg += "<line x1='\(number(px))' y1='\(number(rateTop))' x2='\(number(px))' y2='\(number(latencyBottom))' "
            svg += "stroke='#e4e9ee'/><text x='\(number(px - 8))' y='\(number(latencyBottom + 12))'>\(second) s</text>"
        }
        func line(
            _ values: [Double],
            top: Double,
            bottom: Double,
            maximum: Double,
            color: String,
            name: String
        )
            -> String
        {
            let points = values.enumerated().map { second, value in
                "\(number(x(Int64(second) * 1_000))),\(number(bottom - value / maximum * (bottom - top)))"
            }
            return "<polyline class='\(name)' points='\(points.joined(separator: " "))' fill='none' "
                + "stroke='\(color)' stroke-width='1.5'/>"
        }
        svg += line(
            acknowledged.map(Double.init),
            top: rateTop,
            bottom: rateBottom,
            maximum: maxRate,
            color: "#1f5fbf",
            name: "rate"
        )
        svg += line(
            worst.map(Double.init),
            top: latencyTop,
            bottom: latencyBottom,
            maximum: maxLatency,
            color: "#d08000",
            name: "worst"
        )
        svg += line(
            median.map(Double.init),
            top: latencyTop,
            bottom: latencyBottom,
            maximum: maxLatency,
            color: "#2e7d32",
            name: "median"
        )
        svg += "<text x='4' y='\(number(rateTop + 4))'>\(number(maxRate))/s</text>"
        svg += "<text x='4' y='\(number(latencyTop + 4))'>\(number(maxLatency)) ms</text>"
        svg += "<text x='\(number(left))' y='16' font-size='12'>acknowledged sends per second "
        svg += "<tspan fill='#1f5fbf'>■</tspan>, send latency per second: median <tspan fill='#2e7d32'>■</tspan> "
        svg += "and worst <tspan fill='#d08000'>■</tspan>, faults shaded <tspan fill='#f4a6a6'>■</tspan></text>"
        svg += "<text x='4' y='\(number(laneTop + 11))' font-size='10'>unavailable</text>"
        for window in unavailability(history, durationMs: durationMs) {
            let start = x(window.startMs)
            let span = max(2, x(window.endMs) - start)
            svg += "<rect class='unavailable' x='\(number(start))' y='\(number(laneTop))' width='\(number(span))' "
            svg += "height='\(number(laneHeight))' fill='#444'><title>no send acknowledged for "
            svg += "\(window.endMs - window.startMs) ms</title></rect>"
            svg += "<text x='\(number(start))' y='\(number(laneTop + laneHeight + 12))'>"
            svg += "\(window.endMs - window.startMs) ms</text>"
        }
        return svg + "</svg>\n"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
