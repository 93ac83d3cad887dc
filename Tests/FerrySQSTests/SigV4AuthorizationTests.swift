import FerrySQS
import Testing

/// SigV4's `Authorization` header, scanned as bytes, against the first, Character-wise parser.
@Suite struct AuthorizationHeaderTests {
    /// The first parser, as it was: the three fields, signed headers lowercased.
    static func reference(_ header: String) -> [String]? {
        let prefix = "AWS4-HMAC-SHA256 "
        guard header.hasPrefix(prefix) else { return nil }
        var fields: [String: String] = [:]
        for part in header.dropFirst(prefix.count).split(separator: ",") {
            var item = part
            while item.first == " " { item = item.dropFirst() }
            while item.last == " " { item = item.dropLast() }
            guard let equals = item.firstIndex(of: "=") else { return nil }
            fields[String(item[..<equals])] = String(item[item.index(after: equals)...])
        }
        guard let credential = fields["Credential"], let signed = fields["SignedHeaders"],
            let signature = fields["Signature"], !signature.isEmpty
        else { return nil }
        return [credential, signed.split(separator: ";").map { $0.lowercased() }.joined(separator: ";"), signature]
    }

    static func fields(_ parsed: SigV4Verifier.Authorization?) -> [String]? {
        parsed.map { [$0.credential, $0.signedHeaders.joined(separator: ";"), $0.signature] }
    }

    @Test func theByteScannerParsesAsTheFirstParserDid() {
        let pieces = [
            "Credential=AK/20261203/us-east-1/sqs/aws4_request", "SignedHeaders=host;X-Amz-Date", "Signature=ab12",
            "Signature=", "Other=1", "noequals", " ", "", "Credential=a=b", "SignedHeaders=", "Signature=ff ",
        ]
        var generator = FastJSONTests.Generator(state: 17)
        var parsed = 0
        for _ in 0..<3_000 {
            let parts = (0..<Int.random(in: 0...5, using: &generator)).map { _ in
                pieces.randomElement(using: &generator)!
            }
            let separator = [",", ", ", " ,", ",,"].randomElement(using: &generator)!
            let header = "AWS4-HMAC-SHA256 " + parts.joined(separator: separator)
            let mine = SigV4Verifier.Authorization(parsing: header)
            #expect(Self.fields(mine) == Self.reference(header), "\(header)")
            if mine != nil { parsed += 1 }
        }
        #expect(parsed > 100, "valid headers are among the random ones")
        #expect(SigV4Verifier.Authorization(parsing: "AWS4-HMAC-SHA256") == nil)
        #expect(SigV4Verifier.Authorization(parsing: "Basic abc") == nil)
    }
}

/// Header values as SigV4 canonicalizes them: the shortcut for values with nothing to trim agrees with
/// splitting and joining.
@Suite struct HeaderValueTrimTests {
    @Test func trimmingAgreesWithSplittingAndJoining() {
        var generator = FastJSONTests.Generator(state: 18)
        for _ in 0..<2_000 {
            let value = String(
                (0..<Int.random(in: 0...8, using: &generator)).map { _ in "a b\t".randomElement(using: &generator)! }
            )
            let expected = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            #expect(SigV4Verifier.trimmed(value) == expected, "\(value.debugDescription)")
        }
    }
}
