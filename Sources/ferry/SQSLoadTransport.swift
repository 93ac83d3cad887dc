import FerryLoad
import FerryModel
import FerrySQS
import FerryWire
import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The key `ferry bench --api sqs` signs with.
struct SQSCredentials: Sendable {
    var accessKeyID: String
    var secret: String
    var region = "us-east-1"
}

/// `ferry bench --api sqs`: the load as an SQS application makes it — SendMessageBatch, ReceiveMessage and
/// DeleteMessageBatch in AWS's JSON protocol, signed with SigV4 — over keep-alive HTTP/1.1 connections. Each
/// request goes to the node believed to lead its partition (the node forwards what it does not lead); a request
/// takes an idle connection to that node, opens one while the node has fewer than `maxConnectionsPerNode`, and
/// is pipelined behind the least busy one after that. Everything runs on the engine's event loop.
final class SQSLoadTransport: LoadTransport, @unchecked Sendable {
    static let maxConnectionsPerNode = 64

    private let loop: any EventLoop
    private let signer: SigV4Signer
    private let queues: [QueueDescription]
    private let nodeIDs: [UInt64]
    private let addresses: [UInt64: (host: String, port: Int)]
    /// Each queue's URL path (`/<account>/<name>`), from GetQueueUrl.
    private var paths: [String] = []
    /// Open connections by node (loop-confined).
    private var pools: [UInt64: [HTTPConnection]] = [:]
    private let decoder = JSONDecoder()

    init(
        cluster: ClusterDescription,
        queues: [QueueDescription],
        credentials: SQSCredentials,
        loop: any EventLoop
    ) throws {
        self.loop = loop
        self.queues = queues
        signer = SigV4Signer(
            accessKeyID: credentials.accessKeyID,
            secret: credentials.secret,
            region: credentials.region
        )
        nodeIDs = cluster.nodes.map(\.id)
        addresses = Dictionary(uniqueKeysWithValues: cluster.nodes.map { ($0.id, ($0.host, Int($0.httpPort))) })
        for queue in queues {
            let answer = try loop.flatSubmit {
                self.call(self.nodeIDs[0], "GetQueueUrl", .object([("QueueName", .string(queue.name))]))
            }.wait()
            let url = try decoder.decode(QueueURLAnswer.self, from: Data(answer.readableBytesView)).queueURL
            // `http://host:port/account/name` → `/account/name`.
            let parts = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count == 4, parts[1].isEmpty else {
                throw LoadFailure(cause: "GetQueueUrl answered \(url)", permanent: true)
            }
            paths.append("/" + parts[3])
        }
    }

    // MARK: The three requests

    func send(
        _ queue: Int,
        _ partition: UInt32,
        leader: UInt64,
        _ messages: [SendRequest]
    )
        -> EventLoopFuture<LoadCounts>
    {
        let node = self.node(leader, partition)
        let entries = messages.enumerated().map { index, message in
            JSONValue.members([
                ("Id", .string(String(index))),
                ("MessageBody", .string(String(decoding: message.body.readableBytesView, as: UTF8.self))),
                ("MessageGroupId", message.groupID.map(JSONValue.string)),
                ("MessageDeduplicationId", message.deduplicationID.map(JSONValue.string)),
            ])
        }
        let body = JSONValue.object([("QueueUrl", queueURL(queue, node)), ("Entries", .array(entries))])
        return call(node, "SendMessageBatch", body).flatMapThrowing { answer in try self.batchCounts(answer) }
    }

    func receive(_ queue: Int, _ partition: UInt32, leader: UInt64, waitMs: Int64) -> EventLoopFuture<[LoadDelivery]> {
        let node = self.node(leader, partition)
        let body = JSONValue.object([
            ("QueueUrl", queueURL(queue, node)),
            ("MaxNumberOfMessages", .int(QueueLimits.maxReceiveMessages)),
            // SQS waits in whole seconds.
            ("WaitTimeSeconds", .int(Int((waitMs + 999) / 1_000))),
        ])
        return call(node, "ReceiveMessage", body).flatMapThrowing { answer in try self.deliveries(answer) }
    }

    func delete(
        _ queue: Int,
        _ partition: UInt32,
        leader: UInt64,
        _ handles: [LoadHandle]
    )
        -> EventLoopFuture<LoadCounts>
    {
        let node = self.node(leader, partition)
        let entries = handles.enumerated().compactMap { index, handle -> JSONValue? in
            guard case .sqs(let text) = handle else { return nil }
            return .object([("Id", .string(String(index))), ("ReceiptHandle", .string(text))])
        }
        let body = JSONValue.object([("QueueUrl", queueURL(queue, node)), ("Entries", .array(entries))])
        return call(node, "DeleteMessageBatch", body).flatMapThrowing { answer in try self.batchCounts(answer) }
    }

    /// From the main thread, at the end of a run.
    func close() {
        try? loop.submit {
            for connection in self.pools.values.joined() { connection.channel?.close(promise: nil) }
        }.wait()
    }

    // MARK: HTTP

    private func node(_ leader: UInt64, _ partition: UInt32) -> UInt64 {
        addresses[leader] != nil ? leader : nodeIDs[Int(partition) % nodeIDs.count]
    }

    private func queueURL(_ queue: Int, _ node: UInt64) -> JSONValue {
        let address = addresses[node]!
        return .string("http://\(address.host):\(address.port)\(paths[queue])")
    }

    /// One signed JSON request; the answer's body when the status is 200, else a `LoadFailure` with AWS's code.
    private func call(_ node: UInt64, _ operation: String, _ json: JSONValue) -> EventLoopFuture<ByteBuffer> {
        loop.assertInEventLoop()
        let address = addresses[node]!
        var writer = JSONWriter()
        writer.write(json)
        let body = writer.bytes
        var headers = [
            ("Host", "\(address.host):\(address.port)"),
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", "AmazonSQS.\(operation)"),
        ]
        headers += signer.sign(method: "POST", path: "/", headers: headers, body: body, nowSeconds: Int64(time(nil)))
        headers.append(("Content-Length", String(body.count)))
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/", headers: HTTPHeaders(headers))
        return connection(to: node).flatMap { connection in
            connection.request(head, ByteBuffer(bytes: body), timeout: .seconds(10))
        }.flatMapThrowing { status, answer in
            guard status == .ok else { throw self.failure(status, answer) }
            return answer
        }
    }

    /// An idle connection to `node`, a new one while there are fewer than the limit, else the least busy.
    private func connection(to node: UInt64) -> EventLoopFuture<HTTPConnection> {
        var pool = pools[node, default: []]
        pool.removeAll { $0.closed }
        defer { pools[node] = pool }
        if let idle = pool.first(where: { $0.pending == 0 && $0.channel != nil }) {
            return loop.makeSucceededFuture(idle)
        }
        if pool.count >= Self.maxConnectionsPerNode, let least = pool.min(by: { $0.pending < $1.pending }) {
            return least.ready
        }
        let address = addresses[node]!
        let connection = HTTPConnection(loop: loop, host: address.host, port: address.port)
        pool.append(connection)
        return connection.ready
    }

    /// AWS's error code from a JSON error answer (`__type` is `com.amazonaws.sqs#Code` or `AWS.SimpleQueueService.Code`).
    private func failure(_ status: HTTPResponseStatus, _ answer: ByteBuffer) -> LoadFailure {
        let error = try? decoder.decode(ErrorAnswer.self, from: Data(answer.readableBytesView))
        let type = error?.type ?? "HTTP \(status.code)"
        let code = String(type.split(separator: "#").last ?? Substring(type))
        let retriable = status.code >= 500 || code.contains("Throttl") || code.contains("Unavailable")
        // The failures table counts by code; a refusal that ends the run says why.
        return LoadFailure(cause: retriable ? code : "\(code): \(error?.message ?? "")", permanent: !retriable)
    }

    // MARK: JSON

    private struct QueueURLAnswer: Decodable {
        var queueURL: String
        enum CodingKeys: String, CodingKey { case queueURL = "QueueUrl" }
    }

    /// A SendMessageBatch or DeleteMessageBatch answer: how many entries succeeded and failed.
    private func batchCounts(_ answer: ByteBuffer) throws -> LoadCounts {
        guard case .object(let members)? = JSONParser.parse(Array(answer.readableBytesView)) else {
            throw LoadFailure(cause: "undecodable answer", permanent: true)
        }
        func count(_ name: String) -> Int {
            if case .array(let items)? = members.first(where: { $0.key == name })?.value { items.count } else { 0 }
        }
        return LoadCounts(done: count("Successful"), refused: count("Failed"))
    }

    /// A ReceiveMessage answer's messages: each body's send time and receipt handle.
    private func deliveries(_ answer: ByteBuffer) throws -> [LoadDelivery] {
        guard case .object(let members)? = JSONParser.parse(Array(answer.readableBytesView)) else {
            throw LoadFailure(cause: "undecodable answer", permanent: true)
        }
        guard case .array(let messages)? = members.first(where: { $0.key == "Messages" })?.value else { return [] }
        return try messages.map { message in
            guard case .object(let fields) = message,
                case .string(let body)? = fields.first(where: { $0.key == "Body" })?.value,
                case .string(let handle)? = fields.first(where: { $0.key == "ReceiptHandle" })?.value
            else { throw LoadFailure(cause: "undecodable answer", permanent: true) }
            return LoadDelivery(sentAtNs: LoadBody.sentAt(body.utf8), handle: .sqs(handle))
        }
    }

    private struct ErrorAnswer: Decodable {
        var type: String?
        var message: String?
        enum CodingKeys: String, CodingKey {
            case type = "__type"
            case message
        }
    }

}

/// One keep-alive HTTP/1.1 connection: requests are written as they come (pipelined) and answered in order.
/// Loop-confined.
final class HTTPConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let loop: any EventLoop
    /// Succeeds with this connection once it is connected.
    let ready: EventLoopFuture<HTTPConnection>
    private(set) var channel: (any Channel)?
    private(set) var closed = false
    private var waiting = CircularBuffer<EventLoopPromise<(HTTPResponseStatus, ByteBuffer)>>()
    private var status = HTTPResponseStatus.ok
    private var body = ByteBuffer()

    var pending: Int { waiting.count }

    init(loop: any EventLoop, host: String, port: Int) {
        self.loop = loop
        let promise = loop.makePromise(of: HTTPConnection.self)
        ready = promise.futureResult
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(1))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(self)
                }
            }
        bootstrap.connect(host: host, port: port).whenComplete { [self] result in
            switch result {
            case .success(let channel):
                self.channel = channel
                promise.succeed(self)
            case .failure:
                closed = true
                promise.fail(LoadFailure(cause: "no connection"))
            }
        }
    }

    func request(
        _ head: HTTPRequestHead,
        _ body: ByteBuffer,
        timeout: TimeAmount
    ) -> EventLoopFuture<(HTTPResponseStatus, ByteBuffer)> {
        guard let channel, !closed else { return loop.makeFailedFuture(LoadFailure(cause: "no connection")) }
        let promise = loop.makePromise(of: (HTTPResponseStatus, ByteBuffer).self)
        waiting.append(promise)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        // An answer that does not come closes the connection, which fails everything waiting on it.
        let timer = loop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            waiting.popFirst()?.succeed((status, body))
            body = ByteBuffer()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        while let promise = waiting.popFirst() { promise.fail(LoadFailure(cause: "no answer")) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
