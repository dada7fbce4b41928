// swift-tools-version: 6.1
import PackageDescription

// Release-only flags for the hot-path libraries: cross-module optimization lets the
// executable and benchmarks inline ring/book/codec calls (docs/BENCHMARKS.md).
// Dynamic exclusivity checks are off in release: on the fused thread they cost ~10 % of
// its time (swift_beginAccess on the WebSocket client's and reader's stored properties,
// measured with perf); debug builds, which the tests run, keep them.
let hotPathSettings: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Tickwire",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tickwire", targets: ["tickwire"]),
        .library(name: "TickwireCore", targets: ["TickwireCore"]),
        .library(name: "TickwireClient", targets: ["TickwireClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/ordo-one/benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Thin static-inline wrappers over Linux, libnuma and libxdp/libbpf (CNIOLinux style).
        .target(
            name: "CTickwire",
            linkerSettings: [
                .linkedLibrary("xdp"),
                .linkedLibrary("bpf"),
                .linkedLibrary("numa"),
                .linkedLibrary("ssl"),
                .linkedLibrary("crypto"),
            ]
        ),
        // The one errno-wrapping syscall helper and the Linux concepts built on it
        // (hot-path memory, CPU sets, memory locking).
        .target(
            name: "TickwireSystem",
            dependencies: ["CTickwire"],
            swiftSettings: hotPathSettings
        ),
        // No I/O: fixed point, instruments, events, SPSC ring, order book, wire codec.
        .target(
            name: "TickwireCore",
            dependencies: ["TickwireSystem", "CTickwire"],
            swiftSettings: hotPathSettings
        ),
        // Venue adapters (one file per venue), the shared JSON byte scanner, book sync and checksums.
        .target(
            name: "TickwireVenues",
            dependencies: ["TickwireCore"],
            swiftSettings: hotPathSettings
        ),
        // TLS (OpenSSL), WebSocket and HTTP clients and servers; UDP senders and receivers.
        .target(
            name: "TickwireTransport",
            dependencies: ["TickwireSystem", "TickwireCore", "CTickwire"],
            swiftSettings: hotPathSettings
        ),
        // The consumer of Tickwire channels: A/B arbitration, gap detection, retransmission and
        // snapshot recovery, books rebuilt per instrument (a library other Swift programs use).
        .target(
            name: "TickwireClient",
            dependencies: ["TickwireTransport", "TickwireCore", "TickwireSystem"],
            swiftSettings: hotPathSettings
        ),
        // Venue configuration (TOML), the per-connection feed loop (WebSocket → adapter → books)
        // and the REST snapshot helper thread; what `watch` and the daemon run.
        .target(
            name: "TickwireRuntime",
            dependencies: [
                "TickwireTransport", "TickwireVenues", "TickwireCore", "TickwireSystem",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: hotPathSettings
        ),
        // The exchange simulator: generated books and replayed captures in each venue's wire
        // format over ws/wss (+ Binance REST), with fault injection.
        .target(
            name: "TickwireSimulator",
            dependencies: ["TickwireTransport", "TickwireVenues", "TickwireCore", "CTickwire"],
            swiftSettings: hotPathSettings
        ),
        .executableTarget(
            name: "tickwire",
            dependencies: [
                "TickwireSimulator",
                "TickwireRuntime",
                "TickwireClient",
                "TickwireCore",
                "TickwireSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .testTarget(name: "TickwireSystemTests", dependencies: ["TickwireSystem"]),
        .testTarget(name: "TickwireCoreTests", dependencies: ["TickwireCore"]),
        // Shared by the test targets: the sample captures beside the repo and a reference
        // Binance book built by the documented rules with its own parsing.
        .target(name: "TickwireTestSupport", dependencies: ["TickwireCore", "CTickwire"], path: "Tests/TickwireTestSupport"),
        .testTarget(name: "TickwireVenuesTests", dependencies: ["TickwireVenues", "TickwireTestSupport"]),
        .testTarget(name: "TickwireTransportTests", dependencies: ["TickwireTransport", "TickwireTestSupport"]),
        .testTarget(name: "TickwireCLITests", dependencies: ["tickwire", "TickwireCore", "TickwireTestSupport"]),
        .testTarget(name: "TickwireClientTests", dependencies: ["TickwireClient", "TickwireRuntime", "TickwireTransport", "TickwireCore", "TickwireTestSupport"]),
        .testTarget(name: "TickwireSimulatorTests", dependencies: ["TickwireSimulator", "TickwireTransport", "TickwireVenues", "TickwireCore", "TickwireTestSupport"]),
        .testTarget(name: "TickwireRuntimeTests", dependencies: ["TickwireRuntime", "TickwireTransport", "TickwireVenues", "TickwireCore", "TickwireTestSupport", "tickwire"]),
        .executableTarget(
            name: "CoreBenchmarks",
            dependencies: [
                "TickwireCore",
                "TickwireSystem",
                "TickwireVenues",
                "TickwireRuntime",
                "TickwireTransport",
                "TickwireClient",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/CoreBenchmarks",
            swiftSettings: hotPathSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // libFuzzer targets: build and run them with scripts/fuzz.sh (it explains the flags:
        // --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address, one --product at a time).
        .target(
            name: "FuzzSupport",
            dependencies: ["TickwireVenues", "TickwireCore", "TickwireSystem"],
            path: "Fuzz/FuzzSupport"
        ),
        .executableTarget(name: "FuzzWebSocketFrame", dependencies: ["TickwireTransport"], path: "Fuzz/FuzzWebSocketFrame"),
        .executableTarget(name: "FuzzBinanceSpot", dependencies: ["FuzzSupport", "TickwireVenues"], path: "Fuzz/FuzzBinanceSpot"),
        .executableTarget(name: "FuzzBinanceUSDM", dependencies: ["FuzzSupport", "TickwireVenues"], path: "Fuzz/FuzzBinanceUSDM"),
        .executableTarget(name: "FuzzBybit", dependencies: ["FuzzSupport", "TickwireVenues"], path: "Fuzz/FuzzBybit"),
        .executableTarget(name: "FuzzOKX", dependencies: ["FuzzSupport", "TickwireVenues"], path: "Fuzz/FuzzOKX"),
        .executableTarget(name: "FuzzCoinbase", dependencies: ["FuzzSupport", "TickwireVenues"], path: "Fuzz/FuzzCoinbase"),
        .executableTarget(name: "FuzzKraken", dependencies: ["FuzzSupport", "TickwireVenues"], path: "Fuzz/FuzzKraken"),
        .executableTarget(name: "FuzzUdpFrame", dependencies: ["TickwireTransport"], path: "Fuzz/FuzzUdpFrame"),
        .executableTarget(name: "FuzzWireDecoder", dependencies: ["TickwireCore"], path: "Fuzz/FuzzWireDecoder"),
        .executableTarget(name: "FuzzRecordingLine", dependencies: ["TickwireRuntime"], path: "Fuzz/FuzzRecordingLine"),
    ]
)
