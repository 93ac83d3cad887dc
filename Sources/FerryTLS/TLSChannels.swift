import FerryCrypto
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// What a TLS connection's handshake established: the verified names of the other side's certificate (on the
/// peer port the hello must then name a member whose host is one of them), or why it was refused.
public final class PeerIdentity: Sendable {
    private let state = NIOLockedValueBox<(names: [String]?, refusal: String?, plaintext: Bool)>((nil, nil, false))

    public init() {}

    /// The verified certificate's names; nil before the handshake verified one.
    public var names: [String]? { state.withLockedValue { $0.names } }

    var refusal: String? { state.withLockedValue { $0.refusal } }

    /// The connection spoke clear text and was refused for it (already logged).
    var plaintext: Bool { state.withLockedValue { $0.plaintext } }

    func verified(_ names: [String]) { state.withLockedValue { $0.names = names } }

    func refused(_ reason: String) { state.withLockedValue { $0.refusal = reason } }

    func refusedPlaintext() { state.withLockedValue { $0.plaintext = true } }
}

extension TLSStore {
    /// Makes `channel` (a connection accepted on the client or HTTP port) a TLS server connection. A connection
    /// whose first byte is not a TLS handshake is answered with `plaintextAnswer` in clear text, logged, counted
    /// and closed.
    public func secureServer(_ channel: any Channel, port: String, plaintextAnswer: ByteBuffer?) throws {
        let sync = channel.pipeline.syncOperations
        let remote = Self.describe(channel.remoteAddress)
        let state = PeerIdentity()
        try sync.addHandler(
            PlaintextGuard(store: self, port: port, remote: remote, answer: plaintextAnswer, state: state)
        )
        try sync.addHandler(NIOSSLServerHandler(context: material.publicServer))
        try sync.addHandler(HandshakeFailureLog(store: self, port: port, remote: remote, identity: state))
    }

    /// Makes `channel` (a connection accepted on the peer port) a mutual-TLS server connection: the peer must
    /// present a certificate that chains to the cluster's CA, is valid now, and names a host that `isMember`
    /// accepts. The verified names are left in the returned identity for the hello's check.
    public func securePeerServer(
        _ channel: any Channel,
        isMember: @escaping @Sendable ([String]) -> Bool
    ) throws -> PeerIdentity {
        let sync = channel.pipeline.syncOperations
        let remote = Self.describe(channel.remoteAddress)
        let identity = PeerIdentity()
        let material = material
        try sync.addHandler(PlaintextGuard(store: self, port: "peer", remote: remote, answer: nil, state: identity))
        try sync.addHandler(
            NIOSSLServerHandler(context: material.peerServer) { certificates, promise in
                do {
                    let facts = try material.verifier.verify(chain: certificates.map { try $0.toDERBytes() })
                    guard isMember(facts.names) else {
                        identity.refused(
                            "its certificate names \(facts.names.joined(separator: ", ")), not a member of the cluster"
                        )
                        return promise.succeed(.failed)
                    }
                    identity.verified(facts.names)
                    promise.succeed(.certificateVerified)
                } catch {
                    identity.refused("its certificate was refused: \(error)")
                    promise.succeed(.failed)
                }
            }
        )
        try sync.addHandler(HandshakeFailureLog(store: self, port: "peer", remote: remote, identity: identity))
        return identity
    }

    /// Makes `channel` (a connection this node dialled to the member at `host`) a mutual-TLS client
    /// connection: the listener's certificate must chain to the cluster's CA, be valid now and name `host`.
    public func securePeerClient(_ channel: any Channel, host: String) throws {
        let sync = channel.pipeline.syncOperations
        let identity = PeerIdentity()
        let material = material
        let handler = try NIOSSLClientHandler(
            context: material.peerClient,
            serverHostname: Self.isAddress(host) ? nil : host
        ) { certificates, promise in
            do {
                let facts = try material.verifier.verify(chain: certificates.map { try $0.toDERBytes() })
                guard facts.names.contains(where: { Self.sameName($0, host) }) else {
                    identity.refused("its certificate names \(facts.names.joined(separator: ", ")), not \(host)")
                    return promise.succeed(.failed)
                }
                identity.verified(facts.names)
                promise.succeed(.certificateVerified)
            } catch {
                identity.refused("its certificate was refused: \(error)")
                promise.succeed(.failed)
            }
        }
        try sync.addHandler(handler)
        try sync.addHandler(
            HandshakeFailureLog(
                store: self,
                port: "peer-dial",
                remote: Self.describe(channel.remoteAddress),
                identity: identity
            )
        )
    }

    /// Whether a certificate name and a member's host are the same (DNS names without regard to case).
    public static func sameName(_ name: String, _ host: String) -> Bool {
        name.lowercased() == host.lowercased()
    }

    static func isAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    static func describe(_ address: SocketAddress?) -> String {
        guard let address else { return "an unknown address" }
        if let ip = address.ipAddress, let port = address.port { return "\(ip):\(port)" }
        return "\(address)"
    }
}

/// Refuses a connection to a TLS port whose first byte is not a TLS handshake record (0x16): logs it, counts
/// it, answers `answer` in clear text (an HTTP 400, a native-protocol error frame) and closes. Otherwise it
/// steps out of the pipeline.
final class PlaintextGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let store: TLSStore
    let port: String
    let remote: String
    let answer: ByteBuffer?
    let state: PeerIdentity

    init(store: TLSStore, port: String, remote: String, answer: ByteBuffer?, state: PeerIdentity) {
        self.store = store
        self.port = port
        self.remote = remote
        self.answer = answer
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else { return }
        guard first != 0x16 else {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        state.refusedPlaintext()
        store.refused(port, "plaintext")
        store.log("plaintext connection to the TLS \(port) port from \(remote) refused: the port requires TLS")
        if let answer {
            context.writeAndFlush(wrapOutboundOut(answer)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }
}

/// Logs (once) and counts a failed handshake, naming the cause the custom verification found or the TLS
/// library's error, then closes.
final class HandshakeFailureLog: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let store: TLSStore
    let port: String
    let remote: String
    let identity: PeerIdentity?
    private var logged = false

    init(store: TLSStore, port: String, remote: String, identity: PeerIdentity?) {
        self.store = store
        self.port = port
        self.remote = remote
        self.identity = identity
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !logged, identity?.plaintext != true, error is NIOSSLError || error is BoringSSLError {
            logged = true
            let cause = identity?.refusal ?? TLSWords.describe(error)
            store.refused(port, identity?.refusal != nil ? "certificate" : "handshake")
            store.log("TLS handshake on the \(port) port with \(remote) failed: \(cause)")
        }
        context.fireErrorCaught(error)
    }
}

/// TLS library errors in words an operator recognises: the reason codes BoringSSL names, without its source
/// paths.
enum TLSWords {
    static let meanings: [(code: String, meaning: String)] = [
        (
            "CERTIFICATE_VERIFY_FAILED",
            "the other side's certificate did not verify (not signed by the CA given, expired, or not yet valid)"
        ),
        ("ALERT_UNKNOWN_CA", "the other side does not trust the CA of this side's certificate"),
        ("ALERT_CERTIFICATE_EXPIRED", "the other side finds a certificate expired or not yet valid"),
        ("ALERT_BAD_CERTIFICATE", "the other side refused a certificate"),
        ("ALERT_CERTIFICATE_UNKNOWN", "the other side refused a certificate"),
        ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "the other side presented no certificate (mutual TLS wants one)"),
        ("ALERT_CERTIFICATE_REQUIRED", "this side presented no certificate and the other side wants one"),
        ("WRONG_VERSION_NUMBER", "the other side does not speak TLS on this port"),
        ("HTTP_REQUEST", "the other side sent plain HTTP"),
        ("DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "the other side sent a malformed TLS record"),
        ("EOF during handshake", "the connection closed during the handshake"),
    ]

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        for (code, meaning) in meanings where text.contains(code) {
            return "\(meaning) (\(code))"
        }
        return text
    }
}
