import FerryModel
import FerryWire
import NIOCore

/// Sends, receives, deletes and visibility changes, validated in AWS's order with AWS's codes and messages.
///
/// Departures from SQS, on purpose (the README lists them): a stale receipt handle of a standard queue changes
/// no visibility (SQS applies a visibility change given an older handle to the current delivery; Ferry fences
/// it, so a consumer whose lease ran out cannot shorten another consumer's), and a FIFO message is not handed
/// out while a later message of its group is in flight.
extension Context {
    package static let maxBatchEntries = 10
    /// The most a batch may carry in all (bodies and attributes), whatever the queue's MaximumMessageSize.
    static let maxBatchBytes = QueueLimits.maxMessageBytes

    package static let invalidCharactersMessage =
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"

    static func isAllowedInBody(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    /// One message of a send, as a client gave it (SendMessage or a batch entry).
    struct Outgoing {
        var body: String?
        var delaySeconds: Int?
        var attributes: [String: MessageAttributeValue]?
        var systemAttributes: [String: MessageSystemAttributeValue]?
        var groupID: String?
        var deduplicationID: String?

        /// What AWS counts toward the size limits: the body and the attributes' names, types and values.
        var countedBytes: Int {
            var bytes = body?.utf8.count ?? 0
            for (name, value) in attributes ?? [:] {
                bytes += name.utf8.count + (value.dataType?.utf8.count ?? 0) + (value.stringValue?.utf8.count ?? 0)
                bytes += value.binaryValue.map { $0.utf8.count * 3 / 4 } ?? 0
            }
            return bytes
        }
    }

    /// A validated send: what goes to the cluster and the checksums the answer carries.
    struct PreparedSend {
        var request: SendRequest
        var md5OfBody: String
        var md5OfAttributes: String?
        var md5OfSystemAttributes: String?
    }

    /// The checks that concern the queue's kind rather than the message: for a batch, AWS fails the whole request
    /// on these (`entry`: the entry's number, for batch messages).
    func checkKind(_ message: Outgoing, queue: QueueDescription, batch: Bool) throws(SQSError) {
        guard QueueName.kind(of: queue.name) == .fifo else { return }
        guard let groupID = message.groupID else {
            throw batch
                ? .invalidParameterValue("The request must contain the parameter MessageGroupId.")
                : .missingParameter("MessageGroupId")
        }
        if (try? MessageIdentifier.validateGroupID(groupID)) == nil {
            throw .invalidValue(
                groupID,
                parameter: "MessageGroupId",
                reason: "MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length."
            )
        }
        if message.deduplicationID == nil && !queue.attributes.contentBasedDeduplication {
            throw .invalidParameterValue(
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
            )
        }
        if let delay = message.delaySeconds, delay != 0 {
            throw .invalidValue(
                String(delay),
                parameter: "DelaySeconds",
                reason: "The request include parameter that is not valid for this queue type."
            )
        }
    }

    /// Every check of one message, in AWS's order; `entry` numbers a batch entry (its parameter names).
    func prepare(_ message: Outgoing, queue: QueueDescription, entry: Int?) throws(SQSError) -> PreparedSend {
        let kind = QueueName.kind(of: queue.name)
        guard let body = message.body, !body.isEmpty else {
            throw .missingParameter(entry.map { "SendMessageBatchRequestEntry.\($0).MessageBody" } ?? "MessageBody")
        }
        try checkKind(message, queue: queue, batch: entry != nil)
        if kind == .standard {
            if let id = message.deduplicationID {
                throw .invalidValue(
                    id,
                    parameter: "MessageDeduplicationId",
                    reason: "The request include parameter that is not valid for this queue type."
                )
            }
            // A group id on a standard queue is allowed (SQS fair queues); it only has to be well formed.
            if let groupID = message.groupID, (try? MessageIdentifier.validateGroupID(groupID)) == nil {
                throw .invalidValue(
                    groupID,
                    parameter: "MessageGroupId",
                    reason:
                        "MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length."
                )
            }
            if let delay = message.delaySeconds, !(0...QueueLimits.maxDelaySeconds).contains(delay) {
                throw .invalidValue(
                    String(delay),
                    parameter: "DelaySeconds",
                    reason: "DelaySeconds must be >= 0 and <= \(QueueLimits.maxDelaySeconds)."
                )
            }
        } else if let id = message.deduplicationID, (try? MessageIdentifier.validateDeduplicationID(id)) == nil {
            throw .invalidValue(
                id,
                parameter: "MessageDeduplicationId",
                reason:
                    "MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length."
            )
        }
        guard body.unicodeScalars.allSatisfy(Self.isAllowedInBody) else {
            throw SQSError(status: 400, shape: "InvalidMessageContents", message: Self.invalidCharactersMessage)
        }
        let (attributes, counted) = try MessageAttributes.validate(message.attributes ?? [:])
        let bodyBytes = Array(body.utf8)
        let limit = queue.attributes.maximumMessageBytes
        guard bodyBytes.count + counted <= limit else {
            throw .invalidParameterValue(
                "One or more parameters are invalid. Reason: Message must be shorter than \(limit) bytes."
            )
        }
        let systemValues = (message.systemAttributes ?? [:]).mapValues {
            MessageAttributeValue(stringValue: $0.stringValue, binaryValue: $0.binaryValue, dataType: $0.dataType)
        }
        let (system, _) = try MessageAttributes.validate(systemValues, kind: .system)
        var buffer = ByteBuffer()
        buffer.writeBytes(bodyBytes)
        let request = SendRequest(
            body: buffer,
            messageAttributes: MessageAttributes.encode(attributes, system: system),
            groupID: kind == .fifo ? message.groupID : nil,
            deduplicationID: message.deduplicationID,
            delaySeconds: kind == .fifo ? nil : message.delaySeconds
        )
        return PreparedSend(
            request: request,
            md5OfBody: Checksums.md5OfBody(bodyBytes),
            md5OfAttributes: Checksums.md5OfAttributes(attributes),
            md5OfSystemAttributes: Checksums.md5OfAttributes(system)
        )
    }

    func sendMessage() async throws(SQSError) -> Reply {
        let input = try input(SendMessageInput.self)
        let queue = try await queue(url: input.queueUrl)
        let prepared = try prepare(
            Outgoing(
                body: input.messageBody,
                delaySeconds: input.delaySeconds,
                attributes: input.messageAttributes,
                systemAttributes: input.messageSystemAttributes,
                groupID: input.messageGroupId,
                deduplicationID: input.messageDeduplicationId
            ),
            queue: queue,
            entry: nil
        )
        let outcomes = try await call { () async throws(WireError) in try await backend.send(queue, [prepared.request])
        }
        guard let first = outcomes.first else { throw .internalError("no outcome for the send") }
        let position = try Self.position(of: first)
        return ok(
            SendMessageOutput(
                md5OfMessageBody: prepared.md5OfBody,
                md5OfMessageAttributes: prepared.md5OfAttributes,
                md5OfMessageSystemAttributes: prepared.md5OfSystemAttributes,
                messageId: position.messageID(queueID: queue.id),
                sequenceNumber: QueueName.kind(of: queue.name) == .fifo ? String(position.sequenceNumber) : nil
            )
        )
    }

    static func position(of outcome: Result<SendOutcome, WireError>) throws(SQSError) -> MessagePosition {
        let sent: SendOutcome
        do {
            sent = try outcome.get()
        } catch {
            throw SQSError(error)
        }
        guard let position = sent.position else {
            throw .internalError("a repeated send whose first result is no longer remembered")
        }
        return position
    }

    /// AWS's batch rules, checked before anything else: at least one entry (`entry` names its type), at most
    /// 10, ids of 1–80 of A–Z a–z 0–9 - _, distinct.
    package static func checkBatch(_ ids: [String?]?, entry: String) throws(SQSError) -> [String] {
        guard let ids, !ids.isEmpty else { throw .emptyBatch(entry) }
        guard ids.count <= maxBatchEntries else { throw .tooManyEntries(ids.count, limit: maxBatchEntries) }
        var seen: Set<String> = []
        var checked: [String] = []
        for (at, id) in ids.enumerated() {
            guard let id else { throw .missingParameter("\(entry).\(at + 1).Id") }
            let valid =
                (1...80).contains(id.utf8.count)
                && id.utf8.allSatisfy {
                    ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D
                        || $0 == 0x5F
                }
            guard valid else { throw .invalidBatchEntryID }
            guard seen.insert(id).inserted else { throw .batchEntryIDsNotDistinct(id) }
            checked.append(id)
        }
        return checked
    }

    static func failed(_ id: String, _ error: SQSError) -> BatchResultErrorEntry {
        BatchResultErrorEntry(id: id, senderFault: error.fault == "Sender", code: error.code, message: error.message)
    }

    func sendMessageBatch() async throws(SQSError) -> Reply {
        let input = try input(SendMessageBatchInput.self)
        let queue = try await queue(url: input.queueUrl)
        let entries = input.entries ?? []
        let ids = try Self.checkBatch(input.entries.map { $0.map(\.id) }, entry: "SendMessageBatchRequestEntry")
        let messages = entries.map {
            Outgoing(
                body: $0.messageBody,
                delaySeconds: $0.delaySeconds,
                attributes: $0.messageAttributes,
                systemAttributes: $0.messageSystemAttributes,
                groupID: $0.messageGroupId,
                deduplicationID: $0.messageDeduplicationId
            )
        }
        let total = messages.reduce(0) { $0 + $1.countedBytes }
        guard total <= Self.maxBatchBytes else {
            throw .batchRequestTooLong(totalBytes: total, limitBytes: Self.maxBatchBytes)
        }
        for message in messages { try checkKind(message, queue: queue, batch: true) }
        var prepared: [(id: String, send: PreparedSend)] = []
        var failed: [BatchResultErrorEntry] = []
        for (at, (id, message)) in zip(ids, messages).enumerated() {
            do throws(SQSError) {
                prepared.append((id, try prepare(message, queue: queue, entry: at + 1)))
            } catch {
                failed.append(Self.failed(id, error))
            }
        }
        var successful: [SendMessageBatchResultEntry] = []
        if !prepared.isEmpty {
            let outcomes = try await call { () async throws(WireError) in
                try await backend.send(queue, prepared.map(\.send.request))
            }
            for ((id, send), outcome) in zip(prepared, outcomes) {
                do throws(SQSError) {
                    let position = try Self.position(of: outcome)
                    successful.append(
                        SendMessageBatchResultEntry(
                            id: id,
                            messageId: position.messageID(queueID: queue.id),
                            md5OfMessageBody: send.md5OfBody,
                            md5OfMessageAttributes: send.md5OfAttributes,
                            md5OfMessageSystemAttributes: send.md5OfSystemAttributes,
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
}
