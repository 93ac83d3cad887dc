import FerryCrypto
import FerryModel
import FerryTLS
import FerryWire
import NIOCore

/// TLS on every port of the node (`tls:` in node.yaml): mutual TLS between peers, server TLS on the client
/// and HTTP ports. Absent: all three are plain (a loopback experiment).
///
/// ```yaml
/// tls:
///   cert_file: /etc/ferry/tls/node.pem   # this node's certificate (chain), named for its member host
///   key_file: /etc/ferry/tls/node.key
///   ca_file: /etc/ferry/tls/ca.pem       # the cluster's CA: peers' certificates must chain to it
/// ```
public struct TLSConfig: Sendable, Hashable, Codable {
    public var certFile: String
    public var keyFile: String
    public var caFile: String

    public init(certFile: String, keyFile: String, caFile: String) {
        self.certFile = certFile
        self.keyFile = keyFile
        self.caFile = caFile
    }

    enum CodingKeys: String, CodingKey {
        case certFile = "cert_file"
        case keyFile = "key_file"
        case caFile = "ca_file"
    }

    func validate() throws(ConfigError) {
        for (field, path) in [("cert_file", certFile), ("key_file", keyFile), ("ca_file", caFile)] where path.isEmpty {
            throw ConfigError(field: "tls.\(field)", reason: "must not be empty")
        }
    }

    var files: TLSFiles { TLSFiles(certificate: certFile, key: keyFile, ca: caFile) }

    /// Loads the files into a store the node's listeners and dialers use (and SIGHUP reloads).
    /// - Throws: `ConfigError` naming the `tls.` field whose file is missing, malformed, expired or not signed by
    ///   the CA.
    func open() throws(ConfigError) -> TLSStore {
        do {
            return try TLSStore(files: files) { NodeLog.warning($0, .tls) }
        } catch {
            throw ConfigError(field: field(of: error.file), reason: error.description)
        }
    }

    func field(of file: String) -> String {
        switch file {
        case keyFile: return "tls.key_file"
        case caFile: return "tls.ca_file"
        default: return "tls.cert_file"
        }
    }
}

extension TLSStore: TLSReport {
    package var certificateNotAfter: Int64 { certificate.notAfter }
    package var refusedConnections: [String: Int] { refusalCounts }
}

enum NodeTLSAnswers {
    /// What a plaintext native client gets from the TLS client port before it is closed: an error frame with
    /// correlation id 0 (FerryNet reports it as the connection's refusal).
    static var client: ByteBuffer {
        ClientFrame.response(
            0,
            .error(WireError(.unauthorized, "this port requires TLS: connect with the cluster's CA (--tls-ca)"))
        ).encoded()
    }

    /// What a plain HTTP client gets from the TLS HTTP port (as nginx answers): 400 and the reason.
    static var http: ByteBuffer {
        let body = "this port requires TLS: use https://\n"
        return ByteBuffer(
            string:
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        )
    }
}
