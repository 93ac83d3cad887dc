import FerryRaft
import FerrySimulator
import FerryStorage
import Foundation
import Testing

/// Runs FerryStorage inside the simulation: each node's log is a real `NodeStorage` group on a
/// `SimulatedFileSystem` (or, for a few seeds, on files in a temporary directory), written and fsynced as the
/// cores ask, crashed and recovered with the nodes, and compared with the disk model after every restart.
final class FerryStorageBackend: SimStorageBackend {
    let onDisk: String?
    var fileSystems: [NodeID: any FileSystem] = [:]
    var simulated: [NodeID: SimulatedFileSystem] = [:]
    var nodes: [NodeID: NodeStorage] = [:]
    var logs: [NodeID: GroupLog] = [:]

    /// - Parameter onDisk: a directory for real files; nil for the in-memory file system.
    init(onDisk: String?) {
        self.onDisk = onDisk
    }

    func directory(_ node: NodeID) -> String {
        (onDisk ?? "/sim") + "/node-\(node)"
    }

    func open(node: NodeID, conf: ConfState) throws -> any RaftStorage {
        let fileSystem: any FileSystem
        if let existing = fileSystems[node] {
            fileSystem = existing
        } else if onDisk != nil {
            fileSystem = PosixFileSystem()
        } else {
            let memory = SimulatedFileSystem()
            simulated[node] = memory
            fileSystem = memory
        }
        fileSystems[node] = fileSystem
        // Small segments, so that rolls, checkpoints and header-only reopening happen within a run.
        let storage = try NodeStorage(fileSystem: fileSystem, directory: directory(node), segmentBytes: 4_096)
        let log = try storage.group(1, conf: conf)
        nodes[node] = storage
        logs[node] = log
        return log
    }

    func write(node: NodeID, _ write: SimDisk.Write) throws -> Bool {
        guard let log = logs[node], let storage = nodes[node] else { return false }
        let segment = storage.activeSegment
        switch write {
        case .hardState(let state): try log.setHardState(state)
        case .entries(let entries): try log.append(entries)
        case .installSnapshot(let snapshot): try log.applySnapshot(snapshot)
        case .createSnapshot(let snapshot, let compactTo):
            try log.createSnapshot(snapshot, compactTo: compactTo)
        }
        return storage.activeSegment != segment
    }

    func sync(node: NodeID) throws {
        try nodes[node]?.sync()
        // Right after a group commit every compaction mark is durable, so obsolete segments can go without
        // an extra fsync (the way a node's driver does it).
        try nodes[node]?.removeObsoleteSegments()
    }

    func crash(node: NodeID) {
        logs[node] = nil
        nodes[node] = nil
        // On real files nothing is lost without a power cut: every write reached the kernel. In memory, the
        // unsynced bytes are dropped, as a power cut would.
        simulated[node]?.crash()
    }
}

@Suite struct StorageSliceTests {
    static let seeds: ClosedRange<UInt64> =
        1...UInt64(
            ProcessInfo.processInfo.environment["FERRY_SIM_STORAGE_SEEDS"].flatMap(Int.init) ?? 200
        )

    @Test(arguments: seeds)
    func swarmSeedPassesOverFerryStorage(_ seed: UInt64) {
        let simulation = Simulation(seed: seed)
        simulation.storageBackend = FerryStorageBackend(onDisk: nil)
        do {
            _ = try simulation.run(events: 2_000)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test(arguments: [UInt64(3), 4, 5])
    func swarmSeedPassesOverFilesOnDisk(_ seed: UInt64) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-slice-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let simulation = Simulation(seed: seed)
        simulation.storageBackend = FerryStorageBackend(onDisk: directory)
        do {
            _ = try simulation.run(events: 1_500)
        } catch {
            Issue.record("\(error)")
        }
    }
}
