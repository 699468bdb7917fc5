import AirliftCore
import Foundation
import Testing

@testable import AirliftController

@Suite("Backups of the store: taken beside a working controller, restored to that moment")
struct StoreBackupTests {
  @Test(
    "a backup restores to the moment it was taken, into an empty store or with replace into a used one; a used store, an existing file and the wrong kind are refused",
    arguments: StoreKind.allCases)
  func roundTrip(kind: StoreKind) async throws {
    let location = try await kind.newLocation()
    let store = try ControllerStore(location: location)
    let id = try await StoreTests.seed(store, devices: ["bk-1", "bk-2"])
    _ = try await store.createRepository(.init(name: "acme"), by: "test")
    let file =
      NSTemporaryDirectory() + "airlift-backup-\(UUID().uuidString.prefix(8)).\(kind == .sqlite ? "sqlite" : "dump")"
    defer { try? FileManager.default.removeItem(atPath: file) }
    try await StoreBackup.backup(location: location, to: file)
    await #expect { try await StoreBackup.backup(location: location, to: file) } throws: {
      "\($0)".contains("exists already")
    }
    // Written after the backup: a restore takes it away.
    try await store.recordCheckIn(
      CheckIn(device: DeviceID("bk-late"), attributes: [:], installed: [:], agentVersion: "test", follows: nil))

    let target = try await kind.newLocation()
    let counts = try await StoreBackup.restore(from: file, to: target, replace: false)
    #expect(counts.first { $0.0 == "device" }?.1 == 2)
    let restored = try ControllerStore(location: target)
    #expect(try await restored.devices().map(\.id) == ["bk-1", "bk-2"])
    #expect(try await restored.deployment(id: id)?.devices.count == 2)
    #expect(try await restored.repositories().map(\.name) == ["acme", "default"])

    await #expect { _ = try await StoreBackup.restore(from: file, to: location, replace: false) } throws: {
      "\($0)".contains("is not empty")
    }
    _ = try await StoreBackup.restore(from: file, to: location, replace: true)
    #expect(try await ControllerStore(location: location).devices().map(\.id) == ["bk-1", "bk-2"])

    let other = try await (kind == .sqlite ? StoreKind.postgres : .sqlite).newLocation()
    await #expect { _ = try await StoreBackup.restore(from: file, to: other, replace: false) } throws: {
      "\($0)".contains("is not a backup of the kind")
    }
  }
}
