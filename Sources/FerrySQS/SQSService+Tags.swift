import FerryModel
import FerryWire
import FoundationEssentials

/// Queue tags (`TagQueue`, `UntagQueue`, `ListQueueTags`, `CreateQueue`'s `tags`) and permissions
/// (`AddPermission`, `RemovePermission`: statements of the queue's `Policy`). Both live in the catalog with the
/// queue's attributes, so every node answers the same. Policies are stored and answered, not enforced.
extension Context {
    /// SQS's tag key rule: 1–128 characters of letters, digits, white space and `_ . : / = + - @`.
    static func checkTagKey(_ key: String) throws(SQSError) {
        guard (1...QueueAttributes.maxTagKeyCharacters).contains(key.count) else {
            throw .invalidParameterValue("Tag keys must be between 1 and 128 characters in length.")
        }
        let allowed = key.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar.properties.isWhitespace
                || "_.:/=+-@".unicodeScalars.contains(scalar)
        }
        guard allowed else {
            throw .invalidParameterValue(
                "Tag keys may only contain unicode letters, digits, whitespace, or one of these symbols: _ . : / = + - @"
            )
        }
    }

    /// SQS's tag rules: at most 50 per queue, keys as `checkTagKey`, values of at most 256 characters.
    static func validTags(_ tags: [String: String], queue: String) throws(SQSError) -> [String: String] {
        for key in tags.keys.sorted() {
            try checkTagKey(key)
            guard tags[key]!.count <= QueueAttributes.maxTagValueCharacters else {
                throw .invalidParameterValue("Tag values may only be up to 256 characters in length.")
            }
        }
        if tags.count > QueueAttributes.maxTags {
            throw .invalidParameterValue("Too many tags added for queue \(queue).")
        }
        return tags
    }

    /// Reads the queue's attributes, changes them and writes them back through the metadata group.
    func change(
        _ queue: QueueDescription,
        _ edit: (inout QueueAttributes) throws(SQSError) -> Void
    ) async throws(SQSError) {
        var attributes = queue.attributes
        try edit(&attributes)
        guard attributes != queue.attributes else { return }
        try await call { () async throws(WireError) in try await backend.setAttributes(queue.name, attributes) }
    }

    func tagQueue() async throws(SQSError) -> Reply {
        let input = try input(TagQueueInput.self)
        let queue = try await queue(url: input.queueUrl)
        guard let tags = input.tags else { throw .missingParameter("Tags") }
        try await change(queue) { (attributes: inout QueueAttributes) throws(SQSError) in
            attributes.tags.merge(try Self.validTags(tags, queue: queue.name)) { $1 }
            attributes.tags = try Self.validTags(attributes.tags, queue: queue.name)
        }
        return done()
    }

    func untagQueue() async throws(SQSError) -> Reply {
        let input = try input(UntagQueueInput.self)
        let queue = try await queue(url: input.queueUrl)
        guard let keys = input.tagKeys, !keys.isEmpty else { throw .missingParameter("TagKeys") }
        for key in keys { try Self.checkTagKey(key) }
        try await change(queue) { (attributes: inout QueueAttributes) throws(SQSError) in
            for key in keys { attributes.tags.removeValue(forKey: key) }
        }
        return done()
    }

    func listQueueTags() async throws(SQSError) -> Reply {
        let queue = try await queue(url: try input(QueueURLInput.self).queueUrl)
        return ok(ListQueueTagsOutput(tags: queue.attributes.tags.isEmpty ? nil : queue.attributes.tags))
    }

    /// The actions `AddPermission` grants (AWS's list for shared queues; `*` for all), and those only a queue's
    /// owner may invoke.
    static let permissionActions: Set<String> = [
        "*", "SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes",
        "GetQueueUrl", "ListDeadLetterSourceQueues", "PurgeQueue",
    ]
    static let ownerActions: Set<String> = [
        "AddPermission", "CancelMessageMoveTask", "CreateQueue", "RemovePermission", "DeleteQueue",
        "ListMessageMoveTasks", "ListQueues", "ListQueueTags", "StartMessageMoveTask", "TagQueue", "UntagQueue",
    ]
    /// The owner-only actions that name no queue URL: checked before the operation runs.
    static let accountActions: Set<String> = [
        "CancelMessageMoveTask", "CreateQueue", "ListMessageMoveTasks", "StartMessageMoveTask",
    ]
    /// What the queue's own account may always do, whatever its policy denies: read and change the policy.
    static let policyActions: Set<String> = [
        "AddPermission", "GetQueueAttributes", "RemovePermission", "SetQueueAttributes",
    ]
    /// Statements a queue policy may hold (SQS's quota).
    static let maxPolicyStatements = 20

    /// The statements of a policy document (`Statement` is an object or a list of them).
    static func statements(_ document: [String: JSONDocument]) -> [JSONDocument] {
        switch document["Statement"] {
        case .array(let list)?: return list
        case .object?: return [document["Statement"]!]
        default: return []
        }
    }

    /// Adds a statement `Label` allowing the accounts the actions, as AWS writes it into the queue's `Policy`.
    /// Adding the same statement again changes nothing; another statement under an existing label is refused.
    func addPermission() async throws(SQSError) -> Reply {
        let input = try input(AddPermissionInput.self)
        let queue = try await queue(url: input.queueUrl)
        guard let label = input.label, !label.isEmpty else { throw .missingParameter("Label") }
        guard let actions = input.actions, !actions.isEmpty else { throw .missingParameter("ActionName") }
        for action in actions where Self.ownerActions.contains(action) {
            throw .invalidValue(
                "SQS:\(action)",
                parameter: "ActionName",
                reason: "Only the queue owner is allowed to invoke this action."
            )
        }
        for action in actions where !Self.permissionActions.contains(action) {
            throw .invalidValue(
                "SQS:\(action)",
                parameter: "ActionName",
                reason: "Please refer to the appropriate WSDL for a list of valid actions."
            )
        }
        guard let accounts = input.awsAccountIds, !accounts.isEmpty else { throw .missingParameter("AWSAccountIds") }
        guard label.count <= 80,
            label.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
            })
        else {
            throw .invalidValue(
                label,
                parameter: "Label",
                reason: "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length."
            )
        }
        for account in accounts where account.count != 12 || !account.allSatisfy(\.isNumber) {
            throw .invalidParameterValue("Value \(account) for parameter AWSAccountIds is invalid.")
        }
        let arn = arns.arn(ofQueue: queue.name)
        try await change(queue) { (attributes: inout QueueAttributes) throws(SQSError) in
            var document =
                attributes.policy.flatMap(JSONDocument.object(parsing:)) ?? [
                    "Version": .string("2012-10-17"),
                    "Id": .string("\(arn)/SQSDefaultPolicy"),
                ]
            var statements = Self.statements(document)
            let principals = accounts.map { JSONDocument.string("arn:aws:iam::\($0):root") }
            let granted = actions.map { JSONDocument.string("SQS:\($0)") }
            let statement = JSONDocument.object([
                "Sid": .string(label),
                "Effect": .string("Allow"),
                "Principal": .object(["AWS": principals.count == 1 ? principals[0] : .array(principals)]),
                "Action": granted.count == 1 ? granted[0] : .array(granted),
                "Resource": .string(arn),
            ])
            for case .object(let existing) in statements where existing["Sid"] == .string(label) {
                guard JSONDocument.object(existing) == statement else {
                    throw .invalidValue(label, parameter: "Label", reason: "Already exists.")
                }
                return
            }
            guard statements.count < Self.maxPolicyStatements else {
                throw .overLimit(
                    "\(statements.count + 1) Statements were found, maximum allowed is \(Self.maxPolicyStatements)."
                )
            }
            statements.append(statement)
            document["Statement"] = .array(statements)
            let text = JSONDocument.object(document).text
            guard text.utf8.count <= QueueAttributes.maxPolicyBytes else {
                throw .overLimit("The policy would exceed \(QueueAttributes.maxPolicyBytes) bytes.")
            }
            attributes.policy = text
        }
        return done()
    }

    /// Removes the policy statement `Label`; the policy goes when its last statement does.
    func removePermission() async throws(SQSError) -> Reply {
        let input = try input(RemovePermissionInput.self)
        let queue = try await queue(url: input.queueUrl)
        guard let label = input.label, !label.isEmpty else { throw .missingParameter("Label") }
        try await change(queue) { (attributes: inout QueueAttributes) throws(SQSError) in
            let notFound = SQSError.invalidValue(
                label,
                parameter: "Label",
                reason: "can't find label on existing policy."
            )
            guard var document = attributes.policy.flatMap(JSONDocument.object(parsing:)) else { throw notFound }
            let statements = Self.statements(document)
            let kept = statements.filter {
                guard case .object(let statement) = $0 else { return true }
                return statement["Sid"] != .string(label)
            }
            guard kept.count < statements.count else { throw notFound }
            document["Statement"] = .array(kept)
            attributes.policy = kept.isEmpty ? nil : JSONDocument.object(document).text
        }
        return done()
    }
}
