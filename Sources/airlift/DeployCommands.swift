import AirliftClient
import AirliftCore
import ArgumentParser
import Foundation

struct Deploy: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create, follow and steer deployments.",
    subcommands: [
      Create.self, List.self, Show.self, Watch.self, Approve.self, Pause.self, Resume.self, Promote.self, Abort.self,
    ])

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Deploy a release (PKG@VERSION, or PKG:TAG resolved now) to devices, a group or the fleet.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(
      help: ArgumentHelp(
        "PACKAGE@VERSION, or PACKAGE:TAG (the version the tag names now is recorded).", valueName: "release"))
    var releaseArgument: String?
    @Option(name: .customLong("release"), help: "The release, as the argument (either form).")
    var releaseOption: String?
    @Option(help: "Run this update flow: its handler, target, rollout and failure policy; --param gives its values.")
    var flow: String?
    @Option(parsing: .unconditional, help: "With --flow: run this version of it (default: the newest).")
    var flowVersion: Int?
    @Option(name: .customLong("device"), help: "A target device (repeatable).") var devices: [String] = []
    @Option(help: "Target a group; devices added to it while active join.") var group: String?
    @Flag(help: "Target every device, and devices that check in later while it is active.") var all = false
    @Option(name: .customLong("param"), help: "A handler parameter KEY=VALUE (repeatable; overrides the release's).")
    var parameters: [String] = []
    @Option(help: "A name to recognise it by.") var name: String?
    @Option(parsing: .unconditional, help: "At most this many devices get it; it completes there.") var maxDevices: Int?
    @Option(parsing: .unconditional, help: "Seconds a device may take once started before it counts as failed.")
    var deviceTimeout: Int?
    @Option(help: "Start later: an ISO 8601 time (2026-11-24T02:00:00Z) or +SECONDS.") var startAt: String?
    @Flag(help: "Move devices waiting in another deployment to this one (in-progress ones finish first).")
    var supersede = false
    @OptionGroup var rolloutOptions: RolloutOptions
    @Option(help: "With --phases: start with the canaries (first phase) of this earlier deployment.")
    var canariesFrom: String?
    @Option(parsing: .unconditional, help: "Give a device that failed the whole update again, up to this many times.")
    var retries: Int?
    @Option(parsing: .unconditional, help: "Seconds a device may spend downloading (stage timeout) [600].")
    var downloadTimeout: Int?
    @Option(parsing: .unconditional, help: "Seconds a device may spend installing (stage timeout) [600].")
    var installTimeout: Int?
    @Flag(help: "Wait in Scheduled until a second operator runs `airlift deploy approve`.") var needsApproval = false
    @Flag(help: "Install even over a newer version (the release must be signed with --allow-downgrade too).")
    var downgrade = false
    @Flag(
      help:
        "Accept --device ids that have never checked in (devices still being made); without --device-timeout theirs is 30 days."
    )
    var allowUnknownDevices = false
    @Option(help: "A release of the steps handler: its steps, a JSON array of steps (as a flow's 'steps').")
    var steps: String?

    var release: String { releaseArgument ?? releaseOption ?? "" }

    func validate() throws {
      guard (releaseArgument == nil) != (releaseOption == nil) else {
        throw ValidationError("give the release once: PACKAGE@VERSION or PACKAGE:TAG, as the argument or --release")
      }
      if flow != nil {
        let plan = try rolloutOptions.plan()
        let steered =
          plan != nil || steps != nil || maxDevices != nil || deviceTimeout != nil
          || retries != nil || downloadTimeout != nil || installTimeout != nil || canariesFrom != nil || supersede
          || needsApproval || downgrade
        if steered {
          throw ValidationError(
            "with --flow the flow sets the rollout, timeouts and failure policy; give only --param, --name, --start-at and a target of this run (--device, --group or --all)"
          )
        }
        if [all, group != nil, !devices.isEmpty].filter({ $0 }).count > 1 {
          throw ValidationError("give one target for this run: --device ID (repeatable), --group NAME or --all")
        }
        _ = try KeyValues.parse(parameters)
        _ = try startDate()
        _ = try parsedRelease()
        return
      }
      if flowVersion != nil { throw ValidationError("--flow-version goes with --flow") }
      try OptionRange.check("--max-devices", maxDevices, Limits.deviceCount, unit: "devices")
      try OptionRange.check("--device-timeout", deviceTimeout, Limits.deviceTimeout, unit: "seconds")
      try OptionRange.check("--download-timeout", downloadTimeout, Limits.stageTimeout, unit: "seconds")
      try OptionRange.check("--install-timeout", installTimeout, Limits.stageTimeout, unit: "seconds")
      try OptionRange.check("--retries", retries, Limits.retries)
      if let name { try OptionRange.check("--name (bytes)", name.utf8.count, Limits.nameBytes) }
      guard all || group != nil || !devices.isEmpty else {
        throw ValidationError("give --device ID (repeatable), --group NAME or --all (or run a flow with --flow)")
      }
      _ = try KeyValues.parse(parameters)
      _ = try startDate()
      _ = try parsedRelease()
      _ = try rolloutOptions.plan()
    }

    func parsedRelease() throws -> (package: String, version: String?, tag: String?) {
      if release.contains("@") {
        let (package, version) = try ReleaseName.parse(release)
        return (package, version, nil)
      }
      let parts = release.split(separator: ":", maxSplits: 1).map(String.init)
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw ValidationError("give the release as PACKAGE@VERSION or PACKAGE:TAG, got '\(release)'")
      }
      return (parts[0], nil, parts[1])
    }

    func startDate() throws -> Date? {
      guard let startAt else { return nil }
      if startAt.hasPrefix("+") {
        guard let seconds = Int(startAt.dropFirst()), (0...Int(Limits.startAhead)).contains(seconds) else {
          throw ValidationError(
            "--start-at +SECONDS takes 0 to \(Int(Limits.startAhead)) seconds (a year), got '\(startAt)'")
        }
        return Date().addingTimeInterval(Double(seconds))
      }
      guard let date = try? Date(startAt, strategy: .iso8601) else {
        throw ValidationError("--start-at takes an ISO 8601 time or +SECONDS, got '\(startAt)'")
      }
      return date
    }

    func run() async throws {
      let (package, version, tag) = try parsedRelease()
      if let flow {
        let launch = API.LaunchFlow(
          package: package, version: version, tag: tag, parameters: try KeyValues.parse(parameters),
          flowVersion: flowVersion, name: name, startAt: try startDate(),
          target: all || group != nil || !devices.isEmpty
            ? API.FlowTarget(devices: devices.isEmpty ? nil : devices, group: group, allDevices: all) : nil)
        let deployment = try await connection.withClient { try await $0.launchFlow(flow, launch) }
        return report(deployment)
      }
      var request = API.CreateDeployment(
        package: package, version: version, tag: tag,
        target: .init(devices: devices.isEmpty ? nil : devices, group: group, allDevices: all),
        parameters: try KeyValues.parse(parameters), name: name, maxDevices: maxDevices, deviceTimeout: deviceTimeout,
        startAt: try startDate(), supersede: supersede, rollout: try rolloutOptions.plan(), needsApproval: needsApproval
      )
      request.downloadTimeout = downloadTimeout
      request.installTimeout = installTimeout
      request.canariesFrom = canariesFrom
      request.retries = retries
      request.downgrade = downgrade ? true : nil
      request.allowUnknownDevices = allowUnknownDevices ? true : nil
      request.steps = try readSteps()
      report(try await connection.withClient { try await $0.createDeployment(request) })
    }

    /// The `--steps` document, read and decoded here so a mistake is named before the request.
    private func readSteps() throws -> [FlowStep]? {
      guard let steps else { return nil }
      guard let data = FileManager.default.contents(atPath: steps) else {
        throw ValidationError("cannot read the steps document \(steps)")
      }
      do {
        return try JSONDecoder().decode([FlowStep].self, from: data)
      } catch {
        throw ValidationError("\(steps) is not a JSON array of steps: \(error)")
      }
    }

    private func report(_ deployment: API.Deployment) {
      if connection.json { return print(Output.json(deployment)) }
      let via = deployment.tag.map { " (tag \($0))" } ?? ""
      let flow = deployment.flow.map { " by flow \($0)" } ?? ""
      print(
        "created deployment \(deployment.id): \(deployment.release)\(via)\(flow) to \(deployment.devices.count) device(s), \(deployment.status.rawValue)"
      )
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List deployments, newest first.")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let deployments = try await connection.withClient { try await $0.deployments() }
      if connection.json { return print(Output.json(deployments)) }
      print(
        Output.table(
          ["ID", "NAME", "RELEASE", "STATUS", "DEVICES", "DONE", "FAILED", "CREATED"],
          deployments.map {
            let counts = $0.counts
            return [
              $0.id, $0.name ?? "", $0.release.description, $0.status.rawValue, "\($0.devices.count)",
              "\(counts[.successful, default: 0])", "\(counts[.failed, default: 0] + counts[.rolledBack, default: 0])",
              Output.date($0.createdAt),
            ]
          }))
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a deployment with each device's state.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Deployment id.") var id: String
    @Flag(help: "Refresh until every device has finished; exit 1 if any failed.") var watch = false
    @Option(help: "With --watch: give up after this many seconds.") var timeout: Double = 600

    func validate() throws { try OptionRange.check("--timeout", timeout, 1...2_592_000, unit: "seconds") }

    func run() async throws {
      if watch {
        var follow = try Watch.parse([id, "--timeout", "\(timeout)"])
        follow.connection = connection
        follow.table = true
        return try await follow.run()
      }
      let deployment = try await connection.withClient { try await $0.deployment(id) }
      print(connection.json ? Output.json(deployment) : Self.render(deployment))
    }

    static func render(_ deployment: API.Deployment) -> String {
      let counts = deployment.counts.sorted { $0.key.rawValue < $1.key.rawValue }
        .map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
      var header = "deployment \(deployment.id)  \(deployment.release)"
      if let tag = deployment.tag { header += " (tag \(tag))" }
      header += "  \(deployment.status.rawValue)  [\(counts)]"
      if let reason = deployment.reason { header += "\nreason: \(reason)" }
      if let flow = deployment.flow {
        let values = deployment.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        header += "\nflow \(flow)" + (values.isEmpty ? "" : " with \(values.joined(separator: " "))")
      }
      for (number, step) in (deployment.steps ?? []).enumerated() { header += "\nstep \(number + 1): \(step.summary)" }
      if let pruned = deployment.eventsPrunedAt {
        header += "\nstep-by-step reports dropped \(Output.date(pruned)) (statusRetention); final states kept"
      }
      if let parent = deployment.linkedTo { header += "\nrollback of \(parent)" }
      if !deployment.rolledBackBy.isEmpty {
        header += "\nrolled back by \(deployment.rolledBackBy.joined(separator: ", "))"
      }
      if deployment.needsApproval {
        header +=
          deployment.approvedBy.map { "\napproved by \($0)" }
          ?? "\nwaiting for approval by an operator other than \(deployment.createdBy ?? "its creator")"
      }
      if let rollout = deployment.rollout {
        let started = deployment.devices.filter(\.started).count
        header +=
          "\nrollout: phase \(rollout.phase) of \(rollout.plan.phases.count) ("
          + rollout.plan.phases.map(\.description).joined(separator: ",") + "), \(started) of "
          + "\(deployment.devices.count) devices started"
        if let note = rollout.note { header += "\n  \(note)" }
      }
      if let transfer = TransferBytes.sum(deployment.devices.map(\.transfer)) {
        header += "\ndownload: " + transfer.summary
      }
      // Failures first: they are what an operator acts on.
      let rows = deployment.devices.sorted {
        rank($0.state) < rank($1.state) || (rank($0.state) == rank($1.state) && $0.device < $1.device)
      }
      .map {
        [
          $0.device,
          !$0.started
            ? "Waiting (phase)"
            : $0.nextAttempt.map { "Retrying (next \(Output.date($0)))" } ?? $0.state.rawValue,
          $0.percent.map { "\($0)%" } ?? "-",
          "\($0.attempts)", $0.transfer.map { "\(Output.bytes($0.fetched)) of \(Output.bytes($0.total))" } ?? "-",
          $0.error ?? "",
        ]
      }
      return header + "\n"
        + Output.table(["DEVICE", "STATE", "PROGRESS", "ATTEMPTS", "FETCHED", "ERROR"], rows)
    }

    private static func rank(_ state: DeviceState) -> Int {
      switch state {
      case .failed, .rolledBack: return 0
      case .successful: return 2
      default: return 1
      }
    }
  }

  struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Follow a deployment live until it ends; exit 0 if every device succeeded, 1 otherwise.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Deployment id.") var id: String
    @Option(help: "Give up (exit 2) after this many seconds.") var timeout: Double = 3600
    @Flag(help: "Print the device table on every change instead of progress bars.") var table = false

    func validate() throws { try OptionRange.check("--timeout", timeout, 1...2_592_000, unit: "seconds") }

    func run() async throws {
      let started = Date()
      let outcome = try await connection.withClient { client -> Bool in
        var last = ""
        while true {
          let deployment = try await client.deployment(id)
          let finished =
            deployment.isFinished
            || (deployment.status != .scheduled && !deployment.devices.isEmpty
              && deployment.devices.allSatisfy(\.state.isTerminal))
          if connection.json {
            let text = Output.json(deployment)
            if text != last { print(text) }
            last = text
          } else if table || !ProgressBar.isTerminal {
            let text = Show.render(deployment)
            if text != last { print(text + "\n") }
            last = text
          } else {
            Self.drawBars(deployment)
          }
          if finished {
            if !table && !connection.json && ProgressBar.isTerminal { print("\n" + Show.render(deployment)) }
            return deployment.status != .aborted
              && deployment.devices.allSatisfy { $0.state == .successful }
          }
          guard Date().timeIntervalSince(started) < timeout else {
            throw CommandFailure(message: "deployment \(id) did not finish within \(Int(timeout)) s", exitCode: 2)
          }
          try await Task.sleep(for: .seconds(1))
        }
      }
      if !outcome { throw ExitCode(1) }
    }

    static func drawBars(_ deployment: API.Deployment) {
      let total = Double(max(deployment.devices.count, 1))
      let counts = deployment.counts
      let done = Double(counts.filter { $0.key.isTerminal }.values.reduce(0, +))
      let stages = DeviceState.allCases.compactMap { state in counts[state].map { "\(state.rawValue) \($0)" } }
      ProgressBar.draw(
        label: "\(deployment.id) \(deployment.status.rawValue)", done: done, total: total,
        suffix: stages.joined(separator: " · "))
    }
  }

  struct Pause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Pause: devices that have not started wait; devices in progress finish.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Deployment id.") var id: String
    @Option(help: "Why, for the record.") var reason: String?

    func run() async throws { try await DeploymentChange.pause.run(connection, id: id, reason: reason) }
  }

  struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Approve a deployment created with --needs-approval (by another operator than its creator).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Deployment id.") var id: String

    func run() async throws { try await DeploymentChange.approve.run(connection, id: id) }
  }

  struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Start the next phase of a phased rollout now (past its threshold, soak time or manual gate).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Deployment id.") var id: String

    func run() async throws { try await DeploymentChange.promote.run(connection, id: id) }
  }

  struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resume a paused deployment.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Deployment id.") var id: String

    func run() async throws { try await DeploymentChange.resume.run(connection, id: id) }
  }

  struct Abort: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Abort: devices that have not started never will; devices in progress finish and report.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Deployment id.") var id: String
    @Option(help: "Why, for the record.") var reason: String?

    func run() async throws { try await DeploymentChange.abort.run(connection, id: id, reason: reason) }
  }
}

/// The one shape of pause, resume, approve, promote and abort: one request, the deployment back, a line (or
/// its JSON).
enum DeploymentChange: String {
  case pause, resume, approve, promote, abort

  func run(_ connection: ConnectionOptions, id: String, reason: String? = nil) async throws {
    let deployment = try await connection.withClient {
      try await $0.changeDeployment(id, action: rawValue, reason: reason)
    }
    print(connection.json ? Output.json(deployment) : summary(deployment))
  }

  func summary(_ deployment: API.Deployment) -> String {
    switch self {
    case .approve:
      return "\(deployment.id) approved by \(deployment.approvedBy ?? "?"): \(deployment.status.rawValue)"
    case .promote:
      let phase = deployment.rollout.map { " phase \($0.phase) of \($0.plan.phases.count)" } ?? ""
      return "\(deployment.id) \(deployment.status.rawValue)\(phase)"
    case .pause, .resume, .abort:
      return "\(deployment.id) \(deployment.status.rawValue)"
    }
  }
}
