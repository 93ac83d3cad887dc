import FerryNode
import Testing

/// `DiskHealth`: slow when the median of the last 8 group commits is above `slow_disk_ms`.
@Suite struct DiskHealthTests {
    /// Records each duration; the ones that changed `isSlow`, by position.
    func changes(_ health: inout DiskHealth, _ durations: [Int64]) -> [Int] {
        var changed: [Int] = []
        for (at, ms) in durations.enumerated() where health.record(ms: ms) { changed.append(at) }
        return changed
    }

    @Test func slowOnlyWhenTheMedianOfAWholeWindowIsAboveTheBound() {
        var health = DiskHealth(slowMs: 250)
        #expect(changes(&health, Array(repeating: 400, count: 7)) == [], "seven commits do not fill the window")
        #expect(!health.isSlow)
        #expect(changes(&health, [400]) == [0])
        #expect(health.isSlow && health.medianMs == 400)
        // A few fast commits among slow ones change nothing; a majority of fast ones does.
        #expect(changes(&health, [1, 2, 2, 2]) == [], "4 of 8 slow: the upper median is still slow")
        #expect(health.isSlow)
        #expect(changes(&health, [2]) == [0])
        #expect(!health.isSlow && health.medianMs == 2)
    }

    @Test func spikesAreNotASlowDisk() {
        var health = DiskHealth(slowMs: 250)
        #expect(changes(&health, (0..<100).map { $0 % 4 == 0 ? 900 : 3 }) == [])
        #expect(!health.isSlow)
    }

    @Test func zeroNeverCallsADiskSlow() {
        var health = DiskHealth(slowMs: 0)
        #expect(changes(&health, Array(repeating: 10_000, count: 20)) == [])
        #expect(!health.isSlow)
    }
}
