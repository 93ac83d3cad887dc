import FerryCrypto
import FerryModel

/// AWS Signature Version 4, the server's half: recompute the signature of a request from the access key's
/// secret and compare. Follows AWS's "Create a signed AWS API request" (canonical request → string to sign →
/// derived key → HMAC-SHA256) as botocore signs; only the `Authorization` header form (no presigned URLs).
public struct SigV4Verifier: Sendable {
    /// Secret access keys by access key id (node.yaml's).
    public let secrets: [String: String]
    /// Other keys' secrets by id (the cluster's, from its metadata group): the current one, and a rotated-out one
    /// still in its grace; nil for an unknown or revoked key.
    public let lookup: (@Sendable (String) -> [String]?)?
    /// How far the request's `X-Amz-Date` may be from the server's clock (AWS: 5 minutes).
    public let maxSkewSeconds: Int64
    /// The service name the credential scope must name.
    public let service: String

    public init(
        secrets: [String: String],
        maxSkewSeconds: Int64 = 300,
        service: String = "sqs",
        lookup: (@Sendable (String) -> [String]?)? = nil
    ) {
        self.secrets = secrets
        self.lookup = lookup
        self.maxSkewSeconds = maxSkewSeconds
        self.service = service
    }

    /// Who signed a verified request, and the region of its credential scope.
    public struct Identity: Sendable, Equatable {
        public let accessKeyID: String
        public let region: String
    }

    /// The parts of an HTTP request a signature covers.
    public struct Request: Sendable {
        public var method: String
        /// The path as sent, still percent-encoded (`/` for the JSON protocol).
        public var path: String
        /// The raw query string after `?`, or "".
        public var query: String
        /// Header names and values as received; names compare case-insensitively.
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public init(
            method: String,
            path: String,
            query: String,
            headers: [(name: String, value: String)],
            body: [UInt8]
        ) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.body = body
        }

        /// The values of the header `name` (ASCII letters compared without case, as HTTP names are tokens),
        /// without lowercasing every name for every lookup.
        func values(_ name: String) -> [String] {
            headers.filter { Self.sameName($0.name, name) }.map(\.value)
        }

        static func sameName(_ a: String, _ b: String) -> Bool {
            guard a.utf8.count == b.utf8.count else { return false }
            func folded(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }
            return zip(a.utf8, b.utf8).allSatisfy { folded($0) == folded($1) }
        }
    }

    /// - Parameter nowSeconds: the server's clock, seconds since the Unix epoch.
    public func verify(_ request: Request, nowSeconds: Int64) -> Result<Identity, SQSError> {
        guard let authorization = request.values("authorization").first else {
            return .failure(.missingAuthenticationToken)
        }
        guard let parsed = Authorization(parsing: authorization) else {
            return .failure(
                .incompleteSignature(
                    "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters (AWS4-HMAC-SHA256)."
                )
            )
        }
        let scope = parsed.credential.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard scope.count == 5, scope[4] == "aws4_request", scope[3] == service, scope[1].count == 8 else {
            return .failure(
                .incompleteSignature(
                    "Credential should be scoped to a valid region and service (\(parsed.credential))."
                )
            )
        }
        let accessKeyID = scope[0]
        let date = scope[1]
        let region = scope[2]
        guard let amzDate = request.values("x-amz-date").first ?? request.values("date").first,
            let signedAt = Self.epochSeconds(amzDate: amzDate), amzDate.hasPrefix(date)
        else {
            return .failure(
                .incompleteSignature(
                    "X-Amz-Date must be an ISO 8601 basic date-time (yyyyMMdd'T'HHmmss'Z') of the credential's date."
                )
            )
        }
        guard let candidates = secrets[accessKeyID].map({ [$0] }) ?? lookup?(accessKeyID), !candidates.isEmpty else {
            return .failure(.invalidClientTokenID)
        }
        if abs(nowSeconds - signedAt) > maxSkewSeconds {
            return .failure(
                .requestExpired(
                    signed: amzDate,
                    now: Self.amzDate(epochSeconds: nowSeconds),
                    skewSeconds: maxSkewSeconds
                )
            )
        }
        guard parsed.signedHeaders.contains("host") else {
            return .failure(.incompleteSignature("The host header must be signed."))
        }
        let given = parsed.signature.lowercased()
        var matched = false
        for secret in candidates {
            let expected = signature(
                request,
                signedHeaders: parsed.signedHeaders,
                secret: secret,
                amzDate: amzDate,
                region: region
            )
            // Every candidate is compared (in constant time each): which one matched does not show in the time.
            matched = Self.constantTimeEqual(expected, given) || matched
        }
        guard matched else { return .failure(.signatureDoesNotMatch) }
        return .success(Identity(accessKeyID: accessKeyID, region: region))
    }

    /// The signature of `request` (hex): canonical request → string to sign → key derived from the secret, the
    /// date, the region and the service → HMAC-SHA256.
    func signature(
        _ request: Request,
        signedHeaders: [String],
        secret: String,
        amzDate: String,
        region: String
    ) -> String {
        let date = String(amzDate.prefix(8))
        let canonical = canonicalRequest(request, signedHeaders: signedHeaders)
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, "\(date)/\(region)/\(service)/aws4_request",
            Digests.hex(Digests.sha256(Array(canonical.utf8))),
        ].joined(separator: "\n")
        var key = Digests.hmacSHA256(key: Array("AWS4\(secret)".utf8), Array(date.utf8))
        for part in [region, service, "aws4_request"] { key = Digests.hmacSHA256(key: key, Array(part.utf8)) }
        return Digests.hex(Digests.hmacSHA256(key: key, Array(stringToSign.utf8)))
    }

    /// AWS's canonical request: method, URI, query, the signed headers, their names, the payload's hash.
    func canonicalRequest(_ request: Request, signedHeaders: [String]) -> String {
        let headerLines = signedHeaders.map { name in
            let value = request.values(name).map(Self.trimmed).joined(separator: ",")
            return "\(name):\(value)\n"
        }.joined()
        let payloadHash =
            request.values("x-amz-content-sha256").first.flatMap { $0 == "UNSIGNED-PAYLOAD" ? nil : $0 }
            ?? Digests.hex(Digests.sha256(request.body))
        return [
            request.method.uppercased(),
            Self.canonicalPath(request.path),
            Self.canonicalQuery(request.query),
            headerLines,
            signedHeaders.joined(separator: ";"),
            payloadHash,
        ].joined(separator: "\n")
    }

    package struct Authorization: Equatable {
        package let credential: String
        package let signedHeaders: [String]
        package let signature: String

        /// `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`: the parts between commas, spaces
        /// around them ignored, each `name=value` (a part without `=`, or of spaces only, makes the header
        /// invalid; for a name given twice the last counts; other names are ignored). Scanned as bytes: Character-wise splitting and
        /// searching took most of a verification's time.
        package init?(parsing header: String) {
            let prefix = "AWS4-HMAC-SHA256 ".utf8
            let bytes = Array(header.utf8)
            guard bytes.starts(with: prefix) else { return nil }
            var credential: String?
            var signed: String?
            var signature: String?
            var start = prefix.count
            while start <= bytes.count {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.count
                var low = start
                var high = end
                while low < high && bytes[low] == UInt8(ascii: " ") { low += 1 }
                while high > low && bytes[high - 1] == UInt8(ascii: " ") { high -= 1 }
                if end > start {
                    // A part of spaces only is as invalid as one without `=`; an empty one (`,,`) is skipped.
                    guard low < high, let equals = bytes[low..<high].firstIndex(of: UInt8(ascii: "=")) else {
                        return nil
                    }
                    let value = String(decoding: bytes[(equals + 1)..<high], as: UTF8.self)
                    switch String(decoding: bytes[low..<equals], as: UTF8.self) {
                    case "Credential": credential = value
                    case "SignedHeaders": signed = value
                    case "Signature": signature = value
                    default: break
                    }
                }
                start = end + 1
            }
            guard let credential, let signed, let signature, !signature.isEmpty else { return nil }
            self.credential = credential
            self.signedHeaders = signed.split(separator: ";").map { $0.lowercased() }
            self.signature = signature
        }
    }

    /// Each segment of the path as sent (already percent-encoded) encoded once more with AWS's unreserved set:
    /// services other than S3 sign the doubly encoded path (`/a%20b` → `/a%2520b`), as botocore does.
    static func canonicalPath(_ path: String) -> String {
        guard !path.isEmpty else { return "/" }
        return path.split(separator: "/", omittingEmptySubsequences: false)
            .map { uriEncode(String($0)) }
            .joined(separator: "/")
    }

    /// Parameters sorted by encoded name then value, each `name=value` with AWS's encoding.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&").map { item -> (String, String) in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecoded(String(parts[0])) ?? String(parts[0])
            let value = parts.count > 1 ? percentDecoded(String(parts[1])) ?? String(parts[1]) : ""
            return (uriEncode(name), uriEncode(value))
        }
        return pairs.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }.map { "\($0)=\($1)" }.joined(separator: "&")
    }

    /// RFC 3986 encoding: A–Z a–z 0–9 - _ . ~ as they are, every other byte as %XX (uppercase).
    static func uriEncode(_ text: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func percentDecoded(_ text: String) -> String? {
        var out: [UInt8] = []
        var bytes = text.utf8.makeIterator()
        while let byte = bytes.next() {
            guard byte == UInt8(ascii: "%") else {
                out.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                continue
            }
            guard let high = bytes.next().flatMap(hexValue), let low = bytes.next().flatMap(hexValue) else {
                return nil
            }
            out.append(high << 4 | low)
        }
        return String(validating: out, as: UTF8.self)
    }

    /// The value of one hexadecimal digit (either case), nil for any other byte.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Leading and trailing spaces removed, inner runs of spaces collapsed to one.
    package static func trimmed(_ value: String) -> String {
        // Most values have nothing to trim: no leading, trailing or doubled space.
        let utf8 = value.utf8
        if utf8.first != UInt8(ascii: " "), utf8.last != UInt8(ascii: " "),
            !zip(utf8, utf8.dropFirst()).contains(where: { $0 == UInt8(ascii: " ") && $1 == UInt8(ascii: " ") })
        {
            return value
        }
        return value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    /// `yyyyMMddTHHmmssZ` → seconds since the epoch (proleptic Gregorian, UTC).
    package static func epochSeconds(amzDate: String) -> Int64? {
        let bytes = Array(amzDate.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
            let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        return CivilDate.daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3_600 + minute * 60
            + second
    }

    /// Seconds since the epoch → `yyyyMMddTHHmmssZ`.
    package static func amzDate(epochSeconds: Int64) -> String {
        let days = epochSeconds >= 0 ? epochSeconds / 86_400 : (epochSeconds - 86_399) / 86_400
        let rest = epochSeconds - days * 86_400
        let (year, month, day) = CivilDate.civilFromDays(days)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)\(two(month))\(two(day))T\(two(rest / 3_600))\(two(rest % 3_600 / 60))\(two(rest % 60))Z"
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}
