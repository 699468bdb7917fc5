import AirliftCore
import Foundation
import Testing

@testable import AirliftController

@Suite("Repositories in the store: what was there before moves into the default repository")
struct StoreRepositoryTests {
  @Test(
    "a database at v32 migrates: its packages are the default repository's, deployed or tagged versions are sealed, the others drafts",
    arguments: StoreKind.allCases)
  func migratesIntoTheDefaultRepository(kind: StoreKind) async throws {
    let location = try await kind.newLocation()
    let old = try ControllerStore.openDatabase(location)
    try old.migrate(kind == .sqlite ? SQLiteSchema.steps : PostgresSchema.steps)
    let blob = String(repeating: "cd", count: 32)
    let created = Date(timeIntervalSince1970: 1_700_000_000)
    try await old.write { db in
      try db.execute(sql: "INSERT INTO blob (sha256, size, created_at) VALUES (?, 4, ?)", arguments: [blob, created])
      for (id, package, version) in [
        (1, "app", "1.0.0"), (2, "app", "1.1.0"), (3, "tool", "2.0.0"), (4, "app", "1.2.0"),
      ] {
        try db.execute(
          sql: "INSERT INTO release (id, package, version, handler, created_at) VALUES (?, ?, ?, 'script', ?)",
          arguments: [id, package, version, created])
        try db.execute(
          sql: "INSERT INTO release_asset (release_id, name, sha256) VALUES (?, 'a.tar', ?)", arguments: [id, blob])
      }
      try db.execute(
        sql: "INSERT INTO deployment (id, release_id, status, created_at) VALUES ('dep-old', 1, 'completed', ?)",
        arguments: [created])
      try db.execute(
        sql: "INSERT INTO tag (package, name, version, locked, updated_at) VALUES ('tool', 'stable', '2.0.0', 0, ?)",
        arguments: [created])
    }

    let store = try ControllerStore(location: location)
    let repositories = try await store.repositories()
    #expect(repositories.map(\.name) == ["default"])
    #expect(repositories.first?.packages == ["app", "tool"] && repositories.first?.releases == 4)
    let sealed = try await store.releases().map { "\($0.package)@\($0.version)=\($0.sealedAt != nil)" }
    #expect(sealed == ["app@1.2.0=false", "app@1.1.0=false", "app@1.0.0=true", "tool@2.0.0=true"])
    #expect(try await store.release(ReleaseRef(package: "app", version: "1.0.0"))?.sealedAt == created)

    // A draft takes another asset; a sealed version refuses it and says why.
    let added = try await store.addAsset(
      ReleaseRef(package: "app", version: "1.1.0"), API.AddAsset(name: "b.tar", sha256: blob))
    #expect(added.assets.map(\.name) == ["a.tar", "b.tar"])
    await #expect {
      _ = try await store.addAsset(
        ReleaseRef(package: "app", version: "1.0.0"), API.AddAsset(name: "b.tar", sha256: blob))
    } throws: { ($0 as? RepositoryError).map { "\($0)".contains("sealed at") } ?? false }

    // Migrating again changes nothing (the step is recorded once).
    let again = try ControllerStore(location: location)
    #expect(try await again.repositories().count == 1)
  }
}
