import NIOCore
import NIOSSL

/// TLS for a client of the native or HTTP port: the server's certificate must chain to `caFile` and name the
/// host dialled (its IP address or DNS name). A client certificate is optional (the ports authenticate clients
/// with access keys).
public final class ClientTLS: Sendable {
    let context: NIOSSLContext

    /// - Throws: `TLSSetupError` naming the file that cannot be used.
    public init(caFile: String, certificateFile: String? = nil, keyFile: String? = nil) throws(TLSSetupError) {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.trustRoots = .file(caFile)
        do {
            _ = try NIOSSLCertificate.fromPEMFile(caFile)
        } catch {
            throw TLSSetupError(file: caFile, reason: "not a PEM certificate file: \(error)")
        }
        if let certificateFile, let keyFile {
            do {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map {
                    .certificate($0)
                }
            } catch {
                throw TLSSetupError(file: certificateFile, reason: "not a PEM certificate chain: \(error)")
            }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw TLSSetupError(file: keyFile, reason: "not a PEM private key: \(error)")
            }
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSSetupError(file: keyFile ?? caFile, reason: "cannot make a TLS context: \(error)")
        }
    }

    /// Adds the TLS client to a new connection's pipeline (from a channel initializer).
    public func secure(_ channel: any Channel, host: String) throws {
        try channel.pipeline.syncOperations.addHandler(
            NIOSSLClientHandler(context: context, serverHostname: TLSStore.isAddress(host) ? nil : host)
        )
    }

    /// The refusal an error raised on a TLS client connection means: a failed handshake (the server's
    /// certificate did not verify, or the server refused this client's), named for the user; nil for a
    /// connection that broke after it was made (a restarting node), which a client retries.
    public static func refusal(_ error: any Error) -> String? {
        switch error {
        case NIOSSLError.handshakeFailed(let detail): return "TLS handshake failed: \(TLSWords.describe(detail))"
        case let error as NIOSSLExtraError: return "TLS: \(error)"
        case let error as BoringSSLError: return "TLS handshake failed: \(TLSWords.describe(error))"
        default: return nil
        }
    }
}
