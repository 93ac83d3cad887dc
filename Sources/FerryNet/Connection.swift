import FerryCrypto
import FerryModel
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Why a client call failed before the server answered it.
public enum FerryClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No connection to the endpoint(s).
    case unreachable(String)
    /// No answer within the timeout: the request may or may not have taken effect.
    case timeout(String)
    /// The server refused, with a typed error.
    case server(WireError)
    case badEndpoint(String)
    /// The connection itself was refused: its TLS handshake failed (wrong CA, expired certificate, a name that
    /// is not the host dialled), or the port wants TLS and got clear text or the reverse. Not retried: another
    /// attempt meets the same refusal.
    case refused(String)

    public var description: String {
        switch self {
        case .unreachable(let detail): return "unreachable: \(detail)"
        case .timeout(let detail): return "timeout: \(detail)"
        case .server(let error): return "\(error)"
        case .badEndpoint(let text): return "bad endpoint \(text): expected host:port"
        case .refused(let detail): return "refused: \(detail)"
        }
    }
}

/// A security layer (TLS, from FerryTLS) for new connections: `secure` adds it to a pipeline before the
/// protocol's handler (`host` is the host dialled, whose name the server's certificate must carry); `refusal`
/// tells which errors it raises mean the connection was refused (a failed handshake) rather than broken.
public struct ConnectionSecurity: Sendable {
    public var secure: @Sendable (_ channel: any Channel, _ host: String) throws -> Void
    public var refusal: @Sendable (_ error: any Error) -> String?

    public init(
        secure: @escaping @Sendable (_ channel: any Channel, _ host: String) throws -> Void,
        refusal: @escaping @Sendable (_ error: any Error) -> String?
    ) {
        self.secure = secure
        self.refusal = refusal
    }
}

/// One TCP connection to one node: pipelined requests, answers matched by correlation id. Thread-safe.
public final class Connection: @unchecked Sendable {
    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let lock = NIOLock()
        var buffer = ByteBuffer()
        var waiting: [UInt32: EventLoopPromise<ClientResponse>] = [:]
        /// Why the server or the TLS layer refused this connection (failed handshake, an error frame with
        /// correlation id 0 before it closed): every pending call fails with it.
        var refusal: String?
        let security: ConnectionSecurity?

        init(security: ConnectionSecurity?) {
            self.security = security
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            buffer.writeBuffer(&incoming)
            do {
                while let frame = try ClientFrame.decode(from: &buffer) {
                    guard case .response(let response) = frame.payload else { continue }
                    if frame.correlationID == 0, case .error(let error) = response {
                        lock.withLock { refusal = error.message }
                        continue
                    }
                    lock.withLock { waiting.removeValue(forKey: frame.correlationID) }?.succeed(response)
                }
                buffer.discardReadBytes()
            } catch {
                // Not the native protocol: a node's TLS port answering a plaintext client starts a TLS record.
                if lock.withLock({ refusal == nil }), buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == 0x15
                {
                    lock.withLock { refusal = "the server answered with TLS: give a CA (--tls-ca or FERRY_TLS_CA)" }
                }
                context.close(promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if let reason = security?.refusal(error) {
                lock.withLock { if refusal == nil { refusal = reason } }
            }
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            let (all, reason) = lock.withLock { () -> ([EventLoopPromise<ClientResponse>], String?) in
                defer { waiting = [:] }
                return (Array(waiting.values), refusal)
            }
            for promise in all {
                if let refusal = reason {
                    promise.fail(FerryClientError.refused(refusal))
                } else {
                    promise.fail(ChannelError.ioOnClosedChannel)
                }
            }
        }
    }

    public let host: String
    public let port: Int
    let channel: any Channel
    let handler: Handler
    private let lock = NIOLock()
    private var nextID: UInt32 = 0
    /// A flush is queued on the event loop (touched only there).
    private var flushScheduled = false

    /// Connects to `host:port`, waiting for the connection.
    public convenience init(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        timeoutMs: Int64 = 1_000,
        security: ConnectionSecurity? = nil
    ) throws(FerryClientError) {
        let (channel, handler) = Self.bootstrap(host: host, group: group, timeoutMs: timeoutMs, security: security)
        do {
            self.init(host: host, port: port, channel: try channel.connect(host: host, port: port).wait(), handler)
        } catch {
            throw .unreachable("\(host):\(port): \(error)")
        }
    }

    private init(host: String, port: Int, channel: any Channel, _ handler: Handler) {
        self.host = host
        self.port = port
        self.channel = channel
        self.handler = handler
    }

    /// Connects to `host:port` without waiting: the future fails with `FerryClientError.unreachable`.
    public static func open(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        timeoutMs: Int64 = 1_000,
        security: ConnectionSecurity? = nil
    ) -> EventLoopFuture<Connection> {
        let (bootstrap, handler) = bootstrap(host: host, group: group, timeoutMs: timeoutMs, security: security)
        return bootstrap.connect(host: host, port: port)
            .map { Connection(host: host, port: port, channel: $0, handler) }
            .flatMapErrorThrowing { throw FerryClientError.unreachable("\(host):\(port): \($0)") }
    }

    private static func bootstrap(
        host: String,
        group: any EventLoopGroup,
        timeoutMs: Int64,
        security: ConnectionSecurity?
    ) -> (ClientBootstrap, Handler) {
        let handler = Handler(security: security)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(timeoutMs))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try security?.secure(channel, host)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        return (bootstrap, handler)
    }

    public var isActive: Bool { channel.isActive }

    /// The connection's event loop (its futures complete there).
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Sends one request and waits for its answer.
    public func call(_ request: ClientRequest, timeoutMs: Int64) throws(FerryClientError) -> ClientResponse {
        do {
            return try start(request, timeoutMs: timeoutMs).wait()
        } catch let error as FerryClientError {
            throw error
        } catch {
            throw .unreachable("\(host):\(port): \(error)")
        }
    }

    /// Sends one request without waiting (pipelining): the future gets the answer, or fails with
    /// `FerryClientError.timeout` after `timeoutMs` or `.unreachable` when the connection breaks.
    public func start(_ request: ClientRequest, timeoutMs: Int64) -> EventLoopFuture<ClientResponse> {
        let id = lock.withLock {
            nextID &+= 1
            return nextID
        }
        let promise = channel.eventLoop.makePromise(of: ClientResponse.self)
        handler.lock.withLock { handler.waiting[id] = promise }
        let pending = handler
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            let (promise, refusal) = pending.lock.withLock {
                (pending.waiting.removeValue(forKey: id), pending.refusal)
            }
            promise?.fail(refusal.map { FerryClientError.refused($0) } ?? error)
        }
        let frame = ClientFrame.request(id, request).encoded()
        if channel.eventLoop.inEventLoop {
            // Started from an answer's callback (pipelined load): the requests started in one event-loop turn
            // leave with one flush.
            channel.write(frame, promise: written)
            if !flushScheduled {
                flushScheduled = true
                let channel = channel
                channel.eventLoop.execute {
                    self.flushScheduled = false
                    channel.flush()
                }
            }
        } else {
            channel.writeAndFlush(frame, promise: written)
        }
        let (host, port) = (host, port)
        let timeout = channel.eventLoop.scheduleTask(in: .milliseconds(timeoutMs)) {
            pending.lock.withLock { pending.waiting.removeValue(forKey: id) }?
                .fail(FerryClientError.timeout("\(host):\(port) did not answer within \(timeoutMs) ms"))
        }
        return promise.futureResult.flatMapErrorThrowing { error in
            timeout.cancel()
            if let error = error as? FerryClientError { throw error }
            throw FerryClientError.unreachable("\(host):\(port): \(error)")
        }.map { response in
            timeout.cancel()
            return response
        }
    }

    public func close() {
        channel.close(promise: nil)
    }
}

/// An access key for the native port's handshake (`client_auth: keys`): the secret never leaves the client.
public struct Credentials: Sendable, Hashable {
    public var keyID: String
    public var secret: String

    public init(keyID: String, secret: String) {
        self.keyID = keyID
        self.secret = secret
    }
}

extension Connection {
    /// Proves `credentials` on this connection (challenge, then an HMAC-SHA256 proof); the future fails with
    /// `FerryClientError.refused` when the node refuses the key, `.server` for a retriable refusal (throttled).
    /// A node without authentication answers at once.
    public func authenticate(_ credentials: Credentials, timeoutMs: Int64) -> EventLoopFuture<Void> {
        start(.authBegin(keyID: credentials.keyID), timeoutMs: timeoutMs).flatMapThrowing { answer -> String? in
            switch answer {
            case .authenticated: return nil
            case .authChallenge(let nonce): return nonce
            case .error(let error) where error.code == .unauthorized:
                throw FerryClientError.refused("authentication: \(error.message)")
            case .error(let error): throw FerryClientError.server(error)
            default: throw FerryClientError.server(WireError(.internal, "unexpected answer \(answer) to authBegin"))
            }
        }.flatMap { nonce -> EventLoopFuture<Void> in
            guard let nonce else { return self.channel.eventLoop.makeSucceededFuture(()) }
            var generator = SystemRandomNumberGenerator()
            let clientNonce = Digests.hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let message = NativeAuthProof.message(
                keyID: credentials.keyID,
                serverNonce: nonce,
                clientNonce: clientNonce
            )
            let proof = Digests.hex(Digests.hmacSHA256(key: Array(credentials.secret.utf8), message))
            return self.start(.authProve(clientNonce: clientNonce, proof: proof), timeoutMs: timeoutMs)
                .flatMapThrowing { answer in
                    switch answer {
                    case .authenticated: return
                    case .error(let error) where error.code == .unauthorized:
                        throw FerryClientError.refused("authentication: \(error.message)")
                    case .error(let error): throw FerryClientError.server(error)
                    default:
                        throw FerryClientError.server(WireError(.internal, "unexpected answer \(answer) to authProve"))
                    }
                }
        }
    }
}
