import FerryModel
import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#endif

/// The parts of a node whose log levels node.yaml sets one by one (`log_levels`).
public enum LogSubsystem: String, CaseIterable, Sendable {
    /// Start, stop, configuration.
    case node
    /// Raft groups: leadership, snapshots, repairs.
    case raft
    /// The write-ahead log, snapshots on disk, full and slow disks.
    case storage
    /// Peer connections and forwarded requests.
    case peer
    /// Client requests on the native port and through the node's router (one line per request at `debug`).
    case client
    /// The SQS API's requests (one line per request at `debug`; answers of 500 and above at `warning`).
    case sqs
    /// TLS: certificates, refused connections.
    case tls
    /// Membership changes: nodes added and removed, replicas moved.
    case membership
}

/// The node's log: JSON lines on standard error through swift-log (`FerryLogHandler`), one logger per subsystem,
/// each with its own level (`log_levels` in node.yaml; default `info`). A line is
/// `{"time":"2026-12-06T06:20:01.123Z","level":"info","node":1,"subsystem":"raft","event":"leader","group":12,
/// "request_id":"…","msg":"…"}`; `event`, `group` and `request_id` appear when the line has them, other
/// metadata as further string fields. Never a message body or a secret.
public enum NodeLog {
    nonisolated(unsafe) public static var nodeID: UInt64 = 0
    /// No lines at all (a simulator runs thousands of nodes' lives per second).
    nonisolated(unsafe) package static var muted = false
    /// Sees every line written, its level and message (tests that check what a refusal logs).
    nonisolated(unsafe) package static var observer: (@Sendable (String, String) -> Void)?
    /// Where the lines go (standard error); tests read them here.
    nonisolated(unsafe) package static var sink: @Sendable (String) -> Void = { line in
        line.withCString { _ = Glibc.write(2, $0, strlen($0)) }
    }

    private static let levels = NIOLockedValueBox([LogSubsystem: Logger.Level]())
    private static let loggers: [LogSubsystem: Logger] = Dictionary(
        uniqueKeysWithValues: LogSubsystem.allCases.map { subsystem in
            (subsystem, Logger(label: "ferry.\(subsystem.rawValue)") { _ in FerryLogHandler(subsystem: subsystem) })
        }
    )

    /// Sets each subsystem's level (those not named: `info`).
    public static func configure(_ given: [LogSubsystem: Logger.Level]) {
        levels.withLockedValue { $0 = given }
    }

    static func level(of subsystem: LogSubsystem) -> Logger.Level {
        levels.withLockedValue { $0[subsystem] } ?? .info
    }

    /// Whether a line of `level` for `subsystem` would be written (to skip building one that would not).
    public static func enabled(_ level: Logger.Level, _ subsystem: LogSubsystem) -> Bool {
        !muted && level >= Self.level(of: subsystem)
    }

    public static func log(
        _ level: Logger.Level,
        _ message: @autoclosure () -> String,
        _ subsystem: LogSubsystem = .node,
        event: String? = nil,
        group: UInt64? = nil,
        requestID: String? = nil,
        _ more: Logger.Metadata = [:]
    ) {
        guard !muted else { return }
        var metadata = more
        if let event { metadata["event"] = .string(event) }
        if let group { metadata["group"] = .string(String(group)) }
        if let requestID { metadata["request_id"] = .string(requestID) }
        loggers[subsystem]!.log(level: level, "\(message())", metadata: metadata)
    }

    public static func debug(_ message: @autoclosure () -> String, _ subsystem: LogSubsystem = .node) {
        log(.debug, message(), subsystem)
    }
    public static func info(_ message: @autoclosure () -> String, _ subsystem: LogSubsystem = .node) {
        log(.info, message(), subsystem)
    }
    public static func warning(_ message: @autoclosure () -> String, _ subsystem: LogSubsystem = .node) {
        log(.warning, message(), subsystem)
    }
    public static func error(_ message: @autoclosure () -> String, _ subsystem: LogSubsystem = .node) {
        log(.error, message(), subsystem)
    }
}

/// swift-log's handler for the node: the level is the subsystem's (`NodeLog.configure`), the line one JSON object.
package struct FerryLogHandler: LogHandler {
    package let subsystem: LogSubsystem
    package var metadata: Logger.Metadata = [:]

    package init(subsystem: LogSubsystem) { self.subsystem = subsystem }

    package var logLevel: Logger.Level {
        get { NodeLog.level(of: subsystem) }
        set {}  // set in node.yaml, for the whole process
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(
        level: Logger.Level,
        message: Logger.Message,
        metadata more: Logger.Metadata?,
        source: String,
        file: String,
        function: String,
        line: UInt
    ) {
        NodeLog.observer?(level.rawValue, message.description)
        let fields = metadata.merging(more ?? [:]) { _, new in new }
        NodeLog.sink(
            Self.line(
                wallMs: MonotonicClock.wallMs(),
                level: level,
                node: NodeLog.nodeID,
                subsystem: subsystem,
                message: message.description,
                metadata: fields
            )
        )
    }

    /// One JSON line: the fixed fields first, then `event`, `group`, `request_id`, the other metadata by key.
    package static func line(
        wallMs: Int64,
        level: Logger.Level,
        node: UInt64,
        subsystem: LogSubsystem,
        message: String,
        metadata: Logger.Metadata
    ) -> String {
        var line = "{\"time\":\"\(iso8601(wallMs))\",\"level\":\"\(level.rawValue)\",\"node\":\(node)"
        line += ",\"subsystem\":\"\(subsystem.rawValue)\""
        if let event = metadata["event"] { line += ",\"event\":\(quoted(event.description))" }
        if let group = metadata["group"], UInt64(group.description) != nil { line += ",\"group\":\(group)" }
        if let request = metadata["request_id"] { line += ",\"request_id\":\(quoted(request.description))" }
        for key in metadata.keys.sorted() where !["event", "group", "request_id"].contains(key) {
            line += ",\(quoted(key)):\(quoted(metadata[key]!.description))"
        }
        return line + ",\"msg\":\(quoted(message))}\n"
    }

    /// A JSON string: quotes, backslashes and control characters escaped.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) from milliseconds since the epoch.
    static func iso8601(_ ms: Int64) -> String {
        let days = Int64((Double(ms) / 86_400_000).rounded(.down))
        let inDay = ms - days * 86_400_000
        let (year, month, day) = CivilDate.civilFromDays(days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(inDay / 3_600_000, 2)):"
            + "\(pad(inDay / 60_000 % 60, 2)):\(pad(inDay / 1_000 % 60, 2)).\(pad(inDay % 1_000, 3))Z"
    }
}
