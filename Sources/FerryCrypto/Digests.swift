import CLibCrypto

/// SHA-256, MD5 and HMAC-SHA256 through OpenSSL's libcrypto (DESIGN §3: no second crypto library).
public enum Digests {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        digest(bytes, EVP_sha256(), length: Int(SHA256_DIGEST_LENGTH))
    }

    public static func sha256<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        withContiguous(bytes) { sha256($0) }
    }

    /// The first 128 bits of the SHA-256 of `a`, `b` and `c` one after the other, as two big-endian words
    /// (no allocation: the send path keys deduplication ids by it).
    public static func sha256Prefix128(
        _ a: UnsafeRawBufferPointer,
        _ b: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        _ c: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) -> (high: UInt64, low: UInt64) {
        var out = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &out) { digest in
            ferry_sha256_parts(
                a.baseAddress,
                a.count,
                b.baseAddress,
                b.count,
                c.baseAddress,
                c.count,
                digest.baseAddress!.assumingMemoryBound(to: UInt8.self)
            )
        }
        return (UInt64(bigEndian: out.0), UInt64(bigEndian: out.1))
    }

    /// MD5 of `bytes` (16 bytes): SQS's MD5OfMessageBody and MD5OfMessageAttributes, not a security measure.
    public static func md5(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        digest(bytes, EVP_md5(), length: 16)
    }

    public static func md5<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        withContiguous(bytes) { md5($0) }
    }

    /// HMAC-SHA256 of `message` under `key` (32 bytes).
    public static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        key.withUnsafeBytes { keyBytes in
            message.withUnsafeBytes { messageBytes in
                _ = HMAC(
                    EVP_sha256(),
                    keyBytes.baseAddress,
                    Int32(keyBytes.count),
                    messageBytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    messageBytes.count,
                    &out,
                    &length
                )
            }
        }
        return Array(out.prefix(Int(length)))
    }

    /// Whether `a` and `b` are equal, in time that depends only on their length (libcrypto's CRYPTO_memcmp).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty else { return true }
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 }
        }
    }

    /// Lowercase hexadecimal.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func digest(_ bytes: UnsafeRawBufferPointer, _ type: OpaquePointer?, length: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var written: UInt32 = 0
        _ = EVP_Digest(bytes.baseAddress, bytes.count, &out, &written, type, nil)
        precondition(Int(written) == length, "libcrypto digest of unexpected length")
        return Array(out.prefix(length))
    }

    private static func withContiguous<Bytes: Collection<UInt8>, R>(
        _ bytes: Bytes,
        _ body: (UnsafeRawBufferPointer) -> R
    ) -> R {
        if let result = bytes.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return result }
        return Array(bytes).withUnsafeBytes(body)
    }
}
