import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The storage fault layer of the real binary (issue 18): a `FileSystem` around another one (the node's
/// `PosixFileSystem`) that a chaos harness steers from outside the process. Off unless node.yaml has a
/// `storage_faults` section; the node then logs that it runs with it.
///
/// - **Power loss** (`powerLoss`): what is appended to a file stays in this process's memory until the file's
///   next `sync()` writes and fdatasyncs it, so a SIGKILL loses exactly what a power failure would: every
///   append not yet fsynced (the `synced` marks written after each fsync among them). Truncations and
///   directory operations go to the disk at once (they are rare: torn-tail repair, segment and snapshot
///   creation), so this models lost data, not a file system that forgets a rename.
/// - **Steering** through a control file, read again at most every 100 ms: whitespace-separated words,
///   `full` (appends fail with ENOSPC, as on a full device: `StorageError.noSpace`), `fsync-fail` (the next
///   fsync fails with EIO), `fsync-delay-ms=N` (every fsync takes N ms more). An empty or missing file: no fault.
public final class FaultyFileSystem: FileSystem {
    public struct Faults: Sendable, Hashable {
        public var full = false
        public var fsyncFail = false
        public var fsyncDelayMs = 0

        public init(full: Bool = false, fsyncFail: Bool = false, fsyncDelayMs: Int = 0) {
            self.full = full
            self.fsyncFail = fsyncFail
            self.fsyncDelayMs = fsyncDelayMs
        }

        /// The control file's words; unknown words are ignored (a harness newer than the node).
        public init(parsing text: String) {
            self.init()
            for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }) {
                if word == "full" { full = true }
                if word == "fsync-fail" { fsyncFail = true }
                if word.hasPrefix("fsync-delay-ms="), let ms = Int(word.dropFirst("fsync-delay-ms=".count)) {
                    fsyncDelayMs = max(0, min(ms, 60_000))
                }
            }
        }
    }

    let inner: any FileSystem
    public let powerLoss: Bool
    public let controlFile: String?
    /// Monotonic milliseconds; a parameter so that tests control when the control file is read again.
    let nowMs: () -> Int64
    /// The faults read last and when: the Raft thread and the snapshot thread both read them (issue 19).
    private let state = Mutex<(faults: Faults, readAtMs: Int64)>((Faults(), .min))

    public init(
        wrapping inner: any FileSystem,
        powerLoss: Bool,
        controlFile: String?,
        nowMs: @escaping () -> Int64 = FaultyFileSystem.monotonicMs
    ) {
        self.inner = inner
        self.powerLoss = powerLoss
        self.controlFile = controlFile
        self.nowMs = nowMs
    }

    public static func monotonicMs() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// The faults in force now (the control file read again when 100 ms passed since the last read).
    public var current: Faults {
        let now = nowMs()
        return state.withLock { state in
            if let controlFile, now >= state.readAtMs + 100 {
                state.readAtMs = now
                state.faults = Faults(parsing: Self.read(controlFile))
            }
            return state.faults
        }
    }

    /// A failed fsync is reported once per `fsync-fail` in the file: the harness writes it again for another.
    func consumeFsyncFailure() -> Bool {
        guard current.fsyncFail else { return false }
        state.withLock { $0.faults.fsyncFail = false }
        if let controlFile {
            let words = Self.read(controlFile).split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
            Self.write(controlFile, words.filter { $0 != "fsync-fail" }.joined(separator: " "))
        }
        return true
    }

    static func read(_ path: String) -> String {
        guard let file = fopen(path, "r") else { return "" }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[..<n])
            if bytes.count > 4_096 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func write(_ path: String, _ text: String) {
        guard let file = fopen(path, "w") else { return }
        _ = text.withCString { fputs($0, file) }
        fclose(file)
    }

    public func createDirectory(_ path: String) throws(StorageError) { try inner.createDirectory(path) }
    public func list(_ directory: String) throws(StorageError) -> [String] { try inner.list(directory) }
    public func exists(_ path: String) -> Bool { inner.exists(path) }
    public func remove(_ path: String) throws(StorageError) { try inner.remove(path) }
    public func rename(_ from: String, to: String) throws(StorageError) { try inner.rename(from, to: to) }
    public func syncDirectory(_ path: String) throws(StorageError) { try inner.syncDirectory(path) }

    public func open(_ path: String, create: Bool) throws(StorageError) -> any StorageFile {
        FaultyFile(inner: try inner.open(path, create: create), fileSystem: self)
    }
}

/// A file of `FaultyFileSystem`: appends held until `sync()` under power loss, faults from the control file.
///
/// The log's fdatasync may run on a storage thread while the Raft thread reads the same segment (issue 19): the
/// held bytes and the inner file are touched under one lock (the fsync's delay and the inner fdatasync are not).
final class FaultyFile: StorageFile, @unchecked Sendable {
    let inner: any StorageFile
    let fileSystem: FaultyFileSystem
    /// Appended but not yet written (power loss mode): what a page cache holds and a power failure loses.
    private let pending = Mutex(ByteBuffer())

    init(inner: any StorageFile, fileSystem: FaultyFileSystem) {
        self.inner = inner
        self.fileSystem = fileSystem
    }

    var path: String { inner.path }
    var size: Int { pending.withLock { inner.size + $0.readableBytes } }

    func read(at offset: Int, count: Int) throws(StorageError) -> ByteBuffer {
        try pending.withLock { pending throws(StorageError) -> ByteBuffer in
            let written = inner.size
            var result =
                offset < written ? try inner.read(at: offset, count: min(count, written - offset)) : ByteBuffer()
            let end = min(offset + count, written + pending.readableBytes)
            let from = max(offset, written)
            if end > from, var tail = pending.getSlice(at: pending.readerIndex + from - written, length: end - from) {
                result.writeBuffer(&tail)
            }
            return result
        }
    }

    func append(_ bytes: ByteBuffer) throws(StorageError) {
        if fileSystem.current.full { throw .noSpace(path: path) }
        try pending.withLock { pending throws(StorageError) in
            if fileSystem.powerLoss {
                var bytes = bytes
                pending.writeBuffer(&bytes)
            } else {
                try inner.append(bytes)
            }
        }
    }

    func truncate(to newSize: Int) throws(StorageError) {
        try pending.withLock { pending throws(StorageError) in
            let written = inner.size
            if newSize >= written {
                pending.moveWriterIndex(to: pending.readerIndex + min(pending.readableBytes, newSize - written))
            } else {
                pending.clear()
                try inner.truncate(to: newSize)
            }
        }
    }

    func sync() throws(StorageError) {
        let faults = fileSystem.current
        if faults.fsyncDelayMs > 0 { usleep(UInt32(faults.fsyncDelayMs) * 1_000) }
        try pending.withLock { pending throws(StorageError) in
            if pending.readableBytes > 0 {
                try inner.append(pending)
                pending.clear()
            }
        }
        if fileSystem.consumeFsyncFailure() {
            throw .io(path: path, operation: "fdatasync", reason: "Input/output error (storage fault layer)")
        }
        try inner.sync()
    }

    /// Paces only what reached the inner file: under power loss the bytes are held here until `sync()`.
    func writeBack(_ range: Range<Int>, wait: Bool) {
        let written = pending.withLock { _ in range.clamped(to: 0..<inner.size) }
        if !written.isEmpty { inner.writeBack(written, wait: wait) }
    }

    func close() { inner.close() }
}
