import ChaosCheck
import Foundation
import NIOConcurrencyHelpers

/// The run's history, shared by every workload thread and the nemesis; written as JSON lines at the end.
final class Recorder: @unchecked Sendable {
    private let lock = NIOLock()
    private var events: [HistoryEvent] = []
    private var nextOp: UInt64 = 0
    private var acknowledgedSends = 0
    private let start = DispatchTime.now().uptimeNanoseconds

    /// Milliseconds since the run started.
    var now: Int64 { Int64((DispatchTime.now().uptimeNanoseconds - start) / 1_000_000) }

    /// Records an invocation; returns its op id for the completion.
    func invoke(_ process: String, _ f: String, _ fill: (inout HistoryEvent) -> Void = { _ in }) -> UInt64 {
        lock.withLock {
            nextOp += 1
            var event = HistoryEvent(t: now, process: process, type: .invoke, f: f, op: nextOp)
            fill(&event)
            events.append(event)
            return nextOp
        }
    }

    func complete(
        _ process: String,
        _ f: String,
        _ op: UInt64,
        _ type: HistoryEvent.Kind,
        _ fill: (inout HistoryEvent) -> Void = { _ in }
    ) {
        lock.withLock {
            var event = HistoryEvent(t: now, process: process, type: type, f: f, op: op)
            fill(&event)
            events.append(event)
            if f == "send" && type == .ok { acknowledgedSends += 1 }
        }
    }

    /// Sends acknowledged so far (for the progress line; reading the whole history would copy it).
    var acknowledged: Int { lock.withLock { acknowledgedSends } }

    var history: [HistoryEvent] { lock.withLock { events } }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data()
        for event in history {
            data.append(try encoder.encode(event))
            data.append(0x0A)
        }
        try data.write(to: URL(fileURLWithPath: path))
    }
}
