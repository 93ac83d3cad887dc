import FerryQueue
import Testing

@Suite struct ReadyIndexTests {
    @Test func groupsComeOutInTheOrderTheirHeadsBecameAvailable() {
        var index = ReadyIndex()
        index.insert("b", headSequence: 20, availableAtMs: 200)
        index.insert("a", headSequence: 30, availableAtMs: 300)
        index.insert("c", headSequence: 10, availableAtMs: 100)
        #expect(index.popFirst()?.group == "c")
        #expect(index.popFirst()?.group == "b")
        #expect(index.popFirst()?.group == "a")
        #expect(index.popFirst() == nil)
    }

    /// SQS: a group whose head came back from in flight goes behind a group that was sent later but never
    /// received; equal times go to the older head.
    @Test func aGroupThatCameBackGoesBehindGroupsThatWaited() {
        var index = ReadyIndex()
        index.insert("g1", headSequence: 1, availableAtMs: 5_000)  // received, back at 5 s
        index.insert("g3", headSequence: 4, availableAtMs: 1_000)  // sent at 1 s, never received
        index.insert("g2", headSequence: 2, availableAtMs: 5_000)  // received, back at 5 s too
        #expect(index.first?.group == "g3")
        #expect(index.popFirst()?.group == "g3")
        #expect(index.popFirst()?.group == "g1")
        #expect(index.popFirst()?.group == "g2")
    }

    @Test func removedAndUpdatedGroupsAreNotHandedOutStale() {
        var index = ReadyIndex()
        index.insert("a", headSequence: 1, availableAtMs: 1)
        index.insert("b", headSequence: 2, availableAtMs: 2)
        index.remove("a")
        index.insert("b", headSequence: 9, availableAtMs: 9)  // its head moved on
        index.insert("c", headSequence: 5, availableAtMs: 5)
        #expect(index.first?.group == "c")
        #expect(index.popFirst().map { ($0.group, $0.key.headSequence) }! == ("c", 5))
        #expect(index.popFirst().map { ($0.group, $0.key.headSequence) }! == ("b", 9))
        #expect(index.isEmpty)
        #expect(index.first == nil)
    }

    /// Against a plain sorted model, over many random operations (seeded): same answers from `first` (which
    /// changes nothing) and `popFirst`, and the heap never keeps far more items than ready groups.
    @Test(arguments: 0..<5)
    func matchesASortedModel(_ seed: Int) {
        var state = UInt64(seed + 1) &* 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(bound))
        }
        var index = ReadyIndex()
        var model: [String: ReadyIndex.Key] = [:]
        var sequence: UInt64 = 0
        for _ in 0..<5_000 {
            let group = "g\(next(200))"
            switch next(5) {
            case 0, 1:
                sequence += 1
                let key = ReadyIndex.Key(availableAtMs: Int64(next(1_000)), headSequence: sequence)
                index.insert(group, headSequence: key.headSequence, availableAtMs: key.availableAtMs)
                model[group] = key
            case 2:
                index.remove(group)
                model[group] = nil
            case 3:
                let expected = model.min { ($0.value, $0.key) < ($1.value, $1.key) }
                #expect(index.first?.group == expected?.key)
                #expect(index.first?.key == expected?.value)
            default:
                let expected = model.min { ($0.value, $0.key) < ($1.value, $1.key) }
                let got = index.popFirst()
                #expect(got?.group == expected?.key)
                #expect(got?.key == expected?.value)
                if let expected { model[expected.key] = nil }
            }
            #expect(index.count == model.count)
        }
    }
}
