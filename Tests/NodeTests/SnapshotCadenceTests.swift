import FerryNode
import Testing

/// When a group snapshots (issue 19): by entries, and for a large state only once the log has grown by a quarter of
/// its last snapshot.
@Suite struct SnapshotCadenceTests {
    let every = 10_000

    @Test func aSmallStateSnapshotsEverySoManyEntriesAsBefore() {
        #expect(
            !SnapshotCadence.due(entriesSince: 9_999, bytesSince: 1 << 30, lastSnapshotBytes: 0, everyEntries: every)
        )
        #expect(SnapshotCadence.due(entriesSince: 10_000, bytesSince: 0, lastSnapshotBytes: 0, everyEntries: every))
        let small = SnapshotCadence.largeSnapshotBytes - 1
        #expect(SnapshotCadence.due(entriesSince: 10_000, bytesSince: 0, lastSnapshotBytes: small, everyEntries: every))
    }

    /// A drain of a deep queue: 10,000 deletes of 300 bytes are 3 MB of log against a 300 MB state; the next
    /// snapshot waits for 75 MB of log.
    @Test func aLargeStateWaitsForAQuarterOfItsBytesInLog() {
        let state = 300_000_000
        #expect(
            !SnapshotCadence.due(
                entriesSince: 10_000,
                bytesSince: 3_000_000,
                lastSnapshotBytes: state,
                everyEntries: every
            )
        )
        #expect(
            !SnapshotCadence.due(
                entriesSince: 240_000,
                bytesSince: 74_999_999,
                lastSnapshotBytes: state,
                everyEntries: every
            )
        )
        #expect(
            SnapshotCadence.due(
                entriesSince: 250_000,
                bytesSince: 75_000_000,
                lastSnapshotBytes: state,
                everyEntries: every
            )
        )
        // Bytes alone never make a snapshot due before the entries do.
        #expect(
            !SnapshotCadence.due(entriesSince: 9_999, bytesSince: state, lastSnapshotBytes: state, everyEntries: every)
        )
    }
}
