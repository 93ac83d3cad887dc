import NIOCore

/// Why a storage operation failed. Every case names the file; none is guessed around.
public enum StorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The device is full (ENOSPC or a quota). Nothing durable was damaged; retry when space returns.
    case noSpace(path: String)
    /// Any other I/O failure, with the errno text.
    case io(path: String, operation: String, reason: String)
    case missingFile(path: String)
    /// A record before the log's tail is damaged: the group stops rather than lose or invent data.
    case corruptRecord(path: String, offset: Int, reason: String)
    /// A snapshot file is unreadable or does not match its name.
    case badSnapshot(path: String, reason: String)
    /// The file is not a Ferry file of a format this build reads.
    case badHeader(path: String, reason: String)

    public var description: String {
        switch self {
        case .noSpace(let path): return "\(path): no space left on device"
        case .io(let path, let operation, let reason): return "\(path): \(operation) failed: \(reason)"
        case .missingFile(let path): return "\(path): missing"
        case .corruptRecord(let path, let offset, let reason): return "\(path) at offset \(offset): \(reason)"
        case .badSnapshot(let path, let reason): return "\(path): bad snapshot: \(reason)"
        case .badHeader(let path, let reason): return "\(path): bad header: \(reason)"
        }
    }
}

/// The few file operations storage needs, behind a protocol implemented twice (STYLE #9): `PosixFileSystem`
/// for real disks and `SimulatedFileSystem` for tests that crash between any two writes.
///
/// Durability contract (the simulator's `SimDisk` obeys the same one): data appended to a file becomes
/// durable at its next `sync()`; creating, renaming or removing a file becomes durable at the next
/// `syncDirectory` of its directory. A crash keeps what is durable, and of what is not, possibly a prefix.
public protocol FileSystem: AnyObject {
    func createDirectory(_ path: String) throws(StorageError)
    /// File names (not paths) in `directory`, sorted.
    func list(_ directory: String) throws(StorageError) -> [String]
    func exists(_ path: String) -> Bool
    /// Opens a file for reading and appending; creates it (empty) when `create` and it does not exist.
    func open(_ path: String, create: Bool) throws(StorageError) -> any StorageFile
    func remove(_ path: String) throws(StorageError)
    /// Atomically replaces `to` with `from`.
    func rename(_ from: String, to: String) throws(StorageError)
    /// Makes creations, renames and removals in `directory` durable.
    func syncDirectory(_ path: String) throws(StorageError)
}

/// An open file: positional reads, appends at the end, truncation, and fdatasync.
public protocol StorageFile: AnyObject {
    var path: String { get }
    /// Current size in bytes, appended data included.
    var size: Int { get }
    /// Up to `count` bytes from `offset` (fewer at the end of the file).
    func read(at offset: Int, count: Int) throws(StorageError) -> ByteBuffer
    func append(_ bytes: ByteBuffer) throws(StorageError)
    func truncate(to size: Int) throws(StorageError)
    /// fdatasync: everything appended so far is durable when this returns.
    func sync() throws(StorageError)
    /// Starts writing the appended bytes in `range` to the device and, when `wait`, returns once they are written.
    /// Changes nothing about durability (only `sync()` makes data durable, and a file system may ignore this):
    /// it paces a large file so that its bytes do not queue in front of the log's fdatasync all at once.
    func writeBack(_ range: Range<Int>, wait: Bool)
    func close()
}

/// Joins path components with "/".
func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}
