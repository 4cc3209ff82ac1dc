// swift-tools-version: 6.0
// The libFuzzer target over the YAML -> manifest decoder and validator. A
// package of its own, so the main build never links it (libFuzzer brings its
// own main). Build and run it with scripts/fuzz.
import PackageDescription

let package = Package(
    name: "gantry-fuzz",
    dependencies: [
        .package(name: "gantry", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "ManifestFuzzer",
            dependencies: [
                .product(name: "GantryManifests", package: "gantry")
            ], path: "ManifestFuzzer")
    ]
)
