import Dispatch
import FerryStorage

/// Where a group commit's fdatasync runs (asynchronous storage writes, issue 19).
///
/// On a real node it is a storage thread of its own (`ThreadSyncExecutor`): while the disk flushes round n's
/// writes, the Raft thread takes the next events, steps the groups, sends the leaders' appends and writes round
/// n+1 into the log's buffer. Inline (`InlineSyncExecutor`, the default) the round waits for it, as before. A
/// simulator holds it and decides when it finishes. However it runs, nothing that promises durability (a vote,
/// an acknowledgement, an applied entry, a client's answer) happens before the sync has finished and the Raft
/// thread has recorded it (`NodeRuntime.reapSync`).
package protocol StorageSyncExecutor: Sendable {
    /// Starts the fdatasync (`WALSync.run()`); the runtime reads `WALSync.isFinished` in its next rounds.
    func start(_ sync: WALSync)
}

package struct InlineSyncExecutor: StorageSyncExecutor {
    package init() {}
    package func start(_ sync: WALSync) { sync.run() }
}

/// A storage thread: runs each sync and wakes the Raft thread when it has finished.
package final class ThreadSyncExecutor: StorageSyncExecutor {
    private let queue = DispatchQueue(label: "ferry.storage", qos: .userInitiated)
    private let mailbox: Mailbox

    package init(mailbox: Mailbox) { self.mailbox = mailbox }

    package func start(_ sync: WALSync) {
        queue.async { [mailbox] in
            sync.run()
            mailbox.post(.storageSynced)
        }
    }
}
