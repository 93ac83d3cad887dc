import CLibCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// What a certificate says about itself: the names it is for (subject alternative names, DNS and IP, then the
/// subject's common name) and when it is valid (seconds since the epoch).
public struct CertificateFacts: Sendable, Hashable {
    public var names: [String]
    public var notBefore: Int64
    public var notAfter: Int64
}

/// Why a certificate or chain was refused, in words a log line can carry (never key material).
public struct CertificateError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}

/// Verifies certificate chains against a CA bundle with libcrypto: the peer port's mutual TLS, where a refusal
/// must name its cause (expired, not yet valid, not signed by the cluster's CA) in the node's log. swift-nio-ssl's
/// own verification answers only "verify failed".
public final class CertificateVerifier: @unchecked Sendable {
    /// `X509_STORE*`: read-only after init (libcrypto's stores are safe for concurrent verification).
    private let store: OpaquePointer

    /// Loads every certificate of the PEM file `caFile`.
    /// - Throws: `CertificateError` when the file cannot be read or holds no certificate.
    public init(caFile: String) throws(CertificateError) {
        guard let store = X509_STORE_new() else { throw CertificateError("out of memory") }
        guard X509_STORE_load_file(store, caFile) == 1 else {
            X509_STORE_free(store)
            ERR_clear_error()
            throw CertificateError("cannot read CA certificates from \(caFile)")
        }
        self.store = store
    }

    deinit { X509_STORE_free(store) }

    /// Verifies `chain` (DER, the leaf first, then any intermediates) against the CA at the current time.
    /// - Returns: the leaf's facts.
    /// - Throws: `CertificateError` naming the first problem libcrypto found.
    public func verify(chain: [[UInt8]]) throws(CertificateError) -> CertificateFacts {
        guard let leafDER = chain.first else { throw CertificateError("no certificate presented") }
        let leaf = try Self.parse(leafDER)
        defer { X509_free(leaf) }
        guard let untrusted = OPENSSL_sk_new_null() else { throw CertificateError("out of memory") }
        defer { OPENSSL_sk_pop_free(untrusted) { X509_free(OpaquePointer($0)) } }
        for der in chain.dropFirst() {
            let certificate = try Self.parse(der)
            OPENSSL_sk_push(untrusted, UnsafeRawPointer(certificate))
        }
        guard let context = X509_STORE_CTX_new() else { throw CertificateError("out of memory") }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, leaf, untrusted) == 1 else {
            throw CertificateError("cannot set up verification")
        }
        guard X509_verify_cert(context) == 1 else {
            let code = X509_STORE_CTX_get_error(context)
            ERR_clear_error()
            let reason = String(cString: X509_verify_cert_error_string(Int(code)))
            switch code {
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
                X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                X509_V_ERR_CERT_SIGNATURE_FAILURE:
                throw CertificateError("\(reason): not signed by the cluster's CA")
            default:
                throw CertificateError(reason)
            }
        }
        return Self.facts(of: leaf)
    }

    /// The facts of the first certificate in the PEM file `file` (a node's own certificate, for expiry).
    public static func facts(pemFile file: String) throws(CertificateError) -> CertificateFacts {
        guard let handle = fopen(file, "r") else { throw CertificateError("cannot open \(file)") }
        defer { fclose(handle) }
        guard let certificate = PEM_read_X509(handle, nil, nil, nil) else {
            ERR_clear_error()
            throw CertificateError("no PEM certificate in \(file)")
        }
        defer { X509_free(certificate) }
        return facts(of: certificate)
    }

    /// The facts of a DER certificate.
    public static func facts(der: [UInt8]) throws(CertificateError) -> CertificateFacts {
        let certificate = try parse(der)
        defer { X509_free(certificate) }
        return facts(of: certificate)
    }

    private static func parse(_ der: [UInt8]) throws(CertificateError) -> OpaquePointer {
        let parsed = der.withUnsafeBufferPointer { bytes -> OpaquePointer? in
            var cursor: UnsafePointer<UInt8>? = bytes.baseAddress
            return d2i_X509(nil, &cursor, bytes.count)
        }
        guard let parsed else {
            ERR_clear_error()
            throw CertificateError("malformed certificate")
        }
        return parsed
    }

    private static func facts(of certificate: OpaquePointer) -> CertificateFacts {
        CertificateFacts(
            names: names(of: certificate),
            notBefore: seconds(X509_get0_notBefore(certificate)),
            notAfter: seconds(X509_get0_notAfter(certificate))
        )
    }

    private static func seconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int64 {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return 0 }
        return Int64(timegm(&parts))
    }

    private static func names(of certificate: OpaquePointer) -> [String] {
        var names: [String] = []
        if let raw = X509_get_ext_d2i(certificate, NID_subject_alt_name, nil, nil) {
            let stack = OpaquePointer(raw)
            for index in 0..<OPENSSL_sk_num(stack) {
                guard let entry = OPENSSL_sk_value(stack, index) else { continue }
                let name = entry.assumingMemoryBound(to: GENERAL_NAME.self).pointee
                switch name.type {
                case GEN_DNS: if let text = string(name.d.dNSName) { names.append(text) }
                case GEN_IPADD: if let text = address(name.d.iPAddress) { names.append(text) }
                default: break
                }
            }
            GENERAL_NAMES_free(stack)
        }
        if let subject = X509_get_subject_name(certificate) {
            let index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)
            if index >= 0, let entry = X509_NAME_get_entry(subject, index),
                let text = string(X509_NAME_ENTRY_get_data(entry))
            {
                names.append(text)
            }
        }
        return names
    }

    private static func string(_ value: UnsafeMutablePointer<ASN1_STRING>?) -> String? {
        guard let value, let data = ASN1_STRING_get0_data(value) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(value))), as: UTF8.self)
    }

    private static func address(_ value: UnsafeMutablePointer<ASN1_STRING>?) -> String? {
        guard let value, let data = ASN1_STRING_get0_data(value) else { return nil }
        let length = Int(ASN1_STRING_length(value))
        guard length == 4 || length == 16 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(length == 4 ? AF_INET : AF_INET6, data, &text, socklen_t(text.count)) != nil else {
            return nil
        }
        return String(cString: text)
    }

}
