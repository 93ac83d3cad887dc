import FerryModel
import FerryQueue
import FerryRaft
import Testing

@Suite struct DedupWindowTests {
    let window: Int64 = 300_000

    func record(_ index: UInt64, at ms: Int64) -> DedupRecord {
        DedupRecord(position: MessagePosition(partition: 0, index: index, slot: 0), acceptedAtMs: ms)
    }

    func key(_ id: String) -> DedupKey { DedupWindow.key(deduplicationID: id, groupID: nil, scope: .queue) }

    @Test func dedupReturnsFirstResultInsideWindow() {
        var dedup = DedupWindow()
        dedup.insert(key("o-981"), record(7, at: 1_000))
        #expect(dedup.lookup(key("o-981"), nowMs: 1_000 + window - 1, windowMs: window) == record(7, at: 1_000))
        #expect(dedup.lookup(key("o-981"), nowMs: 1_000 + window, windowMs: window) == nil, "the window is half-open")
        #expect(dedup.lookup(key("other"), nowMs: 1_001, windowMs: window) == nil)
    }

    @Test func expiryForgetsOnlyRecordsOlderThanTheWindow() {
        var dedup = DedupWindow()
        for n in 0..<100 { dedup.insert(key("id-\(n)"), record(UInt64(n + 1), at: Int64(n * 10_000))) }
        dedup.expire(nowMs: 500_000, windowMs: window)
        // The window is half-open: accepted at 200,000 ms is gone at 500,000 ms; ids 21 … 99 survive.
        #expect(dedup.count == 79)
        #expect(dedup.lookup(key("id-20"), nowMs: 500_000, windowMs: window) == nil)
        #expect(dedup.lookup(key("id-21"), nowMs: 500_000, windowMs: window) != nil)
        #expect(dedup.orderedRecords.first?.key == key("id-21"))
        #expect(dedup.invariantViolations.isEmpty)
    }

    /// The key is the SHA-256 of the scoped id (the form snapshots before version 4 kept): the group and a
    /// zero byte before the id under `messageGroup` scope.
    @Test func scopeMessageGroupSeparatesGroups() {
        let a = DedupWindow.key(deduplicationID: "d", groupID: "g1", scope: .messageGroup)
        let b = DedupWindow.key(deduplicationID: "d", groupID: "g2", scope: .messageGroup)
        #expect(a != b)
        #expect(a == DedupKey(scoped: "g1\u{0}d"))
        #expect(key("d") == DedupKey(scoped: "d"))
        // SHA-256("d") = 18ac3e7343f016890c510e93f935261169d9e3f565436429830faf0934f4f8e4.
        #expect(key("d") == DedupKey(high: 0x18ac_3e73_43f0_1689, low: 0x0c51_0e93_f935_2611))
    }

    @Test func snapshotOrderRestoresTheSameWindow() {
        var dedup = DedupWindow()
        for n in 0..<10 { dedup.insert(key("k\(n)"), record(UInt64(n + 1), at: Int64(n))) }
        var restored = DedupWindow()
        for (key, record) in dedup.orderedRecords { restored.insert(key, record) }
        #expect(restored.orderedRecords.map(\.key) == dedup.orderedRecords.map(\.key))
        restored.expire(nowMs: window + 5, windowMs: window)
        dedup.expire(nowMs: window + 5, windowMs: window)
        #expect(restored.orderedRecords.map(\.key) == dedup.orderedRecords.map(\.key))
    }

    /// The records and their open-addressing index against a dictionary model, through growth, removals in the
    /// middle of probe runs (keys forced into few home slots), keys inserted again, and the shrink once the
    /// window is mostly empty.
    @Test func theTableAgreesWithADictionaryThroughGrowthRemovalAndShrink() {
        var dedup = DedupWindow()
        var model: [DedupKey: DedupRecord] = [:]
        var accepted: [DedupKey] = []
        var generator = Xoshiro256(seed: 7)
        var now: Int64 = 0
        for round in 0..<20_000 {
            now += Int64(generator.next() % 3)
            // Keys whose low words share their last bits collide in small tables: long probe runs.
            let key = DedupKey(high: generator.next(), low: generator.next() & ~0xFF | UInt64(round % 4))
            let record = record(UInt64(round + 1), at: now)
            dedup.insert(key, record)
            model[key] = record
            accepted.append(key)
            // Now and then a key inserted again (as an expired record not yet swept is): it moves to the end.
            if round % 50 == 25, let again = accepted.dropLast().randomElement(using: &generator) {
                let replaced = self.record(UInt64(round + 1), at: now)
                dedup.insert(again, replaced)
                model[again] = replaced
                accepted.removeAll { $0 == again }
                accepted.append(again)
            }
            if round % 97 == 0 {
                let window = Int64(generator.next() % 2_000) + 1
                dedup.expire(nowMs: now, windowMs: window)
                accepted.removeAll { key in
                    guard let kept = model[key], kept.acceptedAtMs + window <= now else { return false }
                    model[key] = nil
                    return true
                }
            }
        }
        #expect(dedup.invariantViolations.isEmpty)
        #expect(dedup.count == model.count)
        for (key, record) in model { #expect(dedup.lookup(key, nowMs: now, windowMs: .max / 2) == record) }
        #expect(dedup.orderedRecords.map(\.key) == accepted)
        dedup.expire(nowMs: now + 1, windowMs: 1)
        #expect(dedup.count == 0 && dedup.invariantViolations.isEmpty)
        #expect(dedup.lookup(accepted.first ?? key("x"), nowMs: now, windowMs: 10) == nil)
    }
}

@Suite struct MessagePositionTests {
    @Test func sequenceNumbersIncreaseWithinAPartition() {
        let positions = [(1, 0), (1, 1), (1, 1_023), (2, 0), (900, 5)].map {
            MessagePosition(partition: 3, index: UInt64($0.0), slot: UInt16($0.1))
        }
        let sequences = positions.map(\.sequenceNumber)
        #expect(sequences == sequences.sorted())
        #expect(Set(sequences).count == sequences.count)
    }

    @Test func messageIDsAreUUIDShapedAndDistinct() {
        var seen = Set<String>()
        for partition: UInt32 in [0, 1, 2_047] {
            for index: UInt64 in [1, 2, MessagePosition.maxIndex - 1] {
                for slot: UInt16 in [0, 9] {
                    let id = MessagePosition(partition: partition, index: index, slot: slot).messageID(queueID: 42)
                    #expect(id.count == 36)
                    #expect(id.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
                    seen.insert(id)
                }
            }
        }
        #expect(seen.count == 18)
        let position = MessagePosition(partition: 1, index: 5, slot: 2)
        #expect(position.messageID(queueID: 1) != position.messageID(queueID: 2))
    }

    /// Ids already handed out stay the same: the digit-by-digit writer gives what the first formula gave (queue
    /// id, then partition and sequence number, as 32 hex digits in UUID groups).
    @Test func messageIDsKeepTheirFirstForm() {
        func reference(_ position: MessagePosition, _ queueID: UInt64) -> String {
            func hex(_ value: UInt64) -> String {
                let text = String(value, radix: 16)
                return String(repeating: "0", count: 16 - text.count) + text
            }
            let characters = Array(hex(queueID) + hex(UInt64(position.partition) << 53 | position.sequenceNumber))
            let groups = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32]
            return groups.map { String(characters[$0]) }.joined(separator: "-")
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let position = MessagePosition(
                partition: UInt32.random(in: 0..<MessagePosition.maxPartitions, using: &generator),
                index: UInt64.random(in: 0..<MessagePosition.maxIndex, using: &generator),
                slot: UInt16.random(in: 0..<UInt16(MessagePosition.maxSlots), using: &generator)
            )
            let queueID = UInt64.random(in: 0...UInt64.max, using: &generator)
            #expect(position.messageID(queueID: queueID) == reference(position, queueID))
        }
        #expect(
            MessagePosition(partition: 0, index: 0, slot: 0).messageID(queueID: 0)
                == "00000000-0000-0000-0000-000000000000"
        )
    }
}
