import FerryModel
import NIOCore

/// Bodies, message attributes and deduplication ids copied into one arena of exactly their size (issue 19).
///
/// A `ByteBuffer` slice keeps its whole storage alive: a queued message that held a slice of the log entry, the
/// network frame or the snapshot file it arrived in kept all of those bytes (ids, headers, the other records of
/// a snapshot) for as long as it stayed queued, about 1.5 times the bodies again. Messages are packed when they
/// are enqueued (one buffer per entry) and when a snapshot is restored (one per `restoreRun` messages), so a
/// message holds its own bytes and its run's arena goes when the run's last message does. A message's three
/// parts are one range of a `PayloadArena` (`StoredMessage.payload`).
enum BodyPacking {
    /// Messages restored from a snapshot share a buffer per this many.
    static let restoreRun = 256

    /// What one message's payload is made of (`StoredMessage.payload`).
    struct Parts {
        var body: ByteBuffer
        var attributes: ByteBuffer
        /// The deduplication id: its UTF-8 bytes (read from a snapshot) or the string (of a send); nil: none.
        var deduplicationID: ByteBuffer?
        var deduplicationIDText: String? = nil

        var byteCount: Int {
            body.readableBytes + attributes.readableBytes + (deduplicationID?.readableBytes ?? 0)
                + (deduplicationIDText?.utf8.count ?? 0)
        }
    }

    /// Each message's body, attributes and deduplication id copied, in order, into one new arena of exactly
    /// their size: one range of it per message.
    static func payloads(_ messages: [Parts]) -> [Payload] {
        let total = messages.reduce(0) { $0 + $1.byteCount }
        guard total > 0 else { return Array(repeating: .empty, count: messages.count) }
        precondition(total <= Int(UInt32.max), "payload arena of \(total) bytes")
        let arena = PayloadArena(byteCount: total)
        var offset = 0
        var payloads: [Payload] = []
        payloads.reserveCapacity(messages.count)
        func copy(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
            (arena.bytes.baseAddress! + offset).copyMemory(from: base, byteCount: bytes.count)
            offset += bytes.count
        }
        for parts in messages {
            let start = offset
            parts.body.withUnsafeReadableBytes(copy)
            parts.attributes.withUnsafeReadableBytes(copy)
            parts.deduplicationID?.withUnsafeReadableBytes(copy)
            if var id = parts.deduplicationIDText { id.withUTF8 { copy(UnsafeRawBufferPointer($0)) } }
            payloads.append(Payload(arena: arena, offset: UInt32(start), length: UInt32(offset - start)))
        }
        return payloads
    }

    /// The payloads of an entry's sends.
    static func payloads(_ requests: [SendRequest]) -> [Payload] {
        payloads(
            requests.map { request in
                Parts(
                    body: request.body,
                    attributes: request.messageAttributes,
                    deduplicationID: nil,
                    deduplicationIDText: request.deduplicationID
                )
            }
        )
    }
}

/// The bytes of the messages of one entry or restore run, in one allocation of exactly their size. (NIO rounds
/// a `ByteBuffer`'s capacity up to a power of two: packed in one, they took up to twice their size.) Written
/// once when made and never changed after, so the states that share it (a copy taken for a snapshot) read the
/// same bytes; freed with its last message.
final class PayloadArena: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer

    init(byteCount: Int) { bytes = .allocate(byteCount: byteCount, alignment: 1) }

    deinit { bytes.deallocate() }
}

/// One message's body, attributes and deduplication id: a range of an arena.
struct Payload: Sendable {
    var arena: PayloadArena?
    var offset: UInt32
    var length: UInt32

    static let empty = Payload(arena: nil, offset: 0, length: 0)

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let arena, length > 0 else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return body(UnsafeRawBufferPointer(rebasing: arena.bytes[Int(offset)..<Int(offset) + Int(length)]))
    }

    /// A new buffer holding `bytes` (an empty buffer allocates nothing).
    static func buffer(_ bytes: UnsafeRawBufferPointer) -> ByteBuffer {
        bytes.isEmpty ? ByteBuffer() : ByteBuffer(bytes: bytes)
    }
}

extension QueuePartition.StoredMessage {
    static let noDeduplicationID = UInt16.max

    init(
        payload: Payload,
        attributesLength: Int,
        deduplicationIDLength: Int?,
        groupID: String?,
        sentAtMs: Int64,
        state: State,
        originBox: QueuePartition.OriginBox? = nil,
        availableAtMs: Int64 = 0
    ) {
        self.payload = payload
        self.attributesLength = UInt32(attributesLength)
        self.deduplicationIDLength = deduplicationIDLength.map(UInt16.init) ?? Self.noDeduplicationID
        self.groupID = groupID
        self.sentAtMs = sentAtMs
        self.state = state
        self.originBox = originBox
        self.availableAtMs = availableAtMs
    }

    private var deduplicationIDBytes: Int {
        deduplicationIDLength == Self.noDeduplicationID ? 0 : Int(deduplicationIDLength)
    }

    var bodyLength: Int { Int(payload.length) - Int(attributesLength) - deduplicationIDBytes }

    /// The payload's parts: body, attributes, deduplication id (empty when none).
    func withParts<R>(
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> R
    ) -> R {
        let bodyEnd = bodyLength
        let attributesEnd = bodyEnd + Int(attributesLength)
        return payload.withBytes { bytes in
            body(
                UnsafeRawBufferPointer(rebasing: bytes[0..<bodyEnd]),
                UnsafeRawBufferPointer(rebasing: bytes[bodyEnd..<attributesEnd]),
                UnsafeRawBufferPointer(rebasing: bytes[attributesEnd...])
            )
        }
    }

    /// The body (a copy: the arena is not a `ByteBuffer`).
    var body: ByteBuffer { withParts { body, _, _ in Payload.buffer(body) } }

    var messageAttributes: ByteBuffer { withParts { _, attributes, _ in Payload.buffer(attributes) } }

    var deduplicationID: String? {
        guard deduplicationIDLength != Self.noDeduplicationID else { return nil }
        return withParts { _, _, id in String(decoding: id, as: UTF8.self) }
    }
}

extension QueuePartition {
    /// The bytes of the arenas the queued messages hold (each counted once): what their payloads cost.
    package var payloadArenaBytes: Int {
        var seen = Set<ObjectIdentifier>()
        var total = 0
        for (_, message) in messages {
            guard let arena = message.payload.arena, seen.insert(ObjectIdentifier(arena)).inserted else { continue }
            total += arena.bytes.count
        }
        return total
    }
}
