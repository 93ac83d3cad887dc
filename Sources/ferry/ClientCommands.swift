import ArgumentParser
import FerryClient
import FerryModel
import FerryTLS
import FerryWire
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// `--endpoints` or `FERRY_ENDPOINTS`: where the client commands find the cluster; `--tls-ca` or
/// `FERRY_TLS_CA` when its client ports use TLS.
struct EndpointOptions: ParsableArguments {
    @Option(help: "Comma-separated host:port client addresses of some nodes (default: $FERRY_ENDPOINTS).")
    var endpoints: String?
    @OptionGroup var tls: TLSOptions

    func client() throws -> FerryClient {
        let text = endpoints ?? getenv("FERRY_ENDPOINTS").map { String(cString: $0) } ?? ""
        let list = text.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
        guard !list.isEmpty else { throw ValidationError("give --endpoints host:port,… or set FERRY_ENDPOINTS") }
        return try FerryClient(endpoints: list, tls: tls.client(), credentials: Self.credentials())
    }

    /// The access key, as aws-cli finds one: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, else the profile
    /// `FERRY_PROFILE` or `AWS_PROFILE` (default `default`) of `AWS_SHARED_CREDENTIALS_FILE` (default
    /// `~/.aws/credentials`); nil when neither has one (a port without authentication needs none).
    static func credentials() -> Credentials? {
        let environment = { (name: String) in getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        if let id = environment("AWS_ACCESS_KEY_ID"), let secret = environment("AWS_SECRET_ACCESS_KEY") {
            return Credentials(keyID: id, secret: secret)
        }
        let profile = environment("FERRY_PROFILE") ?? environment("AWS_PROFILE") ?? "default"
        let path =
            environment("AWS_SHARED_CREDENTIALS_FILE") ?? environment("HOME").map { "\($0)/.aws/credentials" } ?? ""
        guard let text = NodeCommand.read(path) else { return nil }
        var section = ""
        var values: [String: String] = [:]
        for raw in text.split(separator: "\n") {
            let line = String(raw).trimmingSpaces
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingSpaces
            } else if section == profile, let equals = line.firstIndex(of: "=") {
                values[String(line[..<equals]).trimmingSpaces] =
                    String(line[line.index(after: equals)...]).trimmingSpaces
            }
        }
        guard let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else { return nil }
        return Credentials(keyID: id, secret: secret)
    }
}

/// TLS to the cluster's client ports: the CA their certificates chain to (`--tls-ca`, `FERRY_TLS_CA`), and a
/// client certificate where one is wanted (`--tls-cert`/`--tls-key`, `FERRY_TLS_CERT`/`FERRY_TLS_KEY`).
struct TLSOptions: ParsableArguments {
    @Option(help: "CA certificate (PEM) of a cluster with TLS (default: $FERRY_TLS_CA; none: plain connections).")
    var tlsCA: String?
    @Option(help: "Client certificate (PEM), if the cluster asks for one (default: $FERRY_TLS_CERT).")
    var tlsCert: String?
    @Option(help: "Client certificate's key (PEM) (default: $FERRY_TLS_KEY).")
    var tlsKey: String?

    /// nil when no CA is given: plain connections.
    func client(defaultCA: String? = nil) throws -> ClientTLS? {
        let environment = { (name: String) in getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        guard let ca = tlsCA ?? environment("FERRY_TLS_CA") ?? defaultCA else { return nil }
        do {
            return try ClientTLS(
                caFile: ca,
                certificateFile: tlsCert ?? environment("FERRY_TLS_CERT"),
                keyFile: tlsKey ?? environment("FERRY_TLS_KEY")
            )
        } catch {
            throw ValidationError("TLS: \(error)")
        }
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// Runs a client command; a client failure is reported the way scripts expect: one line on stderr, exit 1.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as FerryClientError {
        let line = "ferry: \(error)\n"
        line.withCString { _ = write(2, $0, strlen($0)) }
        throw ExitCode(1)
    }
}

struct QueueCommandGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Create, list, inspect, change, purge and delete queues.",
        subcommands: [Create.self, List.self, Attributes.self, Set.self, Delete.self, Purge.self]
    )

    /// Attribute flags shared by `create` and `set`.
    struct AttributeOptions: ParsableArguments {
        @Option(help: "Visibility timeout in seconds (0…43200; default 30).")
        var visibility: Int?
        @Option(help: "Retention in seconds (60…1209600; default 345600).")
        var retention: Int?
        @Option(help: "Delivery delay in seconds (0…900; default 0).")
        var delay: Int?
        @Option(help: "FIFO: deduplication window in seconds (1…86400; default 300).")
        var dedupWindow: Int?
        @Option(help: "Dead-letter queue name (with --max-receive-count).")
        var deadLetterQueue: String?
        @Option(help: "Receives before a message moves to the dead-letter queue (1…1000).")
        var maxReceiveCount: Int?

        func apply(to attributes: inout QueueAttributes) {
            if let visibility { attributes.visibilityTimeoutSeconds = visibility }
            if let retention { attributes.retentionSeconds = retention }
            if let delay { attributes.delaySeconds = delay }
            if let dedupWindow { attributes.dedupWindowMs = Int64(dedupWindow) * 1_000 }
            if let deadLetterQueue {
                attributes.redrivePolicy = RedrivePolicy(
                    deadLetterQueue: deadLetterQueue,
                    maxReceiveCount: maxReceiveCount ?? 5
                )
            }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a queue (FIFO when the name ends in .fifo).")
        @OptionGroup var endpoints: EndpointOptions
        @Argument(help: "Queue name: 1–80 of [A-Za-z0-9_-], FIFO names end in .fifo.")
        var name: String
        @Option(help: "Partitions (1…256; default 4); fixed for the queue's life.")
        var partitions: UInt32 = 4
        @OptionGroup var attributes: AttributeOptions

        func run() throws {
            var values = QueueAttributes()
            attributes.apply(to: &values)
            try reportingFailures {
                let queue = try endpoints.client().createQueue(name, partitions: partitions, attributes: values)
                print("\(queue.name)\tid \(queue.id)\t\(queue.partitions) partitions")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List queues.")
        @OptionGroup var endpoints: EndpointOptions
        @Option(help: "Only names starting with this.")
        var prefix: String = ""

        func run() throws {
            try reportingFailures {
                for queue in try endpoints.client().listQueues(prefix: prefix) {
                    print("\(queue.name)\t\(queue.partitions) partitions")
                }
            }
        }
    }

    struct Attributes: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a queue's attributes and statistics.")
        @OptionGroup var endpoints: EndpointOptions
        @Argument var name: String

        func run() throws {
            try reportingFailures {
                let queues = try endpoints.client().listQueues(prefix: name)
                guard let queue = queues.first(where: { $0.name == name }) else {
                    throw FerryClientError.server(WireError(.queueNotFound, "queue \(name) does not exist"))
                }
                let a = queue.attributes
                print("Name\t\(queue.name)")
                print("Partitions\t\(queue.partitions)")
                print("VisibilityTimeout\t\(a.visibilityTimeoutSeconds)")
                print("MessageRetentionPeriod\t\(a.retentionSeconds)")
                print("DelaySeconds\t\(a.delaySeconds)")
                print("MaximumMessageSize\t\(a.maximumMessageBytes)")
                print("DeduplicationWindowSeconds\t\(a.dedupWindowMs / 1_000)")
                if let redrive = a.redrivePolicy {
                    print("RedrivePolicy\t\(redrive.deadLetterQueue) after \(redrive.maxReceiveCount) receives")
                }
                let (statistics, oldestAgeMs) = try endpoints.client().statistics(name)
                print("ApproximateNumberOfMessages\t\(statistics.visible)")
                print("ApproximateNumberOfMessagesNotVisible\t\(statistics.inFlight)")
                print("ApproximateNumberOfMessagesDelayed\t\(statistics.delayed)")
                print("ApproximateAgeOfOldestMessage\t\(oldestAgeMs / 1_000)")
                print("GroupsWithMessagesInFlight\t\(statistics.groupsWithInFlight)")
                print("DeadLetterOutbox\t\(statistics.outbox)")
                print("MovesExhausted\t\(statistics.movesExhausted)")
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a queue's attributes.")
        @OptionGroup var endpoints: EndpointOptions
        @Argument var name: String
        @OptionGroup var attributes: AttributeOptions

        func run() throws {
            try reportingFailures {
                let client = try endpoints.client()
                guard var values = try client.listQueues(prefix: name).first(where: { $0.name == name })?.attributes
                else {
                    throw FerryClientError.server(WireError(.queueNotFound, "queue \(name) does not exist"))
                }
                attributes.apply(to: &values)
                try client.setAttributes(name, values)
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a queue and its messages.")
        @OptionGroup var endpoints: EndpointOptions
        @Argument var name: String

        func run() throws {
            try reportingFailures {
                try endpoints.client().deleteQueue(name)
            }
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every message of a queue.")
        @OptionGroup var endpoints: EndpointOptions
        @Argument var name: String

        func run() throws {
            try reportingFailures {
                try endpoints.client().purgeQueue(name)
            }
        }
    }
}

struct SendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send messages: the arguments, or each line of standard input.",
        discussion: """
            On a FIFO queue every message needs a group (--group) and a deduplication id: --dedup-id for a single
            message, else one is generated per message, so a retried `ferry send` of the same invocation is not
            deduplicated across invocations. Prints each message's id and sequence number.
            """
    )
    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "Queue name.")
    var queue: String
    @Argument(help: "Message bodies (default: read lines from standard input).")
    var messages: [String] = []
    @Option(help: "Message group id (required on FIFO queues).")
    var group: String?
    @Option(help: "Deduplication id (FIFO; only with a single message).")
    var dedupID: String?

    func run() throws {
        var bodies = messages
        if bodies.isEmpty {
            while let line = readLine() { bodies.append(line) }
        }
        guard dedupID == nil || bodies.count == 1 else { throw ValidationError("--dedup-id takes a single message") }
        let fifo = QueueName.kind(of: queue) == .fifo
        var seed = UInt64(UInt(bitPattern: time(nil))) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(getpid())
        let requests = bodies.map { text -> SendRequest in
            var body = ByteBuffer()
            body.writeString(text)
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let generated = String(seed, radix: 16)
            return SendRequest(body: body, groupID: group, deduplicationID: fifo ? (dedupID ?? generated) : nil)
        }
        try reportingFailures {
            let client = try endpoints.client()
            let described = try client.listQueues(prefix: queue).first { $0.name == queue }
            guard let described else {
                throw FerryClientError.server(WireError(.queueNotFound, "queue \(queue) does not exist"))
            }
            var failed = false
            for (request, result) in zip(requests, try client.send(queue, requests)) {
                switch result {
                case .success(let outcome):
                    let position = outcome.position
                    let id = position.map { $0.messageID(queueID: described.id) } ?? "(accepted earlier)"
                    let duplicate = { if case .duplicate = outcome { return "\tduplicate" } else { return "" } }()
                    print("\(id)\t\(position?.sequenceNumber ?? 0)\(duplicate)")
                case .failure(let error):
                    failed = true
                    print("error\t\(error)\t\(String(buffer: request.body))")
                }
            }
            if failed { throw ExitCode(1) }
        }
    }
}

struct ReceiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Receive messages; prints the body and, without --delete, the receipt handle."
    )
    @OptionGroup var endpoints: EndpointOptions
    @Argument var queue: String
    @Option(help: "Messages to receive (1…10).")
    var max: Int = 1
    @Option(help: "Long poll: wait up to this many seconds for a message (0…20).")
    var wait: UInt32 = 0
    @Option(help: "Visibility timeout for these deliveries in seconds (default: the queue's).")
    var visibility: Int?
    @Flag(help: "Delete each message after printing it.")
    var delete = false

    func run() throws {
        try reportingFailures {
            let client = try endpoints.client()
            let received = try client.receive(
                queue,
                maxMessages: max,
                waitMs: wait * 1_000,
                visibilityTimeoutSeconds: visibility
            )
            for (partition, delivery) in received {
                let group = delivery.groupID.map { "\t\($0)" } ?? ""
                let handle =
                    "\(partition):\(delivery.position.index):\(delivery.position.slot):\(delivery.fencingToken)"
                print("\(String(buffer: delivery.body))\(group)\(delete ? "" : "\t" + handle)")
            }
            if delete {
                for partition in Swift.Set(received.map(\.partition)).sorted() {
                    let handles = received.filter { $0.partition == partition }.map(\.delivery.handle)
                    _ = try client.delete(queue, partition: partition, handles)
                }
            }
        }
    }
}
