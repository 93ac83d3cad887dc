import FerryClient
import FerryCrypto
import FerryModel
import FerryNode
import FerrySQS
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The native port with `client_auth: keys` (issue 17): a challenge–response handshake with the cluster's keys,
/// each request authorized as the SQS API authorizes it, cluster administration for admin keys. Every refusal is
/// typed and changes nothing; a revoked key is refused on its next request while other load goes on.
@Suite(.serialized) struct NativeAuthClusterTests {
    static let root = (id: "AKFRROOTKEY000000001", secret: "root-secret-0123456789abcdef")

    static func cluster(_ name: String) throws -> LocalCluster {
        let cluster = LocalCluster(name: name)
        cluster.rootKey = root
        // The SQS API's rules, as `ferry node` passes them.
        cluster.authorize = { key, action, queue, policy, owner in
            SQSAuthorization.denial(
                account: key.account,
                principalARN: "arn:aws:iam::\(key.account):user/\(key.id)",
                owner: owner,
                operation: action,
                queueARN: "arn:aws:sqs:us-east-1:\(owner):\(queue)",
                policy: policy
            )?.message
        }
        try cluster.startAll()
        return cluster
    }

    static func client(_ cluster: LocalCluster, _ credentials: Credentials?) throws -> FerryClient {
        var options = FerryClient.Options()
        options.requestTimeoutMs = 3_000
        options.retryDeadlineMs = 5_000
        return try FerryClient(endpoints: cluster.endpoints, options: options, credentials: credentials)
    }

    static func body(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        return buffer
    }

    /// `body` fails with `.server(unauthorized)` or `.refused` whose text contains `words`.
    static func refused(_ words: String, _ body: () throws -> Void) {
        #expect {
            try body()
        } throws: { error in
            switch error {
            case FerryClientError.server(let refusal):
                return refusal.code == .unauthorized && refusal.message.contains(words)
            case FerryClientError.refused(let detail): return detail.contains(words)
            default: return false
            }
        }
    }

    /// Whether `body` failed with an `unauthorized` refusal.
    static func isUnauthorized(_ body: () throws -> Void) -> Bool {
        do {
            try body()
            return false
        } catch {
            guard let error = error as? FerryClientError, case .server(let refusal) = error else { return false }
            return refusal.code == .unauthorized
        }
    }

    @Test func keysAreProvedAndRequestsAuthorizedAndEveryRefusalChangesNothing() throws {
        let cluster = try Self.cluster("auth-keys")
        defer { cluster.stopAll() }
        let root = try Self.client(cluster, Credentials(keyID: Self.root.id, secret: Self.root.secret))
        _ = try root.createQueue("auth.fifo", partitions: 1)
        // The cluster's own keys: one of its account, one of another, not admins.
        let mine = Credentials(keyID: "AKFRMINE000000000001", secret: "mine-secret-0123456789")
        let partner = Credentials(keyID: "AKFRPARTNER000000001", secret: "partner-secret-0123456789")
        try root.changeKeys(.create(id: mine.keyID, secret: mine.secret, account: "", admin: false))
        try root.changeKeys(.create(id: partner.keyID, secret: partner.secret, account: "333344445555", admin: false))

        let send = { (client: FerryClient, text: String) throws in
            let results = try client.send(
                "auth.fifo",
                [
                    SendRequest(
                        body: Self.body(text),
                        groupID: "g",
                        deduplicationID: text.replacingOccurrences(of: " ", with: "-")
                    )
                ]
            )
            guard case .success? = results.first else {
                throw FerryClientError.server(WireError(.internal, "\(results)"))
            }
        }
        // No key, a wrong secret, an unknown key: refused, typed, with the reason.
        Self.refused("needs a key") { try send(try Self.client(cluster, nil), "no key") }
        Self.refused("does not match the secret") {
            try send(try Self.client(cluster, Credentials(keyID: mine.keyID, secret: "a-wrong-secret-000000")), "wrong")
        }
        Self.refused("does not exist") {
            try send(
                try Self.client(cluster, Credentials(keyID: "AKFRUNKNOWN000000001", secret: mine.secret)),
                "unknown"
            )
        }
        // A key of the cluster's account acts on its queues; it may not administer the cluster.
        let user = try Self.client(cluster, mine)
        try send(user, "by mine")
        Self.refused("not an admin key") { try user.changeKeys(.revoke(id: partner.keyID)) }
        Self.refused("not an admin key") { _ = try user.listKeys() }
        // Another account's key: no queue listed, none created, no send until the queue's policy allows it.
        let other = try Self.client(cluster, partner)
        #expect(try other.listQueues(prefix: "").isEmpty)
        Self.refused("is not authorized to perform: sqs:CreateQueue") { _ = try other.createQueue("theirs.fifo") }
        Self.refused("is not authorized to perform: sqs:SendMessage") { try send(other, "by partner") }
        var attributes = try root.queueDescription("auth.fifo").attributes
        attributes.policy = """
            {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"333344445555"},\
            "Action":"sqs:SendMessage","Resource":"*"}]}
            """
        try root.setAttributes("auth.fifo", attributes)
        let deadline = LocalCluster.nowMs() + 5_000
        while (try? send(other, "by partner")) == nil && LocalCluster.nowMs() < deadline { usleep(50_000) }
        Self.refused("is not authorized to perform: sqs:ReceiveMessage") {
            _ = try other.receive("auth.fifo", maxMessages: 10)
        }
        // Exactly the two allowed sends went in: every refusal changed nothing.
        let received = try root.receive("auth.fifo", maxMessages: 10, waitMs: 1_000)
        #expect(received.map { String(buffer: $0.delivery.body) }.sorted() == ["by mine", "by partner"])
        #expect(try root.listKeys().map(\.id).sorted() == [mine.keyID, partner.keyID].sorted())
    }

    @Test func aProofIsGoodOnItsOwnConnectionOnlyAndFailuresAreThrottledPerAddress() throws {
        let cluster = try Self.cluster("auth-replay")
        defer { cluster.stopAll() }
        let member = cluster.members[0]
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        func connect() throws -> Connection {
            try Connection(host: member.host, port: Int(member.clientPort), group: group)
        }
        // A proof captured from one connection, replayed on another (its own challenge), is refused.
        let first = try connect()
        guard case .authChallenge(let nonce) = try first.call(.authBegin(keyID: Self.root.id), timeoutMs: 3_000) else {
            Issue.record("no challenge")
            return
        }
        let clientNonce = "00112233445566778899aabbccddeeff"
        let message = NativeAuthProof.message(keyID: Self.root.id, serverNonce: nonce, clientNonce: clientNonce)
        let proof = Digests.hex(Digests.hmacSHA256(key: Array(Self.root.secret.utf8), message))
        guard case .authenticated = try first.call(.authProve(clientNonce: clientNonce, proof: proof), timeoutMs: 3_000)
        else {
            Issue.record("the genuine proof was refused")
            return
        }
        let second = try connect()
        _ = try second.call(.authBegin(keyID: Self.root.id), timeoutMs: 3_000)
        guard
            case .error(let replayed) = try second.call(
                .authProve(clientNonce: clientNonce, proof: proof),
                timeoutMs: 3_000
            )
        else {
            Issue.record("a replayed proof was accepted")
            return
        }
        #expect(replayed.code == .unauthorized)
        guard case .error(let unauthenticated) = try second.call(.listQueues(prefix: ""), timeoutMs: 3_000) else {
            Issue.record("the replaying connection was served")
            return
        }
        #expect(unauthenticated.code == .unauthorized)
        // Ten more failures from this address: then even the right key is throttled for the window.
        for attempt in 0..<10 {
            _ = try second.call(.authBegin(keyID: Self.root.id), timeoutMs: 3_000)
            _ = try second.call(.authProve(clientNonce: clientNonce, proof: "bad\(attempt)"), timeoutMs: 3_000)
        }
        #expect {
            _ = try connect().authenticate(Credentials(keyID: Self.root.id, secret: Self.root.secret), timeoutMs: 3_000)
                .wait()
        } throws: { error in
            guard case FerryClientError.server(let refusal) = error else { return false }
            return refusal.code == .throttled
        }
        first.close()
        second.close()
    }

    @Test func aRevokedKeyIsRefusedOnItsOpenConnectionWhileOtherLoadGoesOn() throws {
        let cluster = try Self.cluster("auth-revoke")
        defer { cluster.stopAll() }
        let root = try Self.client(cluster, Credentials(keyID: Self.root.id, secret: Self.root.secret))
        _ = try root.createQueue("revoke.fifo", partitions: 2)
        let doomed = Credentials(keyID: "AKFRDOOMED0000000001", secret: "doomed-secret-0123456789")
        try root.changeKeys(.create(id: doomed.keyID, secret: doomed.secret, account: "", admin: false))
        let user = try Self.client(cluster, doomed)
        _ = try user.listQueues(prefix: "")
        let failures = NIOLockedValueBox<[String]>([])
        let stop = NIOLockedValueBox(false)
        let done = NIOLockedValueBox(false)
        let steady = try Self.client(cluster, Credentials(keyID: Self.root.id, secret: Self.root.secret))
        Thread.detachNewThread {
            for n in 0..<3_000 where !stop.withLockedValue({ $0 }) {
                do {
                    let results = try steady.send(
                        "revoke.fifo",
                        [SendRequest(body: Self.body("m\(n)"), groupID: "g\(n % 4)", deduplicationID: "s\(n)")]
                    )
                    if case .success? = results.first {} else { failures.withLockedValue { $0.append("\(results)") } }
                } catch {
                    failures.withLockedValue { $0.append("\(error)") }
                }
            }
            done.withLockedValue { $0 = true }
        }
        usleep(300_000)
        try root.changeKeys(.revoke(id: doomed.keyID))
        let revokedAt = LocalCluster.nowMs()
        var refusedAfter: Int64?
        while refusedAfter == nil && LocalCluster.nowMs() - revokedAt < 3_000 {
            if Self.isUnauthorized({ _ = try user.listQueues(prefix: "") }) {
                refusedAfter = LocalCluster.nowMs() - revokedAt
            }
            usleep(10_000)
        }
        #expect(refusedAfter != nil && refusedAfter! < 1_000, "refused \(String(describing: refusedAfter)) ms after")
        usleep(300_000)
        stop.withLockedValue { $0 = true }
        while !done.withLockedValue({ $0 }) { usleep(10_000) }
        #expect(failures.withLockedValue { $0 }.isEmpty, "\(failures.withLockedValue { $0.prefix(3) })")
    }
}
