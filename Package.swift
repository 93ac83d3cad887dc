// swift-tools-version:6.1
import PackageDescription

// DESIGN.md §3: pure cores first, I/O at the edge. A module imports only the ones above it.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let nioCore: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let heap: Target.Dependency = .product(name: "HeapModule", package: "swift-collections")
let deque: Target.Dependency = .product(name: "DequeModule", package: "swift-collections")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let nioConcurrency: Target.Dependency = .product(name: "NIOConcurrencyHelpers", package: "swift-nio")

let package = Package(
    name: "Ferry",
    products: [
        .library(name: "FerryRaft", targets: ["FerryRaft"]),
        .library(name: "FerryModel", targets: ["FerryModel"]),
        .library(name: "FerryQueue", targets: ["FerryQueue"]),
        .library(name: "FerryWire", targets: ["FerryWire"]),
        .library(name: "FerryClient", targets: ["FerryClient"]),
        .library(name: "FerryTLS", targets: ["FerryTLS"]),
        .executable(name: "ferry", targets: ["ferry"]),
        .executable(name: "ferry-sim", targets: ["ferry-sim"]),
        .executable(name: "ferry-storage-bench", targets: ["ferry-storage-bench"]),
        .executable(name: "ferry-queue-bench", targets: ["ferry-queue-bench"]),
        .executable(name: "ferry-chaos", targets: ["ferry-chaos"]),
        .executable(name: "ferry-fuzz", targets: ["ferry-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Latency percentiles of `ferry bench`.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // Pure: no I/O, no clock, no global randomness (DESIGN §4). NIOCore only for ByteBuffer.
        .target(name: "FerryRaft", dependencies: [nioCore], swiftSettings: swiftSettings),
        // The value types clients and nodes share: queue attributes, send/receive requests and results, message
        // positions, queue errors, the nodes' addresses, the partition hash, and their field encodings.
        .target(name: "FerryModel", dependencies: [nioCore], swiftSettings: swiftSettings),
        .target(
            name: "FerryQueue",
            dependencies: ["FerryModel", "FerryCrypto", nioCore, heap, deque],
            swiftSettings: swiftSettings
        ),
        .target(name: "FerryWire", dependencies: ["FerryRaft", "FerryModel", nioCore], swiftSettings: swiftSettings),
        .target(
            name: "FerrySimulator",
            dependencies: ["FerryRaft", "FerryQueue", "FerryModel", "FerryWire", nioCore, heap],
            swiftSettings: swiftSettings
        ),
        // OpenSSL's libcrypto (libssl-dev) for SHA-256 (content-based deduplication) and, later, HMAC (SigV4).
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // liblz4 (installed by Tests/run as liblz4-dev) for compressed log batches.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // libFuzzer's driver, declared (defined by the runtime -sanitize=fuzzer links into the fuzz build).
        .target(name: "CFuzz"),
        // The network parsers' fuzz targets (Tests/fuzz/run): peer and client frames, the SQS API's JSON and query
        // requests, SigV4; and the replay of the corpus and of crashes found, in any build.
        .executableTarget(
            name: "ferry-fuzz",
            dependencies: ["CFuzz", "FerryWire", "FerrySQS", "FerryModel", "FerryRaft", nioCore],
            swiftSettings: swiftSettings
        ),
        // glibc's posix_spawn_file_actions_addclosefrom_np: processes the tools start inherit no sockets.
        .target(name: "CSpawn"),
        // glibc's mallopt, which Swift's Glibc module does not declare (the node fixes its mmap threshold).
        .target(name: "CMalloc"),
        // Linux's sync_file_range, which Swift's Glibc module does not declare (snapshot files pace their writes).
        .target(name: "CFileSync"),
        // Segmented write-ahead log, snapshots and hard state on files: implements FerryRaft's storage.
        .target(
            name: "FerryStorage",
            dependencies: ["FerryRaft", "CLZ4", "CFileSync", nioCore],
            swiftSettings: swiftSettings
        ),
        // Raw disk limit and FerryStorage append throughput, open time: the benchmark command.
        .executableTarget(
            name: "ferry-storage-bench",
            dependencies: ["FerryStorage", "FerryRaft", nioCore],
            swiftSettings: swiftSettings
        ),
        // Queue state machine apply throughput and snapshot size/time: the queue issue's benchmark command.
        .executableTarget(
            name: "ferry-queue-bench",
            dependencies: ["FerryQueue", "FerryModel", nioCore],
            swiftSettings: swiftSettings
        ),
        // The server: peer transport, Raft group drivers over FerryStorage, the metadata group, the native
        // client protocol (network and files).
        .target(
            name: "FerryNode",
            dependencies: [
                "FerryRaft", "FerryQueue", "FerryModel", "FerryWire", "FerryStorage", "FerryNet", "FerryRouter",
                "FerryCrypto",
                "FerryHTTP",
                "FerryTLS",
                "CMalloc",
                nioCore,
                nioPosix,
                nioConcurrency,
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Each node's http_port (the SQS API, metrics, health): HTTP/1.1 on swift-nio's codec, handlers run as
        // tasks on the connection's event loop, routed by the caller.
        .target(
            name: "FerryHTTP",
            dependencies: [nioCore, nioPosix, nioConcurrency, .product(name: "NIOHTTP1", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // SHA-256, MD5 and HMAC-SHA256 through libcrypto: SigV4, SQS's MD5 digests, content-based deduplication.
        .target(name: "FerryCrypto", dependencies: ["CLibCrypto"], swiftSettings: swiftSettings),
        // TLS on swift-nio-ssl, kept in this one module: the nodes' listeners and dialers (mutual TLS on the peer
        // port, certificate chains checked with FerryCrypto to name a refusal's cause), reload on SIGHUP, and the
        // clients' side. FerryNet, FerryHTTP and FerryClient take it as a channel hook and never import NIOSSL.
        .target(
            name: "FerryTLS",
            dependencies: [
                "FerryCrypto", nioCore, nioConcurrency, .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // The SQS-compatible API (AWS JSON 1.0, SigV4) on each node's HTTP port, mapped onto node operations.
        .target(
            name: "FerrySQS",
            dependencies: ["FerryCrypto", "FerryWire", "FerryModel", nioCore],
            swiftSettings: swiftSettings
        ),
        // One client connection of the native protocol (pipelined requests): shared by the client and by nodes
        // that forward (dead-letter moves).
        .target(
            name: "FerryNet",
            dependencies: ["FerryWire", "FerryModel", "FerryCrypto", nioCore, nioPosix, nioConcurrency],
            swiftSettings: swiftSettings
        ),
        // The one partition router (metadata cache, leader routing, notLeader hints, retries), asynchronous,
        // over a transport: the client's TCP connections, or a node's own mailbox and peer connections.
        .target(
            name: "FerryRouter",
            dependencies: ["FerryNet", "FerryModel", "FerryWire", nioCore, nioPosix, nioConcurrency],
            swiftSettings: swiftSettings
        ),
        // The Swift client: blocking calls over the router and TCP connections. Never imports FerryNode.
        .target(
            name: "FerryClient",
            dependencies: [
                "FerryNet", "FerryRouter", "FerryTLS", "FerryModel", "FerryWire", nioCore, nioPosix, nioConcurrency,
            ],
            swiftSettings: swiftSettings
        ),
        // The load of `ferry bench`: the closed-loop engine (producers, consumers, counters, histograms) over a
        // transport, and the native protocol's transport. The SQS transport lives with the command (FerrySQS).
        .target(
            name: "FerryLoad",
            dependencies: [
                "FerryClient", "FerryModel", "FerryWire", nioCore, nioPosix,
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // The operator's console served by every node (`/console`) and the status API it reads (`/status/v1/…`):
        // embedded assets, SigV4-signed reads, queue history sampled on the node.
        .target(
            name: "FerryConsole",
            dependencies: [
                "FerryHTTP", "FerryRouter", "FerryNet", "FerrySQS", "FerryModel", "FerryWire", nioCore, nioConcurrency,
            ],
            swiftSettings: swiftSettings
        ),
        // One binary: `ferry node` and the client commands.
        .executableTarget(
            name: "ferry",
            dependencies: [
                "FerryNode", "FerrySQS", "FerryClient", "FerryRouter", "FerryNet", "FerryModel", "FerryWire", "CSpawn",
                "FerryHTTP", "FerryTLS", "FerryLoad", "FerryConsole", nioCore,
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // The node simulated: real NodeRuntimes driven round by round at virtual time over a simulated network
        // and SimulatedFileSystem disks, with faults, checked against the queue contract from the clients' side.
        .target(
            name: "FerryNodeSim",
            dependencies: [
                "FerryNode", "FerryStorage", "FerryRaft", "FerryQueue", "FerryModel", "FerryWire", "FerryRouter",
                "FerryNet", nioCore,
                heap,
            ],
            swiftSettings: swiftSettings
        ),
        // The simulator's command line: long seed runs, election-time and throughput figures, node seeds.
        .executableTarget(
            name: "ferry-sim",
            dependencies: ["FerrySimulator", "FerryNodeSim", "FerryNode"],
            swiftSettings: swiftSettings
        ),

        // Chaos/: the harness. The checker is pure (no I/O, no clock): a history in, violations out.
        .target(name: "ChaosCheck", path: "Chaos/Sources/ChaosCheck", swiftSettings: swiftSettings),
        // Cluster/local from Swift (posix_spawn): the harness and the real-process tests.
        .target(
            name: "ChaosCluster",
            dependencies: ["CSpawn"],
            path: "Chaos/Sources/ChaosCluster",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ferry-chaos",
            dependencies: [
                "ChaosCheck", "ChaosCluster", "FerryClient", "FerryModel", "FerryWire", nioCore, nioConcurrency,
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Chaos/Sources/ferry-chaos",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ChaosCheckTests",
            dependencies: ["ChaosCheck"],
            path: "Chaos/Tests/ChaosCheckTests",
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "FerryRaftTests",
            dependencies: ["FerryRaft", "FerrySimulator", nioCore],
            exclude: ["testdata"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FerryQueueTests",
            dependencies: ["FerryQueue", "FerryModel", "FerryRaft"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FerryStorageTests",
            dependencies: ["FerryStorage", "FerryRaft", nioCore],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FerryWireTests",
            dependencies: ["FerryWire", "FerryRaft", "FerryModel", nioCore],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "FerrySQSTests", dependencies: ["FerrySQS"], swiftSettings: swiftSettings),
        .testTarget(name: "FerryHTTPTests", dependencies: ["FerryHTTP", nioPosix], swiftSettings: swiftSettings),
        .testTarget(
            name: "FerryConsoleTests",
            dependencies: ["FerryConsole", "FerrySQS", "FerryRouter", "FerryNet", "FerryModel", "FerryWire", "FerryHTTP"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FerryClientTests",
            dependencies: ["FerryClient", "FerryRouter", "FerryModel", "FerryWire", nioCore],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FerryLoadTests",
            dependencies: ["FerryLoad", "FerryModel", "FerryWire", nioCore, nioPosix],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NodeTests",
            dependencies: [
                "FerryNode", "FerryNodeSim", "FerryWire", "FerryQueue", "FerryModel",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // In-process clusters at real time (ports, timers, deadlines). Tests/run runs them in a process of their
        // own: beside the CPU-bound seed suites, which fill Swift's cooperative pool (one thread per core), an
        // awaiting test's continuation waited 30 s for a thread and its deadline passed while it slept.
        .testTarget(
            name: "NodeClusterTests",
            dependencies: [
                "FerryNode", "FerryClient", "FerryHTTP", "FerryTLS", "FerrySQS", "FerryCrypto",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                "FerryRouter", "FerryWire", "FerryQueue", "FerryModel", nioCore, nioPosix,
                nioConcurrency,
            ],
            swiftSettings: swiftSettings
        ),
        // Real `ferry node` processes through Cluster/local (kills, partitions, SIGTERM); run by Tests/run.
        .testTarget(
            name: "ClusterTests",
            dependencies: [
                "ChaosCluster", "FerryClient", "FerryWire", "FerryModel", nioCore, nioPosix, nioConcurrency,
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SimulationTests",
            dependencies: ["FerrySimulator", "FerryRaft", "FerryStorage"],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
