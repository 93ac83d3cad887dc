import FerryModel
import FerryWire

/// Queue lifecycle and attributes.
extension Context {
    static let invalidQueueName = SQSError.invalidParameterValue(
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
    )

    /// Creating a queue that exists answers its URL when every attribute the request gives has the queue's
    /// current value (attributes it does not give are not compared), and `QueueAlreadyExists` naming the first
    /// that differs otherwise; tags are not compared. As SQS does.
    func createQueue() async throws(SQSError) -> Reply {
        let input = try input(CreateQueueInput.self)
        guard let name = input.queueName else { throw .missingParameter("QueueName") }
        guard (try? QueueName.validate(name)) != nil else { throw Self.invalidQueueName }
        let kind = QueueName.kind(of: name)
        let given = input.attributes ?? [:]
        let fifoAttribute = given["FifoQueue"]?.lowercased() == "true"
        if kind == .standard && fifoAttribute {
            throw .invalidParameterValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
        }
        // A standard queue's name must not end in .fifo.
        if kind == .fifo && !fifoAttribute { throw Self.invalidQueueName }
        let map = QueueAttributeMap(arns: arns)
        let tags = try Self.validTags(input.tags ?? [:], queue: name)
        if let existing = try await existingQueue(name) {
            var wanted = existing.attributes
            try map.apply(given, to: &wanted, kind: kind, creating: true)
            try await resolveDeadLetterQueue(wanted, text: given["RedrivePolicy"])
            if let different = map.firstDifference(given, existing.attributes, wanted, kind: kind) {
                throw .queueAlreadyExists(attribute: different)
            }
            return ok(QueueURLOutput(queueUrl: url(of: existing.name)))
        }
        var attributes = QueueAttributes()
        attributes.tags = tags
        try map.apply(given, to: &attributes, kind: kind, creating: true)
        try await resolveDeadLetterQueue(attributes, text: given["RedrivePolicy"])
        let queue: QueueDescription
        do {
            queue = try await backend.createQueue(name, attributes: attributes)
        } catch {
            // Created by someone else since the look-up, with other settings.
            if error.code == .queueAlreadyExists { throw .queueAlreadyExists(attribute: given.keys.sorted().first) }
            throw SQSError(error)
        }
        return ok(QueueURLOutput(queueUrl: url(of: queue.name)))
    }

    /// The queue of that name, or nil.
    func existingQueue(_ name: String) async throws(SQSError) -> QueueDescription? {
        do {
            return try await backend.queue(name)
        } catch {
            if error.code == .queueNotFound { return nil }
            throw SQSError(error)
        }
    }

    /// A redrive policy a request gives (`text`) must name a dead-letter queue that exists.
    func resolveDeadLetterQueue(_ attributes: QueueAttributes, text: String?) async throws(SQSError) {
        guard let policy = attributes.redrivePolicy, let text, !text.isEmpty else { return }
        guard try await existingQueue(policy.deadLetterQueue) != nil else {
            throw .invalidValue(text, parameter: "RedrivePolicy", reason: "Dead letter target does not exist.")
        }
    }

    func getQueueURL() async throws(SQSError) -> Reply {
        let input = try input(GetQueueURLInput.self)
        guard let name = input.queueName else { throw .missingParameter("QueueName") }
        if let owner = input.queueOwnerAWSAccountId, owner != account { throw .queueDoesNotExist }
        // Another account's key names this account with QueueOwnerAWSAccountId (else it asks its own account).
        if let principal, principal.account != account, input.queueOwnerAWSAccountId == nil {
            throw .queueDoesNotExist
        }
        let queue = try await call { () async throws(WireError) in try await backend.queue(name) }
        try authorize(queue)
        return ok(QueueURLOutput(queueUrl: url(of: queue.name)))
    }

    /// Sorted by name; with `MaxResults` (1–1000) a page and a `NextToken` (the last name returned).
    func listQueues() async throws(SQSError) -> Reply {
        let input = try input(ListQueuesInput.self)
        let prefix = input.queueNamePrefix ?? ""
        let names = try await call { () async throws(WireError) in try await backend.listQueues(prefix: prefix) }.map(
            \.name
        )
        let (urls, next) = try page(names, maxResults: input.maxResults, nextToken: input.nextToken)
        return ok(ListQueuesOutput(queueUrls: urls.isEmpty ? nil : urls, nextToken: next))
    }

    /// The URLs of `names` sorted, after the `NextToken`'s name, at most `MaxResults` (1–1000) of them, and the
    /// token of the next page when `MaxResults` was given and more remain.
    func page(_ names: [String], maxResults: Int?, nextToken: String?) throws(SQSError) -> ([String], String?) {
        if let max = maxResults, !(1...1_000).contains(max) {
            throw .invalidParameterValue(
                "Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
            )
        }
        var names = names.sorted()
        if let token = nextToken {
            guard maxResults != nil else {
                throw .invalidParameterValue(
                    "MaxResults is a mandatory parameter when you provide a value for NextToken."
                )
            }
            guard let after = Self.decodeToken(token) else { throw .invalidParameterValue("Invalid NextToken value.") }
            names = names.filter { $0 > after }
        }
        let limit = maxResults ?? 1_000
        let page = Array(names.prefix(limit))
        let more = maxResults != nil && names.count > limit
        return (page.map(url(of:)), more ? page.last.map(Self.encodeToken) : nil)
    }

    func getQueueAttributes() async throws(SQSError) -> Reply {
        let input = try input(GetQueueAttributesInput.self)
        let queue = try await queue(url: input.queueUrl)
        let names = input.attributeNames ?? []
        guard !names.isEmpty else { return ok(AttributesOutput()) }
        let map = QueueAttributeMap(arns: arns)
        for name in names where !map.isKnown(name) { throw .invalidAttributeName(name) }
        let sum = try await call { () async throws(WireError) in try await backend.statistics(queue.name) }
        let statistics = QueueAttributeStatistics(
            visible: Int64(sum.visible),
            inFlight: Int64(sum.inFlight),
            delayed: Int64(sum.delayed),
            createdAtMs: queue.createdAtMs,
            modifiedAtMs: queue.modifiedAtMs
        )
        let attributes = map.render(queue.attributes, name: queue.name, statistics: statistics, names: names)
        return ok(AttributesOutput(attributes: attributes.isEmpty ? nil : attributes))
    }

    func setQueueAttributes() async throws(SQSError) -> Reply {
        let input = try input(SetQueueAttributesInput.self)
        let queue = try await queue(url: input.queueUrl)
        guard let map = input.attributes else { throw .missingParameter("Attributes") }
        var attributes = queue.attributes
        try QueueAttributeMap(arns: arns).apply(
            map,
            to: &attributes,
            kind: QueueName.kind(of: queue.name),
            creating: false
        )
        try await resolveDeadLetterQueue(attributes, text: map["RedrivePolicy"])
        try await call { () async throws(WireError) in try await backend.setAttributes(queue.name, attributes) }
        return done()
    }

    /// The queues whose RedrivePolicy names this one, sorted, paged as ListQueues.
    func listDeadLetterSourceQueues() async throws(SQSError) -> Reply {
        let input = try input(ListDeadLetterSourceQueuesInput.self)
        let queue = try await queue(url: input.queueUrl)
        let names = try await call { () async throws(WireError) in try await backend.listQueues(prefix: "") }
            .filter { $0.attributes.redrivePolicy?.deadLetterQueue == queue.name }.map(\.name)
        let (urls, next) = try page(names, maxResults: input.maxResults, nextToken: input.nextToken)
        return ok(ListDeadLetterSourceQueuesOutput(lowercaseQueueUrls: urls, nextToken: next))
    }

    static func encodeToken(_ name: String) -> String { "after:" + name }

    static func decodeToken(_ token: String) -> String? {
        token.hasPrefix("after:") ? String(token.dropFirst(6)) : nil
    }
}
