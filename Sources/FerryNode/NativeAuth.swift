import FerryCrypto
import FerryModel
import FerryWire
import NIOConcurrencyHelpers

/// Authentication and authorization on the native client port (`client_auth: keys` in node.yaml).
///
/// Each connection proves a key with a challenge–response (`authBegin` → a fresh nonce, `authProve` → an
/// HMAC-SHA256 under the key's secret over both nonces; no secret on the wire, a proof is good on one connection
/// only). Keys are node.yaml's `sqs.access_keys` (the cluster's root keys: admin) and the cluster's own
/// (`ferry auth`, as this node applied them); a key revoked since the handshake is refused at its next request.
/// Every request maps to an SQS action and is authorized as the SQS API does (`authorize`); cluster
/// administration needs an admin key. Failed authentications are counted and, past 10 in 10 s from one address,
/// refused without checking for the rest of that window.
public final class NativeAuth: Sendable {
    /// Denial message of `action` on `queue` by `key` (whose account may not own it), or nil when allowed.
    public typealias Authorizer =
        @Sendable (
            _ key: AccessKey, _ action: String, _ queue: String, _ policy: String?, _ owner: String
        ) -> String?

    let keys: KeyTable
    let rootKeys: [String: AccessKey]
    let owner: String
    let authorize: Authorizer
    static var failureWindowMs: Int64 { KeyTable.failureWindowMs }

    init(config: NodeConfig, keys: KeyTable, authorize: Authorizer?) {
        self.keys = keys
        owner = config.sqs.accountID
        var root: [String: AccessKey] = [:]
        for key in config.sqs.accessKeys {
            root[key.id] = AccessKey(
                id: key.id,
                secret: key.secret,
                account: key.accountID ?? config.sqs.accountID,
                admin: key.accountID == nil && !key.readOnly
            )
            root[key.id]!.readOnly = key.readOnly
        }
        rootKeys = root
        self.authorize =
            authorize ?? { key, action, queue, _, owner in
                key.account == owner ? nil : "key \(key.id) of account \(key.account) may not \(action) on \(queue)"
            }
    }

    func key(_ id: String) -> AccessKey? { rootKeys[id] ?? keys.key(id) }

    /// Whether `address` failed too often lately (then it is refused without a check).
    func throttled(_ address: String, nowMs: Int64) -> Bool { keys.throttled(address, nowMs: nowMs) }

    func failed(_ address: String, reason: String, nowMs: Int64) {
        keys.failed(address, api: "native", reason: reason, nowMs: nowMs)
    }

    /// Checks a proof against the key's secrets (every candidate compared, each in constant time).
    func verify(_ key: AccessKey, serverNonce: String, clientNonce: String, proof: String, nowMs: Int64) -> Bool {
        let message = NativeAuthProof.message(keyID: key.id, serverNonce: serverNonce, clientNonce: clientNonce)
        let given = Array(proof.lowercased().utf8)
        var matched = false
        for secret in key.secrets(atMs: nowMs) {
            let expected = Array(Digests.hex(Digests.hmacSHA256(key: Array(secret.utf8), message)).utf8)
            matched = Digests.constantTimeEqual(expected, given) || matched
        }
        return matched
    }

    /// What a request needs of its key.
    enum Need {
        case nothing
        /// Cluster administration: an admin key.
        case admin
        /// An SQS action on a queue.
        case queue(action: String, name: String)
        /// The queue list: another account's key sees none.
        case list
    }

    static func need(_ request: ClientRequest) -> Need {
        switch request {
        case .hello, .describeCluster, .nodeStatus, .nodeHealth, .groupDigest, .initProducer, .authBegin, .authProve:
            return .nothing
        case .listQueues: return .list
        case .changeCluster, .changeKeys, .listKeys: return .admin
        case .createQueue(let name, _, _): return .queue(action: "CreateQueue", name: name)
        case .deleteQueue(let name): return .queue(action: "DeleteQueue", name: name)
        case .setQueueAttributes(let name, _): return .queue(action: "SetQueueAttributes", name: name)
        case .purgeQueue(let name, _): return .queue(action: "PurgeQueue", name: name)
        case .send(let name, _, _), .sendStatus(let name, _, _, _): return .queue(action: "SendMessage", name: name)
        case .receive(let name, _, _, _), .awaitMessages(let name, _, _), .summarizeDeliverable(let name, _, _, _, _),
            .receiveIfFull(let name, _, _):
            return .queue(action: "ReceiveMessage", name: name)
        case .delete(let name, _, _): return .queue(action: "DeleteMessage", name: name)
        case .changeVisibility(let name, _, _): return .queue(action: "ChangeMessageVisibility", name: name)
        case .queueStatistics(let name, _): return .queue(action: "GetQueueAttributes", name: name)
        // A peek shows message bodies, which only receiving does in SQS: it needs that permission.
        case .peekMessages(let name, _, _): return .queue(action: "ReceiveMessage", name: name)
        case .groupBacklog(let name, _, _): return .queue(action: "GetQueueAttributes", name: name)
        case .startMoveTask(let name, _, _): return .queue(action: "StartMessageMoveTask", name: name)
        case .cancelMoveTask(let name, _, _): return .queue(action: "CancelMessageMoveTask", name: name)
        case .listMoveTasks(let name, _): return .queue(action: "ListMessageMoveTasks", name: name)
        }
    }

    /// Why `key` may not make `request`, or nil.
    func denial(_ key: AccessKey, _ request: ClientRequest) -> String? {
        switch Self.need(request) {
        case .nothing, .list: return nil
        case .admin: return key.admin ? nil : "key \(key.id) is not an admin key: cluster administration needs one"
        case .queue(let action, let name):
            return authorize(key, action, name, keys.policy(of: name), owner)
        }
    }
}
