import FerryRaft
import NIOCore

/// One record of the node-wide write-ahead log (DESIGN §5). All integers little-endian.
///
/// ```
/// length u32 | crc32c u32 | group u64 | index u64 | term u64 | kind u8 | flags u8 | payload
/// ```
///
/// `length` counts the bytes after the checksum (26 + payload); `crc32c` covers the length field and those
/// bytes. Kinds:
///
/// | kind | meaning | index, term | payload |
/// |---|---|---|---|
/// | 1 | entries | first entry's index and term | count u32, then per entry: term u64, kind u8, length u32, bytes |
/// | 2 | hard state | commit, term | vote u64 |
/// | 3 | snapshot installed | the snapshot's index and term | — (the log restarts after it) |
/// | 4 | compacted | compaction point and its term | — (entries up to it are no longer needed) |
/// | 5 | repair | phase (1 start: the log is discarded; 2 done; 3 still repairing), term | — |
/// | 6 | synced | bytes of this segment durable (group `nodeRecordGroup`) | — |
/// | 7 | damage answered | segment of the damage, its offset as the term (group `nodeRecordGroup`) | — |
///
/// Kinds 5–7 (issue 18, protocol-aware recovery): a group whose stored records were damaged restarts with its
/// log discarded and repairs from its peers (`RaftCore.repairing`); `repair` records keep that state across
/// restarts (phase 2's term is the term through which the group abstains from voting). After every fsync the
/// log appends (writes, without syncing) a `synced` record: damage at the tail of the last segment below it was
/// durable (it may have been acknowledged) and is not a torn write. `damage answered` records that a damage
/// found at start-up was answered by repairing every group, so the next start-up does not repair again.
///
/// All entries of one record share the header's term, so the header, the count and the term give the record's
/// place in the log without reading the entries. Flag bit 0 (entries records only) marks a compressed
/// payload: `count u32 | uncompressed length u32 | LZ4 block of the entries`; the count stays in the clear.
/// Entries records above `WALRecord.compressionThresholdBytes` are compressed when that makes them smaller.
public struct WALRecord: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, Hashable {
        case entries = 1
        case hardState = 2
        case snapshotInstalled = 3
        case compacted = 4
        case repair = 5
        case synced = 6
        case damageAnswered = 7
    }

    /// The group of node-level records (`synced`, `damageAnswered`): no Raft group has it.
    public static let nodeRecordGroup = UInt64.max
    /// The phases of a `repair` record (its index).
    public static let repairStart: LogIndex = 1
    public static let repairDone: LogIndex = 2
    public static let repairOngoing: LogIndex = 3

    public var group: UInt64
    public var index: LogIndex
    public var term: Term
    public var kind: Kind
    /// The uncompressed payload.
    public var payload: ByteBuffer

    public init(group: UInt64, index: LogIndex, term: Term, kind: Kind, payload: ByteBuffer = ByteBuffer()) {
        self.group = group
        self.index = index
        self.term = term
        self.kind = kind
        self.payload = payload
    }

    /// Bytes of `length` and `crc32c`.
    public static let prefixBytes = 8
    /// Bytes from `group` to `flags`.
    public static let headerBytes = 26
    /// No record is larger than this (length field included).
    public static let maxRecordBytes = 64 << 20
    /// Entries payloads at least this large are LZ4-compressed when that helps.
    public static let compressionThresholdBytes = 4_096
    static let flagLZ4: UInt8 = 1

    // MARK: Entries

    /// An entries record for contiguous entries of one group and one term.
    /// - Precondition: `entries` is not empty, contiguous, and of one term.
    public static func entries(group: UInt64, _ entries: [Entry]) -> WALRecord {
        precondition(!entries.isEmpty, "empty entries record")
        precondition(entries.allSatisfy { $0.term == entries[0].term }, "entries of several terms in one record")
        var payload = ByteBuffer()
        payload.reserveCapacity(4 + entries.reduce(0) { $0 + 13 + $1.payload.readableBytes })
        payload.writeInteger(UInt32(entries.count), endianness: .little)
        var expected = entries[0].index
        for entry in entries {
            precondition(entry.index == expected, "entries not contiguous at \(entry.index)")
            expected += 1
            payload.writeInteger(entry.term, endianness: .little)
            payload.writeInteger(entry.kind.rawValue)
            payload.writeInteger(UInt32(entry.payload.readableBytes), endianness: .little)
            var bytes = entry.payload
            payload.writeBuffer(&bytes)
        }
        return WALRecord(group: group, index: entries[0].index, term: entries[0].term, kind: .entries, payload: payload)
    }

    /// The entries of an entries record.
    public func decodeEntries() throws(WALDecodeError) -> [Entry] {
        guard kind == .entries else { throw .invalid("not an entries record") }
        var body = payload
        guard let count = body.readInteger(endianness: .little, as: UInt32.self) else { throw .invalid("count") }
        guard UInt64(count) * 13 <= UInt64(body.readableBytes) else { throw .invalid("count \(count)") }
        var result: [Entry] = []
        result.reserveCapacity(Int(count))
        for offset in 0..<LogIndex(count) {
            guard let term = body.readInteger(endianness: .little, as: UInt64.self),
                let rawKind = body.readInteger(as: UInt8.self),
                let entryKind = EntryKind(rawValue: rawKind),
                let length = body.readInteger(endianness: .little, as: UInt32.self),
                let bytes = body.readSlice(length: Int(length))
            else { throw .invalid("entry \(index + offset)") }
            result.append(Entry(index: index + offset, term: term, kind: entryKind, payload: bytes))
        }
        guard body.readableBytes == 0 else { throw .invalid("trailing bytes in entries payload") }
        guard result.allSatisfy({ $0.term == term }) else { throw .invalid("an entry's term differs from the header") }
        return result
    }

    /// What start-up needs of a record, read from its first bytes: the header, the entry count of an entries
    /// record, the vote of a hard-state record.
    public var header: WALRecordHeader {
        var count = 0
        var vote: NodeID = 0
        switch kind {
        case .entries:
            count = Int(payload.getInteger(at: payload.readerIndex, endianness: .little, as: UInt32.self) ?? 0)
        case .hardState:
            vote = payload.getInteger(at: payload.readerIndex, endianness: .little, as: UInt64.self) ?? 0
        case .snapshotInstalled, .compacted, .repair, .synced, .damageAnswered:
            break
        }
        return WALRecordHeader(group: group, index: index, term: term, kind: kind, entryCount: count, vote: vote)
    }

    /// Bytes from the start of a record that hold its `WALRecordHeader`.
    public static let headerScanBytes = prefixBytes + headerBytes + 8

    /// Reads the header of the record at the start of `bytes` without checking its checksum or reading its
    /// entries (start-up of sealed segments). Returns the header and the record's size, or nil when the bytes
    /// cannot be a record header.
    public static func scanHeader(_ bytes: ByteBuffer) -> (WALRecordHeader, size: Int)? {
        let at = bytes.readerIndex
        guard let length = bytes.getInteger(at: at, endianness: .little, as: UInt32.self),
            Int(length) >= headerBytes, Int(length) + prefixBytes <= maxRecordBytes,
            let group = bytes.getInteger(at: at + 8, endianness: .little, as: UInt64.self),
            let index = bytes.getInteger(at: at + 16, endianness: .little, as: UInt64.self),
            let term = bytes.getInteger(at: at + 24, endianness: .little, as: UInt64.self),
            let rawKind = bytes.getInteger(at: at + 32, as: UInt8.self), let kind = Kind(rawValue: rawKind),
            let flags = bytes.getInteger(at: at + 33, as: UInt8.self), flags & ~flagLZ4 == 0
        else { return nil }
        var count = 0
        var vote: NodeID = 0
        switch kind {
        case .entries:
            guard Int(length) >= headerBytes + 4,
                let raw = bytes.getInteger(at: at + 34, endianness: .little, as: UInt32.self), raw > 0
            else { return nil }
            count = Int(raw)
        case .hardState:
            guard Int(length) >= headerBytes + 8, flags == 0,
                let raw = bytes.getInteger(at: at + 34, endianness: .little, as: UInt64.self)
            else { return nil }
            vote = raw
        case .snapshotInstalled, .compacted, .repair, .synced, .damageAnswered:
            guard flags == 0 else { return nil }
        }
        let header = WALRecordHeader(group: group, index: index, term: term, kind: kind, entryCount: count, vote: vote)
        return (header, Int(length) + prefixBytes)
    }

    // MARK: Encoding

    /// Appends the encoded record (compressing an entries payload above the threshold) to `buffer`.
    /// - Parameter tryCompression: false skips the LZ4 attempt (the log skips it while recent attempts did not
    ///   pay off, so incompressible data costs no compression time).
    /// - Returns: whether compression was attempted and whether it was used.
    @discardableResult
    public func encode(into buffer: inout ByteBuffer, tryCompression: Bool = true) -> (tried: Bool, used: Bool) {
        var flags: UInt8 = 0
        var stored = payload
        let worthTrying = tryCompression && kind == .entries && payload.readableBytes >= Self.compressionThresholdBytes
        if worthTrying,
            let body = payload.getSlice(at: payload.readerIndex + 4, length: payload.readableBytes - 4),
            let compressed = LZ4.compress(body), compressed.readableBytes + 8 < payload.readableBytes
        {
            // The entry count stays in the clear, so start-up can index a record from its first bytes.
            flags |= Self.flagLZ4
            stored = ByteBuffer()
            stored.reserveCapacity(8 + compressed.readableBytes)
            stored.writeInteger(
                payload.getInteger(at: payload.readerIndex, endianness: .little, as: UInt32.self)!,
                endianness: .little
            )
            stored.writeInteger(UInt32(body.readableBytes), endianness: .little)
            var compressed = compressed
            stored.writeBuffer(&compressed)
        }
        let length = Self.headerBytes + stored.readableBytes
        precondition(length + Self.prefixBytes <= Self.maxRecordBytes, "record of \(length) bytes exceeds the limit")
        let start = buffer.writerIndex
        buffer.writeInteger(UInt32(length), endianness: .little)
        buffer.writeInteger(UInt32(0), endianness: .little)  // checksum, patched below
        buffer.writeInteger(group, endianness: .little)
        buffer.writeInteger(index, endianness: .little)
        buffer.writeInteger(term, endianness: .little)
        buffer.writeInteger(kind.rawValue)
        buffer.writeInteger(flags)
        buffer.writeBuffer(&stored)
        let crc = buffer.withUnsafeReadableBytes { bytes in
            let record = UnsafeRawBufferPointer(rebasing: bytes[(start - buffer.readerIndex)...])
            return CRC32C.update(
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: record[0..<4])),
                UnsafeRawBufferPointer(rebasing: record[8...])
            )
        }
        buffer.setInteger(crc, at: start + 4, endianness: .little)
        return (worthTrying, flags & Self.flagLZ4 != 0)
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return buffer
    }

    // MARK: Decoding

    /// What lies at a position of a log file.
    public enum Scan: Sendable, Hashable {
        /// A valid record of `size` bytes (prefix included).
        case record(WALRecord, size: Int)
        /// The bytes end before the record does (or before its length field): a torn write, or just the end.
        case incomplete
        /// A record whose length, checksum or contents are wrong.
        case corrupt(WALDecodeError)
    }

    /// Decodes the record at the start of `bytes`; total: never traps, whatever the bytes.
    public static func scan(_ bytes: ByteBuffer) -> Scan {
        guard let length = bytes.getInteger(at: bytes.readerIndex, endianness: .little, as: UInt32.self) else {
            return .incomplete
        }
        let size = Int(length) + prefixBytes
        guard Int(length) >= headerBytes, size <= maxRecordBytes else {
            return .corrupt(.invalid("record length \(length)"))
        }
        guard bytes.readableBytes >= size else { return .incomplete }
        let stored = bytes.getInteger(at: bytes.readerIndex + 4, endianness: .little, as: UInt32.self)!
        let computed = bytes.withUnsafeReadableBytes { raw in
            CRC32C.update(
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<4])),
                UnsafeRawBufferPointer(rebasing: raw[8..<size])
            )
        }
        guard stored == computed else { return .corrupt(.checksum(stored: stored, computed: computed)) }
        var body = bytes.getSlice(at: bytes.readerIndex + prefixBytes, length: Int(length))!
        let group = body.readInteger(endianness: .little, as: UInt64.self)!
        let index = body.readInteger(endianness: .little, as: UInt64.self)!
        let term = body.readInteger(endianness: .little, as: UInt64.self)!
        let rawKind = body.readInteger(as: UInt8.self)!
        let flags = body.readInteger(as: UInt8.self)!
        guard let kind = Kind(rawValue: rawKind) else { return .corrupt(.invalid("record kind \(rawKind)")) }
        guard flags & ~flagLZ4 == 0 else { return .corrupt(.invalid("record flags \(flags)")) }
        var payload = body
        if flags & flagLZ4 != 0 {
            guard kind == .entries, let count = payload.readInteger(endianness: .little, as: UInt32.self),
                let rawLength = payload.readInteger(endianness: .little, as: UInt32.self)
            else {
                return .corrupt(.invalid("compressed record header"))
            }
            do {
                var expanded = ByteBuffer()
                expanded.reserveCapacity(4 + Int(rawLength))
                expanded.writeInteger(count, endianness: .little)
                var rest = try LZ4.decompress(payload, length: Int(rawLength))
                expanded.writeBuffer(&rest)
                payload = expanded
            } catch {
                return .corrupt(.invalid("LZ4 block: \(error)"))
            }
        }
        return .record(WALRecord(group: group, index: index, term: term, kind: kind, payload: payload), size: size)
    }
}

/// A record's place in the log, without its entries.
public struct WALRecordHeader: Sendable, Hashable {
    public var group: UInt64
    public var index: LogIndex
    public var term: Term
    public var kind: WALRecord.Kind
    /// Entries in an entries record (all of term `term`, from `index` on).
    public var entryCount: Int
    /// The vote of a hard-state record.
    public var vote: NodeID
}

/// Why a stored record was rejected. Never believed, never handed to Raft.
public enum WALDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    case checksum(stored: UInt32, computed: UInt32)
    case invalid(String)

    public var description: String {
        switch self {
        case .checksum(let stored, let computed): return "checksum mismatch (stored \(stored), computed \(computed))"
        case .invalid(let what): return "invalid \(what)"
        }
    }
}
