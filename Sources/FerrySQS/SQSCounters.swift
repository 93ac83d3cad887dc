import Synchronization

/// What the SQS API did that the node's metrics report (`GET /metrics`, in Prometheus's text format):
/// requests answered with an error, by code, receipt handles that were no longer current, receives that found
/// nothing (CloudWatch's NumberOfEmptyReceives), and each operation's duration as a histogram.
public final class SQSCounters: Sendable {
    private let values = Mutex<[Series: UInt64]>([:])
    private let durations = Mutex<[String: Durations]>([:])

    /// Upper bounds of the duration histogram's buckets, seconds: long polls last up to 20 s.
    static let bounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20]

    struct Durations {
        var buckets = [UInt64](repeating: 0, count: SQSCounters.bounds.count)
        var count: UInt64 = 0
        var sum: Double = 0
    }

    static let durationName = "ferry_sqs_request_duration_seconds"

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
        "ferry_sqs_empty_receives_total":
            "ReceiveMessage calls that returned no message, by queue (NumberOfEmptyReceives)",
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

    func emptyReceive(queue: String) {
        add("ferry_sqs_empty_receives_total", [("queue", queue)])
    }

    /// One request of `operation` (an SQS operation's name, or `unknown` when the request named none that
    /// could be read) took `seconds`, its answer included.
    func observe(operation: String, seconds: Double) {
        durations.withLock { all in
            var series = all[operation] ?? Durations()
            if let bucket = Self.bounds.firstIndex(where: { seconds <= $0 }) { series.buckets[bucket] += 1 }
            series.count += 1
            series.sum += seconds
            all[operation] = series
        }
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
        let histograms = durations.withLock { $0 }
        let name = Self.durationName
        text += "# HELP \(name) Time to answer one SQS API request, by operation (a long poll included)\n"
        text += "# TYPE \(name) histogram\n"
        for operation in histograms.keys.sorted() {
            let series = histograms[operation]!
            var cumulative: UInt64 = 0
            for (bound, count) in zip(Self.bounds, series.buckets) {
                cumulative += count
                text += "\(name)_bucket{operation=\"\(operation)\",le=\"\(bound)\"} \(cumulative)\n"
            }
            text += "\(name)_bucket{operation=\"\(operation)\",le=\"+Inf\"} \(series.count)\n"
            text += "\(name)_sum{operation=\"\(operation)\"} \(series.sum)\n"
            text += "\(name)_count{operation=\"\(operation)\"} \(series.count)\n"
        }
        return text
    }
}
