import FerryNode
import Testing

/// Long polls parked per group with hand-made time: expired polls leave in arrival order while the others stay,
/// groups come out in id order, and an emptied group holds nothing.
@Suite struct PollBookTests {
    @Test func expiredPollsLeaveInArrivalOrderAndTheOthersStay() {
        var book = PollBook<String>()
        book.park("a", group: 7, deadlineMs: 100)
        book.park("b", group: 7, deadlineMs: 300)
        book.park("c", group: 7, deadlineMs: 200)
        book.park("x", group: 3, deadlineMs: 50)
        #expect(book.groups == [3, 7])
        let none = book.takeExpired(group: 7, at: 99)
        #expect(none.isEmpty)
        let expired = book.takeExpired(group: 7, at: 200)
        #expect(expired.map(\.poll) == ["a", "c"])
        #expect(!book.isEmpty(group: 7))
        let rest = book.takeAll(group: 7)
        #expect(rest.map(\.poll) == ["b"])
        #expect(rest.map(\.deadlineMs) == [300])
        #expect(book.isEmpty(group: 7))
        #expect(book.groups == [3])
        let last = book.takeExpired(group: 3, at: 50)
        #expect(last.map(\.poll) == ["x"])
        #expect(book.groups.isEmpty && book.isEmpty(group: 3))
    }
}
