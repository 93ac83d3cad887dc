import FerryQueue
import FerryWire
import FoundationEssentials

/// Queue tags (`TagQueue`, `UntagQueue`, `ListQueueTags`, `CreateQueue`'s `tags`) and permissions
/// (`AddPermission`, `RemovePermission`: statements of the queue's `Policy`). Both live in the catalog with the
/// queue's attributes, so every node answers the same. Policies are stored and answered, not enforced.
extension Context {
    /// SQS's tag rules: at most 50 per queue, keys of 1–128 characters, values of at most 256.
    static func validTags(_ tags: [String: String]) throws(SQSError) -> [String: String] {
        if tags.count > QueueAttributes.maxTags {
            throw .invalidParameterValue("Too many tags added for queue (the limit is \(QueueAttributes.maxTags)).")
        }
        for (key, value) in tags.sorted(by: { $0.key < $1.key }) {
            guard (1...QueueAttributes.maxTagKeyCharacters).contains(key.count) else {
                throw .invalidParameterValue("Tag keys must be between 1 and 128 characters in length.")
            }
            guard value.count <= QueueAttributes.maxTagValueCharacters else {
                throw .invalidParameterValue("Tag values may only be up to 256 characters in length.")
            }
        }
        return tags
    }

    /// Reads the queue's attributes, changes them and writes them back through the metadata group.
    func change(_ queue: QueueDescription, _ edit: (inout QueueAttributes) throws(SQSError) -> Void) throws(SQSError) {
        var attributes = queue.attributes
        try edit(&attributes)
        try call { () throws(WireError) in try backend.setAttributes(queue.name, attributes) }
    }

    func tagQueue() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(TagQueueInput.self)
        let queue = try queue(url: input.queueUrl)
        guard let tags = input.tags else { throw .missingParameter("Tags") }
        try change(queue) { (attributes: inout QueueAttributes) throws(SQSError) in
            attributes.tags.merge(tags) { $1 }
            attributes.tags = try Self.validTags(attributes.tags)
        }
        return ok(EmptyOutput())
    }

    func untagQueue() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(UntagQueueInput.self)
        let queue = try queue(url: input.queueUrl)
        guard let keys = input.tagKeys else { throw .missingParameter("TagKeys") }
        try change(queue) { (attributes: inout QueueAttributes) throws(SQSError) in
            for key in keys { attributes.tags.removeValue(forKey: key) }
        }
        return ok(EmptyOutput())
    }

    func listQueueTags() throws(SQSError) -> AWSJSON.Reply {
        let queue = try queue(url: try input(QueueURLInput.self).queueUrl)
        return ok(ListQueueTagsOutput(tags: queue.attributes.tags.isEmpty ? nil : queue.attributes.tags))
    }

    /// The actions `AddPermission` grants (AWS's list for shared queues; `*` for all).
    static let permissionActions: Set<String> = [
        "*", "SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes",
        "GetQueueUrl", "ListDeadLetterSourceQueues", "PurgeQueue", "ListQueueTags",
    ]

    /// Adds a statement `Label` allowing the accounts the actions, as AWS writes it into the queue's `Policy`.
    func addPermission() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(AddPermissionInput.self)
        let queue = try queue(url: input.queueUrl)
        guard let label = input.label else { throw .missingParameter("Label") }
        guard let accounts = input.awsAccountIds, !accounts.isEmpty else { throw .missingParameter("AWSAccountIds") }
        guard let actions = input.actions, !actions.isEmpty else { throw .missingParameter("Actions") }
        guard (1...80).contains(label.count),
            label.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
            })
        else {
            throw .invalidParameterValue(
                "Value \(label) for parameter Label is invalid. Reason: Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length."
            )
        }
        for action in actions where !Self.permissionActions.contains(action) {
            throw .invalidParameterValue(
                "Value SQS:\(action) for parameter ActionName is invalid. Reason: Please refer to the appropriate WSDL for a list of valid actions."
            )
        }
        for account in accounts where account.count != 12 || !account.allSatisfy(\.isNumber) {
            throw .invalidParameterValue("Value \(account) for parameter AWSAccountIds is invalid.")
        }
        let arn = arns.arn(ofQueue: queue.name)
        try change(queue) { (attributes: inout QueueAttributes) throws(SQSError) in
            var document =
                attributes.policy.flatMap(JSONDocument.object(parsing:)) ?? [
                    "Version": .string("2012-10-17"),
                    "Id": .string("\(arn)/SQSDefaultPolicy"),
                ]
            var statements: [JSONDocument] = []
            if case .array(let list)? = document["Statement"] { statements = list }
            if case .object? = document["Statement"] { statements = [document["Statement"]!] }
            for case .object(let statement) in statements where statement["Sid"] == .string(label) {
                throw .invalidParameterValue("Value \(label) for parameter Label is invalid. Reason: Already exists.")
            }
            let principals = accounts.map { JSONDocument.string("arn:aws:iam::\($0):root") }
            let granted = actions.map { JSONDocument.string("SQS:\($0)") }
            statements.append(
                .object([
                    "Sid": .string(label),
                    "Effect": .string("Allow"),
                    "Principal": .object(["AWS": principals.count == 1 ? principals[0] : .array(principals)]),
                    "Action": granted.count == 1 ? granted[0] : .array(granted),
                    "Resource": .string(arn),
                ])
            )
            document["Statement"] = .array(statements)
            let text = JSONDocument.object(document).text
            guard text.utf8.count <= QueueAttributes.maxPolicyBytes else {
                throw .invalidParameterValue("The policy would exceed \(QueueAttributes.maxPolicyBytes) bytes.")
            }
            attributes.policy = text
        }
        return ok(EmptyOutput())
    }

    /// Removes the policy statement `Label`; the policy goes when its last statement does.
    func removePermission() throws(SQSError) -> AWSJSON.Reply {
        let input = try input(RemovePermissionInput.self)
        let queue = try queue(url: input.queueUrl)
        guard let label = input.label else { throw .missingParameter("Label") }
        try change(queue) { (attributes: inout QueueAttributes) throws(SQSError) in
            let notFound = SQSError.invalidParameterValue(
                "Value \(label) for parameter Label is invalid. Reason: can't find label."
            )
            guard var document = attributes.policy.flatMap(JSONDocument.object(parsing:)) else { throw notFound }
            var statements: [JSONDocument] = []
            if case .array(let list)? = document["Statement"] { statements = list }
            if case .object? = document["Statement"] { statements = [document["Statement"]!] }
            let kept = statements.filter {
                guard case .object(let statement) = $0 else { return true }
                return statement["Sid"] != .string(label)
            }
            guard kept.count < statements.count else { throw notFound }
            document["Statement"] = .array(kept)
            attributes.policy = kept.isEmpty ? nil : JSONDocument.object(document).text
        }
        return ok(EmptyOutput())
    }
}
