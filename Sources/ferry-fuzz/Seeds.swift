import FerryModel
import FerryRaft
import FerryWire
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// The seed corpus (Tests/fuzz/corpus): well-formed inputs of every target, made with the encoders, so the
/// fuzzer starts from the inside of each format.
enum Seeds {
    static func write(to directory: String) {
        for target in FuzzTarget.allCases {
            let folder = "\(directory)/\(target.rawValue)"
            mkdir(directory, 0o755)
            mkdir(folder, 0o755)
            for (name, bytes) in seeds(target) { save(bytes, to: "\(folder)/\(name)") }
        }
    }

    static func seeds(_ target: FuzzTarget) -> [(String, [UInt8])] {
        switch target {
        case .peer: return peer()
        case .client: return client()
        case .json: return json()
        case .query: return query()
        case .sigv4: return sigV4()
        }
    }

    static func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

    static func peer() -> [(String, [UInt8])] {
        var payload = ByteBuffer()
        payload.writeString("entry")
        let bodies: [(String, RaftMessage.Body)] = [
            ("prevote", .preVote(lastIndex: 7, lastTerm: 2)),
            ("vote", .requestVote(lastIndex: 7, lastTerm: 2, leadershipTransfer: false)),
            ("vote-response", .requestVoteResponse(granted: true)),
            (
                "append",
                .append(
                    AppendRequest(
                        prevIndex: 6,
                        prevTerm: 2,
                        entries: [
                            Entry(index: 7, term: 2, payload: payload), Entry(index: 8, term: 2, payload: payload),
                        ],
                        commit: 6
                    )
                )
            ),
            ("append-response", .appendResponse(AppendResponse(index: 8, reject: false))),
            ("heartbeat", .heartbeat(commit: 8)),
            ("heartbeat-response", .heartbeatResponse),
            ("timeout-now", .timeoutNow),
        ]
        var seeds = bodies.map { name, body in
            (name, bytes(PeerFrame(groupID: 3, message: RaftMessage(from: 1, to: 2, term: 2, body: body)).encoded()))
        }
        seeds.append(("alive", bytes(PeerControl.alive(from: 1, wallMs: 1_800_000_000_000).encoded())))
        seeds.append(("quiesce", bytes(PeerControl.quiesce(groupID: 3, from: 1, term: 2, commit: 8).encoded())))
        seeds.append(
            ("forward", bytes(PeerControl.forward(from: 1, ClientFrame.request(9, .listQueues(prefix: "a"))).encoded()))
        )
        return seeds
    }

    static func client() -> [(String, [UInt8])] {
        var body = ByteBuffer()
        body.writeString("hello, ferry")
        let requests: [(String, ClientRequest)] = [
            ("hello", .hello(client: "fuzz")),
            ("describe", .describeCluster),
            ("create", .createQueue(name: "orders.fifo", partitions: 4, attributes: QueueAttributes())),
            ("list", .listQueues(prefix: "or")),
            (
                "send",
                .send(
                    queue: "orders.fifo",
                    partition: 1,
                    requests: [SendRequest(body: body, groupID: "customer-1", deduplicationID: "d-1")]
                )
            ),
            (
                "receive",
                .receive(queue: "orders.fifo", partition: 1, request: ReceiveRequest(maxMessages: 10), waitMs: 20_000)
            ),
            ("status", .nodeStatus),
            ("health", .nodeHealth),
            ("peek", .peekMessages(queue: "orders.fifo", partition: 0, maxMessages: 20)),
            ("groups", .groupBacklog(queue: "orders.fifo", partition: 0, maxGroups: 20)),
            ("delete-queue", .deleteQueue(name: "orders.fifo")),
            (
                "create-key",
                .changeKeys(
                    .create(id: "AKFRKEY0000000000001", secret: "secret-0123456789ab", account: "", admin: false)
                )
            ),
            ("list-keys", .listKeys),
        ]
        var seeds = requests.map { name, request in (name, bytes(ClientFrame.request(1, request).encoded())) }
        seeds.append(("error", bytes(ClientFrame.response(1, .error(WireError(.notLeader, "leader is 2"))).encoded())))
        seeds.append(
            (
                "status-response",
                bytes(
                    ClientFrame.response(2, .nodeStatus(NodeStatus(nodeID: 1, fsync: "always", groups: []))).encoded()
                )
            )
        )
        seeds.append(
            (
                "health-response",
                bytes(
                    ClientFrame.response(
                        3,
                        .nodeHealth(
                            NodeHealth(
                                nodeID: 2,
                                fsyncMedianMicros: 480,
                                fsyncMaxMicros: 3_100,
                                diskTotalBytes: 1 << 36,
                                diskFreeBytes: 1 << 34,
                                leadershipChanges: [
                                    NodeHealth.LeadershipChange(groupID: 5, term: 3, leader: 2, atMs: 1_700_000_000_000)
                                ]
                            )
                        )
                    ).encoded()
                )
            )
        )
        return seeds
    }

    static func json() -> [(String, [UInt8])] {
        let bodies: [(String, String)] = [
            (
                "SendMessage",
                #"{"QueueUrl":"http://127.0.0.1:7300/000000000000/orders.fifo","MessageBody":"hi","MessageGroupId":"g","MessageDeduplicationId":"d","MessageAttributes":{"k":{"DataType":"String","StringValue":"v"}}}"#
            ),
            (
                "SendMessageBatch",
                #"{"QueueUrl":"http://h/000000000000/q.fifo","Entries":[{"Id":"1","MessageBody":"a","MessageGroupId":"g"},{"Id":"2","MessageBody":"b","MessageGroupId":"g","DelaySeconds":0}]}"#
            ),
            (
                "ReceiveMessage",
                #"{"QueueUrl":"http://h/000000000000/q","MaxNumberOfMessages":10,"WaitTimeSeconds":0,"VisibilityTimeout":30,"MessageSystemAttributeNames":["All"],"ReceiveRequestAttemptId":"r"}"#
            ),
            (
                "CreateQueue",
                #"{"QueueName":"q.fifo","Attributes":{"FifoQueue":"true","ContentBasedDeduplication":"true","RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:dlq.fifo\",\"maxReceiveCount\":\"3\"}"},"tags":{"team":"a"}}"#
            ),
            (
                "SetQueueAttributes",
                #"{"QueueUrl":"http://h/000000000000/q","Attributes":{"Policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"sqs:*\",\"Resource\":\"*\"}]}"}}"#
            ),
            (
                "DeleteMessageBatch",
                #"{"QueueUrl":"http://h/000000000000/q","Entries":[{"Id":"1","ReceiptHandle":"AQEB"}]}"#
            ),
            (
                "ChangeMessageVisibility",
                #"{"QueueUrl":"http://h/000000000000/q","ReceiptHandle":"x","VisibilityTimeout":10}"#
            ),
            (
                "StartMessageMoveTask",
                #"{"SourceArn":"arn:aws:sqs:us-east-1:000000000000:dlq","MaxNumberOfMessagesPerSecond":10}"#
            ),
            (
                "AddPermission",
                #"{"QueueUrl":"http://h/000000000000/q","Label":"l","AWSAccountIds":["111122223333"],"Actions":["SendMessage"]}"#
            ),
        ]
        let operations = FuzzTarget.operations
        return bodies.map { operation, body in
            (operation, [UInt8(operations.firstIndex(of: operation)!)] + Array(body.utf8))
        }
    }

    static func query() -> [(String, [UInt8])] {
        [
            (
                "send",
                "/000000000000/orders.fifo\nAction=SendMessage&MessageBody=hi&MessageGroupId=g&MessageDeduplicationId=d&MessageAttribute.1.Name=k&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v"
            ),
            (
                "create",
                "Action=CreateQueue&QueueName=q.fifo&Attribute.1.Name=FifoQueue&Attribute.1.Value=true&Tag.1.Key=a&Tag.1.Value=b&Version=2012-11-05"
            ),
            (
                "receive",
                "Action=ReceiveMessage&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&MaxNumberOfMessages=10&AttributeName.1=All"
            ),
            (
                "batch",
                "Action=SendMessageBatch&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x"
            ),
            ("list", "Action=ListQueues&QueueNamePrefix=o&MaxResults=5"),
        ].map { ($0.0, Array($0.1.utf8)) }
    }

    static func sigV4() -> [(String, [UInt8])] {
        let authorization =
            "AWS4-HMAC-SHA256 Credential=AKIAFUZZFUZZFUZZ0001/20270115/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        return [
            ("post", "\(authorization)\n20270115T080000Z\n/\n\nAction=ListQueues"),
            ("query", "\(authorization)\n20270115T080000Z\n/000000000000/q\nAction=GetQueueUrl&QueueName=q\n"),
        ].map { ($0.0, Array($0.1.utf8)) }
    }

    static func save(_ bytes: [UInt8], to path: String) {
        guard let file = fopen(path, "wb") else { fail("cannot write \(path)") }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }

    static func read(_ path: String) -> [UInt8] {
        guard let file = fopen(path, "rb") else { fail("cannot read \(path)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }

    /// `path` itself when it is a file, else the files in it (sorted).
    static func files(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [path] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            if !name.hasPrefix(".") { names.append("\(path)/\(name)") }
        }
        return names.sorted()
    }
}
