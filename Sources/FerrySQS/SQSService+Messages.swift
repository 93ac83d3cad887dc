import FerryQueue
import FerryWire
import NIOCore

/// Sends, receives, deletes and visibility changes.
extension Context {
    package static let maxBatchEntries = 10

    /// A validated send: what goes to the cluster and the checksums the answer carries.
    struct PreparedSend {
        var request: SendRequest
        var md5OfBody: String
        var md5OfAttributes: String?
    }

    func prepare(
        queue: QueueDescription,
        body: String?,
        delaySeconds: Int?,
        attributes: [String: MessageAttributeValue]?,
        groupID: String?,
        deduplicationID: String?
    ) throws(SQSError) -> PreparedSend {
        guard let body else { throw .missingParameter("MessageBody") }
        guard !body.isEmpty else {
            throw .invalidParameterValue("The request must contain the parameter MessageBody.")
        }
        guard body.unicodeScalars.allSatisfy(Self.isAllowedInBody) else {
            throw SQSError(
                status: 400,
                shape: "InvalidMessageContents",
                message:
                    "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
            )
        }
        let (decoded, counted) = try MessageAttributes.validate(attributes ?? [:])
        let bodyBytes = Array(body.utf8)
        let limit = queue.attributes.maximumMessageBytes
        guard bodyBytes.count + counted <= limit else {
            throw .invalidParameterValue(
                "One or more parameters are invalid. Reason: Message must be shorter than \(limit) bytes."
            )
        }
        let kind = QueueName.kind(of: queue.name)
        if kind == .fifo {
            guard let groupID else { throw .missingParameter("MessageGroupId") }
            do {
                try MessageIdentifier.validateGroupID(groupID)
            } catch {
                throw .invalidParameterValue(
                    "Value \(groupID) for parameter MessageGroupId is invalid. Reason: \(error)"
                )
            }
            if deduplicationID == nil && !queue.attributes.contentBasedDeduplication {
                throw .invalidParameterValue(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
                )
            }
            if let delaySeconds, delaySeconds != 0 {
                throw .invalidParameterValue(
                    "Value \(delaySeconds) for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."
                )
            }
        } else if deduplicationID != nil {
            throw .invalidParameterValue(
                "Value for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type."
            )
        }
        if let deduplicationID {
            do {
                try MessageIdentifier.validateDeduplicationID(deduplicationID)
            } catch {
                throw .invalidParameterValue(
                    "Value \(deduplicationID) for parameter MessageDeduplicationId is invalid. Reason: \(error)"
                )
            }
        }
        if let delaySeconds, !(0...QueueLimits.maxDelaySeconds).contains(delaySeconds) {
            throw .invalidParameterValue(
                "Value \(delaySeconds) for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided."
            )
        }
        var buffer = ByteBuffer()
        buffer.writeBytes(bodyBytes)
        let request = SendRequest(
            body: buffer,
            messageAttributes: MessageAttributes.encode(decoded),
            groupID: kind == .fifo ? groupID : nil,
            deduplicationID: deduplicationID,
            delaySeconds: kind == .fifo ? nil : delaySeconds
        )
        return PreparedSend(
            request: request,
            md5OfBody: Checksums.md5OfBody(bodyBytes),
            md5OfAttributes: Checksums.md5OfAttributes(decoded)
        )
    }

    static func isAllowedInBody(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    func sendMessage() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(SendMessageInput.self)
        let queue = try queue(url: input.queueUrl)
        let prepared = try prepare(
            queue: queue,
            body: input.messageBody,
            delaySeconds: input.delaySeconds,
            attributes: input.messageAttributes,
            groupID: input.messageGroupId,
            deduplicationID: input.messageDeduplicationId
        )
        let outcomes = try call { () throws(WireError) in try backend.send(queue, [prepared.request]) }
        guard let first = outcomes.first else { throw SQSError(.init(.internal, "no outcome for the send")) }
        let outcome: SendOutcome
        do {
            outcome = try first.get()
        } catch {
            throw SQSError(error)
        }
        let position = try Self.position(of: outcome)
        return ok(
            SendMessageOutput(
                md5OfMessageBody: prepared.md5OfBody,
                md5OfMessageAttributes: prepared.md5OfAttributes,
                messageId: position.messageID(queueID: queue.id),
                sequenceNumber: QueueName.kind(of: queue.name) == .fifo ? String(position.sequenceNumber) : nil
            )
        )
    }

    static func position(of outcome: SendOutcome) throws(SQSError) -> MessagePosition {
        guard let position = outcome.position else {
            throw SQSError(.init(.internal, "a repeated send whose first result is no longer remembered"))
        }
        return position
    }

    /// AWS's batch rules: 1–10 entries, ids of 1–80 of A–Z a–z 0–9 - _, distinct.
    package static func checkBatch(_ ids: [String?]?) throws(SQSError) -> [String] {
        guard let ids, !ids.isEmpty else {
            throw SQSError(
                status: 400,
                shape: "EmptyBatchRequest",
                code: "AWS.SimpleQueueService.EmptyBatchRequest",
                message: "There should be at least one SendMessageBatchRequestEntry in the request."
            )
        }
        guard ids.count <= maxBatchEntries else {
            throw SQSError(
                status: 400,
                shape: "TooManyEntriesInBatchRequest",
                code: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                message: "Maximum number of entries per request are 10. You have sent \(ids.count)."
            )
        }
        var seen: Set<String> = []
        var checked: [String] = []
        for id in ids {
            guard let id else { throw .missingParameter("Id") }
            let valid =
                (1...80).contains(id.utf8.count)
                && id.utf8.allSatisfy {
                    ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D
                        || $0 == 0x5F
                }
            guard valid else {
                throw SQSError(
                    status: 400,
                    shape: "InvalidBatchEntryId",
                    code: "AWS.SimpleQueueService.InvalidBatchEntryId",
                    message:
                        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
                )
            }
            guard seen.insert(id).inserted else {
                throw SQSError(
                    status: 400,
                    shape: "BatchEntryIdsNotDistinct",
                    code: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                    message: "Id \(id) repeated."
                )
            }
            checked.append(id)
        }
        return checked
    }

    static func failed(_ id: String, _ error: SQSError) -> BatchResultErrorEntry {
        BatchResultErrorEntry(id: id, senderFault: error.fault == "Sender", code: error.code, message: error.message)
    }

    func sendMessageBatch() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(SendMessageBatchInput.self)
        let queue = try queue(url: input.queueUrl)
        let entries = input.entries ?? []
        let ids = try Self.checkBatch(input.entries.map { $0.map(\.id) })
        var prepared: [(id: String, send: PreparedSend)] = []
        var failed: [BatchResultErrorEntry] = []
        var total = 0
        for (id, entry) in zip(ids, entries) {
            do throws(SQSError) {
                let send = try prepare(
                    queue: queue,
                    body: entry.messageBody,
                    delaySeconds: entry.delaySeconds,
                    attributes: entry.messageAttributes,
                    groupID: entry.messageGroupId,
                    deduplicationID: entry.messageDeduplicationId
                )
                total += send.request.sizeBytes
                prepared.append((id, send))
            } catch {
                failed.append(Self.failed(id, error))
            }
        }
        guard total <= queue.attributes.maximumMessageBytes else {
            throw SQSError(
                status: 400,
                shape: "BatchRequestTooLong",
                code: "AWS.SimpleQueueService.BatchRequestTooLong",
                message:
                    "Batch requests cannot be longer than \(queue.attributes.maximumMessageBytes) bytes. You have sent \(total) bytes."
            )
        }
        var successful: [SendMessageBatchResultEntry] = []
        if !prepared.isEmpty {
            let outcomes = try call { () throws(WireError) in try backend.send(queue, prepared.map(\.send.request)) }
            for ((id, send), outcome) in zip(prepared, outcomes) {
                do throws(SQSError) {
                    let result: SendOutcome
                    do {
                        result = try outcome.get()
                    } catch {
                        throw SQSError(error)
                    }
                    let position = try Self.position(of: result)
                    successful.append(
                        SendMessageBatchResultEntry(
                            id: id,
                            messageId: position.messageID(queueID: queue.id),
                            md5OfMessageBody: send.md5OfBody,
                            md5OfMessageAttributes: send.md5OfAttributes,
                            sequenceNumber: QueueName.kind(of: queue.name) == .fifo
                                ? String(position.sequenceNumber) : nil
                        )
                    )
                } catch {
                    failed.append(Self.failed(id, error))
                }
            }
        }
        return ok(SendMessageBatchOutput(successful: successful, failed: failed))
    }

    static let systemAttributeNames: Set<String> = [
        "All", "SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
        "SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader", "DeadLetterQueueSourceArn",
    ]

    func receiveMessage() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(ReceiveMessageInput.self)
        let queue = try queue(url: input.queueUrl)
        let maximum = input.maxNumberOfMessages ?? 1
        guard (1...10).contains(maximum) else {
            throw .invalidParameterValue(
                "Value \(maximum) for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
            )
        }
        let wait = input.waitTimeSeconds ?? queue.attributes.receiveWaitSeconds
        guard (0...20).contains(wait) else {
            throw .invalidParameterValue(
                "Value \(wait) for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
            )
        }
        if let visibility = input.visibilityTimeout, !(0...QueueLimits.maxVisibilityTimeoutSeconds).contains(visibility)
        {
            throw .invalidParameterValue(
                "Value \(visibility) for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided."
            )
        }
        let systemNames = (input.attributeNames ?? []) + (input.messageSystemAttributeNames ?? [])
        for name in systemNames where !Self.systemAttributeNames.contains(name) {
            throw .invalidAttributeName(name)
        }
        let request = ReceiveRequest(
            maxMessages: maximum,
            visibilityTimeoutSeconds: input.visibilityTimeout,
            requestAttemptID: input.receiveRequestAttemptId
        )
        let deliveries = try call { () throws(WireError) in try backend.receive(queue, request, waitMs: wait * 1_000) }
        let messages = deliveries.map { delivery in
            message(delivery, queue: queue, systemNames: systemNames, attributeNames: input.messageAttributeNames ?? [])
        }
        return ok(ReceiveMessageOutput(messages: messages.isEmpty ? nil : messages))
    }

    func message(
        _ delivery: Delivery,
        queue: QueueDescription,
        systemNames: [String],
        attributeNames: [String]
    )
        -> MessageShape
    {
        let body = Array(delivery.body.readableBytesView)
        var system: [String: String] = [
            "SenderId": account,
            "SentTimestamp": String(delivery.sentAtMs),
            "ApproximateReceiveCount": String(delivery.receiveCount),
            "ApproximateFirstReceiveTimestamp": String(delivery.firstReceiveAtMs),
        ]
        if QueueName.kind(of: queue.name) == .fifo {
            system["SequenceNumber"] = String(delivery.position.sequenceNumber)
            system["MessageGroupId"] = delivery.groupID
            system["MessageDeduplicationId"] = delivery.deduplicationID
        }
        if let origin = delivery.origin { system["DeadLetterQueueSourceArn"] = arns.arn(ofQueue: origin.sourceQueue) }
        let wanted = systemNames.contains("All") ? system : system.filter { systemNames.contains($0.key) }
        let stored = MessageAttributes.decode(delivery.messageAttributes) ?? [:]
        let selected = MessageAttributes.select(stored, names: attributeNames)
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

    func deleteMessage() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(DeleteMessageInput.self)
        let queue = try queue(url: input.queueUrl)
        guard let text = input.receiptHandle else { throw .missingParameter("ReceiptHandle") }
        let handle = try Handles.receiptHandle(text, queueID: queue.id)
        let results = try call { () throws(WireError) in try backend.delete(queue, [handle]) }
        if case .failure(let error)? = results.first { throw SQSError(error) }
        return ok(EmptyOutput())
    }

    func deleteMessageBatch() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(DeleteMessageBatchInput.self)
        let queue = try queue(url: input.queueUrl)
        let ids = try Self.checkBatch(input.entries.map { $0.map(\.id) })
        var handles: [(String, ReceiptHandle)] = []
        var failed: [BatchResultErrorEntry] = []
        for (id, entry) in zip(ids, input.entries ?? []) {
            do throws(SQSError) {
                guard let text = entry.receiptHandle else { throw .missingParameter("ReceiptHandle") }
                handles.append((id, try Handles.receiptHandle(text, queueID: queue.id)))
            } catch {
                failed.append(Self.failed(id, error))
            }
        }
        var successful: [BatchIDEntry] = []
        if !handles.isEmpty {
            let results = try call { () throws(WireError) in try backend.delete(queue, handles.map(\.1)) }
            for ((id, _), result) in zip(handles, results) {
                switch result {
                case .success: successful.append(BatchIDEntry(id: id))
                case .failure(let error): failed.append(Self.failed(id, SQSError(error)))
                }
            }
        }
        return ok(IDBatchOutput(successful: successful, failed: failed))
    }

    func changeMessageVisibility() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(ChangeMessageVisibilityInput.self)
        let queue = try queue(url: input.queueUrl)
        guard let text = input.receiptHandle else { throw .missingParameter("ReceiptHandle") }
        guard let seconds = input.visibilityTimeout else { throw .missingParameter("VisibilityTimeout") }
        let change = VisibilityChange(
            handle: try Handles.receiptHandle(text, queueID: queue.id),
            visibilityTimeoutSeconds: seconds
        )
        let results = try call { () throws(WireError) in try backend.changeVisibility(queue, [change]) }
        if case .failure(let error)? = results.first { throw SQSError(error) }
        return ok(EmptyOutput())
    }

    func changeMessageVisibilityBatch() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(ChangeMessageVisibilityBatchInput.self)
        let queue = try queue(url: input.queueUrl)
        let ids = try Self.checkBatch(input.entries.map { $0.map(\.id) })
        var changes: [(String, VisibilityChange)] = []
        var failed: [BatchResultErrorEntry] = []
        for (id, entry) in zip(ids, input.entries ?? []) {
            do throws(SQSError) {
                guard let text = entry.receiptHandle else { throw .missingParameter("ReceiptHandle") }
                guard let seconds = entry.visibilityTimeout else { throw .missingParameter("VisibilityTimeout") }
                let handle = try Handles.receiptHandle(text, queueID: queue.id)
                changes.append((id, VisibilityChange(handle: handle, visibilityTimeoutSeconds: seconds)))
            } catch {
                failed.append(Self.failed(id, error))
            }
        }
        var successful: [BatchIDEntry] = []
        if !changes.isEmpty {
            let results = try call { () throws(WireError) in try backend.changeVisibility(queue, changes.map(\.1)) }
            for ((id, _), result) in zip(changes, results) {
                switch result {
                case .success: successful.append(BatchIDEntry(id: id))
                case .failure(let error): failed.append(Self.failed(id, SQSError(error)))
                }
            }
        }
        return ok(IDBatchOutput(successful: successful, failed: failed))
    }
}
