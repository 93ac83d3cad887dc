import ChaosCluster
import FerryClient
import FerryModel
import FerryWire
import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A cluster of real `ferry node` processes started by `Cluster/local` (the script users run), in its own
/// directory and on its own loopback addresses (`FERRY_LOCAL_BASE`), so that it never meets a cluster a user
/// keeps running. Faults go through the same script: `kill`, `start`, `stop`, `partition`, `heal`.
final class RealCluster: @unchecked Sendable {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The binary under test: `FERRY_BIN` (Tests/run sets it), else the release build, else the debug build.
    static var binary: String? {
        if let set = ProcessInfo.processInfo.environment["FERRY_BIN"] { return set }
        return [".build/release/ferry", ".build/debug/ferry"].map { root + "/" + $0 }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The script driver shared with the chaos harness: addresses, faults, pid files, logs.
    let control: LocalClusterControl
    private var isUp = false

    /// `Cluster/local up` with `nodes` nodes on 127.0.0.(base+i); `extra` YAML lines go into every config.
    init(name: String, base: Int, nodes: Int = 3, extra: String = "") throws {
        control = LocalClusterControl(
            root: Self.root,
            directory: NSTemporaryDirectory() + "ferry-real-\(name)-\(getpid())",
            base: base,
            nodes: nodes,
            binary: Self.binary
        )
        try control.up(extra: extra)
        isUp = true
    }

    deinit { down() }

    func down() {
        guard isUp else { return }
        isUp = false
        control.down()
    }

    var nodes: Int { control.nodes }
    var endpoints: [String] { control.endpoints }
    func host(_ id: Int) -> String { control.host(id) }
    func kill(_ id: Int) throws { try control.run(["kill", String(id)]) }
    func start(_ id: Int) throws { try control.run(["start", String(id)]) }
    func partition(_ ids: [Int]) throws { try control.run(["partition"] + ids.map(String.init)) }
    func heal() throws { try control.run(["heal"]) }
    func pid(_ id: Int) -> pid_t? { control.pid(id) }
    func log(_ id: Int) -> String { control.log(id) }

    func client(requestTimeoutMs: Int64 = 3_000, retryDeadlineMs: Int64 = 20_000) throws -> FerryClient {
        var options = FerryClient.Options()
        options.requestTimeoutMs = requestTimeoutMs
        options.retryDeadlineMs = retryDeadlineMs
        return try FerryClient(endpoints: endpoints, options: options)
    }

    /// The node each partition's replicas agree leads it (asked of every node that answers), or nil.
    func leader(of queue: String, partition: UInt32, _ client: FerryClient) -> Int? {
        for id in 1...nodes {
            guard let status = try? client.nodeStatus(host: host(id), port: 7200),
                let group = status.groups.first(where: { $0.queue == queue && $0.partition == partition }),
                group.leader != 0
            else { continue }
            return Int(group.leader)
        }
        return nil
    }

    /// Waits until `condition` holds or `seconds` pass; returns whether it held.
    static func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }

    static func body(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        return buffer
    }

    /// Receives and deletes until `count` messages arrived or `seconds` passed; bodies per group in arrival order.
    static func drain(_ client: FerryClient, _ queue: String, count: Int, seconds: Double) throws -> [String: [String]]
    {
        var received: [String: [String]] = [:]
        var total = 0
        let end = Date().addingTimeInterval(seconds)
        while total < count && Date() < end {
            let batch = try client.receive(queue, maxMessages: 10, waitMs: 500)
            for (_, delivery) in batch {
                received[delivery.groupID ?? "", default: []].append(String(buffer: delivery.body))
            }
            total += batch.count
            for partition in Set(batch.map(\.partition)).sorted() {
                let handles = batch.filter { $0.partition == partition }.map(\.delivery.handle)
                _ = try client.delete(queue, partition: partition, handles)
            }
        }
        return received
    }
}
