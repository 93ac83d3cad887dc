import NIOCore

/// An access key the cluster keeps in its metadata group (`ferry auth create-key`): an id and a secret (SigV4
/// and the native handshake sign with it), the account it acts for, and whether it may administer the cluster
/// (membership, keys). After `rotate-key` the replaced secret is still accepted until `previousUntilMs`.
public struct AccessKey: Sendable, Hashable {
    public var id: String
    public var secret: String
    /// 12 digits, as an AWS account id.
    public var account: String
    public var admin: Bool
    /// The entry time of its creation (set by the metadata group).
    public var createdAtMs: Int64
    public var previousSecret: String?
    public var previousUntilMs: Int64
    /// May only read (node.yaml's `read_only`). Not part of the encoded key: the cluster's own keys
    /// (`ferry auth`) are never read-only in this format.
    public var readOnly = false

    public init(
        id: String,
        secret: String,
        account: String,
        admin: Bool,
        createdAtMs: Int64 = 0,
        previousSecret: String? = nil,
        previousUntilMs: Int64 = 0
    ) {
        self.id = id
        self.secret = secret
        self.account = account
        self.admin = admin
        self.createdAtMs = createdAtMs
        self.previousSecret = previousSecret
        self.previousUntilMs = previousUntilMs
    }

    /// The secrets that verify a signature at `nowMs`: the current one, and the replaced one within its grace.
    public func secrets(atMs nowMs: Int64) -> [String] {
        guard let previousSecret, nowMs < previousUntilMs else { return [secret] }
        return [secret, previousSecret]
    }

    /// What may be shown of a key (`list-keys`): everything but the secrets.
    public var info: AccessKeyInfo {
        AccessKeyInfo(
            id: id,
            account: account,
            admin: admin,
            createdAtMs: createdAtMs,
            previousUntilMs: previousUntilMs
        )
    }

    /// Why `id`, `secret` or `account` cannot make a key, or nil: ids of 16…128 upper-case letters and digits
    /// (AWS's form), secrets of 16…128 printable ASCII characters, accounts of 12 digits.
    public static func problem(id: String, secret: String, account: String) -> String? {
        guard (16...128).contains(id.utf8.count),
            id.utf8.allSatisfy({ (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) })
        else { return "a key id is 16…128 upper-case letters and digits" }
        guard (16...128).contains(secret.utf8.count), secret.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            return "a secret is 16…128 printable ASCII characters"
        }
        guard account.utf8.count == 12, account.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            return "an account id is 12 digits"
        }
        return nil
    }

    /// `id | secret | account | admin u8 | createdAtMs i64 | previous secret (presence, string) | previousUntilMs i64`.
    public func write(into buffer: inout ByteBuffer) {
        QueueFields.write(id, into: &buffer)
        QueueFields.write(secret, into: &buffer)
        QueueFields.write(account, into: &buffer)
        buffer.writeInteger(UInt8(admin ? 1 : 0))
        buffer.writeInteger(createdAtMs)
        buffer.writeInteger(UInt8(previousSecret == nil ? 0 : 1))
        if let previousSecret { QueueFields.write(previousSecret, into: &buffer) }
        buffer.writeInteger(previousUntilMs)
    }

    public static func read(_ buffer: inout ByteBuffer) throws(QueueDecodeError) -> AccessKey {
        let id = try QueueFields.readString(&buffer, "key id")
        let secret = try QueueFields.readString(&buffer, "key secret")
        let account = try QueueFields.readString(&buffer, "key account")
        let admin = try QueueFields.readPresence(&buffer, "key admin")
        let created = try QueueFields.read(Int64.self, &buffer, "key created")
        let previous =
            try QueueFields.readPresence(&buffer, "key previous secret")
            ? try QueueFields.readString(&buffer, "key previous secret") : nil
        return AccessKey(
            id: id,
            secret: secret,
            account: account,
            admin: admin,
            createdAtMs: created,
            previousSecret: previous,
            previousUntilMs: try QueueFields.read(Int64.self, &buffer, "key previous until")
        )
    }
}

/// A key as `list-keys` shows it: no secret.
public struct AccessKeyInfo: Sendable, Hashable {
    public var id: String
    public var account: String
    public var admin: Bool
    public var createdAtMs: Int64
    /// Until when a rotated-out secret is still accepted (0: none).
    public var previousUntilMs: Int64

    public init(id: String, account: String, admin: Bool, createdAtMs: Int64, previousUntilMs: Int64) {
        self.id = id
        self.account = account
        self.admin = admin
        self.createdAtMs = createdAtMs
        self.previousUntilMs = previousUntilMs
    }

    public func write(into buffer: inout ByteBuffer) {
        QueueFields.write(id, into: &buffer)
        QueueFields.write(account, into: &buffer)
        buffer.writeInteger(UInt8(admin ? 1 : 0))
        buffer.writeInteger(createdAtMs)
        buffer.writeInteger(previousUntilMs)
    }

    public static func read(_ buffer: inout ByteBuffer) throws(QueueDecodeError) -> AccessKeyInfo {
        AccessKeyInfo(
            id: try QueueFields.readString(&buffer, "key id"),
            account: try QueueFields.readString(&buffer, "key account"),
            admin: try QueueFields.readPresence(&buffer, "key admin"),
            createdAtMs: try QueueFields.read(Int64.self, &buffer, "key created"),
            previousUntilMs: try QueueFields.read(Int64.self, &buffer, "key previous until")
        )
    }
}

/// A change to the cluster's keys (`ferry auth`).
public enum KeyChange: Sendable, Hashable {
    /// The client made the id and secret (the state machine has no randomness).
    case create(id: String, secret: String, account: String, admin: Bool)
    case revoke(id: String)
    /// A new secret; the old one verifies for `graceMs` more.
    case rotate(id: String, secret: String, graceMs: Int64)
}
