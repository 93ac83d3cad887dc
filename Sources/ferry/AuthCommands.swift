import ArgumentParser
import FerryClient
import FerryModel

#if canImport(Glibc)
    import Glibc
#endif

/// `ferry auth`: the cluster's access keys, kept in its metadata group (replicated, kept across restarts). The
/// SQS API verifies SigV4 against them as well as against node.yaml's keys; a revoked key is refused by every
/// node once the revocation is applied there (a heartbeat or two). A secret is printed once, when it is made.
struct AuthCommandGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth",
        abstract: "Create, list, revoke and rotate the cluster's access keys.",
        subcommands: [CreateKey.self, ListKeys.self, RevokeKey.self, RotateKey.self]
    )

    /// `count` random characters of `alphabet` (the system's random source).
    static func random(_ count: Int, from alphabet: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let characters = Array(alphabet)
        return String((0..<count).map { _ in characters[Int.random(in: 0..<characters.count, using: &generator)] })
    }

    static let upperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    static let secretAlphabet = upperDigits + "abcdefghijklmnopqrstuvwxyz+/"

    static func secret() -> String { random(40, from: secretAlphabet) }

    struct CreateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-key",
            abstract: "Make a key: prints its id and secret (the only time the secret is shown)."
        )
        @Option(help: "The account the key acts for (12 digits; default: the cluster's own SQS account).")
        var account: String?
        @Flag(help: "The key may administer the cluster (membership, keys).")
        var admin = false
        @OptionGroup var endpoints: EndpointOptions

        func run() throws {
            try reportingFailures {
                let id = "AKFR" + AuthCommandGroup.random(16, from: AuthCommandGroup.upperDigits)
                let secret = AuthCommandGroup.secret()
                let key = try endpoints.client().changeKeys(
                    .create(id: id, secret: secret, account: account ?? "", admin: admin)
                )
                print("access_key_id\t\(key.id)")
                print("secret_access_key\t\(secret)")
                print("account\t\(key.account)\(key.admin ? "\tadmin" : "")")
            }
        }
    }

    struct ListKeys: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list-keys",
            abstract: "The cluster's keys: id, account, admin, created, rotation grace (never a secret)."
        )
        @OptionGroup var endpoints: EndpointOptions

        func run() throws {
            try reportingFailures {
                for key in try endpoints.client().listKeys() {
                    print(
                        "\(key.id)\taccount \(key.account)\t\(key.admin ? "admin" : "user")\tcreated \(key.createdAtMs)"
                            + (key.previousUntilMs > 0 ? "\tprevious secret until \(key.previousUntilMs)" : "")
                    )
                }
            }
        }
    }

    struct RevokeKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-key",
            abstract: "Revoke a key: every node refuses it once the revocation is applied there."
        )
        @Argument(help: "The key id.") var id: String
        @OptionGroup var endpoints: EndpointOptions

        func run() throws {
            try reportingFailures {
                try endpoints.client().changeKeys(.revoke(id: id))
                print("revoked \(id)")
            }
        }
    }

    struct RotateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "A new secret for a key (printed once); the old one still verifies for --grace-seconds."
        )
        @Argument(help: "The key id.") var id: String
        @Option(help: "Seconds the replaced secret still verifies (0…604800).")
        var graceSeconds: Int64 = 300
        @OptionGroup var endpoints: EndpointOptions

        func run() throws {
            try reportingFailures {
                let secret = AuthCommandGroup.secret()
                try endpoints.client().changeKeys(.rotate(id: id, secret: secret, graceMs: graceSeconds * 1_000))
                print("access_key_id\t\(id)")
                print("secret_access_key\t\(secret)")
            }
        }
    }
}
