import FerryRaft
import NIOCore

/// Where a record lives: its segment, byte offset and size.
public struct RecordLocation: Sendable, Hashable {
    public var segment: UInt64
    public var offset: Int
    public var size: Int
}

/// Damage found in the log at start-up: where, and why. The records it held are lost; whose they were is not
/// known (a damaged record's group field cannot be believed), so every group repairs (`NodeStorage`).
public struct WALDamage: Sendable, Hashable, CustomStringConvertible {
    public var segment: UInt64
    public var offset: Int
    public var reason: String

    public init(segment: UInt64, offset: Int, reason: String) {
        self.segment = segment
        self.offset = offset
        self.reason = reason
    }

    public var description: String {
        "segment \(WriteAheadLog.segmentName(segment)) at offset \(offset): \(reason)"
    }
}

/// The node-wide write-ahead log: every Raft group of the node appends to it, and one fsync covers all of
/// them (group commit: the cost of durability does not grow with the number of partitions).
///
/// Files: `<directory>/<sequence, 20 digits>.wal`. Each segment starts with a 24-byte header
/// (`"FERRYWAL" | version u32 | reserved u32 | sequence u64`, little-endian) followed by `WALRecord`s. A segment
/// is sealed once it exceeds `segmentBytes`; the next one starts.
///
/// Recovery (issue 18, protocol-aware) reads the segments in order and tells a torn write from damage. In the
/// last segment, a record that fails its checksum or runs past the end, with no valid record after it and at or
/// beyond the last `synced` mark, is a torn write of records never acknowledged: it is cut off. Anything else
/// (a damaged record before a valid one or below a `synced` mark, a bad record header in a sealed segment, a bad
/// segment header, a missing segment) is damage: it is reported in `damage` and skipped to the next valid
/// record, never believed; the owner (`NodeStorage`) repairs the groups it may have held.
public final class WriteAheadLog {
    public static let magic: [UInt8] = Array("FERRYWAL".utf8)
    public static let formatVersion: UInt32 = 1
    public static let headerBytes = 24

    let fileSystem: any FileSystem
    public let directory: String
    public let segmentBytes: Int
    private(set) var sequences: [UInt64] = []
    private var files: [UInt64: any StorageFile] = [:]
    private var active: (any StorageFile)?
    /// Bytes written since the last sync.
    public private(set) var unsyncedBytes = 0
    /// Encoded records not yet written (see `append`).
    private var buffered = ByteBuffer()
    /// Entries records to write uncompressed before trying LZ4 again.
    private var compressionSkips = 0
    static let compressionBackoffRecords = 32
    /// Set after a failed write: the log accepts nothing more until reopened.
    public private(set) var failure: StorageError?
    /// A `synced` mark was written after the last fsync.
    private var markUnsynced = false
    /// The group commit whose fdatasync runs now (`beginSync`): nothing is written to the files meanwhile.
    public private(set) var syncInFlight: WALSync?
    /// How long the last finished fdatasync took.
    public private(set) var lastSyncNanoseconds: Int64 = 0
    /// The damage found at start-up, in log order.
    public private(set) var damage: [WALDamage] = []

    public static func segmentName(_ sequence: UInt64) -> String {
        let digits = String(sequence)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".wal"
    }

    /// Opens (or creates) the log and hands every readable record's header, in order, to `replay`.
    ///
    /// Sealed segments were fsynced when the next one started: only their record headers are read (one small
    /// read per record; checksums are verified when a record is read back). The last segment is read whole and
    /// every checksum verified, since a crash may have torn its tail.
    /// - Throws: `StorageError` only when the directory cannot be read or written.
    public init(
        fileSystem: any FileSystem,
        directory: String,
        segmentBytes: Int = 64 << 20,
        replay: (WALRecordHeader, RecordLocation) throws(StorageError) -> Void
    ) throws(StorageError) {
        self.fileSystem = fileSystem
        self.directory = directory
        self.segmentBytes = segmentBytes
        try fileSystem.createDirectory(directory)
        let names = try fileSystem.list(directory).filter { $0.hasSuffix(".wal") }
        var found: [UInt64] = []
        for name in names {
            guard let sequence = UInt64(name.dropLast(4)) else {
                damage.append(WALDamage(segment: 0, offset: 0, reason: "\(name) is not a segment name"))
                continue
            }
            found.append(sequence)
        }
        found.sort()
        var usable: [UInt64] = []
        for (position, sequence) in found.enumerated() {
            if position > 0 && sequence != found[position - 1] + 1 {
                damage.append(
                    WALDamage(segment: found[position - 1] + 1, offset: 0, reason: "segment missing")
                )
            }
            let isLast = position == found.count - 1
            if try recover(sequence: sequence, isLast: isLast, replay: replay) { usable.append(sequence) }
        }
        sequences = usable
        if let last = found.last, usable.last == last {
            active = files[last]
        } else {
            // No segment yet, or the last one's header is unreadable: go on in a new one after it.
            try startSegment((found.last ?? 0) + 1)
        }
    }

    /// Recovers one segment; false when its header is unreadable (the whole segment is damage).
    private func recover(
        sequence: UInt64,
        isLast: Bool,
        replay: (WALRecordHeader, RecordLocation) throws(StorageError) -> Void
    ) throws(StorageError) -> Bool {
        let path = joinPath(directory, Self.segmentName(sequence))
        let file = try fileSystem.open(path, create: false)
        files[sequence] = file
        let bytes = try file.read(at: 0, count: isLast ? file.size : Self.headerBytes)
        if bytes.readableBytes < Self.headerBytes && isLast {
            // A segment whose header never became durable: start it again.
            try file.truncate(to: 0)
            try writeHeader(file, sequence: sequence)
            return true
        }
        do {
            try Self.checkHeader(bytes, path: path, sequence: sequence)
        } catch {
            damage.append(WALDamage(segment: sequence, offset: 0, reason: error.description))
            files[sequence] = nil
            file.close()
            return false
        }
        if !isLast {
            try scanHeaders(file, sequence: sequence, replay: replay)
            return true
        }
        var offset = Self.headerBytes
        // Everything below this offset was durable at some fsync (the latest `synced` record read so far).
        var synced = 0
        // Advance a cursor rather than slicing: a ByteBuffer slice far into a large buffer copies its bytes.
        var rest = bytes
        rest.moveReaderIndex(forwardBy: offset)
        while rest.readableBytes > 0 {
            let scanned = WALRecord.scan(rest)
            switch scanned {
            case .record(let record, let size):
                if record.kind == .synced && record.group == WALRecord.nodeRecordGroup {
                    synced = max(synced, Int(record.index))
                }
                try replay(record.header, RecordLocation(segment: sequence, offset: offset, size: size))
                offset += size
                rest.moveReaderIndex(forwardBy: size)
            case .incomplete, .corrupt:
                let reason: String
                if case .corrupt(let error) = scanned {
                    reason = error.description
                } else {
                    reason = "record runs past the end of the file"
                }
                if let skip = Self.nextValidRecord(rest) {
                    damage.append(WALDamage(segment: sequence, offset: offset, reason: reason))
                    offset += skip
                    rest.moveReaderIndex(forwardBy: skip)
                    continue
                }
                if offset < synced {
                    // Below a synced mark: durable, maybe acknowledged. Damage, not a torn write.
                    damage.append(WALDamage(segment: sequence, offset: offset, reason: reason + " (synced data)"))
                }
                // Nothing valid follows: cut it off, so that appends go on after the last valid record.
                try file.truncate(to: offset)
                try file.sync()
                return true
            }
        }
        return true
    }

    /// Walks a sealed segment record by record, reading only each record's first bytes; a header that cannot
    /// be one is damage, and the walk resumes at the next valid record.
    private func scanHeaders(
        _ file: any StorageFile,
        sequence: UInt64,
        replay: (WALRecordHeader, RecordLocation) throws(StorageError) -> Void
    ) throws(StorageError) {
        var offset = Self.headerBytes
        let size = file.size
        while offset < size {
            let bytes = try file.read(at: offset, count: WALRecord.headerScanBytes)
            guard let (header, recordSize) = WALRecord.scanHeader(bytes), offset + recordSize <= size else {
                damage.append(
                    WALDamage(segment: sequence, offset: offset, reason: "not a record header in a sealed segment")
                )
                let rest = try file.read(at: offset, count: size - offset)
                guard let skip = Self.nextValidRecord(rest) else { return }
                offset += skip
                continue
            }
            try replay(header, RecordLocation(segment: sequence, offset: offset, size: recordSize))
            offset += recordSize
        }
    }

    /// The distance from the start of `bytes` to the first byte position after it that starts a valid record
    /// (checksum verified), or nil when there is none.
    static func nextValidRecord(_ bytes: ByteBuffer) -> Int? {
        var candidate = bytes
        var skipped = 0
        while candidate.readableBytes > WALRecord.prefixBytes + WALRecord.headerBytes {
            candidate.moveReaderIndex(forwardBy: 1)
            skipped += 1
            if case .record = WALRecord.scan(candidate) { return skipped }
        }
        return nil
    }

    static func checkHeader(_ bytes: ByteBuffer, path: String, sequence: UInt64) throws(StorageError) {
        guard bytes.readableBytes >= headerBytes else { throw .badHeader(path: path, reason: "truncated header") }
        guard bytes.getBytes(at: bytes.readerIndex, length: 8) == magic else {
            throw .badHeader(path: path, reason: "not a Ferry write-ahead log")
        }
        let version = bytes.getInteger(at: bytes.readerIndex + 8, endianness: .little, as: UInt32.self)!
        guard version == formatVersion else {
            throw .badHeader(path: path, reason: "format version \(version), this build reads \(formatVersion)")
        }
        let stored = bytes.getInteger(at: bytes.readerIndex + 16, endianness: .little, as: UInt64.self)!
        guard stored == sequence else { throw .badHeader(path: path, reason: "holds sequence \(stored)") }
    }

    private func writeHeader(_ file: any StorageFile, sequence: UInt64) throws(StorageError) {
        var header = ByteBuffer()
        header.writeBytes(Self.magic)
        header.writeInteger(Self.formatVersion, endianness: .little)
        header.writeInteger(UInt32(0), endianness: .little)
        header.writeInteger(sequence, endianness: .little)
        try file.append(header)
    }

    private func startSegment(_ sequence: UInt64) throws(StorageError) {
        let path = joinPath(directory, Self.segmentName(sequence))
        let file = try fileSystem.open(path, create: true)
        // Left over from an attempt that met a full disk: start it again.
        if file.size > 0 { try file.truncate(to: 0) }
        try writeHeader(file, sequence: sequence)
        try fileSystem.syncDirectory(directory)
        files[sequence] = file
        sequences.append(sequence)
        active = file
    }

    public var activeSequence: UInt64 { sequences.last ?? 0 }

    /// Appends records to the active segment. They are buffered and written with one write at the next
    /// `sync()` (or once `maxBufferedBytes` accumulate), so that a group commit over many groups costs one
    /// write and one fdatasync, however many groups took part.
    /// - Returns: where each record went.
    public func append(_ records: [WALRecord]) throws(StorageError) -> [RecordLocation] {
        if let failure { throw failure }
        guard active != nil else { preconditionFailure("log not open") }
        var locations: [RecordLocation] = []
        locations.reserveCapacity(records.count)
        let base = activeSize
        let bufferedBefore = buffered.readableBytes
        for record in records {
            let start = buffered.writerIndex
            let compression = record.encode(into: &buffered, tryCompression: compressionSkips == 0)
            if compression.tried {
                // Back off after an attempt that did not pay: incompressible traffic then costs no LZ4 time.
                compressionSkips = compression.used ? 0 : Self.compressionBackoffRecords
            } else if compressionSkips > 0 && record.kind == .entries {
                compressionSkips -= 1
            }
            locations.append(
                RecordLocation(
                    segment: activeSequence,
                    offset: base + (start - buffered.readerIndex) - bufferedBefore,
                    size: buffered.writerIndex - start
                )
            )
        }
        if buffered.readableBytes >= Self.maxBufferedBytes {
            do {
                try flush()
            } catch {
                // A full disk keeps the records buffered; the next sync retries and reports it.
                guard case .noSpace = error else { throw error }
            }
        }
        return locations
    }

    /// Buffered bytes beyond which an append writes at once rather than waiting for the next sync.
    public static let maxBufferedBytes = 1 << 20

    /// Logical size of the active segment: what is written plus what is buffered.
    var activeSize: Int { (active?.size ?? 0) + buffered.readableBytes }

    /// Writes the buffered records. On a full disk nothing is lost: the records stay buffered and the write
    /// is tried again by the next flush.
    func flush() throws(StorageError) {
        guard syncInFlight == nil, buffered.readableBytes > 0, let file = active else { return }
        do {
            try file.append(buffered)
        } catch {
            if case .noSpace = error { throw error }
            failure = error
            throw error
        }
        unsyncedBytes += buffered.readableBytes
        buffered.clear()
    }

    /// True when the active segment is full: the owner rolls (and writes its checkpoint) before appending.
    public var needsRoll: Bool { activeSize >= segmentBytes }

    /// Seals the active segment (durably) and starts the next one.
    public func roll() throws(StorageError) {
        if let failure { throw failure }
        // No `synced` mark: a sealed segment ends at its last fsync, all of it durable.
        try sync(mark: false)
        try startSegment(activeSequence + 1)
    }

    /// Group commit: writes what is buffered and fdatasyncs the active segment; every record appended so far,
    /// by any group, is durable when this returns.
    ///
    /// Then (`mark`) it writes, without syncing, a `synced` record saying how many bytes of the segment are now
    /// durable: a process that dies keeps it (the page cache does), and at start-up damage below it is known to
    /// be damage, not a torn write. It becomes durable with the next sync; a power loss may lose it, and then
    /// only damage at the very tail goes undetected (`WriteAheadLog`).
    public func sync() throws(StorageError) {
        try sync(mark: true)
    }

    /// - Parameter mark: false before sealing a segment: no mark is written, and a mark still unsynced is synced,
    ///   so that a sealed segment is durable to its last byte.
    func sync(mark: Bool) throws(StorageError) {
        try finishSync()
        guard let sync = try startSync(mark: mark) else { return }
        sync.run()
        try finishSync()
    }

    /// Group commit, first half (asynchronous storage writes): writes what is buffered and returns the fdatasync
    /// that makes it durable, for the caller to `run()` on any thread; nil when nothing is unsynced. Until
    /// `finishSync()`, appends stay buffered and every record appended before this call is durable only once
    /// the sync has finished.
    public func beginSync() throws(StorageError) -> WALSync? {
        try finishSync()
        return try startSync(mark: true)
    }

    private func startSync(mark: Bool) throws(StorageError) -> WALSync? {
        if let failure { throw failure }
        try flush()
        guard unsyncedBytes > 0 || (!mark && markUnsynced), let file = active else { return nil }
        let sync = WALSync(file: file, durableSize: file.size, mark: mark)
        syncInFlight = sync
        return sync
    }

    /// Group commit, second half: waits for the sync in flight (running it here if no thread has), then records
    /// it: every record appended before `beginSync()` is durable. Nothing to do when no sync is in flight.
    ///
    /// Then (unless the segment is being sealed) it writes, without syncing, a `synced` record saying how many
    /// bytes of the segment are now durable (see `sync()`).
    public func finishSync() throws(StorageError) {
        guard let sync = syncInFlight else { return }
        let outcome = sync.wait()
        syncInFlight = nil
        lastSyncNanoseconds = outcome.nanoseconds
        if let error = outcome.failure {
            // A failed fsync may have dropped dirty pages: nothing written since the last sync can be trusted.
            failure = error
            throw error
        }
        // Nothing was written to the file while the sync ran: all of it is durable now.
        unsyncedBytes = 0
        markUnsynced = false
        guard sync.mark, let file = active else { return }
        let durable = sync.durableSize
        if buffered.readableBytes > 0 {
            // Records were appended while the sync ran: their locations follow the file's end, so the mark goes
            // after them (a mark placed later still says only what it says: bytes below `durable` are durable).
            WALRecord(group: WALRecord.nodeRecordGroup, index: UInt64(durable), term: 0, kind: .synced)
                .encode(into: &buffered)
            markUnsynced = true
            return
        }
        var record = ByteBuffer()
        WALRecord(group: WALRecord.nodeRecordGroup, index: UInt64(durable), term: 0, kind: .synced)
            .encode(into: &record)
        do {
            try file.append(record)
            markUnsynced = true
        } catch {
            // Only a mark: on a full disk it is left out (cut back, so no part of it stays before the next record).
            do throws(StorageError) {
                guard case .noSpace = error else { throw error }
                try file.truncate(to: durable)
            } catch {
                failure = error
                throw error
            }
        }
    }

    /// Reads one record back.
    public func read(_ location: RecordLocation) throws(StorageError) -> WALRecord {
        let path = joinPath(directory, Self.segmentName(location.segment))
        guard let file = files[location.segment] else { throw .missingFile(path: path) }
        let bytes: ByteBuffer
        if location.segment == activeSequence && location.offset >= file.size {
            let start = buffered.readerIndex + location.offset - file.size
            guard let slice = buffered.getSlice(at: start, length: location.size) else {
                throw .corruptRecord(path: path, offset: location.offset, reason: "record beyond the log")
            }
            bytes = slice
        } else {
            bytes = try file.read(at: location.offset, count: location.size)
        }
        switch WALRecord.scan(bytes) {
        case .record(let record, let size) where size == location.size:
            return record
        case .record, .incomplete:
            throw .corruptRecord(path: path, offset: location.offset, reason: "record changed size")
        case .corrupt(let error):
            throw .corruptRecord(path: path, offset: location.offset, reason: error.description)
        }
    }

    /// Deletes sealed segments older than `sequence` (their records are no longer needed by any group).
    public func removeSegments(below sequence: UInt64) throws(StorageError) {
        let doomed = sequences.filter { $0 < sequence && $0 != activeSequence }
        guard !doomed.isEmpty else { return }
        for old in doomed {
            files[old]?.close()
            files[old] = nil
            try fileSystem.remove(joinPath(directory, Self.segmentName(old)))
        }
        sequences.removeAll { doomed.contains($0) }
        try fileSystem.syncDirectory(directory)
    }

    public var segmentSequences: [UInt64] { sequences }
}
