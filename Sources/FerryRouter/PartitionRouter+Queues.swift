import FerryModel
import FerryNet
import FerryWire
import NIOConcurrencyHelpers

/// Queues: create, list, delete, attributes, purge, statistics, and redrives (message move tasks).
extension PartitionRouter {
    // MARK: Queues

    /// Creates a queue (or answers the existing one when its settings are the same).
    public func createQueue(
        _ name: String,
        partitions: UInt32 = 4,
        attributes: QueueAttributes = QueueAttributes()
    ) async throws(FerryClientError) -> QueueDescription {
        // Creating is idempotent (an existing queue with the same settings is answered as created), so an
        // unknown outcome (the metadata leader changed before applying it) is asked again.
        let request = ClientRequest.createQueue(name: name, partitions: partitions, attributes: attributes)
        let end = Self.nowMs() + options.retryDeadlineMs
        var response = try await call(request)
        while case .error(let error) = response, error.code == .timeout, Self.nowMs() < end {
            await Self.pause(ms: 20)
            response = try await call(request)
        }
        let queue = try Self.expect(response) { if case .queue(let q) = $0 { q } else { nil } }
        try await describe()
        return queue
    }

    public func listQueues(prefix: String = "") async throws(FerryClientError) -> [QueueDescription] {
        try Self.expect(try await call(.listQueues(prefix: prefix))) {
            if case .queues(let q) = $0 { q } else { nil }
        }
    }

    /// Records a change to the cluster's nodes or a partition's replicas at the metadata leader (the groups move
    /// their replicas after; `ferry cluster status` shows the progress).
    public func changeCluster(_ change: ClusterChange) async throws(FerryClientError) {
        _ = try Self.expect(try await call(.changeCluster(change))) { if case .done = $0 { () } else { nil } }
        lock.withLock { clusterAtMs = 0 }  // the nodes may have changed: describe again on the next call
    }

    /// Creates, revokes or rotates one of the cluster's access keys; the key as now recorded (no secret).
    public func changeKeys(_ change: KeyChange) async throws(FerryClientError) -> AccessKeyInfo {
        // The metadata leader's `notLeader` hint is followed only to a node the router knows: learn them first
        // (a client given one endpoint knows no other node yet).
        _ = try? await describe()
        return try Self.expect(try await call(.changeKeys(change))) {
            if case .keys(let keys) = $0 { keys.first } else { nil }
        }
    }

    /// The cluster's access keys, without their secrets.
    public func listKeys() async throws(FerryClientError) -> [AccessKeyInfo] {
        try Self.expect(try await call(.listKeys)) { if case .keys(let keys) = $0 { keys } else { nil } }
    }

    public func deleteQueue(_ name: String) async throws(FerryClientError) {
        _ = try Self.expect(try await call(.deleteQueue(name: name))) { if case .done = $0 { () } else { nil } }
        forgetQueues()
    }

    public func setAttributes(_ name: String, _ attributes: QueueAttributes) async throws(FerryClientError) {
        _ = try Self.expect(try await call(.setQueueAttributes(name: name, attributes: attributes))) {
            if case .queue = $0 { () } else { nil }
        }
        forgetQueues()
    }

    public func purgeQueue(_ name: String) async throws(FerryClientError) {
        let queue = try await queue(name)
        for partition in 0..<queue.partitions {
            _ = try Self.expect(
                try await callPartition(queue, partition, .purgeQueue(name: name, partition: partition))
            ) {
                if case .done = $0 { () } else { nil }
            }
        }
    }

    // MARK: Redrive (message move tasks)

    /// Starts a redrive of `queueName` (usually a dead-letter queue) on every partition under one task id:
    /// messages present now move, oldest first, to `destination` or each back to its source queue.
    /// `maxMessagesPerSecond` is the queue's rate, shared among its partitions (each moves at least one a
    /// second). If a partition refuses, the partitions already started are cancelled and the refusal is thrown.
    /// - Returns: each partition's task as it started.
    public func startMoveTask(
        _ queueName: String,
        taskID: String,
        destination: String?,
        maxMessagesPerSecond: Int
    ) async throws(FerryClientError) -> [MoveTaskStatus] {
        let queue = try await queue(queueName)
        let count = Int(queue.partitions)
        var started: [MoveTaskStatus] = []
        for partition in 0..<queue.partitions {
            let share = maxMessagesPerSecond / count + (Int(partition) < maxMessagesPerSecond % count ? 1 : 0)
            let request = MoveTaskRequest(
                taskID: taskID,
                destination: destination,
                maxMessagesPerSecond: maxMessagesPerSecond < 1 ? maxMessagesPerSecond : max(1, share)
            )
            var attempts = 0
            while true {
                do {
                    let response = try await callPartition(
                        queue,
                        partition,
                        .startMoveTask(queue: queueName, partition: partition, request: request)
                    )
                    started.append(
                        try Self.expect(response) { if case .moveTasks(let t) = $0 { t.first } else { nil } }
                    )
                    break
                } catch {
                    // A start whose answer was lost may have taken effect: finding our task running is a success;
                    // otherwise an unknown outcome is asked again (a repeat finds the task running).
                    if let mine = (try? await listMoveTasks(queueName, partition: partition))?.first,
                        mine.taskID == taskID, mine.state == .running
                    {
                        started.append(mine)
                        break
                    }
                    attempts += 1
                    if attempts < 3, Self.isUnknownOutcome(error) { continue }
                    for undo in 0..<partition {
                        _ = try? await callPartition(
                            queue,
                            undo,
                            .cancelMoveTask(queue: queueName, partition: undo, taskID: taskID)
                        )
                    }
                    throw error
                }
            }
        }
        return started
    }

    /// Cancels the redrive `taskID` on every partition where it still runs (messages already moved stay
    /// moved). Throws `moveTaskNotFound` when it runs on none.
    /// - Returns: the cancelled partitions' tasks.
    public func cancelMoveTask(_ queueName: String, taskID: String) async throws(FerryClientError) -> [MoveTaskStatus] {
        let queue = try await queue(queueName)
        var cancelled: [MoveTaskStatus] = []
        var notFound: FerryClientError?
        for partition in 0..<queue.partitions {
            do {
                let response = try await callPartition(
                    queue,
                    partition,
                    .cancelMoveTask(queue: queueName, partition: partition, taskID: taskID)
                )
                cancelled.append(try Self.expect(response) { if case .moveTasks(let t) = $0 { t.first } else { nil } })
            } catch {
                guard case .server(let refusal) = error, refusal.code == .moveTaskNotFound else { throw error }
                notFound = error
            }
        }
        if cancelled.isEmpty, let notFound { throw notFound }
        return cancelled
    }

    /// One partition's running redrive (first, if any) and its latest finished ones, newest first.
    public func listMoveTasks(_ queueName: String, partition: UInt32) async throws(FerryClientError) -> [MoveTaskStatus]
    {
        let queue = try await queue(queueName)
        return try Self.expect(
            try await callPartition(queue, partition, .listMoveTasks(queue: queueName, partition: partition))
        ) { if case .moveTasks(let tasks) = $0 { tasks } else { nil } }
    }

    /// Every partition's redrives, by partition.
    public func listMoveTasks(_ queueName: String) async throws(FerryClientError) -> [[MoveTaskStatus]] {
        let queue = try await queue(queueName)
        var all: [[MoveTaskStatus]] = []
        for partition in 0..<queue.partitions { all.append(try await listMoveTasks(queueName, partition: partition)) }
        return all
    }

    /// Up to `maxMessages` of the queue's messages, oldest sent first, read at each partition's leader without
    /// changing them (no receive counted, no visibility change; their handles delete nothing).
    public func peek(_ queueName: String, maxMessages: Int) async throws(FerryClientError) -> [Delivery] {
        let queue = try await queue(queueName)
        let limit = UInt32(max(1, min(maxMessages, QueueLimits.peekLimit)))
        var all: [Delivery] = []
        for partition in 0..<queue.partitions {
            all += try Self.expect(
                try await callPartition(
                    queue,
                    partition,
                    .peekMessages(queue: queueName, partition: partition, maxMessages: limit)
                )
            ) { if case .received(let messages) = $0 { messages } else { nil } }
        }
        return Array(
            all.sorted { ($0.sentAtMs, $0.position.sequenceNumber) < ($1.sentAtMs, $1.position.sequenceNumber) }.prefix(
                Int(limit)
            )
        )
    }

    /// The queue's FIFO groups with the most messages, at most `maxGroups`, over all partitions (a group lives in
    /// one partition), read at each partition's leader.
    public func groupBacklog(_ queueName: String, maxGroups: Int) async throws(FerryClientError) -> [GroupBacklog] {
        let queue = try await queue(queueName)
        let limit = UInt32(max(1, min(maxGroups, QueueLimits.peekLimit)))
        var all: [GroupBacklog] = []
        for partition in 0..<queue.partitions {
            all += try Self.expect(
                try await callPartition(
                    queue,
                    partition,
                    .groupBacklog(queue: queueName, partition: partition, maxGroups: limit)
                )
            ) { if case .groups(let groups) = $0 { groups } else { nil } }
        }
        all.sort { ($0.messages, -$0.oldestSentAtMs, $0.groupID) > ($1.messages, -$1.oldestSentAtMs, $1.groupID) }
        return Array(all.prefix(Int(limit)))
    }

    /// The queue's description (cached metadata, refreshed on a miss); `queueNotFound` when there is none.
    public func queueDescription(_ name: String) async throws(FerryClientError) -> QueueDescription {
        try await queue(name)
    }

    /// The queue's statistics summed over its partitions (each read at its leader), with the age of the oldest
    /// message in milliseconds.
    public func statistics(_ queueName: String) async throws(FerryClientError) -> (QueueStatistics, oldestAgeMs: Int64)
    {
        let queue = try await queue(queueName)
        var sum = QueueStatistics(
            visible: 0,
            inFlight: 0,
            delayed: 0,
            oldestSentAtMs: nil,
            groups: 0,
            groupsWithInFlight: 0,
            outbox: 0,
            deduplicationRecords: 0,
            producerSessions: 0,
            sent: 0,
            received: 0,
            deleted: 0,
            deadLettered: 0,
            expired: 0,
            movesExhausted: 0
        )
        var oldestAge: Int64 = 0
        for partition in 0..<queue.partitions {
            let (part, nowMs) = try Self.expect(
                try await callPartition(queue, partition, .queueStatistics(queue: queueName, partition: partition))
            ) { if case .statistics(let s, let now) = $0 { (s, now) } else { nil } }
            sum.visible += part.visible
            sum.inFlight += part.inFlight
            sum.delayed += part.delayed
            sum.groups += part.groups
            sum.groupsWithInFlight += part.groupsWithInFlight
            sum.outbox += part.outbox
            sum.deduplicationRecords += part.deduplicationRecords
            sum.producerSessions += part.producerSessions
            sum.sent += part.sent
            sum.received += part.received
            sum.deleted += part.deleted
            sum.deadLettered += part.deadLettered
            sum.expired += part.expired
            sum.movesExhausted += part.movesExhausted
            if let oldest = part.oldestSentAtMs {
                sum.oldestSentAtMs = min(sum.oldestSentAtMs ?? oldest, oldest)
                oldestAge = max(oldestAge, part.ageOfOldestMs(nowMs: nowMs))
            }
        }
        return (sum, oldestAge)
    }
}
