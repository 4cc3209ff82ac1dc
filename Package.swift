// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "gantry",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gantry", targets: ["gantry"]),
        // For fuzz/ (the libFuzzer target): the decoder and validator alone.
        .library(name: "GantryManifests", targets: ["Manifests"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    ],
    targets: [
        // C libraries, bound through pkg-config. Only the Git, YAML and HTTP
        // modules import these.
        // libgit2's headers only (libgit2-dev; pkg-config gives no flags for
        // them on Debian): CGit2Loader loads the library on first use, on a
        // thread of its own, and pkg-config's -lgit2 would link it.
        .systemLibrary(name: "CGit2", providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(
            name: "CYAML", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]),
        // libcurl's headers only (libcurl4-openssl-dev; pkg-config gives no
        // flags for them on Debian): CCurlLoader loads the library on first
        // use, so it is not linked, and pkg-config's -lcurl would link it.
        .systemLibrary(name: "CCurl"),
        // glibc's <malloc.h>: the controller hands freed heap back between
        // reconciles (Controller/Upkeep.swift).
        .systemLibrary(name: "CMalloc"),

        .target(name: "CGitStream", dependencies: ["CGit2", "CGit2Loader"]),
        .target(name: "CGit2Loader", dependencies: ["CGit2"]),
        .target(name: "Git", dependencies: ["CGit2", "CGit2Loader", "CGitStream"]),
        .target(name: "YAML", dependencies: ["CYAML"]),
        // libcurl is loaded on first use, not when a process starts.
        .target(name: "CCurlLoader", dependencies: ["CCurl"]),
        .target(name: "HTTP", dependencies: ["CCurl", "CCurlLoader"]),

        .target(name: "Manifests", dependencies: ["YAML"]),

        // Child processes with a clean signal mask, in their own process group.
        // glibc's spawn extensions are not visible to Swift's Glibc module.
        .target(name: "CSpawnShim"),
        .target(name: "CThreads"),
        .target(name: "CFiles"),
        .target(name: "Processes", dependencies: ["CSpawnShim"]),
        // The forwarder that owns a Deployment's stable address.
        .target(name: "StableAddress"),

        .target(name: "Source", dependencies: ["Git", "Manifests"]),
        // An S3-compatible bucket over the REST API (SigV4 through libcurl).
        .target(name: "S3", dependencies: ["HTTP", "Manifests", .product(name: "Crypto", package: "swift-crypto")]),
        // Listing and statting directory trees fast, in parallel.
        .target(name: "FileTree", dependencies: ["CThreads", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "Lineage",
            dependencies: [
                "Manifests", "Source", "State", "HTTP", "S3", "FileTree", "CFiles", "Processes",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .target(
            name: "Targets",
            dependencies: [
                "Manifests", "Source", "Lineage", "State", "Processes", "StableAddress", "HTTP", "S3",
            ]),
        .target(name: "Planner", dependencies: ["Manifests", "Lineage", "State", "Targets"]),
        .target(
            name: "Reconciler",
            dependencies: [
                "Git", "Manifests", "Source", "Lineage", "State", "Targets", "Planner", "Processes", "StableAddress",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]),
        .target(name: "Review", dependencies: ["Git", "Manifests", "Source", "Lineage", "State", "Planner", "Reconciler"]),
        .target(name: "Forge", dependencies: ["HTTP"]),
        // OpenTelemetry traces over OTLP/HTTP, behind swift-distributed-tracing's API.
        .target(
            name: "Telemetry",
            dependencies: [
                "HTTP", .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .target(name: "State", dependencies: [.product(name: "GRDB", package: "GRDB.swift")]),
        // The long-running controller: the reconcile loop as a Service, the
        // state it shares with the HTTP server, metrics, notifications, logs.
        .target(
            name: "Controller",
            dependencies: [
                "CMalloc", "Git", "Manifests", "Source", "Lineage", "State", "Targets", "Planner", "Reconciler", "HTTP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]),
        // The HTTP API, webhooks, dashboard and /metrics over the controller.
        // How Gantry's HTTP servers listen: connection limits (and TLS).
        .target(
            name: "Listener",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
            ]),
        .target(
            name: "Server",
            dependencies: [
                "Controller", "Manifests", "Lineage", "State", "Planner", "Reconciler", "Source", "Targets", "YAML", "Listener",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The on-prem node agent (`gantry agent`): the HTTP face of the
        // agent target's node side.
        .target(
            name: "Agent",
            dependencies: [
                "Targets", "Lineage", "Listener",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        .executableTarget(
            name: "gantry",
            dependencies: [
                "Git", "Manifests", "StableAddress", "Source", "State", "Lineage", "FileTree", "Targets", "Planner", "Reconciler", "Review", "Forge",
                "Controller", "Server", "Agent", "Listener", "HTTP", "Telemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),

        // Benchmarks: bench/run drives this in a release build.
        .executableTarget(
            name: "gantry-bench",
            dependencies: [
                "YAML", "Manifests", "Source", "Lineage", "State", "Targets", "Planner", "Reconciler", "Controller", "Server", "HTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ], path: "bench/GantryBench"),

        .testTarget(name: "YAMLTests", dependencies: ["YAML"]),
        .testTarget(name: "ManifestsTests", dependencies: ["GantryTestSupport", "Manifests"]),
        .testTarget(name: "ProcessesTests", dependencies: ["GantryTestSupport", "Processes"]),
        // What the test targets share: helpers, fixtures and the fake
        // driver, never shipped in the gantry binary. StableAddress for its
        // port picker, so the tests' ports come from the same rotation as
        // the forwarder's.
        .target(
            name: "GantryTestSupport", dependencies: ["Processes", "StableAddress", "Manifests", "State", "Targets"],
            path: "Tests/GantryTestSupport"),
        .testTarget(name: "StableAddressTests", dependencies: ["GantryTestSupport", "StableAddress", "gantry"]),
        .testTarget(
            name: "LineageTests",
            dependencies: [
                "GantryTestSupport", "Lineage", "State", "S3", "FileTree", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "GantryTestSupport", "Processes", "HTTP", "State", "StableAddress", "Lineage", "gantry", .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .testTarget(name: "SourceTests", dependencies: ["GantryTestSupport", "Source", "Git", "CGit2", "CGitStream", "Processes", "Manifests"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "GantryTestSupport",
                "Server", "Controller", "Reconciler", "Planner", "Targets", "State", "Source", "Processes", "StableAddress", "HTTP",
                "Lineage", "Manifests", "Git", "YAML", "Listener", "gantry",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "ReconcileTests",
            dependencies: [
                "GantryTestSupport",
                "Reconciler", "Planner", "Targets", "State", "Source", "Processes", "StableAddress", "HTTP", "Review", "Forge", "Git", "Manifests", "Lineage",
                "S3", "gantry",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
    ]
)
