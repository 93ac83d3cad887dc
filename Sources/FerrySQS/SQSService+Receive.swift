import FerryModel
import FerryWire
import NIOCore

/// Receives, deletes and visibility changes.
///
/// Receipt handles that are no longer current follow what AWS documents: on a standard queue, a delete or
/// visibility change given a handle of an earlier receive succeeds and does nothing ("the request succeeds,
/// but the message might not be deleted", DeleteMessage's reference); on a FIFO queue a handle expires with its
/// visibility timeout and is refused (`InvalidParameterValue`, "The receipt handle has expired", SQS's
/// knowledge center). Both are counted (`ferry_sqs_stale_receipt_handles_total`). A handle that never named a
/// message of the queue is `ReceiptHandleIsInvalid`.
extension Context {
    /// The system attributes a receive may ask for (`AttributeNames`, `MessageSystemAttributeNames`).
    static let systemAttributeNames: Set<String> = [
        "All", "SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
        "SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader", "DeadLetterQueueSourceArn",
    ]

    func receiveMessage() async throws(SQSError) -> Reply {
        let input = try input(ReceiveMessageInput.self)
        let queue = try await queue(url: input.queueUrl)
        let maximum = input.maxNumberOfMessages ?? 1
        guard (1...QueueLimits.maxReceiveMessages).contains(maximum) else {
            throw .invalidValue(
                String(maximum),
                parameter: "MaxNumberOfMessages",
                reason: "Must be between 1 and 10, if provided."
            )
        }
        let wait = input.waitTimeSeconds ?? queue.attributes.receiveWaitSeconds
        guard (0...QueueLimits.maxReceiveWaitSeconds).contains(wait) else {
            throw .invalidValue(
                String(wait),
                parameter: "WaitTimeSeconds",
                reason: "Must be >= 0 and <= 20, if provided."
            )
        }
        if let visibility = input.visibilityTimeout, !(0...QueueLimits.maxVisibilityTimeoutSeconds).contains(visibility)
        {
            throw .invalidValue(
                String(visibility),
                parameter: "VisibilityTimeout",
                reason: "Must be >= 0 and <= \(QueueLimits.maxVisibilityTimeoutSeconds), if provided."
            )
        }
        let systemNames = (input.attributeNames ?? []) + (input.messageSystemAttributeNames ?? [])
        for name in systemNames where !Self.systemAttributeNames.contains(name) {
            throw .invalidAttributeName(name)
        }
        let fifo = QueueName.kind(of: queue.name) == .fifo
        if fifo, let attempt = input.receiveRequestAttemptId,
            attempt.isEmpty || attempt.utf8.count > QueueLimits.maxReceiveAttemptIDCharacters
                || !attempt.utf8.allSatisfy(MessageIdentifier.isAllowed)
        {
            throw .invalidValue(
                attempt,
                parameter: "ReceiveRequestAttemptId",
                reason:
                    "ReceiveRequestAttemptId can only include alphanumeric and punctuation characters. 1 to 128 in length."
            )
        }
        let request = ReceiveRequest(
            maxMessages: maximum,
            visibilityTimeoutSeconds: input.visibilityTimeout,
            // Standard queues ignore it, as SQS does.
            requestAttemptID: fifo ? input.receiveRequestAttemptId : nil
        )
        let deliveries = try await call { () async throws(WireError) in
            try await backend.receive(queue, request, waitMs: wait * 1_000)
        }
        let messages = deliveries.map { delivery in
            message(delivery, queue: queue, systemNames: systemNames, attributeNames: input.messageAttributeNames ?? [])
        }
        if messages.isEmpty { service.counters.emptyReceive(queue: queue.name) }
        return ok(ReceiveMessageOutput(messages: messages.isEmpty ? nil : messages))
    }

    func message(
        _ delivery: Delivery,
        queue: QueueDescription,
        systemNames: [String],
        attributeNames: [String]
    ) -> MessageShape {
        let body = Array(delivery.body.readableBytesView)
        let stored = MessageAttributes.decodeAll(delivery.messageAttributes) ?? ([:], [:])
        // The system attributes asked for (most receives ask for none).
        var wanted: [String: String] = [:]
        if !systemNames.isEmpty {
            let all = systemNames.contains("All")
            func add(_ name: String, _ value: @autoclosure () -> String?) {
                if all || systemNames.contains(name), let value = value() { wanted[name] = value }
            }
            add("SenderId", account)
            add("SentTimestamp", String(delivery.sentAtMs))
            add("ApproximateReceiveCount", String(delivery.receiveCount))
            add("ApproximateFirstReceiveTimestamp", String(delivery.firstReceiveAtMs))
            if QueueName.kind(of: queue.name) == .fifo {
                add("SequenceNumber", String(delivery.position.sequenceNumber))
                add("MessageGroupId", delivery.groupID)
                add("MessageDeduplicationId", delivery.deduplicationID)
            }
            add("DeadLetterQueueSourceArn", delivery.origin.map { arns.arn(ofQueue: $0.sourceQueue) })
            if case .string(let trace)? = stored.system["AWSTraceHeader"]?.value { add("AWSTraceHeader", trace) }
        }
        let selected = MessageAttributes.select(stored.user, names: attributeNames)
        return MessageShape(
            messageId: delivery.position.messageID(queueID: queue.id),
            receiptHandle: Handles.receiptHandle(queueID: queue.id, delivery.handle),
            md5OfBody: Checksums.md5OfBody(body),
            body: String(decoding: body, as: UTF8.self),
            attributes: wanted.isEmpty ? nil : wanted,
            md5OfMessageAttributes: Checksums.md5OfAttributes(selected),
            messageAttributes: selected.isEmpty ? nil : MessageAttributes.shape(selected)
        )
    }

    // MARK: Delete

    func deleteMessage() async throws(SQSError) -> Reply {
        let input = try input(DeleteMessageInput.self)
        let queue = try await queue(url: input.queueUrl)
        guard let text = input.receiptHandle else { throw .missingParameter("ReceiptHandle") }
        let handle = try Handles.receiptHandle(text, queueID: queue.id)
        let results = try await call { () async throws(WireError) in try await backend.delete(queue, [handle]) }
        if let error = deleteError(results.first, handle: text, queue: queue) { throw error }
        return done()
    }

    /// AWS's answer to one delete's outcome; nil for success (a stale handle of a standard queue included).
    func deleteError(_ result: Result<Void, WireError>?, handle: String, queue: QueueDescription) -> SQSError? {
        guard case .failure(let error)? = result else { return nil }
        switch error.code {
        case .staleReceiptHandle:
            service.counters.staleReceiptHandle(operation: operation, fifo: QueueName.kind(of: queue.name) == .fifo)
            return QueueName.kind(of: queue.name) == .fifo ? .receiptHandleExpired(handle) : nil
        case .invalidReceiptHandle:
            return .receiptHandleIsInvalid(handle)
        default:
            return SQSError(error)
        }
    }

    func deleteMessageBatch() async throws(SQSError) -> Reply {
        let input = try input(DeleteMessageBatchInput.self)
        let queue = try await queue(url: input.queueUrl)
        let ids = try Self.checkBatch(input.entries.map { $0.map(\.id) }, entry: "DeleteMessageBatchRequestEntry")
        var handles: [(id: String, text: String, handle: ReceiptHandle)] = []
        var failed: [BatchResultErrorEntry] = []
        for (at, (id, entry)) in zip(ids, input.entries ?? []).enumerated() {
            do throws(SQSError) {
                guard let text = entry.receiptHandle else {
                    throw .missingParameter("DeleteMessageBatchRequestEntry.\(at + 1).ReceiptHandle")
                }
                handles.append((id, text, try Handles.receiptHandle(text, queueID: queue.id)))
            } catch {
                failed.append(Self.failed(id, error))
            }
        }
        var successful: [BatchIDEntry] = []
        if !handles.isEmpty {
            let results = try await call { () async throws(WireError) in
                try await backend.delete(queue, handles.map(\.handle))
            }
            for (entry, result) in zip(handles, results) {
                if let error = deleteError(result, handle: entry.text, queue: queue) {
                    failed.append(Self.failed(entry.id, error))
                } else {
                    successful.append(BatchIDEntry(id: entry.id))
                }
            }
        }
        return ok(IDBatchOutput(successful: successful, failed: failed))
    }

    // MARK: Change visibility

    /// AWS's range check of a visibility change's timeout.
    static func checkVisibility(_ seconds: Int) throws(SQSError) {
        guard (0...QueueLimits.maxVisibilityTimeoutSeconds).contains(seconds) else {
            throw .invalidValue(
                String(seconds),
                parameter: "VisibilityTimeout",
                reason: "Must be between 0 and \(QueueLimits.maxVisibilityTimeoutSeconds), if provided."
            )
        }
    }

    /// AWS's answer to one visibility change's outcome; nil for success (a stale handle of a standard queue
    /// included).
    func visibilityError(
        _ result: Result<Void, WireError>?,
        handle: String,
        seconds: Int,
        queue: QueueDescription
    ) -> SQSError? {
        guard case .failure(let error)? = result else { return nil }
        let fifo = QueueName.kind(of: queue.name) == .fifo
        switch error.code {
        case .staleReceiptHandle:
            service.counters.staleReceiptHandle(operation: operation, fifo: fifo)
            return fifo ? .notAvailableForVisibilityChange(handle) : nil
        case .invalidReceiptHandle: return .receiptHandleIsInvalid(handle)
        case .messageGone: return .notAvailableForVisibilityChange(handle)
        case .messageNotInFlight: return fifo ? .notAvailableForVisibilityChange(handle) : .messageNotInflight()
        case .invalidArgument:
            // The range was checked here: what the partition refuses is a total beyond 12 hours.
            return .invalidValue(
                String(seconds),
                parameter: "VisibilityTimeout",
                reason: "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )
        default: return SQSError(error)
        }
    }

    func changeMessageVisibility() async throws(SQSError) -> Reply {
        let input = try input(ChangeMessageVisibilityInput.self)
        let queue = try await queue(url: input.queueUrl)
        guard let text = input.receiptHandle else { throw .missingParameter("ReceiptHandle") }
        guard let seconds = input.visibilityTimeout else { throw .missingParameter("VisibilityTimeout") }
        try Self.checkVisibility(seconds)
        let change = VisibilityChange(
            handle: try Handles.receiptHandle(text, queueID: queue.id),
            visibilityTimeoutSeconds: seconds
        )
        let results = try await call { () async throws(WireError) in try await backend.changeVisibility(queue, [change])
        }
        if let error = visibilityError(results.first, handle: text, seconds: seconds, queue: queue) { throw error }
        return done()
    }

    func changeMessageVisibilityBatch() async throws(SQSError) -> Reply {
        let input = try input(ChangeMessageVisibilityBatchInput.self)
        let queue = try await queue(url: input.queueUrl)
        let entryName = "ChangeMessageVisibilityBatchRequestEntry"
        let ids = try Self.checkBatch(input.entries.map { $0.map(\.id) }, entry: entryName)
        var changes: [(id: String, text: String, change: VisibilityChange)] = []
        var failed: [BatchResultErrorEntry] = []
        for (at, (id, entry)) in zip(ids, input.entries ?? []).enumerated() {
            do throws(SQSError) {
                guard let text = entry.receiptHandle else {
                    throw .missingParameter("\(entryName).\(at + 1).ReceiptHandle")
                }
                guard let seconds = entry.visibilityTimeout else {
                    throw .missingParameter("\(entryName).\(at + 1).VisibilityTimeout")
                }
                try Self.checkVisibility(seconds)
                let handle = try Handles.receiptHandle(text, queueID: queue.id)
                changes.append((id, text, VisibilityChange(handle: handle, visibilityTimeoutSeconds: seconds)))
            } catch {
                failed.append(Self.failed(id, error))
            }
        }
        var successful: [BatchIDEntry] = []
        if !changes.isEmpty {
            let results = try await call { () async throws(WireError) in
                try await backend.changeVisibility(queue, changes.map(\.change))
            }
            for (entry, result) in zip(changes, results) {
                let seconds = entry.change.visibilityTimeoutSeconds
                if let error = visibilityError(result, handle: entry.text, seconds: seconds, queue: queue) {
                    failed.append(Self.failed(entry.id, error))
                } else {
                    successful.append(BatchIDEntry(id: entry.id))
                }
            }
        }
        return ok(IDBatchOutput(successful: successful, failed: failed))
    }
}
