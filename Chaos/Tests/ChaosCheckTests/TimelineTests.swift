import ChaosCheck
import Foundation
import Testing

/// `Timeline`: the chaos report's picture and the unavailability windows it draws.
@Suite struct TimelineTests {
    /// Sends acknowledged every 100 ms for 10 s, none from 3.0 s to 5.5 s (a kill from 2.9 s to 6 s).
    static func history() -> [HistoryEvent] {
        var events: [HistoryEvent] = []
        var op: UInt64 = 0
        var fault = HistoryEvent(t: 2_900, process: "nemesis", type: .invoke, f: "fault", op: 1)
        fault.fault = "kill"
        fault.target = "n2"
        events.append(fault)
        for at in stride(from: Int64(0), to: 10_000, by: 100) {
            op += 1
            events.append(HistoryEvent(t: at, process: "p1", type: .invoke, f: "send", op: op))
            // Sends invoked during the outage complete only when it ends.
            let done = (3_000..<5_500).contains(at) ? 5_500 + (at - 3_000) / 100 : at + 20
            events.append(HistoryEvent(t: done, process: "p1", type: .ok, f: "send", op: op))
        }
        var healed = HistoryEvent(t: 6_000, process: "nemesis", type: .ok, f: "fault", op: 1)
        healed.fault = "kill"
        healed.target = "n2"
        events.append(healed)
        return events.sorted { $0.t < $1.t }
    }

    @Test func unavailabilityIsASpanWithoutAcknowledgementsWhileSendsWait() {
        // From the first send that waited (3.0 s; the last acknowledgement came at 2.92 s) to the next
        // acknowledgement.
        let windows = Timeline.unavailability(Self.history(), durationMs: 10_000)
        #expect(windows == [Timeline.Window(startMs: 3_000, endMs: 5_500)])
        #expect(Timeline.unavailability(Self.history(), durationMs: 10_000, minimumMs: 3_000).isEmpty)
        // A run that ends without acknowledgements is unavailable until its end; a gap with nothing sent is not.
        let cut = Self.history().filter { $0.t < 3_000 || $0.type == .invoke }
        #expect(Timeline.unavailability(cut, durationMs: 10_000).last == Timeline.Window(startMs: 3_000, endMs: 10_000))
        let idle = Self.history().filter { $0.f != "send" || $0.t < 3_000 }
        #expect(Timeline.unavailability(idle, durationMs: 10_000).isEmpty)
    }

    @Test func thePictureHasTheFaultTheRatesAndTheWindow() {
        let svg = Timeline.svg(Self.history(), durationMs: 10_000)
        #expect(svg.hasPrefix("<svg xmlns='http://www.w3.org/2000/svg'"))
        #expect(svg.hasSuffix("</svg>\n"))
        #expect(
            Timeline.faults(Self.history(), durationMs: 10_000) == [
                .init(startMs: 2_900, endMs: 6_000, label: "kill n2")
            ]
        )
        #expect(svg.contains("<title>kill n2 2900–6000 ms</title>"))
        #expect(svg.contains("class='rate'") && svg.contains("class='worst'") && svg.contains("class='median'"))
        #expect(svg.contains("no send acknowledged for 2500 ms"))
        #expect(svg.components(separatedBy: "class='unavailable'").count == 2)
        // Every element opened is closed (a well-formed document a browser shows).
        for tag in ["rect", "text", "title", "tspan"] {
            let opened =
                svg.components(separatedBy: "<\(tag) ").count + svg.components(separatedBy: "<\(tag)>").count - 2
            let closed = svg.components(separatedBy: "</\(tag)>").count - 1
            let selfClosed = tag == "rect" ? svg.components(separatedBy: "/>").count - 1 : 0
            #expect(opened <= closed + selfClosed, "\(tag)")
        }
    }
}
