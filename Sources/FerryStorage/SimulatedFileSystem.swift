import NIOCore

/// An in-memory `FileSystem` that keeps what a crash would keep: the test double for crash, torn-write and
/// disk-full tests, obeying the durability contract written on `FileSystem`.
///
/// - A file's appended bytes become durable at `sync()`; `crash(keepUnsyncedBytes:)` keeps the durable bytes
///   plus a chosen prefix of the unsynced ones (a torn write), or reverts a truncation that was not synced.
/// - Creations, renames and removals become durable at `syncDirectory` of the parent directory.
/// - `capacityBytes` makes appends fail with `.noSpace` once the files would exceed it.
/// - `failAfterWrites` makes the N+1-th mutating operation fail, to crash "between any two writes".
public final class SimulatedFileSystem: FileSystem {
    final class Content {
        var durable: [UInt8] = []
        var current: [UInt8] = []
    }

    private var names: [String: Content] = [:]
    private var durableNames: [String: Content] = [:]
    private var directories: Set<String> = []
    public var capacityBytes: Int?
    public var failAfterWrites: Int?
    public private(set) var writes = 0

    public init() {}

    /// Counts a mutating operation; throws once the planned crash point is reached.
    func countWrite(_ path: String) throws(StorageError) {
        if let limit = failAfterWrites, writes >= limit {
            throw .io(path: path, operation: "write", reason: "simulated crash")
        }
        writes += 1
    }

    /// The process dies: everything not durable is lost, except `keepUnsyncedBytes(path, unsynced)` bytes of
    /// each file's unsynced tail.
    public func crash(keepUnsyncedBytes: (String, Int) -> Int = { _, _ in 0 }) {
        names = durableNames
        for (path, content) in names {
            if content.current.count >= content.durable.count
                && Array(content.current[..<content.durable.count]) == content.durable
            {
                let unsynced = content.current.count - content.durable.count
                let keep = max(0, min(unsynced, keepUnsyncedBytes(path, unsynced)))
                content.current = Array(content.current[..<(content.durable.count + keep)])
            } else {
                content.current = content.durable
            }
        }
        failAfterWrites = nil
    }

    /// Raw access for tests that damage files on purpose.
    public func bytes(_ path: String) -> [UInt8]? { names[path]?.current }

    /// Every file's path, sorted.
    public var paths: [String] { names.keys.sorted() }

    /// How many bytes of the file are durable (synced), nil when it does not exist.
    public func durableCount(_ path: String) -> Int? { names[path]?.durable.count }

    public func setBytes(_ path: String, _ bytes: [UInt8], durable: Bool = true) {
        let content = names[path] ?? Content()
        content.current = bytes
        if durable { content.durable = bytes }
        names[path] = content
        if durable { durableNames[path] = content }
    }

    public var usedBytes: Int { names.values.reduce(0) { $0 + $1.current.count } }

    public func createDirectory(_ path: String) throws(StorageError) {
        directories.insert(path)
    }

    public func list(_ directory: String) throws(StorageError) -> [String] {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return names.keys.filter { $0.hasPrefix(prefix) && !$0.dropFirst(prefix.count).contains("/") }
            .map { String($0.dropFirst(prefix.count)) }.sorted()
    }

    public func exists(_ path: String) -> Bool { names[path] != nil }

    public func open(_ path: String, create: Bool) throws(StorageError) -> any StorageFile {
        if let content = names[path] { return SimulatedFile(path: path, content: content, fileSystem: self) }
        guard create else { throw .missingFile(path: path) }
        try countWrite(path)
        let content = Content()
        names[path] = content
        return SimulatedFile(path: path, content: content, fileSystem: self)
    }

    public func remove(_ path: String) throws(StorageError) {
        try countWrite(path)
        names[path] = nil
    }

    public func rename(_ from: String, to: String) throws(StorageError) {
        guard let content = names[from] else { throw .missingFile(path: from) }
        try countWrite(from)
        names[from] = nil
        names[to] = content
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        try countWrite(path)
        let prefix = path.hasSuffix("/") ? path : path + "/"
        func inDirectory(_ name: String) -> Bool {
            name.hasPrefix(prefix) && !name.dropFirst(prefix.count).contains("/")
        }
        for name in durableNames.keys where inDirectory(name) && names[name] == nil { durableNames[name] = nil }
        for (name, content) in names where inDirectory(name) { durableNames[name] = content }
    }
}

final class SimulatedFile: StorageFile {
    let path: String
    let content: SimulatedFileSystem.Content
    let fileSystem: SimulatedFileSystem

    init(path: String, content: SimulatedFileSystem.Content, fileSystem: SimulatedFileSystem) {
        self.path = path
        self.content = content
        self.fileSystem = fileSystem
    }

    var size: Int { content.current.count }

    func read(at offset: Int, count: Int) throws(StorageError) -> ByteBuffer {
        let end = min(content.current.count, offset + count)
        guard offset < end else { return ByteBuffer() }
        return ByteBuffer(bytes: content.current[offset..<end])
    }

    func append(_ bytes: ByteBuffer) throws(StorageError) {
        try fileSystem.countWrite(path)
        if let capacity = fileSystem.capacityBytes, fileSystem.usedBytes + bytes.readableBytes > capacity {
            throw .noSpace(path: path)
        }
        content.current.append(contentsOf: bytes.readableBytesView)
    }

    func truncate(to size: Int) throws(StorageError) {
        try fileSystem.countWrite(path)
        content.current = Array(content.current.prefix(size))
    }

    func sync() throws(StorageError) {
        try fileSystem.countWrite(path)
        content.durable = content.current
    }

    /// Nothing to pace: memory has no device queue, and durability comes only from `sync()`.
    func writeBack(_ range: Range<Int>, wait: Bool) {}

    func close() {}
}
