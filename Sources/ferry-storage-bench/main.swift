import FerryRaft
import FerryStorage
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

// ferry-storage-bench: the raw limit of this disk and FerryStorage's append throughput with fsync=always,
// in one run (issue 3). Every figure is a median of `--runs` runs; ratios are medians of per-run ratios.
//
//   ferry-storage-bench [--dir PATH] [--seconds S] [--runs N] [--records-per-sync N] [--open-mib M] [--drop-caches]
//
// Append model: each round, `records-per-sync` records (one entry each) are spread over G groups (each group
// appends one batch), then one group commit (fdatasync) covers them all; raw: the same bytes written with one
// write and one fdatasync per round. Open: a log of `--open-mib` MiB over 64 groups is reopened and timed,
// with the page cache warm, or emptied before each open with --drop-caches (root).

@MainActor func option(_ name: String, default value: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let at = arguments.firstIndex(of: name), at + 1 < arguments.count, let parsed = Int(arguments[at + 1]) else {
        return value
    }
    return parsed
}

@MainActor func stringOption(_ name: String, default value: String) -> String {
    let arguments = CommandLine.arguments
    guard let at = arguments.firstIndex(of: name), at + 1 < arguments.count else { return value }
    return arguments[at + 1]
}

@MainActor func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

@MainActor func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

@MainActor func format(_ value: Double, _ digits: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    return String(rounded)
}

let base = stringOption("--dir", default: "/tmp/ferry-storage-bench-\(getpid())")
let seconds = Double(option("--seconds", default: 3))
let runs = option("--runs", default: 3)
let recordsPerSync = option("--records-per-sync", default: 256)
let openMiB = option("--open-mib", default: 1_024)
let fs = PosixFileSystem()
let dropCaches = CommandLine.arguments.contains("--drop-caches")

/// Empties the page cache (root only), so that the open time is measured from the disk.
@MainActor func dropPageCache() {
    sync()
    let fd = open("/proc/sys/vm/drop_caches", O_WRONLY)
    guard fd >= 0 else {
        print("open: --drop-caches needs root; measuring with the page cache as it is")
        return
    }
    _ = write(fd, "3\n", 2)
    close(fd)
}

@MainActor func freshDirectory(_ name: String) -> String {
    let path = base + "/" + name
    _ = try? fs.createDirectory(base)
    removeTree(path)
    try! fs.createDirectory(path)
    return path
}

@MainActor func removeTree(_ path: String) {
    if let names = try? fs.list(path) {
        for name in names { removeTree(path + "/" + name) }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// 8 MiB of random bytes; entries are distinct windows of it, so LZ4 cannot flatter the figures.
let randomPool: ByteBuffer = {
    var rng = Xoshiro256(seed: 42)
    var buffer = ByteBuffer()
    for _ in 0..<(1 << 20) { buffer.writeInteger(rng.next()) }
    return buffer
}()

/// Incompressible payloads of `size` bytes, each a different window of the random pool.
struct Payloads {
    let size: Int
    var offset = 0

    mutating func next() -> ByteBuffer {
        if offset + size > randomPool.readableBytes { offset = 0 }
        defer { offset += size + 1 }
        return randomPool.getSlice(at: offset, length: size)!
    }
}

/// Raw limit: `bytesPerSync` written with one write and one fdatasync per round. Returns MB/s.
@MainActor func rawBandwidth(bytesPerSync: Int) -> Double {
    let directory = freshDirectory("raw")
    let file = try! fs.open(directory + "/raw", create: true)
    var chunk = ByteBuffer()
    chunk.writeRepeatingByte(0x5A, count: bytesPerSync)
    let start = now()
    var written = 0
    while now() - start < seconds {
        try! file.append(chunk)
        try! file.sync()
        written += bytesPerSync
    }
    let elapsed = now() - start
    file.close()
    removeTree(directory)
    return Double(written) / elapsed / 1e6
}

/// Raw fsyncs per second: a one-byte write and an fdatasync per round.
@MainActor func rawFsyncsPerSecond() -> Double {
    let directory = freshDirectory("fsync")
    let file = try! fs.open(directory + "/f", create: true)
    var byte = ByteBuffer()
    byte.writeInteger(UInt8(1))
    let start = now()
    var count = 0
    while now() - start < seconds {
        try! file.append(byte)
        try! file.sync()
        count += 1
    }
    let elapsed = now() - start
    file.close()
    removeTree(directory)
    return Double(count) / elapsed
}

/// FerryStorage with fsync=always: returns (records/s, payload MB/s).
@MainActor func ferryAppend(recordBytes: Int, groups: Int) -> (Double, Double) {
    let directory = freshDirectory("ferry")
    let node = try! NodeStorage(fileSystem: fs, directory: directory, fsync: .always)
    let conf = ConfState(voters: [1])
    let logs = (0..<groups).map { try! node.group(UInt64($0 + 1), conf: conf) }
    var next = Array(repeating: LogIndex(1), count: groups)
    var payloads = Payloads(size: recordBytes)
    let perGroup = max(1, recordsPerSync / groups)
    let start = now()
    var records = 0
    while now() - start < seconds {
        for g in 0..<groups {
            let first = next[g]
            let batch = (0..<perGroup).map { Entry(index: first + LogIndex($0), term: 1, payload: payloads.next()) }
            try! logs[g].append(batch)
            next[g] += LogIndex(perGroup)
            records += perGroup
        }
        try! node.sync()
    }
    let elapsed = now() - start
    removeTree(directory)
    return (Double(records) / elapsed, Double(records * recordBytes) / elapsed / 1e6)
}

/// Writes about `mib` MiB over 64 groups in 1 KiB entries, then times reopening every group.
@MainActor func openTime(mib: Int) -> (seconds: Double, entries: Int) {
    let directory = freshDirectory("open")
    let conf = ConfState(voters: [1])
    var payloads = Payloads(size: 1_024)
    var total = 0
    do {
        let node = try! NodeStorage(fileSystem: fs, directory: directory, fsync: .always)
        let logs = (0..<64).map { try! node.group(UInt64($0 + 1), conf: conf) }
        var next = Array(repeating: LogIndex(1), count: 64)
        let batches = mib * 1_024 / 64 / 64
        for _ in 0..<batches {
            for g in 0..<64 {
                let first = next[g]
                try! logs[g].append(
                    (0..<64).map { Entry(index: first + LogIndex($0), term: 1, payload: payloads.next()) }
                )
                next[g] += 64
                total += 64
            }
        }
        try! node.sync()
    }
    var samples: [Double] = []
    for _ in 0..<runs {
        if dropCaches { dropPageCache() }
        let start = now()
        let node = try! NodeStorage(fileSystem: fs, directory: directory, fsync: .always)
        for g in 0..<64 { _ = try! node.group(UInt64(g + 1), conf: conf) }
        samples.append(now() - start)
    }
    removeTree(directory)
    return (median(samples), total)
}

print(
    "ferry-storage-bench: \(base), \(Int(seconds)) s per figure, median of \(runs) runs, \(recordsPerSync) records per fsync"
)
let fsyncs = median((0..<runs).map { _ in rawFsyncsPerSecond() })
print("raw  fdatasync (1-byte write + fdatasync):          \(format(fsyncs, 0)) fsyncs/s")
// Raw and Ferry samples alternate within each run, and ratios are taken per run: this virtual disk's speed
// drifts over tens of seconds, and a ratio of two medians taken minutes apart would mostly measure the drift.
for recordBytes in [128, 1_024] {
    let groupCounts = [1, 8, 64]
    var raws: [Double] = []
    var rates: [[Double]] = Array(repeating: [], count: groupCounts.count)
    var bandwidths: [[Double]] = Array(repeating: [], count: groupCounts.count)
    var ofRaw: [[Double]] = Array(repeating: [], count: groupCounts.count)
    var ofOne: [[Double]] = Array(repeating: [], count: groupCounts.count)
    for _ in 0..<runs {
        let raw = rawBandwidth(bytesPerSync: recordBytes * recordsPerSync)
        raws.append(raw)
        var one = 0.0
        for (position, groups) in groupCounts.enumerated() {
            let (rate, bandwidth) = ferryAppend(recordBytes: recordBytes, groups: groups)
            if groups == 1 { one = rate }
            rates[position].append(rate)
            bandwidths[position].append(bandwidth)
            ofRaw[position].append(bandwidth / raw)
            ofOne[position].append(rate / one)
        }
    }
    print(
        "raw  write+fdatasync, \(recordBytes * recordsPerSync / 1_024) KiB per sync:            \(format(median(raws))) MB/s"
    )
    for (position, groups) in groupCounts.enumerated() {
        print(
            "ferry fsync=always \(recordBytes) B records, \(groups) groups: \(format(median(rates[position]), 0)) "
                + "records/s, \(format(median(bandwidths[position]))) MB/s payload, "
                + "\(format(median(ofRaw[position]), 2)) of raw, \(format(median(ofOne[position]), 2)) of 1 group "
                + "(per-run ratios, medians)"
        )
    }
}
if openMiB > 0 {
    let open = openTime(mib: openMiB)
    print(
        "open: \(openMiB) MiB log, 64 groups, \(open.entries) entries: \(format(open.seconds, 2)) s "
            + (dropCaches ? "(page cache dropped before each open)" : "(page cache warm)")
    )
}
removeTree(base)
