import CFuzz
import FerryModel
import FerryRaft
import FerryWire
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// `ferry-fuzz`: the fuzz targets of the network parsers (Tests/fuzz/run).
///
///   ferry-fuzz TARGET [libFuzzer options] [CORPUS DIRS]   (fuzz build: -sanitize=fuzzer -DFERRY_LIBFUZZER)
///   ferry-fuzz replay TARGET FILE|DIR...                   every input once (any build): the regression check
///   ferry-fuzz seeds DIR                                   writes the seed corpus, DIR/<target>/<name>
/// Targets: peer, client, json, query, sigv4.
func fail(_ text: String) -> Never {
    let line = "ferry-fuzz: \(text)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

nonisolated(unsafe) var fuzzed: FuzzTarget = .peer

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: ferry-fuzz TARGET | replay TARGET PATH... | seeds DIR") }
switch arguments[1] {
case "seeds":
    guard arguments.count == 3 else { fail("seeds DIR") }
    Seeds.write(to: arguments[2])
case "replay":
    guard arguments.count >= 4, let target = FuzzTarget(rawValue: arguments[2]) else { fail("replay TARGET PATH...") }
    var count = 0
    for path in arguments[3...] {
        for file in Seeds.files(path) {
            let bytes = Seeds.read(file)
            bytes.withUnsafeBytes { target.run($0) }
            count += 1
        }
    }
    print("ferry-fuzz: \(target.rawValue): \(count) inputs replayed, none failed")
default:
    guard let target = FuzzTarget(rawValue: arguments[1]) else { fail("unknown target \(arguments[1])") }
    #if FERRY_LIBFUZZER
        fuzzed = target
        var argc = CInt(CommandLine.argc - 1)
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv.advanced(by: 1)
        argv![0] = CommandLine.unsafeArgv[0]
        exit(
            LLVMFuzzerRunDriver(&argc, &argv) { data, size in
                fuzzed.run(UnsafeRawBufferPointer(start: data, count: size))
                return 0
            }
        )
    #else
        _ = target
        fail("this build has no libFuzzer: build with Tests/fuzz/run (or use replay)")
    #endif
}
