import ArgumentParser
import FerryClient
import FerryNode
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Set by SIGINT or SIGTERM: `ferry top` leaves its loop, restores the terminal and exits 0.
private let topStopRequests = Atomic<Int>(0)
/// Leaves the alternate screen and shows the cursor again (constant bytes: the signal handler writes them too).
private let topRestore: StaticString = "\u{1B}[?25h\u{1B}[?1049l"

struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "A live view of the cluster: nodes, queues with their rates, partitions and their leaders.",
        discussion: """
            On a terminal it refreshes in place every --interval seconds on the terminal's alternate screen, as top \
            does, cut to the terminal's size; Ctrl-C quits and leaves the terminal as it was (a second Ctrl-C \
            quits at once, also during a slow refresh). Piped, or with --once, it prints frames one after \
            another. Rates are the differences of the replicated totals between two refreshes.
            """
    )
    @OptionGroup var endpoints: EndpointOptions
    @Option(help: "Seconds between refreshes.") var interval: Double = 2
    @Flag(help: "Print one frame and exit.") var once = false
    @Option(help: "Stop after this many frames (0: until Ctrl-C).") var frames: Int = 0

    func validate() throws {
        guard interval >= 0.2, interval <= 3_600 else { throw ValidationError("--interval is 0.2…3600 seconds") }
        guard frames >= 0 else { throw ValidationError("--frames is 0 or more") }
    }

    func run() throws {
        let client = try endpoints.client()
        let terminal = isatty(1) == 1 && !once
        signal(SIGINT, topSignal)
        signal(SIGTERM, topSignal)
        if terminal { Self.write("\u{1B}[?1049h\u{1B}[?25l") }
        defer { if terminal { Self.write("\(topRestore)") } }
        var previous: TopSnapshot?
        var drawn = 0
        while topStopRequests.load(ordering: .relaxed) == 0 {
            let now = Self.wallMs()
            let snapshot = try? TopSnapshot(client, atMs: now)
            let (width, height) = terminal ? Self.size() : (200, 10_000)
            let lines =
                snapshot.map {
                    TopView.render($0, previous: previous, width: width, height: height, clock: Self.clock(now))
                } ?? ["ferry top · no node answers (\(Self.clock(now))); trying again · Ctrl-C quits"]
            if terminal {
                // Home, each line cleared to its end, everything below cleared: no flicker, no scrolling.
                Self.write("\u{1B}[H" + lines.joined(separator: "\u{1B}[K\r\n") + "\u{1B}[K\u{1B}[J")
            } else {
                Self.write(lines.joined(separator: "\n") + "\n\n")
            }
            previous = snapshot ?? previous
            drawn += 1
            if once || (frames > 0 && drawn >= frames) { break }
            let until = Self.wallMs() + Int64(interval * 1_000)
            while topStopRequests.load(ordering: .relaxed) == 0 && Self.wallMs() < until { usleep(50_000) }
        }
    }

    static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(1, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    /// The terminal's columns and rows (80×24 when it does not say).
    static func size() -> (Int, Int) {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return (80, 24) }
        return (Int(size.ws_col), Int(size.ws_row))
    }

    static func wallMs() -> Int64 { MonotonicClock.wallMs() }

    /// `HH:MM:SS UTC`.
    static func clock(_ ms: Int64) -> String {
        let seconds = (ms / 1_000) % 86_400
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(seconds / 3_600)):\(two(seconds / 60 % 60)):\(two(seconds % 60)) UTC"
    }
}

/// The first signal asks the loop to stop; a second one restores the terminal and ends the process at once
/// (both with async-signal-safe calls only).
private func topSignal(_ signal: Int32) {
    if topStopRequests.add(1, ordering: .relaxed).newValue > 1 {
        _ = Glibc.write(1, topRestore.utf8Start, topRestore.utf8CodeUnitCount)
        _exit(130)
    }
}
