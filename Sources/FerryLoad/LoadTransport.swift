import FerryClient
import FerryModel
import FerryWire
import NIOCore
import NIOPosix

/// How `ferry bench` reaches the cluster: the native protocol straight to each partition's leader, or the SQS
/// API (`--api sqs`). The load engine decides what to send and when; a transport turns one send, receive or
/// delete into requests of its protocol and the answers back into counts. Every call is made on the engine's
/// event loop and completes there.
package protocol LoadTransport: AnyObject {
    /// Sends one batch to a partition (`leader`: the node believed to lead it, 0 when unknown).
    func send(
        _ queue: Int,
        _ partition: UInt32,
        leader: UInt64,
        _ messages: [SendRequest]
    )
        -> EventLoopFuture<LoadCounts>
    /// Receives up to 10 messages, waiting at most `waitMs` for the first.
    func receive(_ queue: Int, _ partition: UInt32, leader: UInt64, waitMs: Int64) -> EventLoopFuture<[LoadDelivery]>
    /// Deletes received messages (all of one receive).
    func delete(
        _ queue: Int,
        _ partition: UInt32,
        leader: UInt64,
        _ handles: [LoadHandle]
    )
        -> EventLoopFuture<LoadCounts>
    func close()
}

/// Messages of one request that the cluster took (acknowledged or deleted) and that it refused one by one.
package struct LoadCounts: Sendable {
    package var done = 0
    package var refused = 0

    package init(done: Int = 0, refused: Int = 0) {
        self.done = done
        self.refused = refused
    }
}

/// A received message: when it was sent (read from its body) and what deletes it.
package struct LoadDelivery: Sendable {
    package var sentAtNs: UInt64?
    package var handle: LoadHandle

    package init(sentAtNs: UInt64?, handle: LoadHandle) {
        self.sentAtNs = sentAtNs
        self.handle = handle
    }
}

package enum LoadHandle: Sendable {
    case native(ReceiptHandle)
    case sqs(String)
}

/// A request that failed as a whole: its cause for the report, and what the engine does next.
package struct LoadFailure: Error, Sendable, CustomStringConvertible {
    package var cause: String
    /// The node the answer named as leader (native `notLeader`).
    package var leaderHint: UInt64 = 0
    /// Sending it again cannot help (a bad setting); the engine prints it.
    package var permanent = false

    package init(cause: String, leaderHint: UInt64 = 0, permanent: Bool = false) {
        self.cause = cause
        self.leaderHint = leaderHint
        self.permanent = permanent
    }

    package var description: String { "the cluster refused the bench's request: \(cause)" }
}

/// The bodies the load sends: the send time (monotonic ns) as 16 hex digits, then printable filler, so the
/// same body is valid for the native protocol and for SQS (whose bodies are text).
package enum LoadBody {
    package static let timeDigits = 16
    private static let hex = Array("0123456789abcdef".utf8)

    package static func filler(size: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<max(0, size - timeDigits)).map { _ in UInt8.random(in: 0x61...0x7a, using: &generator) }
    }

    package static func make(sentAt: UInt64, filler: [UInt8]) -> ByteBuffer {
        var body = ByteBuffer()
        body.reserveCapacity(timeDigits + filler.count)
        for shift in stride(from: 60, through: 0, by: -4) {
            body.writeInteger(hex[Int((sentAt >> UInt64(shift)) & 15)])
        }
        body.writeBytes(filler)
        return body
    }

    /// The send time at the start of `bytes`, if it is there.
    package static func sentAt<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt64? {
        guard bytes.count >= timeDigits else { return nil }
        var value: UInt64 = 0
        for byte in bytes.prefix(timeDigits) {
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}

/// The native protocol: one pipelined connection per node, each request to the partition's leader.
package final class NativeLoadTransport: LoadTransport, @unchecked Sendable {
    private let queues: [QueueDescription]
    private let nodeIDs: [UInt64]
    private var connections: [UInt64: Connection] = [:]

    package init(
        cluster: ClusterDescription,
        queues: [QueueDescription],
        group: any EventLoopGroup,
        security: ConnectionSecurity? = nil,
        credentials: Credentials? = nil
    ) throws {
        self.queues = queues
        nodeIDs = cluster.nodes.map(\.id)
        for node in cluster.nodes {
            connections[node.id] = try Connection(
                host: node.host,
                port: Int(node.clientPort),
                group: group,
                security: security
            )
            if let credentials { try connections[node.id]!.authenticate(credentials, timeoutMs: 5_000).wait() }
        }
    }

    package func send(
        _ queue: Int,
        _ partition: UInt32,
        leader: UInt64,
        _ messages: [SendRequest]
    )
        -> EventLoopFuture<LoadCounts>
    {
        start(.send(queue: queues[queue].name, partition: partition, requests: messages), partition, leader)
            .flatMapThrowing {
                guard case .sent(let outcomes) = $0 else { throw Self.failure($0) }
                return Self.counts(outcomes)
            }
    }

    package func receive(
        _ queue: Int,
        _ partition: UInt32,
        leader: UInt64,
        waitMs: Int64
    ) -> EventLoopFuture<[LoadDelivery]> {
        let request = ReceiveRequest(maxMessages: QueueLimits.maxReceiveMessages)
        return start(
            .receive(queue: queues[queue].name, partition: partition, request: request, waitMs: UInt32(waitMs)),
            partition,
            leader
        )
        .flatMapThrowing {
            guard case .received(let deliveries) = $0 else { throw Self.failure($0) }
            return deliveries.map { delivery in
                LoadDelivery(
                    sentAtNs: LoadBody.sentAt(delivery.body.readableBytesView),
                    handle: .native(delivery.handle)
                )
            }
        }
    }

    package func delete(
        _ queue: Int,
        _ partition: UInt32,
        leader: UInt64,
        _ handles: [LoadHandle]
    )
        -> EventLoopFuture<LoadCounts>
    {
        let receipts = handles.compactMap { if case .native(let handle) = $0 { handle } else { nil } }
        return start(.delete(queue: queues[queue].name, partition: partition, handles: receipts), partition, leader)
            .flatMapThrowing {
                guard case .deleted(let outcomes) = $0 else { throw Self.failure($0) }
                return Self.counts(outcomes)
            }
    }

    package func close() {
        for connection in connections.values { connection.close() }
    }

    private func start(
        _ request: ClientRequest,
        _ partition: UInt32,
        _ leader: UInt64
    ) -> EventLoopFuture<ClientResponse> {
        let connection = connections[leader] ?? connections[nodeIDs[Int(partition) % nodeIDs.count]]!
        return connection.start(request, timeoutMs: 10_000).flatMapErrorThrowing { error in
            throw LoadFailure(cause: "no answer")
        }
    }

    private static func counts<T>(_ outcomes: [Result<T, WireError>]) -> LoadCounts {
        var counts = LoadCounts()
        for outcome in outcomes {
            if case .success = outcome { counts.done += 1 } else { counts.refused += 1 }
        }
        return counts
    }

    private static func failure(_ response: ClientResponse) -> LoadFailure {
        guard case .error(let error) = response else {
            return LoadFailure(cause: "unexpected \(response)".prefix(40).description)
        }
        return LoadFailure(
            cause: "\(error.code)",
            leaderHint: error.code == .notLeader ? error.leaderHint : 0,
            permanent: !error.code.isRetriable && error.code != .timeout
        )
    }
}
