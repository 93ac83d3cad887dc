import FerryQueue
import FerryWire

/// Queue lifecycle and attributes.
extension Context {
    func createQueue() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(CreateQueueInput.self)
        guard let name = input.queueName else { throw .missingParameter("QueueName") }
        do {
            try QueueName.validate(name)
        } catch {
            throw .invalidParameterValue(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
                    + (QueueName.kind(of: name) == .fifo ? ", ending in .fifo" : "")
            )
        }
        var attributes = QueueAttributes()
        attributes.tags = try Self.validTags(input.tags ?? [:])
        let kind = QueueName.kind(of: name)
        if kind == .standard, input.attributes?["FifoQueue"] == "true" {
            throw .invalidParameterValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
        }
        if kind == .fifo, input.attributes?["FifoQueue"] != "true" {
            throw .invalidParameterValue(
                "The name of a standard queue cannot end in .fifo; set the FifoQueue attribute to true for a FIFO queue."
            )
        }
        try QueueAttributeMap(arns: arns).apply(input.attributes ?? [:], to: &attributes, kind: kind, creating: true)
        let queue = try call { () throws(WireError) in try backend.createQueue(name, attributes: attributes) }
        return ok(QueueURLOutput(queueUrl: url(of: queue.name)))
    }

    func getQueueURL() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(GetQueueURLInput.self)
        guard let name = input.queueName else { throw .missingParameter("QueueName") }
        if let owner = input.queueOwnerAWSAccountId, owner != account { throw .queueDoesNotExist }
        let queue = try call { () throws(WireError) in try backend.queue(name) }
        return ok(QueueURLOutput(queueUrl: url(of: queue.name)))
    }

    /// Sorted by name; with `MaxResults` (1–1000) a page and a `NextToken` (the last name returned).
    func listQueues() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(ListQueuesInput.self)
        let prefix = input.queueNamePrefix ?? ""
        let names = try call { () throws(WireError) in try backend.listQueues(prefix: prefix) }.map(\.name)
        let (urls, next) = try page(names, maxResults: input.maxResults, nextToken: input.nextToken)
        return ok(ListQueuesOutput(queueUrls: urls.isEmpty ? nil : urls, nextToken: next))
    }

    /// The URLs of `names` sorted, after the `NextToken`'s name, at most `MaxResults` (1–1000) of them, and the
    /// token of the next page when `MaxResults` was given and more remain.
    func page(_ names: [String], maxResults: Int?, nextToken: String?) throws(SQSError) -> ([String], String?) {
        if let max = maxResults, !(1...1_000).contains(max) {
            throw .invalidParameterValue(
                "Value \(max) for parameter MaxResults is invalid. Reason: must be between 1 and 1000."
            )
        }
        var names = names.sorted()
        if let token = nextToken {
            guard let after = Self.decodeToken(token) else { throw .invalidParameterValue("Invalid NextToken value.") }
            names = names.filter { $0 > after }
        }
        let limit = maxResults ?? 1_000
        let page = Array(names.prefix(limit))
        let more = maxResults != nil && names.count > limit
        return (page.map(url(of:)), more ? page.last.map(Self.encodeToken) : nil)
    }

    func getQueueAttributes() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(GetQueueAttributesInput.self)
        let queue = try queue(url: input.queueUrl)
        let names = input.attributeNames ?? []
        guard !names.isEmpty else { return ok(AttributesOutput()) }
        let sum = try call { () throws(WireError) in try backend.statistics(queue.name) }
        let statistics = QueueAttributeStatistics(
            visible: Int64(sum.visible),
            inFlight: Int64(sum.inFlight),
            delayed: Int64(sum.delayed),
            createdAtMs: queue.createdAtMs,
            modifiedAtMs: queue.modifiedAtMs
        )
        let attributes = try QueueAttributeMap(arns: arns).render(
            queue.attributes,
            name: queue.name,
            statistics: statistics,
            names: names
        )
        return ok(AttributesOutput(attributes: attributes))
    }

    func setQueueAttributes() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(SetQueueAttributesInput.self)
        let queue = try queue(url: input.queueUrl)
        guard let map = input.attributes else { throw .missingParameter("Attributes") }
        var attributes = queue.attributes
        try QueueAttributeMap(arns: arns).apply(
            map,
            to: &attributes,
            kind: QueueName.kind(of: queue.name),
            creating: false
        )
        try call { () throws(WireError) in try backend.setAttributes(queue.name, attributes) }
        return ok(EmptyOutput())
    }

    /// The queues whose RedrivePolicy names this one, sorted, paged as ListQueues.
    func listDeadLetterSourceQueues() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(ListDeadLetterSourceQueuesInput.self)
        let queue = try queue(url: input.queueUrl)
        let names = try call { () throws(WireError) in try backend.listQueues(prefix: "") }
            .filter { $0.attributes.redrivePolicy?.deadLetterQueue == queue.name }.map(\.name)
        let (urls, next) = try page(names, maxResults: input.maxResults, nextToken: input.nextToken)
        return ok(ListDeadLetterSourceQueuesOutput(lowercaseQueueUrls: urls, nextToken: next))
    }

    static func encodeToken(_ name: String) -> String { "after:" + name }

    static func decodeToken(_ token: String) -> String? {
        token.hasPrefix("after:") ? String(token.dropFirst(6)) : nil
    }
}
