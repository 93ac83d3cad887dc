/// FIFO (name ends in `.fifo`: group order, exactly-once enqueue) or standard (at-least-once, best-effort
/// order, per-message delays).
public enum QueueKind: Sendable, Hashable {
    case fifo
    case standard
}

/// Where deduplication ids are unique: the whole queue, or each message group (SQS `DeduplicationScope`).
public enum DeduplicationScope: String, Sendable, Hashable {
    case queue
    case messageGroup
}

/// SQS `FifoThroughputLimit`: kept for compatibility; Ferry's partitions do not throttle by it.
public enum FifoThroughputLimit: String, Sendable, Hashable {
    case perQueue
    case perMessageGroupId
}

/// Where a queue's dead letters go and after how many receives.
public struct RedrivePolicy: Sendable, Hashable {
    /// The dead-letter queue's name (the SQS layer maps ARNs to names).
    public var deadLetterQueue: String
    public var maxReceiveCount: Int

    public init(deadLetterQueue: String, maxReceiveCount: Int) {
        self.deadLetterQueue = deadLetterQueue
        self.maxReceiveCount = maxReceiveCount
    }
}

/// Which source queues may use a queue as their dead-letter queue (SQS `RedriveAllowPolicy`).
public enum RedriveAllowPolicy: Sendable, Hashable {
    case allowAll
    case denyAll
    /// At most 10 source queues, by name.
    case byQueue([String])

    public static let maxSourceQueues = 10
}

/// A queue's attributes with SQS's defaults and ranges (units in the names), plus Ferry's configurable
/// deduplication window. Structured values: the SQS layer parses AWS's string map and JSON into this.
public struct QueueAttributes: Sendable, Hashable {
    public var visibilityTimeoutSeconds = QueueLimits.defaultVisibilityTimeoutSeconds
    public var retentionSeconds = QueueLimits.defaultRetentionSeconds
    public var delaySeconds = 0
    public var maximumMessageBytes = QueueLimits.maxMessageBytes
    public var receiveWaitSeconds = 0
    /// FIFO only: the deduplication id is the SHA-256 of the body when a send gives none.
    public var contentBasedDeduplication = false
    /// FIFO only.
    public var deduplicationScope = DeduplicationScope.queue
    /// FIFO only.
    public var fifoThroughputLimit = FifoThroughputLimit.perQueue
    /// FIFO only (Ferry): how long a deduplication id is remembered.
    public var dedupWindowMs = QueueLimits.defaultDedupWindowMs
    public var maxInFlightMessages = QueueLimits.defaultMaxInFlightMessages
    /// (Ferry) Producer sessions idle this long are forgotten.
    public var producerIdleMs = QueueLimits.defaultProducerIdleMs
    public var redrivePolicy: RedrivePolicy?
    public var redriveAllowPolicy: RedriveAllowPolicy?
    /// SQS's access policy document (JSON), kept and answered, not enforced: a Ferry cluster has one set of
    /// access keys.
    public var policy: String?
    /// Cost-allocation tags (SQS `TagQueue`). Not attributes in SQS: a `CreateQueue` of an existing queue
    /// compares attributes without them.
    public var tags: [String: String] = [:]
    /// SQS's server-side encryption settings (`KmsMasterKeyId`, `KmsDataKeyReusePeriodSeconds`,
    /// `SqsManagedSseEnabled`), kept and answered as stored settings: Ferry does not encrypt messages with
    /// them (a node's disk encryption is the operator's). SQS turns managed SSE on for new queues and off when a
    /// KMS key is set.
    public var kmsMasterKeyID: String?
    public var kmsDataKeyReusePeriodSeconds = QueueLimits.defaultKmsDataKeyReusePeriodSeconds
    public var sqsManagedSSE = true

    public static let maxTags = 50
    public static let maxTagKeyCharacters = 128
    public static let maxTagValueCharacters = 256
    public static let maxPolicyBytes = 8_192

    public init() {}

    /// Equal apart from tags (what `CreateQueue` of an existing queue compares).
    public func sameSettings(as other: QueueAttributes) -> Bool {
        var mine = self
        mine.tags = other.tags
        return mine == other
    }

    /// Checks every attribute against its range and against the queue's kind.
    /// - Throws: `.invalidAttribute` naming the first bad attribute by its SQS name.
    public func validate(for kind: QueueKind) throws(QueueError) {
        func require(_ ok: Bool, _ name: String, _ reason: @autoclosure () -> String) throws(QueueError) {
            if !ok { throw .invalidAttribute(name: name, reason: reason()) }
        }
        try require(
            (0...QueueLimits.maxVisibilityTimeoutSeconds).contains(visibilityTimeoutSeconds),
            "VisibilityTimeout",
            "\(visibilityTimeoutSeconds) s is outside 0…\(QueueLimits.maxVisibilityTimeoutSeconds) s"
        )
        try require(
            (QueueLimits.minRetentionSeconds...QueueLimits.maxRetentionSeconds).contains(retentionSeconds),
            "MessageRetentionPeriod",
            "\(retentionSeconds) s is outside \(QueueLimits.minRetentionSeconds)…\(QueueLimits.maxRetentionSeconds) s"
        )
        try require(
            (0...QueueLimits.maxDelaySeconds).contains(delaySeconds),
            "DelaySeconds",
            "\(delaySeconds) s is outside 0…\(QueueLimits.maxDelaySeconds) s"
        )
        try require(
            (QueueLimits.minMaximumMessageBytes...QueueLimits.maxMessageBytes).contains(maximumMessageBytes),
            "MaximumMessageSize",
            "\(maximumMessageBytes) bytes is outside \(QueueLimits.minMaximumMessageBytes)…\(QueueLimits.maxMessageBytes)"
        )
        try require(
            (0...QueueLimits.maxReceiveWaitSeconds).contains(receiveWaitSeconds),
            "ReceiveMessageWaitTimeSeconds",
            "\(receiveWaitSeconds) s is outside 0…\(QueueLimits.maxReceiveWaitSeconds) s"
        )
        try require(
            (QueueLimits.minDedupWindowMs...QueueLimits.maxDedupWindowMs).contains(dedupWindowMs),
            "DeduplicationWindowSeconds",
            "\(dedupWindowMs) ms is outside 1 s…24 h"
        )
        try require(maxInFlightMessages >= 1, "MaxInFlightMessages", "must be at least 1")
        try require(
            (QueueLimits.minKmsDataKeyReusePeriodSeconds...QueueLimits.maxKmsDataKeyReusePeriodSeconds)
                .contains(kmsDataKeyReusePeriodSeconds),
            "KmsDataKeyReusePeriodSeconds",
            "\(kmsDataKeyReusePeriodSeconds) s is outside 60…86,400 s"
        )
        try require(
            kmsMasterKeyID.map { !$0.isEmpty && $0.utf8.count <= QueueLimits.maxKmsKeyIDBytes } ?? true,
            "KmsMasterKeyId",
            "1…\(QueueLimits.maxKmsKeyIDBytes) bytes"
        )
        try require(
            !(sqsManagedSSE && kmsMasterKeyID != nil),
            "SqsManagedSseEnabled",
            "one kind of server-side encryption at a time"
        )
        try require(
            (QueueLimits.minProducerIdleMs...QueueLimits.maxProducerIdleMs).contains(producerIdleMs),
            "ProducerSessionIdleSeconds",
            "\(producerIdleMs) ms is outside 1 min…7 d"
        )
        if kind == .standard {
            try require(!contentBasedDeduplication, "ContentBasedDeduplication", "applies to FIFO queues only")
            try require(deduplicationScope == .queue, "DeduplicationScope", "applies to FIFO queues only")
            try require(fifoThroughputLimit == .perQueue, "FifoThroughputLimit", "applies to FIFO queues only")
        } else {
            try require(
                !(deduplicationScope == .queue && fifoThroughputLimit == .perMessageGroupId),
                "FifoThroughputLimit",
                "perMessageGroupId needs DeduplicationScope messageGroup (as in SQS)"
            )
        }
        try require(
            (policy?.utf8.count ?? 0) <= Self.maxPolicyBytes,
            "Policy",
            "\(policy?.utf8.count ?? 0) bytes is more than \(Self.maxPolicyBytes)"
        )
        try require(tags.count <= Self.maxTags, "Tags", "\(tags.count) tags is more than \(Self.maxTags)")
        for (key, value) in tags {
            try require(
                (1...Self.maxTagKeyCharacters).contains(key.count),
                "Tags",
                "a tag key has 1…\(Self.maxTagKeyCharacters) characters"
            )
            try require(
                value.count <= Self.maxTagValueCharacters,
                "Tags",
                "tag \(key): a value has at most \(Self.maxTagValueCharacters) characters"
            )
        }
        if let redrive = redrivePolicy {
            try require(
                (QueueLimits.minMaxReceiveCount...QueueLimits.maxMaxReceiveCount).contains(redrive.maxReceiveCount),
                "RedrivePolicy",
                "maxReceiveCount \(redrive.maxReceiveCount) is outside 1…1000"
            )
            do {
                try QueueName.validate(redrive.deadLetterQueue)
            } catch {
                throw .invalidAttribute(name: "RedrivePolicy", reason: "dead-letter queue: \(error)")
            }
            try require(
                QueueName.kind(of: redrive.deadLetterQueue) == kind,
                "RedrivePolicy",
                "the dead-letter queue of a \(kind == .fifo ? "FIFO" : "standard") queue must be one too"
            )
        }
        if case .byQueue(let sources) = redriveAllowPolicy {
            try require(
                (1...RedriveAllowPolicy.maxSourceQueues).contains(sources.count),
                "RedriveAllowPolicy",
                "byQueue takes 1…\(RedriveAllowPolicy.maxSourceQueues) source queues"
            )
        }
    }
}

/// SQS's naming rules for queues.
public enum QueueName {
    /// The kind a name makes: FIFO when it ends in `.fifo`.
    public static func kind(of name: String) -> QueueKind {
        name.hasSuffix(QueueLimits.fifoSuffix) ? .fifo : .standard
    }

    /// 1–80 characters of letters, digits, `-` and `_`, plus the `.fifo` suffix for FIFO queues.
    public static func validate(_ name: String) throws(QueueError) {
        let base = name.hasSuffix(QueueLimits.fifoSuffix) ? String(name.dropLast(QueueLimits.fifoSuffix.count)) : name
        guard !base.isEmpty else { throw .invalidQueueName(name, reason: "empty") }
        guard name.utf8.count <= QueueLimits.maxQueueNameCharacters else {
            throw .invalidQueueName(name, reason: "longer than \(QueueLimits.maxQueueNameCharacters) characters")
        }
        for byte in base.utf8 {
            let allowed =
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            guard allowed else {
                throw .invalidQueueName(name, reason: "only letters, digits, '-' and '_' are allowed")
            }
        }
    }
}

/// SQS's rules for message group ids and deduplication ids: 1–128 characters, letters, digits and ASCII
/// punctuation (`!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`).
public enum MessageIdentifier {
    public static func isAllowed(_ byte: UInt8) -> Bool {
        // Printable ASCII without the space: digits, letters and every punctuation mark.
        byte > 0x20 && byte < 0x7F
    }

    public static func validateGroupID(_ id: String) throws(QueueError) {
        guard !id.isEmpty else { throw .invalidGroupID(reason: "empty") }
        guard id.utf8.count <= QueueLimits.maxGroupIDCharacters else {
            throw .invalidGroupID(reason: "longer than \(QueueLimits.maxGroupIDCharacters) characters")
        }
        guard id.utf8.allSatisfy(isAllowed) else {
            throw .invalidGroupID(reason: "only letters, digits and ASCII punctuation are allowed")
        }
    }

    public static func validateDeduplicationID(_ id: String) throws(QueueError) {
        guard !id.isEmpty else { throw .invalidDeduplicationID(reason: "empty") }
        guard id.utf8.count <= QueueLimits.maxDeduplicationIDCharacters else {
            throw .invalidDeduplicationID(reason: "longer than \(QueueLimits.maxDeduplicationIDCharacters) characters")
        }
        guard id.utf8.allSatisfy(isAllowed) else {
            throw .invalidDeduplicationID(reason: "only letters, digits and ASCII punctuation are allowed")
        }
    }
}
