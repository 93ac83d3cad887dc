import FerryQueue
import Testing

@Suite struct ReadyIndexTests {
    @Test func groupsComeOutOldestHeadFirst() {
        var index = ReadyIndex()
        index.insert("b", headSequence: 20)
        index.insert("a", headSequence: 30)
        index.insert("c", headSequence: 10)
        #expect(index.popFirst()?.group == "c")
        #expect(index.popFirst()?.group == "b")
        #expect(index.popFirst()?.group == "a")
        #expect(index.popFirst() == nil)
    }

    @Test func removedAndUpdatedGroupsAreNotHandedOutStale() {
        var index = ReadyIndex()
        index.insert("a", headSequence: 1)
        index.insert("b", headSequence: 2)
        index.remove("a")
        index.insert("b", headSequence: 9)  // its head moved on
        index.insert("c", headSequence: 5)
        #expect(index.popFirst()! == ("c", 5))
        #expect(index.popFirst()! == ("b", 9))
        #expect(index.isEmpty)
    }

    /// Against a plain sorted model, over many random operations (seeded): same answers, and the heap never
    /// keeps far more items than ready groups.
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
        var model: [String: UInt64] = [:]
        var sequence: UInt64 = 0
        for _ in 0..<5_000 {
            let group = "g\(next(200))"
            switch next(4) {
            case 0, 1:
                sequence += 1
                index.insert(group, headSequence: sequence)
                model[group] = sequence
            case 2:
                index.remove(group)
                model[group] = nil
            default:
                let expected = model.min { ($0.value, $0.key) < ($1.value, $1.key) }
                let got = index.popFirst()
                #expect(got?.group == expected?.key)
                #expect(got?.headSequence == expected?.value)
                if let expected { model[expected.key] = nil }
            }
            #expect(index.count == model.count)
        }
    }
}
