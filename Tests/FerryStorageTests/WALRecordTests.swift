import FerryRaft
import FerryStorage
import NIOCore
import Testing

@Suite struct WALRecordTests {
    @Test func crc32cMatchesTheCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func crc32cOfPiecesEqualsCrcOfWhole() {
        var rng = Xoshiro256(seed: 9)
        let bytes = (0..<1_000).map { _ in rng.uniform(UInt8.min...UInt8.max) }
        let whole = CRC32C.checksum(bytes)
        let pieces = bytes.withUnsafeBytes { raw in
            CRC32C.update(
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<333])),
                UnsafeRawBufferPointer(rebasing: raw[333...])
            )
        }
        #expect(whole == pieces)
    }

    static func randomEntries(_ rng: inout Xoshiro256, first: LogIndex, compressible: Bool) -> [Entry] {
        (0..<rng.uniform(1...40)).map { offset in
            var payload = ByteBuffer()
            let size = rng.uniform(0...600)
            for _ in 0..<size {
                payload.writeInteger(compressible ? UInt8(offset % 3) : rng.uniform(UInt8.min...UInt8.max))
            }
            return Entry(
                index: first + LogIndex(offset),
                term: 7,
                kind: offset == 0 ? .noop : .normal,
                payload: payload
            )
        }
    }

    /// Random batches round-trip, with and without compression.
    @Test(arguments: [false, true])
    func entriesRecordsRoundTrip(compressible: Bool) throws {
        var rng = Xoshiro256(seed: compressible ? 1 : 2)
        var compressedSeen = false
        for round in 0..<200 {
            let entries = Self.randomEntries(&rng, first: LogIndex(round * 100 + 1), compressible: compressible)
            let record = WALRecord.entries(group: UInt64(round), entries)
            let bytes = record.encoded()
            let rawSize = WALRecord.prefixBytes + WALRecord.headerBytes + record.payload.readableBytes
            if bytes.readableBytes < rawSize { compressedSeen = true }
            guard case .record(let decoded, let size) = WALRecord.scan(bytes) else {
                Issue.record("round \(round) did not decode")
                return
            }
            #expect(size == bytes.readableBytes)
            #expect(decoded == record)
            #expect(try decoded.decodeEntries() == entries)
        }
        if compressible { #expect(compressedSeen, "compressible batches above the threshold are stored compressed") }
    }

    @Test func everyBitFlipIsDetected() {
        let record = WALRecord(
            group: 3,
            index: 10,
            term: 2,
            kind: .hardState,
            payload: {
                var b = ByteBuffer()
                b.writeInteger(UInt64(5), endianness: .little)
                return b
            }()
        )
        let bytes = record.encoded()
        for byte in 0..<bytes.readableBytes {
            for bit in 0..<8 {
                var flipped = bytes
                let value = flipped.getInteger(at: byte, as: UInt8.self)!
                flipped.setInteger(value ^ (1 << bit), at: byte)
                if case .record = WALRecord.scan(flipped) {
                    Issue.record("flip of bit \(bit) in byte \(byte) went unnoticed")
                }
            }
        }
    }

    @Test func shortInputIsIncompleteNotCorrupt() {
        let bytes = WALRecord(group: 1, index: 1, term: 1, kind: .compacted).encoded()
        for cut in 0..<bytes.readableBytes {
            #expect(WALRecord.scan(bytes.getSlice(at: 0, length: cut)!) == .incomplete)
        }
    }

    /// Whatever the bytes, scanning returns a verdict and never traps.
    @Test func scanIsTotalOverRandomBytes() {
        var rng = Xoshiro256(seed: 11)
        let valid = WALRecord.entries(group: 1, Self.randomEntries(&rng, first: 1, compressible: true)).encoded()
        for _ in 0..<2_000 {
            var bytes = valid
            for _ in 0..<rng.uniform(1...6) {
                bytes.setInteger(rng.uniform(UInt8.min...UInt8.max), at: rng.uniform(0..<bytes.readableBytes))
            }
            _ = WALRecord.scan(bytes)
        }
    }

    @Test func fsyncPolicyParsesAndWarns() {
        #expect(FsyncPolicy(parsing: "always") == .always)
        #expect(FsyncPolicy(parsing: "interval:5") == .interval(milliseconds: 5))
        #expect(FsyncPolicy(parsing: "never") == .never)
        #expect(FsyncPolicy(parsing: "interval:0") == nil)
        #expect(FsyncPolicy(parsing: "sometimes") == nil)
        #expect(FsyncPolicy.always.startupWarning == nil)
        #expect(FsyncPolicy.never.startupWarning != nil)
        #expect(FsyncPolicy.interval(milliseconds: 5).description == "interval:5")
    }
}
