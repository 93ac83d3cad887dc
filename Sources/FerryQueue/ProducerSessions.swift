import FerryModel

/// Producer sessions of one queue partition (Kafka's idempotent producer, replicated): each producer's epoch,
/// the last sequence it sent here, and the results of its recent sends, so that a retry after a failover is
/// answered with the original result and can never reorder a group (DESIGN §1).
///
/// Time is the entries' leader timestamps; a session idle for the configured time is forgotten.
public struct ProducerSessions: Sendable, Hashable {
    /// Results kept per producer for answering repeats; an older repeat is known accepted, result unknown.
    public static let maxRememberedSends = 128

    public struct Session: Sendable, Hashable {
        public var epoch: UInt32
        public var lastSequence: UInt64
        public var lastActiveMs: Int64
        /// (sequence, result) of the latest sends, oldest first.
        public var recent: [RememberedSend]
    }

    public struct RememberedSend: Sendable, Hashable {
        public var sequence: UInt64
        public var position: MessagePosition
    }

    /// What to do with a stamped send.
    public enum Verdict: Sendable, Hashable {
        /// New and in order: enqueue it, then `record` its result.
        case accept
        /// A repeat of an accepted send: answer with its first result, enqueue nothing.
        case duplicate(MessagePosition)
        /// A repeat too old to have its result remembered: accepted once, enqueue nothing.
        case duplicateResultForgotten
        /// A gap: the producer must resend from `expected` (never accept out of order).
        case outOfOrderSequence(expected: UInt64)
        /// A newer epoch of this producer exists: this instance is a zombie.
        case fenced(currentEpoch: UInt32)
        /// No session (never started here, or expired) and the send is not a session start (sequence 0).
        case unknownProducer
    }

    public private(set) var sessions: [UInt64: Session] = [:]

    public init() {}

    /// Sessions from a snapshot.
    init(restoring sessions: [UInt64: Session]) {
        self.sessions = sessions
    }

    /// Judges a send without changing anything.
    public func check(_ stamp: ProducerStamp) -> Verdict {
        guard let session = sessions[stamp.producerID] else {
            return stamp.sequence == 0 ? .accept : .unknownProducer
        }
        if stamp.epoch < session.epoch { return .fenced(currentEpoch: session.epoch) }
        if stamp.epoch > session.epoch {
            // A new epoch starts its sequences again from 0.
            return stamp.sequence == 0 ? .accept : .outOfOrderSequence(expected: 0)
        }
        if stamp.sequence == session.lastSequence &+ 1 { return .accept }
        if stamp.sequence <= session.lastSequence {
            if let remembered = session.recent.last(where: { $0.sequence == stamp.sequence }) {
                return .duplicate(remembered.position)
            }
            return .duplicateResultForgotten
        }
        return .outOfOrderSequence(expected: session.lastSequence &+ 1)
    }

    /// Records an accepted send.
    /// - Precondition: `check(stamp)` answered `.accept`.
    public mutating func record(_ stamp: ProducerStamp, position: MessagePosition, nowMs: Int64) {
        precondition(check(stamp) == .accept, "recording a send that was not accepted")
        var session =
            sessions[stamp.producerID].flatMap { $0.epoch == stamp.epoch ? $0 : nil }
            ?? Session(epoch: stamp.epoch, lastSequence: 0, lastActiveMs: nowMs, recent: [])
        session.lastSequence = stamp.sequence
        session.lastActiveMs = nowMs
        session.recent.append(RememberedSend(sequence: stamp.sequence, position: position))
        if session.recent.count > Self.maxRememberedSends { session.recent.removeFirst() }
        sessions[stamp.producerID] = session
    }

    /// Forgets sessions idle for `idleMs` or more.
    public mutating func expire(nowMs: Int64, idleMs: Int64) {
        for producer in sessions.keys.sorted() where sessions[producer]!.lastActiveMs + idleMs <= nowMs {
            sessions[producer] = nil
        }
    }
}
