import Dispatch
import Synchronization

/// One group commit's fdatasync, split from the log so that it can run on another thread (asynchronous storage
/// writes, issue 19): `WriteAheadLog.beginSync()` writes what is buffered and returns this; `run()` fdatasyncs on
/// any thread; `WriteAheadLog.finishSync()`, back on the log's thread, records it.
///
/// While a sync is in flight the log writes nothing to its files: appends stay buffered in memory (and readable
/// from there), so the fdatasync has the file to itself, whatever the file's implementation. Every operation
/// that needs the file (a roll, a synchronous sync) first finishes the sync in flight.
///
/// `run()` runs the fdatasync once: a caller that needs the result before a storage thread got to it
/// (`wait()`) runs it itself, so a simulator's deferred work and a real thread are driven alike.
public final class WALSync: @unchecked Sendable {
    /// The segment's bytes that are durable once this sync has run.
    public let durableSize: Int
    /// Whether a `synced` mark follows (false when the segment is being sealed).
    let mark: Bool
    private let file: any StorageFile
    private let state = Mutex<State>(.waiting)
    private let finished = DispatchSemaphore(value: 0)

    enum State {
        case waiting
        case running
        case done(StorageError?, nanoseconds: Int64)
    }

    init(file: any StorageFile, durableSize: Int, mark: Bool) {
        self.file = file
        self.durableSize = durableSize
        self.mark = mark
    }

    /// Runs the fdatasync unless it ran or runs already. Any thread.
    public func run() {
        let first = state.withLock { state -> Bool in
            guard case .waiting = state else { return false }
            state = .running
            return true
        }
        guard first else { return }
        let start = ContinuousClock.now
        var failure: StorageError?
        do {
            try file.sync()
        } catch {
            failure = error
        }
        let nanoseconds = Int64((ContinuousClock.now - start) / .nanoseconds(1))
        state.withLock { $0 = .done(failure, nanoseconds: nanoseconds) }
        finished.signal()
    }

    /// True once the fdatasync has returned.
    public var isFinished: Bool {
        state.withLock { state in
            if case .done = state { return true }
            return false
        }
    }

    /// The fdatasync's outcome and duration: runs it here if no thread has started it, else waits for it.
    func wait() -> (failure: StorageError?, nanoseconds: Int64) {
        run()
        while true {
            let outcome = state.withLock { state -> (StorageError?, Int64)? in
                if case .done(let failure, let nanoseconds) = state { return (failure, nanoseconds) }
                return nil
            }
            if let outcome { return outcome }
            finished.wait()
            finished.signal()
        }
    }
}
