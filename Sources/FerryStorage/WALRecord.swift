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
///
/// Flag bit 0 marks an LZ4-compressed payload: `uncompressed length u32 | LZ4 block`. Entries records above
/// `WALRecord.compressionThresholdBytes` are compressed when that makes them smaller.
public struct WALRecord: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, Hashable {
        case entries = 1
        case hardState = 2
        case snapshotInstalled = 3
        case compacted = 4
    }

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

    /// An entries record for contiguous entries of one group.
    /// - Precondition: `entries` is not empty and contiguous.
    public static func entries(group: UInt64, _ entries: [Entry]) -> WALRecord {
        precondition(!entries.isEmpty, "empty entries record")
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
        guard result.first?.term == term else { throw .invalid("first entry's term differs from the header") }
        return result
    }

    // MARK: Encoding

    /// Appends the encoded record (compressing an entries payload above the threshold) to `buffer`.
    public func encode(into buffer: inout ByteBuffer) {
        var flags: UInt8 = 0
        var stored = payload
        if kind == .entries && payload.readableBytes >= Self.compressionThresholdBytes,
            let compressed = LZ4.compress(payload), compressed.readableBytes + 4 < payload.readableBytes
        {
            flags |= Self.flagLZ4
            stored = ByteBuffer()
            stored.reserveCapacity(4 + compressed.readableBytes)
            stored.writeInteger(UInt32(payload.readableBytes), endianness: .little)
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
            guard let rawLength = payload.readInteger(endianness: .little, as: UInt32.self) else {
                return .corrupt(.invalid("compressed length"))
            }
            do {
                payload = try LZ4.decompress(payload, length: Int(rawLength))
            } catch {
                return .corrupt(.invalid("LZ4 block: \(error)"))
            }
        }
        return .record(WALRecord(group: group, index: index, term: term, kind: kind, payload: payload), size: size)
    }
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
