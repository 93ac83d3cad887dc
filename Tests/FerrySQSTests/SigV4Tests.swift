import FerrySQS
import XCTest

final class SigV4Tests: XCTestCase {
    let verifier = SigV4Verifier(
        secrets: ["AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"],
        service: "sqs"
    )
    let body = Array(#"{"QueueName": "orders.fifo"}"#.utf8)
    /// 2026-11-23T08:00:00Z.
    let signedAt: Int64 = 1_795_420_800

    /// What botocore 1.43 sent for `GetQueueUrl` (signed by `SigV4Auth(creds, "sqs", "eu-west-1")` at the time above).
    func botocoreRequest(
        signature: String = "97be8f72af073cbacdcb94c27219396a57d009b8321855c7ac2316fffa02b6dc",
        key: String = "AKIDEXAMPLE",
        body: [UInt8]? = nil
    ) -> SigV4Verifier.Request {
        SigV4Verifier.Request(
            method: "POST",
            path: "/",
            query: "",
            headers: [
                ("Host", "127.0.0.11:7300"),
                ("X-Amz-Target", "AmazonSQS.GetQueueUrl"),
                ("Content-Type", "application/x-amz-json-1.0"),
                ("x-amzn-query-mode", "true"),
                ("X-Amz-Date", "20261123T080000Z"),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=\(key)/20261123/eu-west-1/sqs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target;x-amzn-query-mode, Signature=\(signature)"
                ),
            ],
            body: body ?? self.body
        )
    }

    /// The cluster's keys (`ferry auth`) come from a lookup: during a rotation's grace either secret verifies; a
    /// revoked key (the lookup answers nil) is refused as unknown.
    func testLookedUpKeysVerifyWithEitherSecretOfARotationAndARevokedKeyIsUnknown() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        let rotating = SigV4Verifier(secrets: [:], service: "sqs") { id in
            id == "AKIDEXAMPLE" ? ["a-newer-secret-0123456789", secret] : nil
        }
        XCTAssertEqual(try rotating.verify(botocoreRequest(), nowSeconds: signedAt).get().accessKeyID, "AKIDEXAMPLE")
        let rotated = SigV4Verifier(secrets: [:], service: "sqs") { _ in ["a-newer-secret-0123456789"] }
        guard case .failure(let mismatch) = rotated.verify(botocoreRequest(), nowSeconds: signedAt) else {
            return XCTFail("the replaced secret verified after its grace")
        }
        XCTAssertEqual(mismatch.shape, "SignatureDoesNotMatch")
        let revoked = SigV4Verifier(secrets: [:], service: "sqs") { _ in nil }
        guard case .failure(let unknown) = revoked.verify(botocoreRequest(), nowSeconds: signedAt) else {
            return XCTFail("a revoked key verified")
        }
        XCTAssertEqual(unknown.shape, "InvalidClientTokenId")
    }

    func testBotocoreSignatureVerifiesAndNamesTheRegion() throws {
        XCTAssertEqual(SigV4Verifier.amzDate(epochSeconds: signedAt), "20261123T080000Z")
        let identity = try verifier.verify(botocoreRequest(), nowSeconds: signedAt + 30).get()
        XCTAssertEqual(identity.accessKeyID, "AKIDEXAMPLE")
        XCTAssertEqual(identity.region, "eu-west-1")
    }

    /// The client's half signs what botocore signed, byte for byte, and the verifier takes it.
    func testSignerMatchesBotocoreAndVerifies() throws {
        let signer = SigV4Signer(
            accessKeyID: "AKIDEXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            region: "eu-west-1"
        )
        let sent = botocoreRequest()
        let unsigned = sent.headers.filter { !["Authorization", "X-Amz-Date"].contains($0.name) }
        let added = signer.sign(method: "POST", path: "/", headers: unsigned, body: body, nowSeconds: signedAt)
        XCTAssertEqual(added.map(\.name), ["X-Amz-Date", "Authorization"])
        XCTAssertEqual(added.map(\.value), sent.headers.suffix(2).map(\.value))
        let request = SigV4Verifier.Request(method: "POST", path: "/", query: "", headers: unsigned + added, body: body)
        XCTAssertEqual(try verifier.verify(request, nowSeconds: signedAt).get().region, "eu-west-1")
        let other = signer.sign(method: "POST", path: "/", headers: unsigned, body: [], nowSeconds: signedAt)
        XCTAssertNotEqual(other.last?.value, added.last?.value)
    }

    /// AWS's signature test suite, `get-vanilla` (service "service", us-east-1, 2015-08-30T12:36:00Z).
    func testAWSSuiteGetVanilla() throws {
        let suite = SigV4Verifier(secrets: verifier.secrets, service: "service")
        let request = SigV4Verifier.Request(
            method: "GET",
            path: "/",
            query: "",
            headers: [
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                ),
            ],
            body: []
        )
        let now = SigV4Verifier.epochSeconds(amzDate: "20150830T123600Z")!
        XCTAssertEqual(try suite.verify(request, nowSeconds: now).get().region, "us-east-1")
    }

    /// An encoded path and an unsorted, encoded query (signed by botocore).
    func testPathAndQueryAreCanonicalised() throws {
        let suite = SigV4Verifier(secrets: verifier.secrets, service: "service")
        let request = SigV4Verifier.Request(
            method: "GET",
            path: "/a%20b/c",
            query: "Param2=value2&Param1=value%201",
            headers: [
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=f14a5a5f581cfbbdd8407e5f322f907654223081ffe2369ae3b094eff6d99ab5"
                ),
            ],
            body: []
        )
        XCTAssertNoThrow(
            try suite.verify(request, nowSeconds: SigV4Verifier.epochSeconds(amzDate: "20150830T123600Z")!).get()
        )
    }

    func testWrongSignatureTamperedBodyUnknownKeyAndSkewAreRefusedWithAWSCodes() {
        func code(_ request: SigV4Verifier.Request, now: Int64? = nil) -> String? {
            if case .failure(let error) = verifier.verify(request, nowSeconds: now ?? signedAt) { return error.code }
            return nil
        }
        XCTAssertEqual(code(botocoreRequest(signature: String(repeating: "0", count: 64))), "SignatureDoesNotMatch")
        XCTAssertEqual(
            code(botocoreRequest(body: Array(#"{"QueueName": "other.fifo"}"#.utf8))),
            "SignatureDoesNotMatch"
        )
        XCTAssertEqual(code(botocoreRequest(key: "AKIDUNKNOWN")), "InvalidClientTokenId")
        XCTAssertEqual(code(botocoreRequest(), now: signedAt + 301), "RequestExpired")
        XCTAssertEqual(code(botocoreRequest(), now: signedAt - 301), "RequestExpired")
        XCTAssertNil(code(botocoreRequest(), now: signedAt + 299))
        var unsigned = botocoreRequest()
        unsigned.headers.removeAll { $0.name == "Authorization" }
        XCTAssertEqual(code(unsigned), "MissingAuthenticationToken")
        var garbled = botocoreRequest()
        garbled.headers.removeAll { $0.name == "Authorization" }
        garbled.headers.append(("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x"))
        XCTAssertEqual(code(garbled), "IncompleteSignature")
        let statuses = [SQSError.signatureDoesNotMatch.status, SQSError.invalidClientTokenID.status]
        XCTAssertEqual(statuses, [403, 403])
    }

    func testDatesRoundTrip() {
        for seconds: Int64 in [0, 951_782_400, 1_795_420_800, 4_102_444_799] {
            XCTAssertEqual(SigV4Verifier.epochSeconds(amzDate: SigV4Verifier.amzDate(epochSeconds: seconds)), seconds)
        }
        XCTAssertNil(SigV4Verifier.epochSeconds(amzDate: "2026-11-23T08:00:00Z"))
        XCTAssertNil(SigV4Verifier.epochSeconds(amzDate: "20261323T080000Z"))
    }
}
