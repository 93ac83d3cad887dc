import FerryRaft
import FerryStorage
import Foundation
import NIOCore
import Testing

/// A snapshot file of hundreds of megabytes is written in pieces whose writeback is started and then waited for,
/// one piece behind (issue 19): the log's fdatasync never queues behind more than two pieces of it.
@Suite struct SnapshotPacingTests {
    /// What a file system was asked to do to one file, in order.
    enum Step: Equatable {
        case append(Range<Int>)
        case writeBack(Range<Int>, wait: Bool)
        case sync
    }

    /// Forwards to a `SimulatedFileSystem` and records the steps of every file whose name ends in ".tmp".
    final class Recording: FileSystem {
        let inner = SimulatedFileSystem()
        var steps: [Step] = []

        func createDirectory(_ path: String) throws(StorageError) { try inner.createDirectory(path) }
        func list(_ directory: String) throws(StorageError) -> [String] { try inner.list(directory) }
        func exists(_ path: String) -> Bool { inner.exists(path) }
        func remove(_ path: String) throws(StorageError) { try inner.remove(path) }
        func rename(_ from: String, to: String) throws(StorageError) { try inner.rename(from, to: to) }
        func syncDirectory(_ path: String) throws(StorageError) { try inner.syncDirectory(path) }
        func open(_ path: String, create: Bool) throws(StorageError) -> any StorageFile {
            let file = try inner.open(path, create: create)
            return path.hasSuffix(".tmp") ? File(inner: file, owner: self) : file
        }

        final class File: StorageFile {
            let inner: any StorageFile
            let owner: Recording
            init(inner: any StorageFile, owner: Recording) {
                self.inner = inner
                self.owner = owner
            }
            var path: String { inner.path }
            var size: Int { inner.size }
            func read(at offset: Int, count: Int) throws(StorageError) -> ByteBuffer {
                try inner.read(at: offset, count: count)
            }
            func append(_ bytes: ByteBuffer) throws(StorageError) {
                owner.steps.append(.append(inner.size..<(inner.size + bytes.readableBytes)))
                try inner.append(bytes)
            }
            func truncate(to size: Int) throws(StorageError) { try inner.truncate(to: size) }
            func sync() throws(StorageError) {
                owner.steps.append(.sync)
                try inner.sync()
            }
            func writeBack(_ range: Range<Int>, wait: Bool) {
                owner.steps.append(.writeBack(range, wait: wait))
                inner.writeBack(range, wait: wait)
            }
            func close() { inner.close() }
        }
    }

    /// A state of `count` bytes that no shift of itself equals (a misplaced piece would not read back).
    func state(_ count: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) })
        return buffer
    }

    /// Writes `data` as group 1's snapshot at index 10 of a log at `directory`, and reads it back after a reopen.
    func roundTrip(_ fs: any FileSystem, directory: String, data: ByteBuffer) throws -> Snapshot {
        do {
            let node = try NodeStorage(fileSystem: fs, directory: directory)
            let log = try node.group(1, conf: conf)
            try log.append(entries(1...12, term: 2))
            let metadata = SnapshotMetadata(index: 10, term: 2, conf: conf)
            #expect(try log.snapshotWriter.write(Snapshot(metadata: metadata, data: data)))
            try log.finishSnapshot(metadata, compactTo: 10)
            try node.sync()
        }
        return try NodeStorage(fileSystem: fs, directory: directory).group(1, conf: conf).snapshot()
    }

    @Test func aLargeSnapshotIsWrittenInPacedPieces() throws {
        let piece = SnapshotFileWriter.writeBackBytes
        let data = state(4 * piece + piece / 3)
        let fs = Recording()
        let snapshot = try roundTrip(fs, directory: "/d", data: data)
        #expect(snapshot.metadata.index == 10)
        #expect(snapshot.data == data)

        // Replay the steps: every appended byte is handed to writeback, in order, and waited for one piece behind.
        var appended = 0
        var started = 0
        var waited = 0
        var synced = false
        for step in fs.steps {
            switch step {
            case .append(let range):
                #expect(!synced)
                #expect(range.lowerBound == appended)
                appended = range.upperBound
                #expect(appended - waited <= 2 * piece + 1_024, "more than two pieces queued at \(appended)")
            case .writeBack(let range, wait: false):
                #expect(range.lowerBound == started && range.upperBound == appended)
                started = range.upperBound
            case .writeBack(let range, wait: true):
                #expect(range.lowerBound == waited && range.upperBound <= started)
                waited = range.upperBound
            case .sync:
                synced = true
            }
        }
        #expect(synced)
        #expect(started == appended, "the last piece's writeback was started before the fsync")
        #expect(fs.steps.filter { if case .writeBack(_, wait: true) = $0 { true } else { false } }.count == 4)
    }

    @Test func aSmallSnapshotIsOnePieceAndNothingWaits() throws {
        let fs = Recording()
        #expect(try roundTrip(fs, directory: "/d", data: payload("small")).data == payload("small"))
        #expect(fs.steps.filter { if case .writeBack(_, wait: true) = $0 { true } else { false } }.isEmpty)
        #expect(fs.steps.last == .sync)
    }

    /// On a real disk (sync_file_range) and through the fault layer under power loss, where paced bytes are still
    /// held in the layer: both read a multi-piece snapshot back whole.
    @Test(arguments: [false, true]) func aPacedSnapshotReadsBackFromARealDisk(powerLoss: Bool) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-pacing-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try PosixFileSystem().createDirectory(directory)
        let fs: any FileSystem =
            powerLoss
            ? FaultyFileSystem(
                wrapping: PosixFileSystem(),
                powerLoss: true,
                controlFile: directory + "/storage-faults"
            ) { 0 }
            : PosixFileSystem()
        let data = state(3 * SnapshotFileWriter.writeBackBytes + 5)
        #expect(try roundTrip(fs, directory: directory, data: data).data == data)
    }
}
