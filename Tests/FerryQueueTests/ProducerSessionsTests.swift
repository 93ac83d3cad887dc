import FerryModel
import FerryQueue
import Testing

@Suite struct ProducerSessionsTests {
    func stamp(_ sequence: UInt64, producer: UInt64 = 1, epoch: UInt32 = 0) -> ProducerStamp {
        ProducerStamp(producerID: producer, epoch: epoch, sequence: sequence)
    }

    func position(_ index: UInt64) -> MessagePosition { MessagePosition(partition: 0, index: index, slot: 0) }

    @Test func acceptsNextSequenceAndAnswersRepeatsWithTheirFirstResult() {
        var sessions = ProducerSessions()
        #expect(sessions.check(stamp(0)) == .accept)
        sessions.record(stamp(0), position: position(10), nowMs: 0)
        sessions.record(stamp(1), position: position(11), nowMs: 1)
        #expect(sessions.check(stamp(2)) == .accept)
        #expect(sessions.check(stamp(1)) == .duplicate(position(11)))
        #expect(sessions.check(stamp(0)) == .duplicate(position(10)))
    }

    /// A gap is refused with the expected sequence, so a retry after failover can never reorder a group.
    @Test func rejectsAGapWithTheExpectedSequence() {
        var sessions = ProducerSessions()
        sessions.record(stamp(0), position: position(1), nowMs: 0)
        #expect(sessions.check(stamp(2)) == .outOfOrderSequence(expected: 1))
    }

    @Test func newerEpochFencesTheOlderOne() {
        var sessions = ProducerSessions()
        sessions.record(stamp(0, epoch: 0), position: position(1), nowMs: 0)
        #expect(sessions.check(stamp(5, epoch: 1)) == .outOfOrderSequence(expected: 0))
        sessions.record(stamp(0, epoch: 1), position: position(2), nowMs: 1)
        #expect(sessions.check(stamp(1, epoch: 0)) == .fenced(currentEpoch: 1))
        #expect(sessions.check(stamp(1, epoch: 1)) == .accept)
    }

    @Test func unknownProducerMustStartAtZero() {
        let sessions = ProducerSessions()
        #expect(sessions.check(stamp(7)) == .unknownProducer)
        #expect(sessions.check(stamp(0)) == .accept)
    }

    @Test func oldRepeatsAreKnownButTheirResultForgotten() {
        var sessions = ProducerSessions()
        for n in 0...UInt64(ProducerSessions.maxRememberedSends + 10) {
            sessions.record(stamp(n), position: position(n + 1), nowMs: Int64(n))
        }
        #expect(sessions.check(stamp(3)) == .duplicateResultForgotten)
        #expect(sessions.check(stamp(100)) == .duplicate(position(101)))
    }

    @Test func idleSessionsExpire() {
        var sessions = ProducerSessions()
        sessions.record(stamp(0, producer: 1), position: position(1), nowMs: 0)
        sessions.record(stamp(0, producer: 2), position: position(2), nowMs: 5_000)
        sessions.expire(nowMs: 10_000, idleMs: 10_000)
        #expect(sessions.check(stamp(1, producer: 1)) == .unknownProducer)
        #expect(sessions.check(stamp(1, producer: 2)) == .accept)
    }
}
