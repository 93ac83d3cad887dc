import FerryModel
import FoundationEssentials

/// SQS's queue attributes (a map of strings, some holding JSON) ↔ Ferry's `QueueAttributes`. Names and
/// ranges are AWS's; values are checked by `QueueAttributes.validate(for:)`, which names the attribute.
/// Ferry's own settings travel the same way under names AWS does not use: `DeduplicationWindowSeconds`,
/// `MaxInFlightMessages`, `ProducerSessionIdleSeconds`.
package struct QueueAttributeMap {
    /// Builds queue ARNs and resolves them to names.
    let arns: ARNs

    package init(arns: ARNs) { self.arns = arns }

    static let settable: Set<String> = [
        "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
        "VisibilityTimeout", "RedrivePolicy", "RedriveAllowPolicy", "ContentBasedDeduplication",
        "DeduplicationScope", "FifoThroughputLimit", "DeduplicationWindowSeconds", "MaxInFlightMessages",
        "ProducerSessionIdleSeconds", "Policy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
        "SqsManagedSseEnabled",
    ]
    /// Ferry's settings beyond SQS's (answered by name, not in `All`).
    static let ferrySettings: Set<String> = [
        "DeduplicationWindowSeconds", "MaxInFlightMessages", "ProducerSessionIdleSeconds",
    ]
    static let readOnly: Set<String> = [
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible",
        "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn",
    ]

    /// Applies `map` to `attributes` for a queue of `kind`. `FifoQueue` is checked against the name's kind
    /// (it is only allowed at creation, where `creating` is true).
    package func apply(
        _ map: [String: String],
        to attributes: inout QueueAttributes,
        kind: QueueKind,
        creating: Bool
    )
        throws(SQSError)
    {
        // SQS: one kind of server-side encryption at a time; setting one turns the other off.
        if map["KmsMasterKeyId"].map({ !$0.isEmpty }) == true, map["SqsManagedSseEnabled"]?.lowercased() == "true" {
            throw SQSError(
                status: 400,
                shape: "InvalidAttributeName",
                message:
                    "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE."
            )
        }
        for (name, value) in map.sorted(by: { $0.key < $1.key }) {
            switch name {
            case "FifoQueue":
                // SetQueueAttributes may repeat a FIFO queue's `true`; nothing else.
                guard creating || kind == .fifo else { throw .invalidAttributeName(name) }
                guard value.lowercased() == "true" || value.lowercased() == "false" else {
                    throw .invalidAttributeValue(name, value)
                }
                guard creating || value.lowercased() == "true" else { throw .invalidAttributeValue(name, value) }
                guard (value == "true") == (kind == .fifo) else {
                    throw .invalidParameterValue(
                        kind == .fifo
                            ? "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
                            : "FifoQueue can only be set to true, and only for a queue whose name ends in .fifo."
                    )
                }
            case "DelaySeconds": attributes.delaySeconds = try integer(name, value)
            case "MaximumMessageSize": attributes.maximumMessageBytes = try integer(name, value)
            case "MessageRetentionPeriod": attributes.retentionSeconds = try integer(name, value)
            case "ReceiveMessageWaitTimeSeconds": attributes.receiveWaitSeconds = try integer(name, value)
            case "VisibilityTimeout": attributes.visibilityTimeoutSeconds = try integer(name, value)
            case "DeduplicationWindowSeconds": attributes.dedupWindowMs = Int64(try integer(name, value)) * 1_000
            case "MaxInFlightMessages": attributes.maxInFlightMessages = try integer(name, value)
            case "ProducerSessionIdleSeconds": attributes.producerIdleMs = Int64(try integer(name, value)) * 1_000
            case "ContentBasedDeduplication":
                guard kind == .fifo else { throw .invalidAttributeName(name) }
                attributes.contentBasedDeduplication = try boolean(name, value)
            case "DeduplicationScope":
                guard kind == .fifo else { throw .invalidAttributeName(name) }
                guard let scope = DeduplicationScope(rawValue: value) else { throw .invalidAttributeValue(name, value) }
                attributes.deduplicationScope = scope
            case "FifoThroughputLimit":
                guard kind == .fifo else { throw .invalidAttributeName(name) }
                guard let limit = FifoThroughputLimit(rawValue: value) else {
                    throw .invalidAttributeValue(name, value)
                }
                attributes.fifoThroughputLimit = limit
            case "KmsMasterKeyId":
                attributes.kmsMasterKeyID = value.isEmpty ? nil : value
                if !value.isEmpty { attributes.sqsManagedSSE = false }
            case "KmsDataKeyReusePeriodSeconds":
                attributes.kmsDataKeyReusePeriodSeconds = try integer(name, value)
            case "SqsManagedSseEnabled":
                attributes.sqsManagedSSE = try boolean(name, value)
                if attributes.sqsManagedSSE && map["KmsMasterKeyId"] == nil { attributes.kmsMasterKeyID = nil }
            case "RedrivePolicy":
                attributes.redrivePolicy = value.isEmpty ? nil : try redrivePolicy(value)
            case "RedriveAllowPolicy":
                attributes.redriveAllowPolicy = value.isEmpty ? nil : try redriveAllowPolicy(value)
            case "Policy":
                attributes.policy = value.isEmpty ? nil : try policy(value)
            default:
                throw .invalidAttributeName(name)
            }
        }
        do {
            try attributes.validate(for: kind)
        } catch {
            // AWS names the attribute and gives no reason ("Invalid value for the parameter DelaySeconds.").
            if case .invalidAttribute(let name, _) = error { throw .invalidAttributeValue(name, map[name] ?? "") }
            throw .invalidParameterValue("\(error)")
        }
    }

    /// Whether GetQueueAttributes knows `name` (an unknown one is `InvalidAttributeName`).
    package func isKnown(_ name: String) -> Bool {
        name == "All" || name == "FifoQueue" || Self.settable.contains(name) || Self.readOnly.contains(name)
    }

    /// The first attribute of `given` (by name) whose value differs from the existing queue's: CreateQueue of an
    /// existing queue compares only what it gives.
    func firstDifference(
        _ given: [String: String],
        _ existing: QueueAttributes,
        _ wanted: QueueAttributes,
        kind: QueueKind
    ) -> String? {
        guard !wanted.sameSettings(as: existing) else { return nil }
        for name in given.keys.sorted() {
            var one = existing
            guard (try? apply([name: given[name]!], to: &one, kind: kind, creating: true)) != nil else { return name }
            if !one.sameSettings(as: existing) { return name }
        }
        return given.keys.sorted().first
    }

    /// The attributes AWS would answer for `names` (`All` for every one), in AWS's string forms. Names must be
    /// known (`isKnown`).
    package func render(
        _ attributes: QueueAttributes,
        name queueName: String,
        statistics: QueueAttributeStatistics,
        names: [String]
    ) -> [String: String] {
        var all: [String: String] = [
            "QueueArn": arns.arn(ofQueue: queueName),
            "ApproximateNumberOfMessages": String(statistics.visible),
            "ApproximateNumberOfMessagesNotVisible": String(statistics.inFlight),
            "ApproximateNumberOfMessagesDelayed": String(statistics.delayed),
            "VisibilityTimeout": String(attributes.visibilityTimeoutSeconds),
            "MaximumMessageSize": String(attributes.maximumMessageBytes),
            "MessageRetentionPeriod": String(attributes.retentionSeconds),
            "DelaySeconds": String(attributes.delaySeconds),
            "ReceiveMessageWaitTimeSeconds": String(attributes.receiveWaitSeconds),
            "SqsManagedSseEnabled": attributes.sqsManagedSSE ? "true" : "false",
            "DeduplicationWindowSeconds": String(attributes.dedupWindowMs / 1_000),
            "MaxInFlightMessages": String(attributes.maxInFlightMessages),
            "ProducerSessionIdleSeconds": String(attributes.producerIdleMs / 1_000),
            "CreatedTimestamp": String(statistics.createdAtMs / 1_000),
            "LastModifiedTimestamp": String(statistics.modifiedAtMs / 1_000),
        ]
        if let policy = attributes.policy { all["Policy"] = policy }
        if let key = attributes.kmsMasterKeyID {
            all["KmsMasterKeyId"] = key
            all["KmsDataKeyReusePeriodSeconds"] = String(attributes.kmsDataKeyReusePeriodSeconds)
        }
        if QueueName.kind(of: queueName) == .fifo {
            all["FifoQueue"] = "true"
            all["ContentBasedDeduplication"] = attributes.contentBasedDeduplication ? "true" : "false"
            all["DeduplicationScope"] = attributes.deduplicationScope.rawValue
            all["FifoThroughputLimit"] = attributes.fifoThroughputLimit.rawValue
        }
        if let redrive = attributes.redrivePolicy {
            all["RedrivePolicy"] = Self.json([
                "deadLetterTargetArn": .string(arns.arn(ofQueue: redrive.deadLetterQueue)),
                "maxReceiveCount": .int(redrive.maxReceiveCount),
            ])
        }
        if let allow = attributes.redriveAllowPolicy {
            switch allow {
            case .allowAll: all["RedriveAllowPolicy"] = Self.json(["redrivePermission": .string("allowAll")])
            case .denyAll: all["RedriveAllowPolicy"] = Self.json(["redrivePermission": .string("denyAll")])
            case .byQueue(let sources):
                all["RedriveAllowPolicy"] = Self.json([
                    "redrivePermission": .string("byQueue"),
                    "sourceQueueArns": .strings(sources.map(arns.arn(ofQueue:))),
                ])
            }
        }
        // `All` is SQS's attributes; Ferry's own settings are answered when asked for by name.
        guard !names.contains("All") else { return all.filter { !Self.ferrySettings.contains($0.key) } }
        var picked: [String: String] = [:]
        for name in names { if let value = all[name] { picked[name] = value } }
        return picked
    }

    private func integer(_ name: String, _ value: String) throws(SQSError) -> Int {
        guard let number = Int(value) else { throw .invalidAttributeValue(name, value) }
        return number
    }

    private func boolean(_ name: String, _ value: String) throws(SQSError) -> Bool {
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw .invalidAttributeValue(name, value)
        }
    }

    /// `{"deadLetterTargetArn": "arn:aws:sqs:…:dlq", "maxReceiveCount": 5}` (the count as a number or a string),
    /// refused with AWS's reasons.
    private func redrivePolicy(_ value: String) throws(SQSError) -> RedrivePolicy {
        func refuse(_ reason: String) -> SQSError { .invalidValue(value, parameter: "RedrivePolicy", reason: reason) }
        guard let fields = JSONDocument.object(parsing: value) else {
            throw .invalidParameterValue(
                "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map."
            )
        }
        guard let count = fields["maxReceiveCount"] else {
            throw refuse("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
        }
        guard let arnField = fields["deadLetterTargetArn"] else {
            throw refuse("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
        }
        guard fields.count == 2 else {
            throw refuse("Only following attributes are supported: [maxReceiveCount, deadLetterTargetArn].")
        }
        let number: Int?
        switch count {
        case .integer(let n): number = Int(exactly: n)
        case .string(let text): number = Int(text)
        default: number = nil
        }
        guard let number, (1...1_000).contains(number) else {
            let shown: String
            switch count {
            case .string(let text): shown = text
            case .integer(let n): shown = String(n)
            default: shown = "\(count)"
            }
            throw refuse("Invalid value for maxReceiveCount: \(shown), valid values are from 1 to 1000 both inclusive.")
        }
        guard case .string(let arn) = arnField, let name = arns.queueName(ofARN: arn) else {
            throw refuse("Invalid value for deadLetterTargetArn.")
        }
        return RedrivePolicy(deadLetterQueue: name, maxReceiveCount: number)
    }

    /// `{"redrivePermission": "allowAll" | "denyAll" | "byQueue", "sourceQueueArns": [...]}`.
    /// A policy document of at most 8,192 bytes (SQS's quota) that `QueuePolicy` can evaluate. Kept as given.
    private func policy(_ value: String) throws(SQSError) -> String {
        guard value.utf8.count <= QueueAttributes.maxPolicyBytes else {
            throw .invalidAttributeValue(
                "Policy",
                value,
                reason: "policy is \(value.utf8.count) bytes; the limit is \(QueueAttributes.maxPolicyBytes)"
            )
        }
        do {
            _ = try QueuePolicy.parse(value)
        } catch {
            throw .invalidAttributeValue("Policy", value, reason: error.reason)
        }
        return value
    }

    private func redriveAllowPolicy(_ value: String) throws(SQSError) -> RedriveAllowPolicy {
        struct Policy: Decodable {
            var redrivePermission: String?
            var sourceQueueArns: [String]?
        }
        guard let policy = try? JSONDecoder().decode(Policy.self, from: Data(value.utf8)) else {
            throw .invalidAttributeValue("RedriveAllowPolicy", value)
        }
        switch policy.redrivePermission {
        case "allowAll": return .allowAll
        case "denyAll": return .denyAll
        case "byQueue":
            let names = (policy.sourceQueueArns ?? []).compactMap(arns.queueName(ofARN:))
            guard names.count == (policy.sourceQueueArns ?? []).count else {
                throw .invalidAttributeValue("RedriveAllowPolicy", value, reason: "a source queue ARN is not valid")
            }
            return .byQueue(names)
        default:
            throw .invalidAttributeValue("RedriveAllowPolicy", value)
        }
    }

    enum JSONValue {
        case string(String)
        case int(Int)
        case strings([String])
    }

    /// A small JSON object with sorted keys, AWS's compact form.
    static func json(_ object: [String: JSONValue]) -> String {
        func quoted(_ text: String) -> String {
            let data = (try? JSONEncoder().encode(text)).map { String(decoding: $0, as: UTF8.self) }
            return data ?? "\"\""
        }
        let members = object.keys.sorted().map { key -> String in
            switch object[key]! {
            case .string(let text): return "\(quoted(key)):\(quoted(text))"
            case .int(let number): return "\(quoted(key)):\(number)"
            case .strings(let list): return "\(quoted(key)):[\(list.map(quoted).joined(separator: ","))]"
            }
        }
        return "{\(members.joined(separator: ","))}"
    }
}

/// The statistics GetQueueAttributes reports.
package struct QueueAttributeStatistics: Sendable {
    var visible: Int64 = 0
    var inFlight: Int64 = 0
    var delayed: Int64 = 0
    /// The queue's creation and last attribute change (ms since the epoch).
    var createdAtMs: Int64 = 0
    var modifiedAtMs: Int64 = 0

    package init(
        visible: Int64 = 0,
        inFlight: Int64 = 0,
        delayed: Int64 = 0,
        createdAtMs: Int64 = 0,
        modifiedAtMs: Int64 = 0
    ) {
        self.visible = visible
        self.inFlight = inFlight
        self.delayed = delayed
        self.createdAtMs = createdAtMs
        self.modifiedAtMs = modifiedAtMs
    }
}

/// Queue URLs and ARNs: `http://<host>:<port>/<account>/<name>`, `arn:aws:sqs:<region>:<account>:<name>`.
package struct ARNs: Sendable {
    var region: String
    var account: String

    package init(region: String, account: String) {
        self.region = region
        self.account = account
    }

    func arn(ofQueue name: String) -> String { "arn:aws:sqs:\(region):\(account):\(name)" }

    /// The queue name of an SQS ARN of this account (any region: one cluster is one region).
    func queueName(ofARN arn: String) -> String? {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "sqs", parts[4] == account, !parts[5].isEmpty else {
            return nil
        }
        return String(parts[5])
    }
}

/// A JSON value (for policy documents: checked, and edited by AddPermission and RemovePermission).
indirect enum JSONDocument: Codable, Equatable {
    case object([String: JSONDocument])
    case array([JSONDocument])
    case string(String)
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    case null

    init(from decoder: any Decoder) throws {
        if var list = try? decoder.unkeyedContainer() {
            var items: [JSONDocument] = []
            while !list.isAtEnd { items.append(try list.decode(JSONDocument.self)) }
            self = .array(items)
        } else if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var fields: [String: JSONDocument] = [:]
            for key in object.allKeys { fields[key.stringValue] = try object.decode(JSONDocument.self, forKey: key) }
            self = .object(fields)
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                self = .null
            } else if let value = try? single.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? single.decode(Int64.self) {
                self = .integer(value)
            } else if let value = try? single.decode(Double.self) {
                self = .number(value)
            } else {
                self = .string(try single.decode(String.self))
            }
        }
    }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .object(let fields):
            var container = encoder.container(keyedBy: AnyKey.self)
            for (key, value) in fields { try container.encode(value, forKey: AnyKey(stringValue: key)) }
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(item) }
        case .string(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .integer(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .number(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .bool(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        }
    }

    /// A JSON object document, or nil.
    static func object(parsing text: String) -> [String: JSONDocument]? {
        guard case .object(let fields)? = try? JSONDecoder().decode(JSONDocument.self, from: Data(text.utf8)) else {
            return nil
        }
        return fields
    }

    /// Compact JSON with sorted keys.
    var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
