import NIOConcurrencyHelpers
import NIOPosix

/// A task executor on one thread of its own (Swift's `TaskExecutor`, SE-0417): jobs run in the order enqueued.
public final class ThreadTaskExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = ConditionLock(value: 0)
    private var jobs: [UnownedJob] = []
    private var stopped = false
    private let thread = NIOThreadPool(numberOfThreads: 1)

    public init() {
        thread.start()
        thread.submit { [self] _ in run() }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.unlock(withValue: 1)
    }

    private func run() {
        while true {
            condition.lock(whenValue: 1)
            let batch = jobs
            jobs = []
            let stop = stopped
            condition.unlock(withValue: 0)
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            if stop { return }
        }
    }

    /// Ends the thread once the jobs enqueued so far ran.
    public func shutdown() {
        condition.lock()
        stopped = true
        condition.unlock(withValue: 1)
        try? thread.syncShutdownGracefully()
    }
}

extension ThreadTaskExecutor {
    /// Runs `body` as a task on this executor and waits for its end: a blocking API over asynchronous code.
    /// Never call it from this executor's own thread.
    public func wait<T: Sendable, E: Error>(_ body: @escaping @Sendable () async throws(E) -> T) throws(E) -> T {
        let box = NIOLockedValueBox<Result<T, E>?>(nil)
        let done = ConditionLock(value: 0)
        Task(executorPreference: self) {
            let result: Result<T, E>
            do throws(E) {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            box.withLockedValue { $0 = result }
            done.lock()
            done.unlock(withValue: 1)
        }
        done.lock(whenValue: 1)
        done.unlock()
        return try box.withLockedValue { $0! }.get()
    }
}
