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

    public static let maxVisibilityTimeoutSeconds = 43_200
    public static let defaultVisibilityTimeoutSeconds = 30
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
}
