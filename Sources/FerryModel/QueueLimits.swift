/// Every limit of the queue state machine, with its unit last (STYLE #5). SQS's values unless noted;
/// `QueueLimitsTests` states the relations between them.
public enum QueueLimits {
    /// A message body (plus attributes) is at most this many bytes (SQS: 1 MiB).
    public static let maxMessageBytes = 1_048_576
    /// The smallest `MaximumMessageSize` a queue may set.
    public static let minMaximumMessageBytes = 1_024
    /// Entries in one batch request (SendMessageBatch, DeleteMessageBatch, …).
    public static let maxBatchEntries = 10
    /// Messages handed out by one receive.
    public static let maxReceiveMessages = 10
    /// Most messages one peek (the console's, `peekMessages`) reads from a partition.
    public static let peekLimit = 100

    public static let maxVisibilityTimeoutSeconds = 43_200
    public static let defaultVisibilityTimeoutSeconds = 30
    /// SQS's `KmsDataKeyReusePeriodSeconds` (a stored setting; see `QueueAttributes.kmsMasterKeyID`).
    public static let defaultKmsDataKeyReusePeriodSeconds = 300
    public static let minKmsDataKeyReusePeriodSeconds = 60
    public static let maxKmsDataKeyReusePeriodSeconds = 86_400
    /// A KMS key id, alias or ARN.
    public static let maxKmsKeyIDBytes = 2_048
    public static let minRetentionSeconds = 60
    public static let maxRetentionSeconds = 1_209_600
    public static let defaultRetentionSeconds = 345_600
    public static let maxDelaySeconds = 900
    public static let maxReceiveWaitSeconds = 20
    public static let minMaxReceiveCount = 1
    public static let maxMaxReceiveCount = 1_000

    /// The deduplication window: SQS fixes it at 5 minutes; Ferry lets a queue choose 1 s … 24 h.
    public static let defaultDedupWindowMs: Int64 = 300_000
    public static let minDedupWindowMs: Int64 = 1_000
    public static let maxDedupWindowMs: Int64 = 86_400_000

    /// In-flight messages per queue (SQS: 120,000 for standard queues); configurable per queue in Ferry.
    public static let defaultMaxInFlightMessages = 120_000

    /// Queue names: 1–80 characters of `[A-Za-z0-9_-]`, FIFO names ending in `.fifo` (suffix included).
    public static let maxQueueNameCharacters = 80
    /// Message group ids and deduplication ids: 1–128 characters of SQS's allowed set.
    public static let maxGroupIDCharacters = 128
    public static let maxDeduplicationIDCharacters = 128
    /// The suffix that makes a queue FIFO.
    public static let fifoSuffix = ".fifo"

    /// A retry of a receive with the same `ReceiveRequestAttemptId` gets the same batch for this long (SQS).
    public static let receiveAttemptWindowMs: Int64 = 300_000
    public static let maxReceiveAttemptIDCharacters = 128

    /// Producer sessions idle this long are forgotten (Kafka's `producer.id.expiration.ms`: 1 day).
    public static let defaultProducerIdleMs: Int64 = 86_400_000
    public static let minProducerIdleMs: Int64 = 60_000
    public static let maxProducerIdleMs: Int64 = 604_800_000
    /// How often, in entry time, idle producer sessions are swept.
    public static let producerSweepIntervalMs: Int64 = 60_000

    /// A queue remembers the moves it took in (dead letters, redrives) for this long, so that a source that
    /// repeats a move after a crash never enqueues it twice; a source gives up on a move after this long.
    public static let moveRecordRetentionMs: Int64 = 1_209_600_000
    /// A message is moved between queues (dead-lettered, redriven) at most this often; after that it stays
    /// where it is, so a redrive loop ends.
    public static let maxMessageMoves = 10
    /// Redrive (move task) rates in messages per second per partition; SQS's default and ceiling is 500.
    public static let defaultMoveRatePerSecond = 500
    public static let maxMoveRatePerSecond = 10_000
    /// At most this many messages enter the outbox by a move task in one entry, so that one entry's work is
    /// bounded; the leader proposes time entries while a task runs.
    public static let maxMovesPerEntry = 1_000
    /// Finished move tasks kept for listing (SQS lists up to 10).
    public static let keptFinishedMoveTasks = 10
    public static let maxMoveTaskIDCharacters = 128

    /// A client batch (SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch) holds 1 to
    /// `maxBatchEntries` entries; the node checks this before it packs client batches into one entry (an entry
    /// holds up to `MessagePosition.maxSlots` sends from many clients).
    public static func validateBatch(count: Int) throws(QueueError) {
        guard count > 0 else { throw .emptyBatch }
        guard count <= maxBatchEntries else { throw .tooManyEntries(count: count, limit: maxBatchEntries) }
    }
}
