import Dispatch
import FerryModel
import FerrySQS
import FerryWire
import NIOCore

/// The parsers that take bytes from the network, each as a fuzz target: any input is either refused with a typed
/// error or decoded into a value that encodes and decodes back to itself; nothing traps.
enum FuzzTarget: String, CaseIterable {
    /// The peer port after the hello: Raft frames and control frames (`PeerInbound`).
    case peer
    /// The native client port: `ClientFrame`s.
    case client
    /// The SQS API's AWS JSON 1.0 requests (the operation from the first byte, the body from the rest), through
    /// `SQSService` up to its backend.
    case json
    /// The SQS API's query protocol: a form-encoded body through `SQSService`.
    case query
    /// SigV4: `Authorization`, `X-Amz-Date`, path and query from the input's first lines, the body after them.
    case sigv4

    func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .peer: Self.peerFrames(bytes)
        case .client: Self.clientFrames(bytes)
        case .json: Self.sqs(Self.jsonRequest(bytes))
        case .query: Self.sqs(Self.queryRequest(bytes))
        case .sigv4: Self.sigV4(bytes)
        }
    }

    /// Decodes frames until the input ends or one is refused; every decoded frame must survive a round trip.
    static func peerFrames(_ bytes: UnsafeRawBufferPointer) {
        var buffer = ByteBuffer(bytes: bytes)
        while let inbound = try? PeerInbound.decode(from: &buffer) {
            var encoded: ByteBuffer
            switch inbound {
            case .raft(let frame): encoded = frame.encoded()
            case .control(let control): encoded = control.encoded()
            }
            let again = try? PeerInbound.decode(from: &encoded)
            precondition(
                again == inbound,
                "peer frame round trip: \(inbound) came back as \(String(describing: again))"
            )
        }
    }

    static func clientFrames(_ bytes: UnsafeRawBufferPointer) {
        var buffer = ByteBuffer(bytes: bytes)
        while let frame = try? ClientFrame.decode(from: &buffer) {
            var encoded = frame.encoded()
            let again = try? ClientFrame.decode(from: &encoded)
            precondition(again == frame, "client frame round trip: \(frame) came back as \(String(describing: again))")
        }
    }

    static let operations = SQSOperation.all.sorted()

    static func jsonRequest(_ bytes: UnsafeRawBufferPointer) -> SigV4Verifier.Request {
        let operation = bytes.isEmpty ? "SendMessage" : operations[Int(bytes[0]) % operations.count]
        return SigV4Verifier.Request(
            method: "POST",
            path: "/",
            query: "",
            headers: [
                ("host", "127.0.0.1:7300"), ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", "AmazonSQS.\(operation)"),
            ],
            body: Array(bytes.dropFirst())
        )
    }

    static func queryRequest(_ bytes: UnsafeRawBufferPointer) -> SigV4Verifier.Request {
        // A queue URL as the path when the input starts with '/' up to its first newline.
        var path = "/"
        var body = Array(bytes)
        if body.first == UInt8(ascii: "/"), let end = body.firstIndex(of: 0x0A) {
            path = String(decoding: body[..<end], as: UTF8.self)
            body = Array(body[(end + 1)...])
        }
        return SigV4Verifier.Request(
            method: "POST",
            path: path,
            query: "",
            headers: [("host", "127.0.0.1:7300"), ("content-type", "application/x-www-form-urlencoded")],
            body: body
        )
    }

    static let service = SQSService(
        configuration: SQSService.Configuration(authentication: .none, account: "000000000000"),
        backend: FuzzBackend()
    )

    /// One request through the service; the answer must be a well-formed HTTP status.
    static func sqs(_ request: SigV4Verifier.Request) {
        let done = DispatchSemaphore(value: 0)
        let status = ManagedStatus()
        Task {
            let answer = await service.handle(request, nowSeconds: 1_800_000_000, requestID: "fuzz")
            status.value = answer.status
            done.signal()
        }
        done.wait()
        precondition((200...599).contains(status.value), "status \(status.value)")
    }

    static let verifier = SigV4Verifier(secrets: ["AKIAFUZZFUZZFUZZ0001": "fuzz-secret-0123456789"])

    static func sigV4(_ bytes: UnsafeRawBufferPointer) {
        let lines = bytes.split(separator: 0x0A, maxSplits: 4, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        func line(_ at: Int) -> String { at < lines.count ? lines[at] : "" }
        let request = SigV4Verifier.Request(
            method: "POST",
            path: line(2).isEmpty ? "/" : line(2),
            query: line(3),
            headers: [("authorization", line(0)), ("x-amz-date", line(1)), ("host", "127.0.0.1:7300")],
            body: Array(line(4).utf8)
        )
        if case .success = verifier.verify(request, nowSeconds: 1_800_000_000) {
            // Only a real signature by the key verifies; random bytes never do.
            preconditionFailure("a fuzzed request verified: \(line(0))")
        }
    }
}

final class ManagedStatus: @unchecked Sendable {
    var value = 0
}
