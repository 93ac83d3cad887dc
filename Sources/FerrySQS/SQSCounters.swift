import Synchronization

/// What the SQS API did that the node's metrics report (`GET /metrics`, in Prometheus's text format):
/// requests answered with an error, by code, and receipt handles that were no longer current.
public final class SQSCounters: Sendable {
    private let values = Mutex<[Series: UInt64]>([:])

    struct Series: Hashable, Comparable {
        var name: String
        var labels: [(String, String)]

        static func == (a: Series, b: Series) -> Bool { a.name == b.name && a.text == b.text }
        func hash(into hasher: inout Hasher) {
            hasher.combine(name)
            hasher.combine(text)
        }
        static func < (a: Series, b: Series) -> Bool { (a.name, a.text) < (b.name, b.text) }

        /// `{a="x",b="y"}`.
        var text: String {
            "{" + labels.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",") + "}"
        }
    }

    static let help: [String: String] = [
        "ferry_sqs_errors_total": "SQS API requests answered with an error, by AWS error code",
        "ferry_sqs_stale_receipt_handles_total":
            "Deletes and visibility changes given a receipt handle that is no longer current (standard queues: done, with no effect; FIFO: refused as expired)",
    ]

    public init() {}

    func add(_ name: String, _ labels: [(String, String)]) {
        values.withLock { $0[Series(name: name, labels: labels), default: 0] += 1 }
    }

    func count(error: SQSError) {
        add("ferry_sqs_errors_total", [("code", error.code)])
    }

    func staleReceiptHandle(operation: String, fifo: Bool) {
        add(
            "ferry_sqs_stale_receipt_handles_total",
            [("operation", operation), ("queue_type", fifo ? "fifo" : "standard")]
        )
    }

    /// The current value of one series (for tests).
    public func value(_ name: String, _ labels: [(String, String)]) -> UInt64 {
        values.withLock { $0[Series(name: name, labels: labels)] ?? 0 }
    }

    /// The counters in Prometheus's text exposition format; every family is announced even before it counts.
    public func render() -> String {
        let snapshot = values.withLock { $0 }
        var text = ""
        for name in Self.help.keys.sorted() {
            text += "# HELP \(name) \(Self.help[name]!)\n# TYPE \(name) counter\n"
            for series in snapshot.keys.filter({ $0.name == name }).sorted() {
                text += "\(name)\(series.text) \(snapshot[series]!)\n"
            }
        }
        return text
    }
}
