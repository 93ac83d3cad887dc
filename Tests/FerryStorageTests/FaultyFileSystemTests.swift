import FerryRaft
import FerryStorage
import Foundation
import NIOCore
import Testing

/// The storage fault layer of the real binary (issue 18) on a real disk: power loss keeps only what was
/// fsynced, the control file's words fill the disk, fail an fsync once, and slow fsyncs down.
@Suite struct FaultyFileSystemTests {
    final class Clock: @unchecked Sendable {
        var ms: Int64 = 0
    }

    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "ferry-faulty-\(UUID().uuidString)"
    ).path
    var control: String { directory + "/storage-faults" }

    func layer(powerLoss: Bool, clock: Clock) throws -> FaultyFileSystem {
        try PosixFileSystem().createDirectory(directory)
        return FaultyFileSystem(wrapping: PosixFileSystem(), powerLoss: powerLoss, controlFile: control) { clock.ms }
    }

    func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

    @Test func aPowerLossKeepsOnlyWhatWasSynced() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = Clock()
        let fs = try layer(powerLoss: true, clock: clock)
        let file = try fs.open(directory + "/a", create: true)
        try file.append(payload("abc"))
        try file.sync()
        try file.append(payload("def"))
        #expect(file.size == 6)
        #expect(text(try file.read(at: 0, count: 6)) == "abcdef", "the process reads what it wrote")
        #expect(text(try file.read(at: 2, count: 3)) == "cde", "a read across the synced end")
        // What is on the disk is what a power failure now would keep.
        let disk = try PosixFileSystem().open(directory + "/a", create: false)
        #expect(text(try disk.read(at: 0, count: 100)) == "abc")
        try file.truncate(to: 4)
        try file.sync()
        #expect(text(try PosixFileSystem().open(directory + "/a", create: false).read(at: 0, count: 100)) == "abcd")
    }

    @Test func aNodeLogAfterPowerLossHoldsTheSyncedEntries() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = Clock()
        do {
            let node = try NodeStorage(fileSystem: try layer(powerLoss: true, clock: clock), directory: directory)
            let log = try node.group(1, conf: conf)
            try log.append(entries(1...5, term: 1))
            try node.sync()
            try log.append(entries(6...9, term: 1))
            // The process dies here: 6…9 were never fsynced.
        }
        let node = try NodeStorage(fileSystem: PosixFileSystem(), directory: directory)
        #expect(node.damage.isEmpty, "a lost unsynced tail is not damage")
        let log = try node.group(1, conf: conf)
        #expect(log.lastIndex == 5)
    }

    @Test func theControlFileFillsTheDiskAndFailsAnFsyncOnce() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = Clock()
        let fs = try layer(powerLoss: false, clock: clock)
        let file = try fs.open(directory + "/a", create: true)
        try "full".write(toFile: control, atomically: true, encoding: .utf8)
        clock.ms += 100
        #expect(throws: StorageError.noSpace(path: directory + "/a")) { try file.append(payload("x")) }
        #expect(file.size == 0, "a refused append writes nothing")
        try "fsync-fail fsync-delay-ms=30".write(toFile: control, atomically: true, encoding: .utf8)
        clock.ms += 100
        try file.append(payload("x"))
        #expect(fs.current == FaultyFileSystem.Faults(fsyncFail: true, fsyncDelayMs: 30))
        #expect(throws: StorageError.self) { try file.sync() }
        clock.ms += 100
        #expect(fs.current == FaultyFileSystem.Faults(fsyncDelayMs: 30), "one failure per fsync-fail written")
        let start = ContinuousClock.now
        try file.sync()
        #expect(ContinuousClock.now - start >= .milliseconds(30))
        #expect(
            FaultyFileSystem.Faults(parsing: "fsync-delay-ms=x full\nunknown") == FaultyFileSystem.Faults(full: true)
        )
    }
}
