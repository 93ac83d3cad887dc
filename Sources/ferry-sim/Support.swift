#if canImport(Glibc)
    import Glibc
#endif

/// Environment lookup without Foundation.
enum ProcessInfoLite {
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}

/// Prints the seed that was running when a precondition in the core trapped, so that no crash loses it.
enum SeedReporter {
    nonisolated(unsafe) static var current: UInt64 = 0 {
        didSet { installOnce }
    }

    static let installOnce: Void = {
        for sig in [SIGILL, SIGTRAP, SIGABRT, SIGSEGV] {
            signal(sig) { code in
                var text = "\nferry-sim: trapped (signal \(code)) while running seed \(SeedReporter.current)\n"
                text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
                signal(code, SIG_DFL)
                raise(code)
            }
        }
    }()
}
