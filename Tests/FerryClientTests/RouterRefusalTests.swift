import FerryModel
import FerryNet
import FerryRouter
import FerryWire
import Testing

/// What a call that found no node to serve it reports (`PartitionRouter.kept`, the refusal `call` reports
/// when its retry deadline passes).
@Suite struct RouterRefusalTests {
    static func kept(_ refusals: [WireError]) -> WireError? {
        var last = FerryClientError.unreachable("no node answered")
        for refusal in refusals { last = PartitionRouter.kept(last, refusal) }
        if case .server(let error) = last { return error }
        return nil
    }

    static let repairs = WireError(.unavailable, "node 1's replica of q.fifo/0 repairs after storage damage")
    static let full = WireError(.storageFull, "node 1: no space left on device")
    static func notLeader(_ node: UInt64) -> WireError {
        WireError(.notLeader, "node \(node) does not lead q.fifo/0", leaderHint: 0)
    }

    /// A refusal that says why nothing can serve (a repairing replica, a full disk) is what the caller hears,
    /// not the `notLeader` of a node that merely knows no leader, whichever node was asked last.
    @Test func aRefusalThatSaysWhyOutlivesALaterNotLeader() {
        #expect(Self.kept([Self.repairs, Self.notLeader(2), Self.notLeader(3)]) == Self.repairs)
        #expect(Self.kept([Self.notLeader(2), Self.full, Self.notLeader(3)]) == Self.full)
        // A later refusal that says why replaces it.
        #expect(Self.kept([Self.repairs, Self.full, Self.notLeader(3)]) == Self.full)
    }

    /// Without such a refusal the last answer stands.
    @Test func otherwiseTheLastRefusalStands() {
        #expect(Self.kept([Self.notLeader(1), Self.notLeader(2)]) == Self.notLeader(2))
        let throttled = WireError(.throttled, "slow down")
        #expect(Self.kept([Self.repairs, throttled]) == throttled)
    }
}
