import AirliftCore
import Foundation
import Testing

@testable import AirliftAgent

/// The update worker's waits, retries and deadlines on a manual clock: each
/// test moves time itself, so none waits for it or races the machine.
@Suite("The update worker's time: retries, deadlines, windows, consent", .timeLimit(.minutes(1)))
struct UpdateWorkerTimeTests {
  @Test("a failing download is retried after backoff delays that double, then the update installs")
  func retries() async throws {
    let rig = try WorkerRig(.init(downloadFailures: 3))
    let events = rig.events.updates()
    rig.start().submit(try rig.notice())
    // retryBaseDelay 5, doubling from the second attempt, jitter at the top of its range: 10, 20, 40 s.
    for delay in [10, 20, 40] {
      _ = await events.first { $0.state == .retrying }
      #expect(await rig.sleeps() == [.seconds(delay)])
      rig.clock.advance(by: .seconds(delay))
    }
    _ = await events.first { $0.state == .successful }
    #expect(rig.clock.now.offset == .seconds(70))
    #expect(rig.handler.calls == ["prefetch", "prefetch", "prefetch", "prefetch", "install", "verify", "commit"])
    #expect(
      try rig.reportedStates() == [
        .pending, .downloading, .retrying, .downloading, .retrying, .downloading, .retrying, .downloading,
        .downloaded, .installing, .verifying, .successful,
      ])
    let retries = try rig.queuedReports().filter { $0.state == .retrying }
    #expect(retries.map(\.attempt) == [2, 3, 4])
    #expect(retries.allSatisfy { $0.error?.contains("connection reset") == true })
    #expect(try rig.stored()?.phase == .successful)
    #expect(try rig.store.installed()["app"] == "1.0.0")
  }

  @Test("retries stop when the next wait would pass the download's deadline, and the update fails saying so")
  func retriesEndAtTheDeadline() async throws {
    let rig = try WorkerRig(.init(downloadFailures: 100))
    let events = rig.events.updates()
    rig.start().submit(try rig.notice(timeouts: .init(download: 60, install: 600)))
    // Waits of 10 and 20 s fit in 60 s; the next, 40 s, would end at 70 s.
    for delay in [10, 20] {
      _ = await events.first { $0.state == .retrying }
      #expect(await rig.sleeps() == [.seconds(delay)])
      rig.clock.advance(by: .seconds(delay))
    }
    let failed = await events.first { $0.state == .failed }
    #expect(rig.clock.now.offset == .seconds(30))
    #expect(rig.handler.calls == ["prefetch", "prefetch", "prefetch"])
    #expect(failed?.error?.contains("60 s") == true, "\(failed?.error ?? "no error")")
    #expect(!rig.handler.calls.contains("install"))
    #expect(try rig.stored()?.phase == .failed)
    #expect(try rig.store.installed()["app"] == nil)
  }

  @Test("attempts run out at maxAttempts: the update fails with the last error")
  func attemptsRunOut() async throws {
    let rig = try WorkerRig(.init(downloadFailures: 100)) { $0.maxAttempts = 3 }
    let events = rig.events.updates()
    rig.start().submit(try rig.notice())
    for _ in 0..<2 {
      _ = await events.first { $0.state == .retrying }
      await rig.passNextWait()
    }
    let failed = await events.first { $0.state == .failed }
    #expect(rig.handler.calls == ["prefetch", "prefetch", "prefetch"])
    #expect(failed?.error?.contains("gave up after 3 attempts") == true, "\(failed?.error ?? "no error")")
  }

  @Test("a download that never ends fails at the deployment's download timeout, and nothing is installed")
  func downloadTimeout() async throws {
    let rig = try WorkerRig(.init(download: .hang))
    let events = rig.events.updates()
    rig.start().submit(try rig.notice(timeouts: .init(download: 120, install: 600)))
    await rig.handler.waitFor("prefetch")
    #expect(await rig.sleeps() == [.seconds(120)])
    rig.clock.advance(by: .seconds(119))
    #expect(try rig.stored()?.phase == .downloading)
    rig.clock.advance(by: .seconds(1))
    let failed = await events.first { $0.state == .failed }
    #expect(failed?.error?.contains("120 s") == true, "\(failed?.error ?? "no error")")
    #expect(rig.handler.calls == ["prefetch"])
    #expect(try rig.store.installed()["app"] == nil)
  }

  @Test("an install that never ends is abandoned at the install timeout and rolled back")
  func installTimeout() async throws {
    let rig = try WorkerRig(.init(install: .hang))
    let events = rig.events.updates()
    rig.start().submit(try rig.notice(timeouts: .init(download: 600, install: 300)))
    await rig.handler.waitFor("install")
    #expect(await rig.sleeps() == [.seconds(300)])
    rig.clock.advance(by: .seconds(300))
    let rolledBack = await rig.end(events)
    #expect(rolledBack?.error?.contains("300 s") == true, "\(rolledBack?.error ?? "no error")")
    #expect(rig.handler.calls == ["prefetch", "install", "rollback"])
    #expect(try rig.reportedStates().suffix(3) == [.installing, .failed, .rolledBack])
    #expect(try rig.store.installed()["app"] == nil)
  }

  @Test("outside the schedule window the download waits, says until when, and starts when the window opens")
  func scheduleWindow() async throws {
    // The rig's clock starts at 12:00 UTC; the window opens at 22:00.
    let rig = try WorkerRig {
      $0.schedule = try! UpdateWindow("* 22-23 * * *")
      $0.timeZone = "UTC"
    }
    let events = rig.events.updates()
    rig.start().submit(try rig.notice())
    let waiting = await events.first { $0.stage?.contains("schedule window") == true }
    #expect(waiting?.stage?.contains("22:00") == true, "\(waiting?.stage ?? "")")
    #expect(rig.handler.calls.isEmpty)
    await rig.clock.waitForSleepers(within: .seconds(1))
    rig.clock.advance(by: .seconds(9 * 3600 + 59 * 60))
    await rig.clock.waitForSleepers(within: .seconds(1))
    #expect(rig.handler.calls.isEmpty, "21:59: still closed")
    rig.clock.advance(by: .seconds(60))
    _ = await events.first { $0.state == .successful }
    #expect(rig.handler.calls.first == "prefetch")
  }

  @Test("with consent required, a downloaded update waits ready until consent is given, then installs")
  func consent() async throws {
    let rig = try WorkerRig { $0.consent = true }
    let events = rig.events.updates()
    let worker = rig.start()
    worker.submit(try rig.notice())
    let ready = await events.first { $0.event == "ready" }
    #expect(ready?.state == .downloaded)
    // An hour passes: nothing installs without consent.
    for _ in 0..<6 {
      await rig.clock.waitForSleepers(within: .seconds(1))
      rig.clock.advance(by: .seconds(600))
    }
    await rig.clock.waitForSleepers(within: .seconds(1))
    #expect(!rig.handler.calls.contains("install"))
    #expect(try rig.stored()?.phase == .downloaded)
    #expect(worker.consent.grant() == "d-1")
    rig.clock.advance(by: .seconds(1))
    _ = await events.first { $0.state == .successful }
    #expect(rig.handler.calls.contains("install"))
  }

  @Test(
    "a failing precondition is run again only every recheckInterval, then lets the install go on",
    // It runs a real command, bounded by LocalCommand's own (real-time) timeout of 60 s.
    .timeLimit(.minutes(3)))
  func preconditionRecheck() async throws {
    let flag = FileManager.default.temporaryDirectory.appendingPathComponent("airlift-ok-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: flag) }
    let rig = try WorkerRig {
      // The agent appends the step ("download", "install") as the last argument.
      $0.preconditionCommand = ["/bin/sh", "-c", "test -e \"$0\"", flag]
      $0.recheckInterval = 5
    }
    let events = rig.events.updates()
    rig.start().submit(try rig.notice())
    let waiting = await events.first { $0.stage?.contains("precondition for download not met") == true }
    #expect(waiting != nil)
    FileManager.default.createFile(atPath: flag, contents: nil)
    // Polled every second, but the command runs again only once 5 s have passed.
    for _ in 0..<4 {
      await rig.clock.waitForSleepers(within: .seconds(1))
      rig.clock.advance(by: .seconds(1))
    }
    await rig.clock.waitForSleepers(within: .seconds(1))
    #expect(rig.handler.calls.isEmpty)
    rig.clock.advance(by: .seconds(1))
    // Successful, or (a failure to say) the precondition's next different answer.
    let outcome = await events.first { $0.state == .successful || ($0.stage ?? "").contains("precondition") }
    #expect(outcome?.state == .successful, "\(outcome?.stage ?? "no event")")
    #expect(rig.handler.calls.first == "prefetch")
  }

  @Test("a release whose signed manifest has expired by the device's clock is refused before any download")
  func expiry() async throws {
    let rig = try WorkerRig()
    let events = rig.events.updates()
    let notice = try rig.notice(expires: WorkerRig.start.addingTimeInterval(3600))
    rig.clock.advance(by: .seconds(2 * 3600))
    rig.start().submit(notice)
    let failed = await events.first { $0.state == .failed }
    #expect(failed?.error?.contains("expired") == true, "\(failed?.error ?? "no error")")
    #expect(rig.handler.calls.isEmpty)
  }
}
