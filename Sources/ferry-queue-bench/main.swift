import FerryModel
import FerryQueue
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

// ferry-queue-bench: apply throughput of the queue state machine, and its snapshot size and time.
//
//   swift run -c release ferry-queue-bench [--backlog N] [--groups 1,1000,100000] [--runs R]
//
// For each group count: a backlog of N messages (128-byte bodies, 100 sends per entry, groups round-robin) is
// built through `apply`, timed as send throughput; then consume rounds of one receive entry (10 requests of
// 10 messages) and one delete entry for what it handed out, timed separately; then snapshot and restore of the
// full backlog, and the apply time of one send entry while a copy of the partition is held (as the snapshot
// thread holds one while it encodes) against the median send entry: the first change after a snapshot begins
// must not copy the state whole (issue 19). Finally the receive cost of a small group beside another group's
// backlog of 0, N/10 and N messages (its head in flight), as a ratio: a scan would grow with N; the index keeps
// it near 1.
// Figures are medians over R runs; the machine is shared, so compare ratios within one run.

func option(_ name: String, _ arguments: [String]) -> String? {
    guard let at = arguments.firstIndex(of: name), at + 1 < arguments.count else { return nil }
    return arguments[at + 1]
}

func seconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func formatted(_ value: Double) -> String {
    if value >= 100 { return String(Int(value.rounded())) }
    return String(Double(Int(value * 100)) / 100)
}

let arguments = Array(CommandLine.arguments.dropFirst())
let backlog = option("--backlog", arguments).flatMap(Int.init) ?? 1_000_000
let groupCounts = (option("--groups", arguments) ?? "1,1000,100000").split(separator: ",").compactMap { Int($0) }
let runs = option("--runs", arguments).flatMap(Int.init) ?? 3
let consumeMessages = min(backlog, 200_000)
let sendsPerEntry = 100
let body = ByteBuffer(repeating: 0x61, count: 128)

/// A partition and the log position and clock of the leader driving it.
struct Driver {
    var partition: QueuePartition
    var index: UInt64 = 0
    var clockMs: Int64 = 1_700_000_000_000

    init(kind: String = "bench.fifo") {
        partition = try! QueuePartition(
            queueName: kind,
            queueID: 1,
            partition: 0,
            partitionCount: 1,
            attributes: QueueAttributes()
        )
    }

    mutating func apply(_ command: QueueCommand) -> QueueResult {
        index += 1
        clockMs += 1
        return partition.apply(index: index, entry: QueueEntry(timestampMs: clockMs, command: command))
    }

    /// Sends `count` messages over `groups` groups, returns the entries applied.
    mutating func fill(_ count: Int, groups: Int, prefix: String = "g", dedupPrefix: String = "d") {
        var sent = 0
        while sent < count {
            let batch = min(sendsPerEntry, count - sent)
            var requests: [SendRequest] = []
            requests.reserveCapacity(batch)
            for n in sent..<(sent + batch) {
                requests.append(
                    SendRequest(body: body, groupID: "\(prefix)\(n % groups)", deduplicationID: "\(dedupPrefix)\(n)")
                )
            }
            _ = apply(.send(requests))
            sent += batch
        }
    }

    /// One consume round: a receive entry of `requests` × 10 messages, then a delete entry for them.
    /// Returns (messages, receive seconds, delete seconds).
    mutating func consumeRound(requests: Int) -> (Int, Double, Double) {
        let receives = Array(repeating: ReceiveRequest(maxMessages: 10, visibilityTimeoutSeconds: 300), count: requests)
        let t0 = seconds()
        guard case .received(let outcomes) = apply(.receive(receives)) else { fatalError("receive refused") }
        let t1 = seconds()
        var handles: [ReceiptHandle] = []
        for case .success(let outcome) in outcomes { handles += outcome.deliveries.map(\.handle) }
        if handles.isEmpty { return (0, t1 - t0, 0) }
        var deleted = 0
        var deleteSeconds = 0.0
        while deleted < handles.count {
            let chunk = Array(handles[deleted..<min(handles.count, deleted + 100)])
            let t2 = seconds()
            _ = apply(.delete(chunk))
            deleteSeconds += seconds() - t2
            deleted += chunk.count
        }
        return (handles.count, t1 - t0, deleteSeconds)
    }
}

print(
    "ferry-queue-bench: backlog \(backlog) messages of 128 B, \(sendsPerEntry) sends per entry, \(runs) runs (medians)"
)
print("")
print(
    "| groups | send msg/s | send entries/s | receive msg/s | receive entries/s | delete msg/s | snapshot MB | snapshot s | restore s | entry after copy ms | entry ms |"
)
print("|---|---|---|---|---|---|---|---|---|---|---|")
for groups in groupCounts {
    var sendRates: [Double] = []
    var receiveRates: [Double] = []
    var receiveEntryRates: [Double] = []
    var deleteRates: [Double] = []
    var snapshotBytes = 0
    var snapshotTimes: [Double] = []
    var restoreTimes: [Double] = []
    var afterCopyTimes: [Double] = []
    for _ in 0..<runs {
        var driver = Driver()
        let t0 = seconds()
        driver.fill(backlog, groups: groups)
        sendRates.append(Double(backlog) / (seconds() - t0))

        let t1 = seconds()
        let snapshot = driver.partition.snapshot()
        snapshotTimes.append(seconds() - t1)
        snapshotBytes = snapshot.readableBytes
        let t2 = seconds()
        let restored = try! QueuePartition.restore(from: snapshot)
        restoreTimes.append(seconds() - t2)
        precondition(restored.statistics.visible == backlog, "restore lost messages")
        let held = driver.partition
        let t3 = seconds()
        driver.fill(sendsPerEntry, groups: groups, prefix: "after", dedupPrefix: "a")
        afterCopyTimes.append(seconds() - t3)
        withExtendedLifetime(held) {}

        var consumed = 0
        var receiveSeconds = 0.0
        var deleteSeconds = 0.0
        var receiveEntries = 0
        while consumed < consumeMessages {
            let (count, r, d) = driver.consumeRound(requests: 10)
            precondition(count > 0, "nothing to receive")
            consumed += count
            receiveSeconds += r
            deleteSeconds += d
            receiveEntries += 1
        }
        receiveRates.append(Double(consumed) / receiveSeconds)
        receiveEntryRates.append(Double(receiveEntries) / receiveSeconds)
        deleteRates.append(Double(consumed) / deleteSeconds)
    }
    print(
        "| \(groups) | \(formatted(median(sendRates))) | \(formatted(median(sendRates) / Double(sendsPerEntry))) | "
            + "\(formatted(median(receiveRates))) | \(formatted(median(receiveEntryRates))) | "
            + "\(formatted(median(deleteRates))) | \(formatted(Double(snapshotBytes) / 1_048_576)) | "
            + "\(formatted(median(snapshotTimes))) | \(formatted(median(restoreTimes))) | "
            + "\(formatted(median(afterCopyTimes) * 1_000)) | \(formatted(1_000 * Double(sendsPerEntry) / median(sendRates))) |"
    )
}

// Receive cost beside another group's backlog: 1,000 small groups cycle through receive + delete while one
// "big" group holds 0 or `backlog` messages with its head in flight (SQS would scan past them).
print("")
var perReceive: [Int: Double] = [:]
for bigBacklog in [0, backlog / 10, backlog] {
    var costs: [Double] = []
    for _ in 0..<runs {
        var driver = Driver()
        if bigBacklog > 0 {
            driver.fill(bigBacklog, groups: 1, prefix: "big", dedupPrefix: "b")
            _ = driver.apply(.receive([ReceiveRequest(maxMessages: 1, visibilityTimeoutSeconds: 43_200)]))
        }
        driver.fill(100_000, groups: 1_000, prefix: "small", dedupPrefix: "s")
        var receiveSeconds = 0.0
        var receives = 0
        for _ in 0..<2_000 {
            let (count, r, _) = driver.consumeRound(requests: 1)
            precondition(count == 10, "small groups ran dry")
            receiveSeconds += r
            receives += 1
        }
        costs.append(receiveSeconds / Double(receives) * 1e6)
    }
    perReceive[bigBacklog] = median(costs)
    print(
        "receive of 10 from small groups, other group's backlog \(bigBacklog): \(formatted(median(costs))) µs per receive entry"
    )
}
let ratio = perReceive[backlog]! / perReceive[0]!
print("ratio (backlog \(backlog) / backlog 0): \(formatted(ratio))")
