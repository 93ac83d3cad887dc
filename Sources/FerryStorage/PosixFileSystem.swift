import CFileSync
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Files on a real disk, through open/pread/write/fdatasync.
public final class PosixFileSystem: FileSystem {
    public init() {}

    static func failure(_ path: String, _ operation: String) -> StorageError {
        let code = errno
        if code == ENOSPC || code == EDQUOT { return .noSpace(path: path) }
        if code == ENOENT { return .missingFile(path: path) }
        return .io(path: path, operation: operation, reason: String(cString: strerror(code)))
    }

    public func createDirectory(_ path: String) throws(StorageError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw Self.failure(prefix, "mkdir") }
        }
    }

    public func list(_ directory: String) throws(StorageError) -> [String] {
        guard let handle = opendir(directory) else { throw Self.failure(directory, "opendir") }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func open(_ path: String, create: Bool) throws(StorageError) -> any StorageFile {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = Glibc.open(path, flags, 0o644)
        guard fd >= 0 else { throw Self.failure(path, "open") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = Self.failure(path, "fstat")
            Glibc.close(fd)
            throw error
        }
        return PosixFile(path: path, fd: fd, size: Int(info.st_size))
    }

    public func remove(_ path: String) throws(StorageError) {
        if unlink(path) != 0 && errno != ENOENT { throw Self.failure(path, "unlink") }
    }

    public func rename(_ from: String, to: String) throws(StorageError) {
        if Glibc.rename(from, to) != 0 { throw Self.failure(from, "rename") }
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure(path, "open directory") }
        defer { Glibc.close(fd) }
        if fsync(fd) != 0 { throw Self.failure(path, "fsync directory") }
    }
}

final class PosixFile: StorageFile {
    let path: String
    private var fd: Int32
    private(set) var size: Int

    init(path: String, fd: Int32, size: Int) {
        self.path = path
        self.fd = fd
        self.size = size
    }

    deinit { close() }

    func read(at offset: Int, count: Int) throws(StorageError) -> ByteBuffer {
        let wanted = max(0, min(count, size - offset))
        var buffer = ByteBuffer()
        guard wanted > 0 else { return buffer }
        var failed = false
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { raw in
            var done = 0
            while done < wanted {
                let n = pread(fd, raw.baseAddress! + done, wanted - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failed = n < 0
                    break
                }
                done += n
            }
            return done
        }
        if failed { throw PosixFileSystem.failure(path, "pread") }
        return buffer
    }

    func append(_ bytes: ByteBuffer) throws(StorageError) {
        var failure: StorageError?
        var written = 0
        bytes.withUnsafeReadableBytes { raw in
            while written < raw.count {
                let n = pwrite(fd, raw.baseAddress! + written, raw.count - written, off_t(size + written))
                if n < 0 && errno == EINTR { continue }
                if n < 0 {
                    failure = PosixFileSystem.failure(path, "pwrite")
                    return
                }
                written += n
            }
        }
        if let failure {
            // Leave no partial record behind: cut the file back to where this append started.
            _ = ftruncate(fd, off_t(size))
            throw failure
        }
        size += written
    }

    func truncate(to newSize: Int) throws(StorageError) {
        if ftruncate(fd, off_t(newSize)) != 0 { throw PosixFileSystem.failure(path, "ftruncate") }
        size = newSize
    }

    func sync() throws(StorageError) {
        if fdatasync(fd) != 0 { throw PosixFileSystem.failure(path, "fdatasync") }
    }

    func writeBack(_ range: Range<Int>, wait: Bool) {
        // A hint: an error here (a file system without sync_file_range) is the next fdatasync's to report.
        let (offset, count) = (Int64(range.lowerBound), Int64(range.count))
        _ = wait ? ferry_writeback_wait(fd, offset, count) : ferry_writeback_start(fd, offset, count)
    }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}
