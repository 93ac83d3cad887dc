import FerryModel
import FerryRaft
import FerryWire
import NIOCore
import Testing

@Suite struct PeerFrameTests {
    static func buffer(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        return buffer
    }

    static let metadata = SnapshotMetadata(index: 42, term: 7, conf: ConfState(voters: [1, 2, 3], learners: [4]))

    static let samples: [RaftMessage.Body] = [
        .preVote(lastIndex: 10, lastTerm: 3),
        .preVoteResponse(granted: true),
        .requestVote(lastIndex: 11, lastTerm: 4, leadershipTransfer: true),
        .requestVoteResponse(granted: false),
        .append(AppendRequest(prevIndex: 5, prevTerm: 2, entries: [], commit: 4)),
        .append(
            AppendRequest(
                prevIndex: 5,
                prevTerm: 2,
                entries: [
                    Entry(index: 6, term: 3, kind: .noop, payload: ByteBuffer()),
                    Entry(index: 7, term: 3, kind: .normal, payload: buffer("hello")),
                ],
                commit: 6
            )
        ),
        .appendResponse(AppendResponse(index: 9)),
        .appendResponse(AppendResponse(index: 9, reject: true, hintIndex: 4, hintTerm: 2)),
        .appendResponse(AppendResponse(index: 9, reject: true, hintIndex: 4, hintTerm: 2, repairing: true)),
        .appendResponse(AppendResponse(index: 12, repairing: true)),
        .heartbeat(commit: 99),
        .heartbeatResponse,
        .snapshotChunk(SnapshotChunk(metadata: metadata, offset: 3, totalBytes: 8, data: buffer("abcde"))),
        .snapshotChunkResponse(index: 42, term: 7, nextOffset: 8),
        .timeoutNow,
    ]

    @Test(arguments: samples)
    func frameRoundTripsEveryMessageKind(_ body: RaftMessage.Body) throws {
        let frame = PeerFrame(groupID: 0xDEAD_BEEF, message: RaftMessage(from: 1, to: 2, term: 5, body: body))
        var bytes = frame.encoded()
        let decoded = try PeerFrame.decode(from: &bytes)
        #expect(decoded == frame)
        #expect(bytes.readableBytes == 0)
    }

    @Test func decoderWaitsForAWholeFrame() throws {
        let whole = PeerFrame(groupID: 1, message: RaftMessage(from: 1, to: 2, term: 1, body: .heartbeat(commit: 3)))
            .encoded()
        for cut in 0..<whole.readableBytes {
            var partial = whole.getSlice(at: 0, length: cut)!
            #expect(try PeerFrame.decode(from: &partial) == nil)
            #expect(partial.readableBytes == cut, "a partial frame consumes nothing")
        }
    }

    @Test func decoderThrowsOnLengthAboveMaxPeerFrameBytes() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(WireLimits.maxPeerFrameBytes + 1), endianness: .big)
        #expect(
            throws: WireDecodeError.frameTooLarge(
                length: WireLimits.maxPeerFrameBytes + 1,
                limit: WireLimits.maxPeerFrameBytes
            )
        ) {
            try PeerFrame.decode(from: &buffer)
        }
    }

    @Test func decoderThrowsOnUnknownKind() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(9), endianness: .big)
        buffer.writeInteger(UInt64(1), endianness: .big)
        buffer.writeInteger(UInt8(200))
        #expect(throws: WireDecodeError.unknownKind(200)) { try PeerFrame.decode(from: &buffer) }
    }

    @Test func decoderThrowsOnTrailingBytes() throws {
        var bytes = PeerFrame(groupID: 1, message: RaftMessage(from: 1, to: 2, term: 1, body: .timeoutNow)).encoded()
        // Grow the frame by one byte that no field claims.
        let length = bytes.getInteger(at: 0, endianness: .big, as: UInt32.self)!
        bytes.setInteger(length + 1, at: 0, endianness: .big)
        bytes.writeInteger(UInt8(0))
        #expect(throws: WireDecodeError.trailingBytes(count: 1)) { try PeerFrame.decode(from: &bytes) }
    }

    @Test func decoderRejectsEntryCountTheBodyCannotHold() {
        var bytes = PeerFrame(
            groupID: 1,
            message: RaftMessage(
                from: 1,
                to: 2,
                term: 1,
                body: .append(AppendRequest(prevIndex: 0, prevTerm: 0, entries: [], commit: 0))
            )
        ).encoded()
        // The count field is the last u32 of an empty append: claim four billion entries.
        bytes.setInteger(UInt32.max, at: bytes.writerIndex - 4, endianness: .big)
        #expect(throws: WireDecodeError.truncated(field: "entries")) { try PeerFrame.decode(from: &bytes) }
    }

    /// Every byte string either decodes or throws a typed error; none traps. Seeded, so a failure replays.
    @Test(arguments: 0..<20)
    func everyByteStringDecodesOrThrows(_ seed: Int) {
        var rng = Xoshiro256(seed: UInt64(seed))
        let valid = Self.samples.map {
            PeerFrame(groupID: 3, message: RaftMessage(from: 1, to: 2, term: 9, body: $0)).encoded()
        }
        for _ in 0..<500 {
            var bytes: ByteBuffer
            if Bool.random(using: &rng) {
                // Mutate a valid frame: flip bytes, keep the length sane, so decoding goes deep.
                bytes = valid.randomElement(using: &rng)!
                for _ in 0..<rng.uniform(1...4) {
                    let at = rng.uniform(0..<bytes.readableBytes)
                    bytes.setInteger(rng.uniform(UInt8.min...UInt8.max), at: at)
                }
            } else {
                bytes = ByteBuffer()
                for _ in 0..<rng.uniform(0..<80) {
                    bytes.writeInteger(rng.uniform(UInt8.min...UInt8.max))
                }
            }
            do {
                while let _ = try PeerFrame.decode(from: &bytes) {}
            } catch {
                // A typed error is the correct answer to garbage.
            }
        }
    }
}

@Suite struct PeerControlTests {
    @Test(arguments: [
        PeerControl.alive(from: 3, wallMs: 1_800_000_000_123), .alive(from: 2, wallMs: nil),
        .alive(from: 4, wallMs: 1_800_000_000_124, slowDisk: true),
        .quiesce(groupID: 42, from: 2, term: 7, commit: 99),
        .forward(
            from: 2,
            .request(7, .receive(queue: "q", partition: 1, request: ReceiveRequest(maxMessages: 10), waitMs: 20_000))
        ),
        .forwardReply(from: 3, .response(7, .error(WireError(.notLeader, "not the leader", leaderHint: 1)))),
    ])
    func controlFramesRoundTripBesideRaftFrames(_ control: PeerControl) throws {
        var bytes = control.encoded()
        let raft = PeerFrame(groupID: 9, message: RaftMessage(from: 1, to: 2, term: 1, body: .heartbeat(commit: 3)))
        bytes.writeImmutableBuffer(raft.encoded())
        #expect(try PeerInbound.decode(from: &bytes) == .control(control))
        #expect(try PeerInbound.decode(from: &bytes) == .raft(raft))
        #expect(bytes.readableBytes == 0)
    }

    @Test func aPartialControlFrameConsumesNothing() throws {
        let whole = PeerControl.quiesce(groupID: 5, from: 1, term: 2, commit: 3).encoded()
        for cut in 0..<whole.readableBytes {
            var partial = whole.getSlice(at: 0, length: cut)!
            #expect(try PeerInbound.decode(from: &partial) == nil)
            #expect(partial.readableBytes == cut)
        }
    }

    @Test func aPartialForwardFrameConsumesNothing() throws {
        let whole = PeerControl.forward(from: 1, .request(9, .listQueues(prefix: "orders"))).encoded()
        for cut in 0..<whole.readableBytes {
            var partial = whole.getSlice(at: 0, length: cut)!
            #expect(try PeerInbound.decode(from: &partial) == nil)
            #expect(partial.readableBytes == cut)
        }
    }

    @Test func aForwardFrameHoldingAResponseIsRefused() {
        // A forward must carry a request and a reply a response: the kinds swapped are refused, not served.
        var bytes = PeerControl.forward(from: 1, .request(9, .listQueues(prefix: ""))).encoded()
        bytes.setInteger(UInt8(67), at: 12)
        #expect(throws: WireDecodeError.self) { try PeerInbound.decode(from: &bytes) }
        var trailing = PeerControl.forwardReply(from: 1, .response(9, .done)).encoded()
        trailing.writeInteger(UInt8(0))
        trailing.setInteger(UInt32(trailing.readableBytes - 4), at: 0, endianness: .big)
        #expect(throws: WireDecodeError.self) { try PeerInbound.decode(from: &trailing) }
    }

    @Test func aControlFrameWithTheWrongLengthIsRefused() {
        var bytes = ByteBuffer()
        bytes.writeInteger(UInt32(30), endianness: .big)
        bytes.writeInteger(UInt64(0), endianness: .big)
        bytes.writeInteger(UInt8(64))
        bytes.writeRepeatingByte(0, count: 21)
        #expect(throws: WireDecodeError.self) { try PeerInbound.decode(from: &bytes) }
    }
}
