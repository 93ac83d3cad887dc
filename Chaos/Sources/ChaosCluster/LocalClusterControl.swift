import CSpawn
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Drives `Cluster/local` (the script users run, DESIGN §7) for one cluster directory and address base: the
/// chaos harness and the real-process tests start, fault and stop clusters only through it.
public final class LocalClusterControl: @unchecked Sendable {
    /// The checkout: the directory holding `Cluster/local`.
    public let root: String
    public let directory: String
    /// Node i listens on 127.0.0.(base + i).
    public let base: Int
    public let nodes: Int
    /// The `ferry` binary (`FERRY_BIN` for the script), or nil for the script's default.
    public let binary: String?

    public init(root: String, directory: String, base: Int, nodes: Int, binary: String?) {
        self.root = root
        self.directory = directory
        self.base = base
        self.nodes = nodes
        self.binary = binary
    }

    public func host(_ id: Int) -> String { "127.0.0.\(base + id)" }
    public var endpoints: [String] { (1...nodes).map { "\(host($0)):7200" } }

    /// Runs `Cluster/local arguments…` on this cluster; returns its exit status and output. posix_spawn and
    /// waitpid rather than Foundation's Process, whose waitUntilExit was seen to hang here.
    @discardableResult
    public func script(_ arguments: [String], extra: String = "") -> (status: Int32, text: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["FERRY_CLUSTER_DIR"] = directory
        environment["FERRY_LOCAL_BASE"] = String(base)
        environment["FERRY_NODE_EXTRA"] = extra
        if let binary { environment["FERRY_BIN"] = binary }
        let output = directory + ".script-output"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process may reach the nodes: a node holding a copy of a socket the caller closed
        // (a relayed peer connection the proxy reset) keeps that connection open, and its peer writes into it
        // forever.
        ferry_spawn_file_actions_addclosefrom(&actions, 3)
        let argv = ([root + "/Cluster/local"] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0]!, &actions, nil, argv, envp)
        guard spawned == 0 else { return (-1, "posix_spawn failed: \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS by hand (the macros are not imported).
        return ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), text)
    }

    /// Runs the script and throws its output when it fails.
    public func run(_ arguments: [String], extra: String = "") throws {
        let out = script(arguments, extra: extra)
        guard out.status == 0 else {
            throw LocalClusterError(command: arguments.joined(separator: " "), output: out.text)
        }
    }

    public func up(extra: String = "") throws {
        try? FileManager.default.removeItem(atPath: directory)
        try run(["up", "--nodes", String(nodes)], extra: extra)
    }

    public func down() { script(["down"]) }

    /// The pid of a running node, from the script's pid file.
    public func pid(_ id: Int) -> pid_t? {
        guard let text = try? String(contentsOfFile: "\(directory)/node-\(id).pid", encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public func isRunning(_ id: Int) -> Bool { pid(id).map { kill($0, 0) == 0 } ?? false }

    public func log(_ id: Int) -> String {
        (try? String(contentsOfFile: "\(directory)/logs/node-\(id).log", encoding: .utf8)) ?? ""
    }
}

public struct LocalClusterError: Error, CustomStringConvertible {
    public var command: String
    public var output: String
    public var description: String { "Cluster/local \(command) failed:\n\(output)" }
}
