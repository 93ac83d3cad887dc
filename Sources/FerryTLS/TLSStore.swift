import FerryCrypto
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

#if canImport(Glibc)
    import Glibc
#endif

/// The files of one TLS identity: a certificate chain (PEM, the leaf first), its private key (PEM) and the
/// cluster's CA certificates (PEM) that peers' and clients' certificates must chain to.
public struct TLSFiles: Sendable, Hashable {
    public var certificate: String
    public var key: String
    public var ca: String

    public init(certificate: String, key: String, ca: String) {
        self.certificate = certificate
        self.key = key
        self.ca = ca
    }
}

/// Why TLS could not be set up, naming the file (never key material).
public struct TLSSetupError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "\(file): \(reason)" }
}

/// One loaded generation of a node's TLS material: the three contexts its listeners and dialers use, the CA
/// verifier, and its own certificate's validity.
final class TLSMaterial: Sendable {
    /// The peer port's listener: asks every peer for a certificate (mutual TLS).
    let peerServer: NIOSSLContext
    /// The peer dialer: presents this node's certificate, verifies the listener's.
    let peerClient: NIOSSLContext
    /// The client and HTTP ports: present the node's certificate; clients authenticate with keys.
    let publicServer: NIOSSLContext
    let verifier: CertificateVerifier
    let own: CertificateFacts

    init(_ files: TLSFiles, nowSeconds: Int64) throws(TLSSetupError) {
        let own: CertificateFacts
        do {
            own = try CertificateVerifier.facts(pemFile: files.certificate)
        } catch {
            throw TLSSetupError(file: files.certificate, reason: error.reason)
        }
        guard own.notAfter > nowSeconds else {
            throw TLSSetupError(file: files.certificate, reason: "the certificate expired (not after \(own.notAfter))")
        }
        guard own.notBefore <= nowSeconds else {
            throw TLSSetupError(
                file: files.certificate,
                reason: "the certificate is not yet valid (not before \(own.notBefore))"
            )
        }
        do {
            verifier = try CertificateVerifier(caFile: files.ca)
        } catch {
            throw TLSSetupError(file: files.ca, reason: error.reason)
        }
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificate)
        } catch {
            throw TLSSetupError(file: files.certificate, reason: "not a PEM certificate chain: \(error)")
        }
        do {
            key = try NIOSSLPrivateKey(file: files.key, format: .pem)
        } catch {
            throw TLSSetupError(file: files.key, reason: "not a PEM private key: \(error)")
        }
        // The node's own certificate must chain to the cluster's CA too: a mismatched pair of files is found at
        // start (or SIGHUP), not by every peer's refusal.
        do {
            _ = try verifier.verify(chain: chain.map { try $0.toDERBytes() })
        } catch let error as CertificateError {
            throw TLSSetupError(file: files.certificate, reason: "does not verify against \(files.ca): \(error)")
        } catch {
            throw TLSSetupError(file: files.certificate, reason: "\(error)")
        }
        var server = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        server.minimumTLSVersion = .tlsv12
        server.trustRoots = .file(files.ca)
        var mutual = server
        mutual.certificateVerification = .noHostnameVerification
        var client = TLSConfiguration.makeClientConfiguration()
        client.minimumTLSVersion = .tlsv12
        client.trustRoots = .file(files.ca)
        client.certificateChain = chain.map { .certificate($0) }
        client.privateKey = .privateKey(key)
        // Names are checked by the custom verification against the member dialled (an IP address or a name).
        client.certificateVerification = .noHostnameVerification
        do {
            publicServer = try NIOSSLContext(configuration: server)
            peerServer = try NIOSSLContext(configuration: mutual)
            peerClient = try NIOSSLContext(configuration: client)
        } catch {
            throw TLSSetupError(file: files.key, reason: "cannot make a TLS context: \(error)")
        }
        self.own = own
    }
}

/// A node's TLS: the current material, swapped whole by `reload()` (SIGHUP). Connections keep the context they
/// were made with; new ones get the new files. Counts refused handshakes and plaintext connections by port.
public final class TLSStore: Sendable {
    public let files: TLSFiles
    private let current: NIOLockedValueBox<TLSMaterial>
    private let refusals = NIOLockedValueBox<[String: Int]>([:])
    /// Where refusals are told (the node's log); never given key material.
    let log: @Sendable (String) -> Void

    /// Loads `files`.
    /// - Throws: `TLSSetupError` naming the file that is missing, malformed, expired or not signed by the CA.
    public init(files: TLSFiles, log: @escaping @Sendable (String) -> Void) throws(TLSSetupError) {
        self.files = files
        self.log = log
        current = NIOLockedValueBox(try TLSMaterial(files, nowSeconds: Self.nowSeconds()))
    }

    /// Loads the files again; on failure the old material stays in use.
    /// - Returns: the new certificate's facts.
    @discardableResult
    public func reload() throws(TLSSetupError) -> CertificateFacts {
        let material = try TLSMaterial(files, nowSeconds: Self.nowSeconds())
        current.withLockedValue { $0 = material }
        return material.own
    }

    var material: TLSMaterial { current.withLockedValue { $0 } }

    /// The node's own certificate: names and validity.
    public var certificate: CertificateFacts { material.own }

    /// Refused connections by `port/cause` (`peer/verify`, `client/plaintext`, …): `/metrics`.
    public var refusalCounts: [String: Int] { refusals.withLockedValue { $0 } }

    /// Counts a refused connection (`/metrics`).
    public func refused(_ port: String, _ cause: String) {
        refusals.withLockedValue { $0["\(port)/\(cause)", default: 0] += 1 }
    }

    static func nowSeconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec)
    }
}
