import FerryRaft
import NIOCore

/// Snapshot files of one group: `<index, 20 digits>-<term, 20 digits>.snap`.
///
/// Format (little-endian): `"FERRYSNP" | version u32 | crc32c u32 | index u64 | term u64 |
/// voters (u16 count + u64 each) | learners (u16 count + u64 each) | data length u64 | data`; the checksum
/// covers everything after it. A snapshot is written to `<name>.tmp`, fsynced, renamed, and the directory
/// fsynced, so a crash leaves either the old set or the new file, whole. The newest valid file wins.
struct SnapshotStore {
    static let magic: [UInt8] = Array("FERRYSNP".utf8)
    static let formatVersion: UInt32 = 1

    let fileSystem: any FileSystem
    let directory: String

    static func name(index: LogIndex, term: Term) -> String {
        func pad(_ value: UInt64) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
        }
        return "\(pad(index))-\(pad(term)).snap"
    }

    static func parse(_ name: String) -> (index: LogIndex, term: Term)? {
        guard name.hasSuffix(".snap") else { return nil }
        let parts = name.dropLast(5).split(separator: "-")
        guard parts.count == 2, let index = LogIndex(parts[0]), let term = Term(parts[1]) else { return nil }
        return (index, term)
    }

    /// The bytes a snapshot file is written in. Each piece's writeback starts when it is appended and the next
    /// piece waits until the one before it is on the device, so that a snapshot of hundreds of megabytes never
    /// queues more than two pieces in front of the log's fdatasync (issue 19: unpaced, an off-CPU profile caught
    /// the log's fdatasync waiting 300-600 ms behind snapshot files' writeback, on every node at once).
    static let writeBackBytes = 2 << 20

    /// The file's bytes before the state: magic, version, checksum, then the metadata the checksum covers first.
    /// The file is this followed by `snapshot.data`, so the state is never copied into a second buffer.
    static func header(_ snapshot: Snapshot) -> ByteBuffer {
        var covered = ByteBuffer()
        let metadata = snapshot.metadata
        covered.writeInteger(metadata.index, endianness: .little)
        covered.writeInteger(metadata.term, endianness: .little)
        for members in [metadata.conf.voters, metadata.conf.learners] {
            covered.writeInteger(UInt16(members.count), endianness: .little)
            for member in members { covered.writeInteger(member, endianness: .little) }
        }
        covered.writeInteger(UInt64(snapshot.data.readableBytes), endianness: .little)
        let checksum = snapshot.data.withUnsafeReadableBytes { data in
            CRC32C.update(covered.withUnsafeReadableBytes { CRC32C.checksum($0) }, data)
        }
        var header = ByteBuffer()
        header.writeBytes(magic)
        header.writeInteger(formatVersion, endianness: .little)
        header.writeInteger(checksum, endianness: .little)
        header.writeBuffer(&covered)
        return header
    }

    static func decode(_ bytes: ByteBuffer, path: String) throws(StorageError) -> Snapshot {
        var bytes = bytes
        guard bytes.readBytes(length: 8) == magic else { throw .badSnapshot(path: path, reason: "not a snapshot") }
        guard let version = bytes.readInteger(endianness: .little, as: UInt32.self), version == formatVersion,
            let stored = bytes.readInteger(endianness: .little, as: UInt32.self)
        else { throw .badSnapshot(path: path, reason: "unknown format version") }
        let computed = bytes.withUnsafeReadableBytes { CRC32C.checksum($0) }
        guard stored == computed else { throw .badSnapshot(path: path, reason: "checksum mismatch") }
        guard let index = bytes.readInteger(endianness: .little, as: UInt64.self),
            let term = bytes.readInteger(endianness: .little, as: UInt64.self)
        else { throw .badSnapshot(path: path, reason: "truncated") }
        var lists: [[NodeID]] = []
        for _ in 0..<2 {
            guard let count = bytes.readInteger(endianness: .little, as: UInt16.self) else {
                throw .badSnapshot(path: path, reason: "truncated membership")
            }
            var members: [NodeID] = []
            for _ in 0..<count {
                guard let member = bytes.readInteger(endianness: .little, as: UInt64.self) else {
                    throw .badSnapshot(path: path, reason: "truncated membership")
                }
                members.append(member)
            }
            lists.append(members)
        }
        guard let length = bytes.readInteger(endianness: .little, as: UInt64.self),
            length == UInt64(bytes.readableBytes), let data = bytes.readSlice(length: Int(length))
        else { throw .badSnapshot(path: path, reason: "data length does not match the file") }
        let metadata = SnapshotMetadata(index: index, term: term, conf: ConfState(voters: lists[0], learners: lists[1]))
        return Snapshot(metadata: metadata, data: data)
    }

    func save(_ snapshot: Snapshot) throws(StorageError) {
        try fileSystem.createDirectory(directory)
        let name = Self.name(index: snapshot.metadata.index, term: snapshot.metadata.term)
        let path = joinPath(directory, name)
        let temporary = path + ".tmp"
        try fileSystem.remove(temporary)
        let file = try fileSystem.open(temporary, create: true)
        defer { file.close() }
        try file.append(Self.header(snapshot))
        var data = snapshot.data
        var unpaced = 0
        var previous: Range<Int>?
        while data.readableBytes > 0 {
            try file.append(data.readSlice(length: min(Self.writeBackBytes, data.readableBytes))!)
            guard file.size - unpaced >= Self.writeBackBytes || data.readableBytes == 0 else { continue }
            let piece = unpaced..<file.size
            file.writeBack(piece, wait: false)
            if let previous { file.writeBack(previous, wait: true) }
            previous = piece
            unpaced = file.size
        }
        try file.sync()
        try fileSystem.rename(temporary, to: path)
        try fileSystem.syncDirectory(directory)
    }

    /// The newest snapshot that reads back whole; nil when there is none.
    /// - Throws: when a snapshot file exists but none is readable (the group must stop, not start empty).
    func loadNewest() throws(StorageError) -> Snapshot? {
        // A group that never took a snapshot has no directory: listing it fails, and that means "none".
        let names = ((try? fileSystem.list(directory)) ?? []).filter { Self.parse($0) != nil }
        var firstError: StorageError?
        for name in names.sorted(by: >) {
            let path = joinPath(directory, name)
            do throws(StorageError) {
                let file = try fileSystem.open(path, create: false)
                defer { file.close() }
                let snapshot = try Self.decode(try file.read(at: 0, count: file.size), path: path)
                guard let parsed = Self.parse(name), parsed.index == snapshot.metadata.index,
                    parsed.term == snapshot.metadata.term
                else { throw StorageError.badSnapshot(path: path, reason: "contents do not match the file name") }
                return snapshot
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
        return nil
    }

    /// Removes snapshot files older than `index` and leftover temporary files.
    func removeOlder(than index: LogIndex) throws(StorageError) {
        var removed = false
        for name in try fileSystem.list(directory) {
            if name.hasSuffix(".tmp") || (Self.parse(name).map { $0.index < index } ?? false) {
                try fileSystem.remove(joinPath(directory, name))
                removed = true
            }
        }
        if removed { try fileSystem.syncDirectory(directory) }
    }
}
