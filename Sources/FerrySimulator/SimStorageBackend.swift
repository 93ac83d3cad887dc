import FerryRaft

/// A real storage plugged into the simulation beside the `SimDisk` model: the cores read their logs from it,
/// every write and fsync goes to both, and after each crash and restart what the storage recovered must equal
/// what the model says was durable (the one written contract, `SimDisk`'s doc comment). Tests implement it over
/// `FerryStorage`; the simulator itself stays free of file code.
///
/// With a backend, a crash loses every unsynced write (the model keeps no torn prefix: the storage's own tests
/// cover torn writes byte by byte) and an fsync covers every write issued before it.
public protocol SimStorageBackend: AnyObject {
    /// Opens the node's storage: fresh at the start, recovered from its durable state after a crash.
    func open(node: NodeID, conf: ConfState) throws -> any RaftStorage
    /// Applies one write to the node's open storage.
    /// - Returns: true when, to take this write, the storage made every earlier write durable (it sealed a
    ///   log segment): the model then syncs them too.
    func write(node: NodeID, _ write: SimDisk.Write) throws -> Bool
    /// Makes every write so far durable.
    func sync(node: NodeID) throws
    /// The node's process dies: whatever was not synced is lost.
    func crash(node: NodeID)
}

extension Simulation {
    /// Compares what a backend recovered with the model's durable state.
    func checkRecovered(_ storage: any RaftStorage, node: NodeID) throws(InvariantViolation) {
        let model = nodes[index(node)].disk.durable
        func fail(_ detail: String) -> InvariantViolation {
            InvariantViolation(invariant: "storageContract", detail: "node \(node) recovered \(detail)")
        }
        let hardState: HardState
        let snapshot: SnapshotMetadata
        do { (hardState, snapshot) = try storage.initialState() } catch { throw fail("nothing: \(error)") }
        guard hardState == model.hardState else { throw fail("hard state \(hardState), model \(model.hardState)") }
        guard storage.lastIndex == model.lastIndex else {
            throw fail("last index \(storage.lastIndex), model \(model.lastIndex)")
        }
        // A snapshot file is durable as soon as it is written, before the log records that refer to it.
        guard snapshot.index >= model.latestSnapshot.metadata.index else {
            throw fail("snapshot \(snapshot.index), model \(model.latestSnapshot.metadata.index)")
        }
        let low = max(storage.firstIndex, model.firstIndex)
        if low <= model.lastIndex {
            for index in (low - 1)...model.lastIndex {
                let ours = try? storage.term(at: index)
                let theirs = try? model.term(at: index)
                guard ours == theirs else {
                    throw fail("term \(String(describing: ours)) at \(index), model \(String(describing: theirs))")
                }
            }
            let ours = try? storage.entries(from: low, to: model.lastIndex + 1, maxBytes: .max)
            let theirs = try? model.entries(from: low, to: model.lastIndex + 1, maxBytes: .max)
            guard ours == theirs else {
                throw fail("entries that differ from the model's in [\(low), \(model.lastIndex)]")
            }
        }
    }
}
