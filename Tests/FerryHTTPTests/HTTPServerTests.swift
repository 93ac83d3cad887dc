import FerryHTTP
import Foundation
import NIOCore
import NIOPosix
import Testing

/// The HTTP port over a plain socket, bytes as a client sends them: routing, what a handler is given, a body
/// over the limit, pipelined requests, stopping.
@Suite struct HTTPServerTests {
    /// A server on an ephemeral loopback port whose one route echoes what its handler was given.
    final class Fixture: @unchecked Sendable {
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var server: HTTPServer!
        /// The port the kernel picked.
        var port: Int { server.port }

        init() throws {
            let echo: HTTPAPIHandler = { request in
                let text = [
                    "method=\(request.method)",
                    "path=\(request.path)",
                    "query=\(request.query)",
                    "host=\(request.headers.first { $0.name.lowercased() == "host" }?.value ?? "-")",
                    "x-test=\(request.headers.first { $0.name.lowercased() == "x-test" }?.value ?? "-")",
                    "tooLarge=\(request.bodyTooLarge)",
                    "body=\(request.body.count)",
                ].joined(separator: " ")
                return (200, [("Content-Type", "text/plain"), ("X-Answer", "yes")], Array(text.utf8))
            }
            server = try HTTPServer(
                host: "127.0.0.1",
                port: 0,
                group: loops,
                serverName: "ferry-test"
            ) { method, path in
                (method == "POST" || method == "GET") && path.hasPrefix("/echo") ? echo : nil
            }
        }

        deinit {
            server.stop()
            try? loops.syncShutdownGracefully()
        }
    }

    /// A blocking loopback connection that reads whole answers (Content-Length framed).
    final class Connection {
        let descriptor: Int32
        var pending: [UInt8] = []

        init(port: Int) throws {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            // No close here: a class whose initializer throws once every property is set is deinitialized, and
            // `deinit` closes the descriptor. Closing it here too closed it twice, and the second close could hit
            // a descriptor another test's server had just accepted under the same number (NIO then trapped in
            // getsockname with EBADF, and that test's connection went dead).
            guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        }

        deinit { close(descriptor) }

        func send(_ bytes: [UInt8]) {
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                guard written > 0 else { return }
                offset += written
            }
        }

        /// The next answer: status line and headers, then exactly Content-Length bytes of body.
        func answer() -> (status: Int, headers: [String: String], body: String)? {
            while true {
                if let end = find([13, 10, 13, 10]) {
                    let head = String(decoding: pending[..<end], as: UTF8.self).components(separatedBy: "\r\n")
                    var headers: [String: String] = [:]
                    for line in head.dropFirst() {
                        let parts = line.split(separator: ":", maxSplits: 1)
                        if parts.count == 2 {
                            headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
                        }
                    }
                    let length = Int(headers["content-length"] ?? "0") ?? 0
                    if pending.count >= end + 4 + length {
                        let body = String(decoding: pending[(end + 4)..<(end + 4 + length)], as: UTF8.self)
                        pending.removeFirst(end + 4 + length)
                        let status = Int(head[0].split(separator: " ")[1]) ?? 0
                        return (status, headers, body)
                    }
                }
                var chunk = [UInt8](repeating: 0, count: 65_536)
                let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                guard count > 0 else { return nil }
                pending += chunk[..<count]
            }
        }

        private func find(_ needle: [UInt8]) -> Int? {
            guard pending.count >= needle.count else { return nil }
            for start in 0...(pending.count - needle.count)
            where Array(pending[start..<(start + needle.count)]) == needle {
                return start
            }
            return nil
        }
    }

    static func request(_ method: String, _ target: String, body: [UInt8] = [], extra: String = "") -> [UInt8] {
        Array(
            "\(method) \(target) HTTP/1.1\r\nHost: example.test:9\r\n\(extra)Content-Length: \(body.count)\r\n\r\n".utf8
        ) + body
    }

    @Test func aHandlerIsGivenTheRequestAsSent() throws {
        let fixture = try Fixture()
        let connection = try Connection(port: fixture.port)
        connection.send(
            Self.request("POST", "/echo/a%2Fb?x=1&y=%20", body: Array("hello".utf8), extra: "X-Test: 7\r\n")
        )
        let answer = try #require(connection.answer())
        #expect(answer.status == 200)
        #expect(
            answer.body
                == "method=POST path=/echo/a%2Fb query=x=1&y=%20 host=example.test:9 x-test=7 tooLarge=false body=5"
        )
        #expect(answer.headers["x-answer"] == "yes")
        #expect(answer.headers["server"] == "ferry-test")
        // RFC 9110's IMF-fixdate, in GMT, of about now.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let date = try #require(answer.headers["date"].flatMap { formatter.date(from: $0) })
        #expect(abs(date.timeIntervalSinceNow) < 5)
        #expect(answer.headers["date"] == formatter.string(from: date))
    }

    @Test func aPathWithoutARouteIs404AndTheConnectionStaysUsable() throws {
        let fixture = try Fixture()
        let connection = try Connection(port: fixture.port)
        connection.send(Self.request("GET", "/nothing"))
        #expect(connection.answer()?.status == 404)
        connection.send(Self.request("DELETE", "/echo"))
        #expect(connection.answer()?.status == 404)
        connection.send(Self.request("GET", "/echo"))
        #expect(connection.answer()?.status == 200)
    }

    @Test func aBodyOverTheLimitIsDroppedAndFlaggedNotFatal() throws {
        let fixture = try Fixture()
        let connection = try Connection(port: fixture.port)
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: HTTPLimits.maxBodyBytes + 1)
        connection.send(Self.request("POST", "/echo", body: big))
        let answer = try #require(connection.answer())
        #expect(answer.body.hasSuffix("tooLarge=true body=0"))
        connection.send(Self.request("POST", "/echo", body: [1, 2, 3]))
        #expect(connection.answer()?.body.hasSuffix("tooLarge=false body=3") == true)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let fixture = try Fixture()
        let connection = try Connection(port: fixture.port)
        connection.send((1...5).flatMap { Self.request("GET", "/echo?n=\($0)") })
        for n in 1...5 {
            #expect(connection.answer()?.body.contains("query=n=\(n) ") == true)
        }
    }

    /// Regression: on Hummingbird 2, a connection accepted but not yet served when the server's task was
    /// cancelled trapped the process ("Deinited NIOAsyncWriter without calling finish()", swift-nio#2813): this
    /// test crashed with SIGILL on every run there.
    @Test func afterStopThePortRefusesConnections() throws {
        let fixture = try Fixture()
        let port = fixture.port
        _ = try Connection(port: port)
        fixture.server.stop()
        #expect(throws: (any Error).self) { try Connection(port: port) }
    }

    /// Connections that arrive while the server stops, some with a request half sent, some waiting for an answer:
    /// the process survives and the port then refuses connections.
    @Test func stoppingWhileConnectionsArriveEndsThemAll() throws {
        let fixture = try Fixture()
        let port = fixture.port
        let arriving = Thread {
            for n in 0..<200 {
                guard let connection = try? Connection(port: port) else { return }
                if n % 2 == 0 { connection.send(Array("POST /echo HTTP/1.1\r\nContent-Le".utf8)) }
                if n % 3 == 0 { connection.send(Self.request("GET", "/echo")) }
            }
        }
        arriving.start()
        usleep(2_000)
        fixture.server.stop()
        #expect(throws: (any Error).self) { try Connection(port: port) }
    }

    /// A client that half-closes after its request still reads the answer.
    @Test func aHalfClosedClientStillGetsItsAnswer() throws {
        let fixture = try Fixture()
        let connection = try Connection(port: fixture.port)
        connection.send(Self.request("GET", "/echo?half"))
        shutdown(connection.descriptor, Int32(SHUT_WR))
        #expect(connection.answer()?.body.contains("query=half") == true)
    }
}
