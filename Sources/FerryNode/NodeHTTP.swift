import FerryHTTP
import NIOCore

/// The node's HTTP port (FerryHTTP on the node's event loop): `GET /metrics` (Prometheus text), `GET /health`,
/// and `POST`/`GET` of `/` and `/<account>/<queue>` for the SQS API when one is given (DESIGN §6), with the
/// API's pages (the console at `/console`, the status API at `/status/v1/…`).
package enum NodeHTTP {
    /// Binds `host:port` and serves; returns once the listener is bound.
    /// - Throws: `ConfigError` (`http_port`) when the port cannot be bound.
    static func serve(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        mailbox: Mailbox,
        api: HTTPAPI?,
        security: (@Sendable (any Channel) throws -> Void)? = nil
    ) throws -> HTTPServer {
        let metrics: HTTPAPIHandler = { _ in
            var text = await withCheckedContinuation { continuation in
                mailbox.post(.metrics { continuation.resume(returning: $0) })
            }
            if let more = api?.metrics { text += more() }
            return (200, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], Array(text.utf8))
        }
        let health: HTTPAPIHandler = { _ in (200, [("Content-Type", "text/plain; charset=utf-8")], Array("ok\n".utf8)) }
        let handler = api?.handler
        let pages = api?.pages
        let server: HTTPServer
        do {
            server = try HTTPServer(host: host, port: port, group: group, serverName: "ferry", security: security) {
                method,
                path in
                if let page = pages?(method, path) { return page }
                switch (method, path) {
                case ("GET", "/metrics"): return metrics
                case ("GET", "/health"): return health
                case ("GET", _), ("POST", _): return isAPIPath(path) ? handler : nil
                default: return nil
                }
            }
        } catch {
            throw ConfigError(field: "http_port", reason: error.description)
        }
        NodeLog.info("serving metrics on http\(security == nil ? "" : "s")://\(host):\(port)/metrics")
        return server
    }

    /// `/` or `/<account>/<queue>` (a trailing slash allowed): the SQS API's paths.
    package static func isAPIPath(_ path: String) -> Bool {
        guard path.utf8.first == UInt8(ascii: "/") else { return false }
        let segments = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        let named = segments.last?.isEmpty == true ? segments.dropLast() : segments
        return named.isEmpty || (named.count == 2 && named.allSatisfy { !$0.isEmpty })
    }
}
