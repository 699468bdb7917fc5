// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
  name: "airlift",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "airlift", targets: ["airlift"]),
    .executable(name: "airlift-agent", targets: ["airlift-agent"]),
    .executable(name: "airlift-sim", targets: ["airlift-sim"]),
  ],
  dependencies: [
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
    .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
  ],
  targets: [
    // C libraries, each wrapped once by the Swift module right above it.
    .systemLibrary(name: "CPaho", path: "Sources/CPaho"),
    .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
    .systemLibrary(name: "CZstd", path: "Sources/CZstd"),

    // Wire messages, topics, SemVer, states: pure, no I/O.
    .target(name: "AirliftCore", swiftSettings: strict),
    // The one libcrypto wrapper: SHA-256, certificate identity, Ed25519 release signatures.
    .target(name: "AirliftCrypto", dependencies: ["COpenSSL", "AirliftCore"], swiftSettings: strict),
    // The one libzstd wrapper: the compressed chunk packs of delta updates.
    .target(name: "AirliftCompression", dependencies: ["CZstd"], swiftSettings: strict),
    // The one Paho wrapper: an async MQTT client.
    .target(
      name: "AirliftMQTT",
      dependencies: ["CPaho", "AirliftCore", .product(name: "Logging", package: "swift-log")],
      swiftSettings: strict),
    // Log output for the executables: text or one JSON object per line.
    .target(
      name: "AirliftLogging",
      dependencies: [
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strict),
    .target(
      name: "AirliftController",
      dependencies: [
        "AirliftCore", "AirliftCrypto", "AirliftMQTT", "AirliftCompression",
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOFoundationCompat", package: "swift-nio"),
        .product(name: "_NIOFileSystem", package: "swift-nio"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdTLS", package: "hummingbird"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        .product(name: "Mustache", package: "swift-mustache"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ],
      swiftSettings: strict),
    .target(
      name: "AirliftAgent",
      dependencies: [
        "AirliftCore", "AirliftCrypto", "AirliftMQTT", "AirliftCompression",
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Subprocess", package: "swift-subprocess"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "SystemPackage", package: "swift-system"),
      ],
      swiftSettings: strict),
    // Operator-side HTTPS client used by the CLI (and tests).
    .target(
      name: "AirliftClient",
      dependencies: [
        "AirliftCore", "AirliftCrypto",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
      ],
      swiftSettings: strict),
    .executableTarget(
      name: "airlift",
      dependencies: [
        "AirliftController", "AirliftClient", "AirliftCore", "AirliftCrypto", "AirliftLogging",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strict),
    .executableTarget(
      name: "airlift-sim",
      dependencies: [
        "AirliftMQTT", "AirliftCore", "AirliftCrypto",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strict),
    .executableTarget(
      name: "airlift-agent",
      dependencies: [
        "AirliftAgent", "AirliftCore", "AirliftLogging",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strict),
    // What the test targets share: a clock that moves only when a test says so.
    .target(name: "AirliftTesting", path: "Tests/AirliftTesting", swiftSettings: strict),
    .testTarget(
      name: "AirliftCoreTests",
      dependencies: [
        "AirliftCore", "AirliftCrypto", "AirliftLogging", "AirliftTesting", "AirliftCompression",
        .product(name: "PropertyBased", package: "swift-property-based"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strict),
    // The update worker driven by a test handler on a manual clock: what is about time, in milliseconds.
    .testTarget(
      name: "AirliftAgentTests",
      dependencies: [
        "AirliftAgent", "AirliftCore", "AirliftCrypto", "AirliftTesting",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strict),
    .testTarget(
      name: "AirliftIntegrationTests",
      dependencies: [
        "AirliftController", "AirliftAgent", "AirliftClient", "AirliftMQTT", "AirliftCrypto",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strict),
  ]
)
