/// AWS Signature Version 4, the client's half (`ferry bench --api sqs`): signs a request as botocore does, with
/// the verifier's own canonical request and key derivation, so the two cannot drift apart.
package struct SigV4Signer: Sendable {
    package let accessKeyID: String
    package let secret: String
    package let region: String
    private let verifier: SigV4Verifier

    package init(accessKeyID: String, secret: String, region: String = "us-east-1", service: String = "sqs") {
        self.accessKeyID = accessKeyID
        self.secret = secret
        self.region = region
        self.verifier = SigV4Verifier(secrets: [:], service: service)
    }

    /// The headers to add to a request with `headers` (which must include `Host`): `X-Amz-Date` and an
    /// `Authorization` that signs every header given and the date.
    package func sign(
        method: String,
        path: String,
        headers: [(name: String, value: String)],
        body: [UInt8],
        nowSeconds: Int64
    ) -> [(name: String, value: String)] {
        let amzDate = SigV4Verifier.amzDate(epochSeconds: nowSeconds)
        let all = headers + [("X-Amz-Date", amzDate)]
        let signed = Set(all.map { $0.name.lowercased() }).sorted()
        let request = SigV4Verifier.Request(method: method, path: path, query: "", headers: all, body: body)
        let signature = verifier.signature(
            request,
            signedHeaders: signed,
            secret: secret,
            amzDate: amzDate,
            region: region
        )
        let scope = "\(amzDate.prefix(8))/\(region)/\(verifier.service)/aws4_request"
        return [
            ("X-Amz-Date", amzDate),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signed.joined(separator: ";")), "
                    + "Signature=\(signature)"
            ),
        ]
    }
}
