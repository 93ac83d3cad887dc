import FerryModel
import FerryWire
import FoundationEssentials

/// Dead-letter redrive (`StartMessageMoveTask`, `CancelMessageMoveTask`, `ListMessageMoveTasks`). A task runs
/// on every partition of the dead-letter queue under one id, inside each partition's state machine, so it
/// survives a leader change; the SQS view sums the partitions.
extension Context {
    struct TaskHandle: Codable {
        var taskId: String
        var sourceArn: String
    }

    static func taskHandle(taskID: String, sourceARN: String) -> String {
        MoveTaskHandle.make(taskID: taskID, sourceARN: sourceARN)
    }

    static func parseTaskHandle(_ handle: String) -> (taskID: String, sourceARN: String)? {
        guard let data = Data(base64Encoded: handle),
            let parsed = try? JSONDecoder().decode(TaskHandle.self, from: data)
        else { return nil }
        return (parsed.taskId, parsed.sourceArn)
    }

    /// The queue an ARN of this account names, which must exist.
    func queue(arn: String?, parameter: String) async throws(SQSError) -> QueueDescription {
        guard let arn else { throw .missingParameter(parameter) }
        guard arn.hasPrefix("arn:"), arn.split(separator: ":", omittingEmptySubsequences: false).count == 6 else {
            throw .invalidParameterValue(
                "You must use this format to specify the \(parameter): arn:<partition>:<service>:<region>:<account-id>:<resource-id>"
            )
        }
        guard let name = arns.queueName(ofARN: arn) else {
            throw .resourceNotFound("The resource that you specified for the \(parameter) parameter doesn't exist.")
        }
        do {
            return try await backend.queue(name)
        } catch {
            if error.code == .queueNotFound {
                throw SQSError.resourceNotFound(
                    "The resource that you specified for the \(parameter) parameter doesn't exist."
                )
            }
            throw SQSError(error)
        }
    }

    func startMessageMoveTask() async throws(SQSError) -> Reply {
        let input = try input(StartMessageMoveTaskInput.self)
        let source = try await queue(arn: input.sourceArn, parameter: "SourceArn")
        let sources = try await call { () async throws(WireError) in try await backend.listQueues(prefix: "") }
            .filter { $0.attributes.redrivePolicy?.deadLetterQueue == source.name }
        guard !sources.isEmpty else {
            throw .invalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        }
        var destination: String?
        if input.destinationArn != nil {
            let queue = try await queue(arn: input.destinationArn, parameter: "DestinationArn")
            guard queue.name != source.name else {
                throw .invalidParameterValue("Source queue and destination queue must be different.")
            }
            destination = queue.name
        }
        // AWS's range is 1…500; without a rate it picks one itself (here 500 a second).
        let rate = input.maxNumberOfMessagesPerSecond ?? QueueLimits.defaultMoveRatePerSecond
        guard (1...500).contains(rate) else {
            throw .invalidParameterValue(
                "Value \(rate) for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: must be between 1 and 500."
            )
        }
        let taskID = UUID().uuidString.lowercased()
        do {
            _ = try await backend.startMoveTask(
                source.name,
                taskID: taskID,
                destination: destination,
                maxMessagesPerSecond: rate
            )
        } catch {
            if error.code == .moveTaskAlreadyRunning {
                throw .invalidParameterValue(
                    "There is already a task running. Only one active task is allowed for a source queue arn at a given time."
                )
            }
            throw SQSError(error)
        }
        return ok(
            StartMessageMoveTaskOutput(
                taskHandle: Self.taskHandle(taskID: taskID, sourceARN: arns.arn(ofQueue: source.name))
            )
        )
    }

    func cancelMessageMoveTask() async throws(SQSError) -> Reply {
        let input = try input(CancelMessageMoveTaskInput.self)
        guard let handle = input.taskHandle else { throw .missingParameter("TaskHandle") }
        guard let (taskID, sourceARN) = Self.parseTaskHandle(handle) else {
            throw .invalidParameterValue("Value \(handle) for parameter TaskHandle is invalid.")
        }
        let source = try await queue(arn: sourceARN, parameter: "SourceArn")
        let cancelled: [MoveTaskStatus]
        do {
            cancelled = try await backend.cancelMoveTask(source.name, taskID: taskID)
        } catch {
            if error.code == .moveTaskNotFound { throw SQSError.resourceNotFound("Task does not exist.") }
            throw SQSError(error)
        }
        let moved = cancelled.reduce(0) { $0 + Int64($1.messagesMoved) }
        return ok(CancelMessageMoveTaskOutput(approximateNumberOfMessagesMoved: moved))
    }

    func listMessageMoveTasks() async throws(SQSError) -> Reply {
        let input = try input(ListMessageMoveTasksInput.self)
        let source = try await queue(arn: input.sourceArn, parameter: "SourceArn")
        let maxResults = input.maxResults ?? 1
        guard (1...10).contains(maxResults) else {
            throw .invalidParameterValue(
                "Value \(maxResults) for parameter MaxResults is invalid. Reason: must be between 1 and 10."
            )
        }
        let partitions = try await call { () async throws(WireError) in try await backend.listMoveTasks(source.name) }
        let sourceARN = arns.arn(ofQueue: source.name)
        let results = Self.summarize(partitions).prefix(maxResults).map { task in
            MessageMoveTaskShape(
                taskHandle: task.state == .running ? Self.taskHandle(taskID: task.taskID, sourceARN: sourceARN) : nil,
                status: Self.statusName(task.state),
                sourceArn: sourceARN,
                destinationArn: task.destination.map(arns.arn(ofQueue:)),
                maxNumberOfMessagesPerSecond: task.maxMessagesPerSecond,
                approximateNumberOfMessagesMoved: Int64(task.messagesMoved),
                approximateNumberOfMessagesToMove: Int64(task.messagesToMove),
                failureReason: nil,
                startedTimestamp: task.startedAtMs
            )
        }
        return ok(ListMessageMoveTasksOutput(results: Array(results)))
    }

    static func statusName(_ state: MoveTaskStatus.State) -> String {
        switch state {
        case .running: return "RUNNING"
        case .completed: return "COMPLETED"
        case .cancelled: return "CANCELLED"
        }
    }

    /// One task per id over the partitions, newest first: running while any partition runs it, cancelled
    /// when one cancelled it, completed otherwise; counts and rates summed, the earliest start.
    package static func summarize(_ partitions: [[MoveTaskStatus]]) -> [MoveTaskStatus] {
        var byID: [String: MoveTaskStatus] = [:]
        for task in partitions.joined() {
            guard var sum = byID[task.taskID] else {
                byID[task.taskID] = task
                continue
            }
            sum.messagesMoved += task.messagesMoved
            sum.messagesToMove += task.messagesToMove
            sum.messagesSkipped += task.messagesSkipped
            sum.maxMessagesPerSecond += task.maxMessagesPerSecond
            sum.startedAtMs = min(sum.startedAtMs, task.startedAtMs)
            if task.state == .running || (task.state == .cancelled && sum.state != .running) { sum.state = task.state }
            byID[task.taskID] = sum
        }
        return byID.values.sorted { ($0.startedAtMs, $0.taskID) > ($1.startedAtMs, $1.taskID) }
    }
}

/// AWS's task handle of a message move task: base64 of `{"sourceArn":…,"taskId":…}` (the SQS API and the
/// console show the same handle).
public enum MoveTaskHandle {
    public static func make(taskID: String, sourceARN: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Context.TaskHandle(taskId: taskID, sourceArn: sourceARN)))?.base64EncodedString()
            ?? ""
    }
}
