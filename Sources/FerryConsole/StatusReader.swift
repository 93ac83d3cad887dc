import FerryModel
import FerryNet
import FerryRouter
import FerrySQS
import FerryWire
import NIOCore

/// Reads the status documents through the node's partition router: the cluster's metadata, every node's
/// `nodeStatus` and `nodeHealth` (asked directly, each with a timeout, so one node down does not hold the page),
/// and each queue's statistics from its partitions' leaders.
package final class StatusReader: Sendable {
    let router: PartitionRouter
    let nodeID: UInt64
    let timeoutMs: Int64
    /// `arn:aws:sqs:<region>:<account>:` (task handles name their source queue's ARN).
    let arnPrefix: String
    /// Queues whose figures one `queues` document reads (each a call per partition); the rest are listed with
    /// their metadata only.
    static let maxQueuesWithFigures = 200

    init(router: PartitionRouter, nodeID: UInt64, timeoutMs: Int64, region: String, account: String) {
        self.router = router
        arnPrefix = "arn:aws:sqs:\(region):\(account):"
        self.nodeID = nodeID
        self.timeoutMs = timeoutMs
    }

    // MARK: Cluster

    func cluster() async throws(StatusFailure) -> StatusReports.Cluster {
        let description = try await Self.mapped { () async throws(FerryClientError) in try await router.describe() }
        var answers: [UInt64: (NodeStatus?, NodeHealth?)] = [:]
        await withTaskGroup(of: (UInt64, NodeStatus?, NodeHealth?).self) { tasks in
            for node in description.nodes {
                tasks.addTask { [self] in
                    async let status = ask(node.id, .nodeStatus) { if case .nodeStatus(let s) = $0 { s } else { nil } }
                    async let health = ask(node.id, .nodeHealth) { if case .nodeHealth(let h) = $0 { h } else { nil } }
                    return (node.id, await status, await health)
                }
            }
            for await (id, status, health) in tasks { answers[id] = (status, health) }
        }
        let queueNames = Dictionary(description.queues.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        var groupPlaces: [UInt64: (queue: String, partition: UInt32)] = [:]
        for partition in description.partitions {
            groupPlaces[partition.groupID] = (queueNames[partition.queueID] ?? "", partition.partition)
        }
        // Each group as its leader reports it (only the leader knows its followers' progress), else as any
        // replica does.
        var groups: [UInt64: GroupStatus] = [:]
        for node in description.nodes {
            for group in answers[node.id]?.0?.groups ?? [] {
                if group.leader == node.id || groups[group.groupID] == nil { groups[group.groupID] = group }
            }
        }
        let nodes = description.nodes.map { node -> StatusReports.Node in
            let (status, health) = answers[node.id] ?? (nil, nil)
            let held = status?.groups ?? []
            let led = held.filter { $0.leader == node.id }.count
            var state = "ok"
            if status == nil {
                state = "unreachable"
            } else if let full = status?.storageFull, !full.isEmpty {
                state = "storage full: \(full)"
            } else if health?.slowDisk == true {
                state = "slow disk"
            }
            return StatusReports.Node(
                id: node.id,
                address: node.host,
                httpPort: node.httpPort,
                reachable: status != nil,
                health: state,
                fsync: status?.fsync ?? "",
                leaderOf: led,
                followerOf: held.count - led,
                repairing: held.filter(\.repairing).count,
                fsyncMedianMicros: health?.fsyncMedianMicros ?? 0,
                fsyncMaxMicros: health?.fsyncMaxMicros ?? 0,
                diskTotalBytes: health?.diskTotalBytes ?? 0,
                diskFreeBytes: health?.diskFreeBytes ?? 0,
                tlsNotAfter: status?.tlsNotAfter ?? 0
            )
        }
        let partitions = groups.keys.sorted().map { id -> StatusReports.Partition in
            let group = groups[id]!
            let place = groupPlaces[id] ?? (group.queue, group.partition)
            return StatusReports.Partition(
                queue: place.queue,
                partition: place.partition,
                group: id,
                replicas: group.voters.isEmpty ? [] : group.voters.sorted(),
                leader: group.leader,
                term: group.term,
                commitIndex: group.commitIndex,
                appliedIndex: group.appliedIndex,
                followers: group.followers.map { follower in
                    StatusReports.Follower(
                        node: follower.node,
                        matchIndex: follower.matchIndex,
                        lag: group.commitIndex > follower.matchIndex ? group.commitIndex - follower.matchIndex : 0
                    )
                }
            )
        }
        return StatusReports.Cluster(
            clusterID: description.clusterID,
            servedBy: nodeID,
            nodes: nodes,
            partitions: partitions,
            leadershipChanges: Self.timeline(answers.compactMap { $0.value.1 }, places: groupPlaces)
        )
    }

    /// The nodes' leadership changes as one timeline, newest first: a change several nodes saw is shown once, at
    /// the earliest time one of them saw it.
    package static func timeline(
        _ healths: [NodeHealth],
        places: [UInt64: (queue: String, partition: UInt32)]
    ) -> [StatusReports.LeadershipChange] {
        var earliest: [String: StatusReports.LeadershipChange] = [:]
        for health in healths {
            for change in health.leadershipChanges {
                let key = "\(change.groupID)/\(change.term)/\(change.leader)"
                if let seen = earliest[key], seen.atMs <= change.atMs { continue }
                let place = places[change.groupID] ?? ("", 0)
                earliest[key] = StatusReports.LeadershipChange(
                    group: change.groupID,
                    queue: place.queue,
                    partition: place.partition,
                    term: change.term,
                    leader: change.leader,
                    atMs: change.atMs,
                    reportedBy: health.nodeID
                )
            }
        }
        return earliest.values.sorted { ($0.atMs, $0.group, $0.term) > ($1.atMs, $1.group, $1.term) }
    }

    /// One node's answer to `request`, or nil when it did not give one in time.
    private func ask<T>(_ node: UInt64, _ request: ClientRequest, _ pick: (ClientResponse) -> T?) async -> T? {
        guard case .success(let response) = await router.transport.call(request, at: .node(node), timeoutMs: timeoutMs)
        else { return nil }
        return pick(response)
    }

    // MARK: Queues

    func queues() async throws(StatusFailure) -> [StatusReports.Queue] {
        let list = try await Self.mapped { () async throws(FerryClientError) in try await router.listQueues() }
        let sources = Self.deadLetterSources(list)
        let sorted = list.sorted { $0.name < $1.name }
        var figures: [String: StatusReports.Queue] = [:]
        await withTaskGroup(of: StatusReports.Queue.self) { tasks in
            for queue in sorted.prefix(Self.maxQueuesWithFigures) {
                tasks.addTask { [self] in await report(queue, sources: sources[queue.name] ?? []) }
            }
            for await report in tasks { figures[report.name] = report }
        }
        return sorted.map { figures[$0.name] ?? Self.report($0, sources: sources[$0.name] ?? []) }
    }

    func queue(_ name: String) async throws(StatusFailure) -> StatusReports.QueueDetail {
        let list = try await Self.mapped { () async throws(FerryClientError) in try await router.listQueues() }
        guard let queue = list.first(where: { $0.name == name }) else {
            throw StatusFailure(404, "QueueDoesNotExist", "no queue named \(name)")
        }
        let report = await report(queue, sources: Self.deadLetterSources(list)[name] ?? [])
        let tasks = (try? await router.listMoveTasks(name)) ?? []
        // One task runs on every partition under one id: the queue's view sums them.
        var byID: [String: StatusReports.MoveTask] = [:]
        var order: [String] = []
        for status in tasks.joined() {
            if var task = byID[status.taskID] {
                task.messagesToMove += status.messagesToMove
                task.messagesMoved += status.messagesMoved
                task.messagesSkipped += status.messagesSkipped
                if status.state == .running { task.status = "RUNNING" }
                byID[status.taskID] = task
                continue
            }
            order.append(status.taskID)
            byID[status.taskID] = StatusReports.MoveTask(
                taskHandle: MoveTaskHandle.make(taskID: status.taskID, sourceARN: arnPrefix + name),
                status: Self.state(status.state),
                destination: status.destination,
                startedAtMs: status.startedAtMs,
                messagesToMove: status.messagesToMove,
                messagesMoved: status.messagesMoved,
                messagesSkipped: status.messagesSkipped
            )
        }
        let moveTasks = order.compactMap { byID[$0] }.sorted { $0.startedAtMs > $1.startedAtMs }
        return StatusReports.QueueDetail(queue: report, moveTasks: moveTasks, history: [])
    }

    /// Messages shown by one peek.
    static let peekMessages = 20
    /// Bytes of a body a peek shows.
    static let peekBodyBytes = 4_096

    func peek(_ name: String) async throws(StatusFailure) -> StatusReports.Peek {
        let queue = try await Self.mapped { () async throws(FerryClientError) in try await router.queue(name) }
        let messages = try await Self.mapped { () async throws(FerryClientError) in
            try await router.peek(name, maxMessages: Self.peekMessages)
        }
        return StatusReports.Peek(
            messages: messages.map { message in
                StatusReports.PeekedMessage(
                    messageId: message.position.messageID(queueID: queue.id),
                    groupId: message.groupID,
                    sentAtMs: message.sentAtMs,
                    receiveCount: message.receiveCount,
                    inFlight: message.visibleAgainAtMs != 0,
                    body: String(
                        decoding: message.body.readableBytesView.prefix(Self.peekBodyBytes),
                        as: UTF8.self
                    )
                )
            }
        )
    }

    func groups(_ name: String) async throws(StatusFailure) -> StatusReports.Groups {
        let groups = try await Self.mapped { () async throws(FerryClientError) in
            try await router.groupBacklog(name, maxGroups: Self.peekMessages)
        }
        let now = ConsoleAPI.wallMs()
        return StatusReports.Groups(
            groups: groups.map { group in
                StatusReports.Group(
                    groupId: group.groupID,
                    messages: group.messages,
                    inFlight: group.inFlight,
                    oldestAgeSeconds: max(0, now - group.oldestSentAtMs) / 1_000
                )
            }
        )
    }

    static func state(_ state: MoveTaskStatus.State) -> String {
        switch state {
        case .running: return "RUNNING"
        case .completed: return "COMPLETED"
        case .cancelled: return "CANCELLED"
        }
    }

    /// Dead-letter queue → the queues whose redrive policy names it.
    static func deadLetterSources(_ queues: [QueueDescription]) -> [String: [String]] {
        var sources: [String: [String]] = [:]
        for queue in queues.sorted(by: { $0.name < $1.name }) {
            if let target = queue.attributes.redrivePolicy?.deadLetterQueue {
                sources[target, default: []].append(queue.name)
            }
        }
        return sources
    }

    private func report(_ queue: QueueDescription, sources: [String]) async -> StatusReports.Queue {
        var report = Self.report(queue, sources: sources)
        do {
            let (statistics, _) = try await router.statistics(queue.name)
            report.visible = statistics.visible
            report.inFlight = statistics.inFlight
            report.delayed = statistics.delayed
            // Against this node's wall clock: a partition's own time moves only with its entries, so an idle
            // queue's oldest message would not age.
            report.oldestAgeSeconds = statistics.oldestSentAtMs.map { max(0, ConsoleAPI.wallMs() - $0) / 1_000 } ?? 0
            report.groups = statistics.groups
            report.groupsWithInFlight = statistics.groupsWithInFlight
            report.sent = statistics.sent
            report.received = statistics.received
            report.deleted = statistics.deleted
            report.deadLettered = statistics.deadLettered
            report.error = nil
        } catch {
            report.error = error.description
        }
        return report
    }

    /// What the metadata alone says of a queue (figures zero, `error` set until they are read).
    package static func report(_ queue: QueueDescription, sources: [String]) -> StatusReports.Queue {
        StatusReports.Queue(
            name: queue.name,
            fifo: queue.name.hasSuffix(".fifo"),
            partitions: queue.partitions,
            visible: 0,
            inFlight: 0,
            delayed: 0,
            oldestAgeSeconds: 0,
            groups: 0,
            groupsWithInFlight: 0,
            sent: 0,
            received: 0,
            deleted: 0,
            deadLettered: 0,
            deadLetterQueue: queue.attributes.redrivePolicy?.deadLetterQueue,
            maxReceiveCount: queue.attributes.redrivePolicy?.maxReceiveCount,
            deadLetterSources: sources,
            error: "figures not read (at most \(maxQueuesWithFigures) queues per document)"
        )
    }

    /// A router failure as the status API's: a queue that does not exist is 404, anything else 503.
    static func mapped<T>(_ body: () async throws(FerryClientError) -> T) async throws(StatusFailure) -> T {
        do {
            return try await body()
        } catch {
            if case .server(let refusal) = error, refusal.code == .queueNotFound {
                throw StatusFailure(404, "QueueDoesNotExist", refusal.message)
            }
            throw StatusFailure(503, "Unavailable", error.description)
        }
    }
}
