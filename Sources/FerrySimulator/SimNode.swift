import FerryRaft
import NIOCore

/// One simulated process: a `RaftCore`, its disk, its application, and the readies waiting for an fsync.
struct SimNode {
    let id: NodeID
    var disk: SimDisk
    /// Nil while crashed.
    var core: RaftCore?
    /// The log the core reads (the disk model's view, or the storage under test).
    var log: (any RaftStorage)?
    var stateMachine = SimStateMachine()
    var paused = false
    /// Messages that arrived while paused; handled on resume (the kernel buffers them, as TCP would).
    var pausedInbox: [(from: NodeID, frame: ByteBuffer)] = []
    /// Readies handed to the disk whose writes are not yet durable, oldest first, with the write count they
    /// need durable (the disk's pending count right after their writes).
    var awaitingSync: [(ready: RaftReady, writesThrough: Int)] = []
    /// Writes issued since the node (re)started; an fsync makes all of them durable.
    var writesIssued = 0
    var writesDurable = 0
    /// True while an fsync is scheduled.
    var syncScheduled = false
    /// Incremented on every crash, so that events scheduled for an earlier life are ignored.
    var incarnation: UInt64 = 0
    /// Tick interval of this node in time units (skew applied).
    let tickInterval: UInt64
    /// The commit index last seen by the checker in this life.
    var observedCommit: LogIndex = 0
    /// The role in the latest ready (to notice a leader stepping down).
    var wasLeader = false
    var isUp: Bool { core != nil }

    init(id: NodeID, conf: ConfState, tickInterval: UInt64) {
        self.id = id
        self.disk = SimDisk(conf: conf)
        self.tickInterval = tickInterval
    }
}
