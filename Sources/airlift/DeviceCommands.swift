import AirliftCore
import ArgumentParser
import Foundation

struct Device: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "See the fleet: what runs where.",
    subcommands: [List.self, Show.self, SetProperties.self, Events.self, Repos.self, Rollback.self, Revoke.self])

  struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Revoke a device's certificates: the broker refuses it from now on, the controller too.",
      discussion: """
        Every certificate of the device the controller has seen (and CERTS/devices/ID.crt) goes on the \
        revocation list the broker checks (CERTS/crl.pem, reloaded by Broker/run within seconds); its open \
        session is closed and whatever it still sends is ignored. A device that should come back needs a new \
        certificate.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Device id.") var id: String
    @Option(help: "Why (recorded).") var reason: String?

    func run() async throws {
      let revocation = try await connection.withClient { try await $0.revokeDevice(id, reason: reason) }
      if connection.json { return print(Output.json(revocation)) }
      print(
        "revoked \(revocation.device): certificate serial(s) \(revocation.serials.joined(separator: ", ")) "
          + "on \(revocation.crlFile)")
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "List devices, filtered by group, installed app and version, attributes, presence.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Only members of this group.") var group: String?
    @Option(help: "Only devices with this app (package) installed.") var app: String?
    @Option(help: "With --app: a version filter such as '<2.0.0' or '>=1.2.0 <2.0.0'.") var version: String?
    @Option(name: .customLong("attr"), help: "An attribute KEY=VALUE (repeatable).") var attributes: [String] = []
    @Option(name: .customLong("where"), help: "A policy expression the devices must match (see the README).")
    var expression: String?
    @Flag(help: "Only online devices.") var online = false
    @Flag(help: "Only offline devices.") var offline = false

    func validate() throws {
      if version != nil && app == nil { throw ValidationError("--version needs --app PACKAGE") }
      if let version {
        do { _ = try VersionRequirement(version) } catch { throw ValidationError(error.description) }
      }
      if online && offline { throw ValidationError("--online and --offline exclude each other") }
      _ = try KeyValues.parse(attributes)
    }

    func run() async throws {
      let devices = try await connection.withClient {
        try await $0.devices(
          group: group, app: app, version: version, attributes: attributes,
          online: online ? true : (offline ? false : nil), matching: expression)
      }
      if connection.json { return print(Output.json(devices)) }
      print(
        Output.table(
          [
            "DEVICE", "PRESENCE", "TRANSPORT", "COMPATIBLE", "INSTALLED", "ATTRIBUTES", "AGENT", "LAST SEEN",
            "NEXT CHECK-IN", "CERT EXPIRES",
          ],
          devices.map {
            [
              $0.id, $0.revokedAt != nil ? "revoked" : $0.online ? "online" : "offline",
              $0.transport?.rawValue ?? "-", $0.compatible ?? "-",
              $0.installed.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: ","),
              $0.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
              $0.agentVersion ?? "-", Output.date($0.lastSeen), $0.nextCheckIn.map(Output.date) ?? "-",
              $0.certificateExpires.map(Output.date) ?? "-",
            ]
          }))
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A device's record and its deployment history.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Device id.") var id: String

    func run() async throws {
      let detail = try await connection.withClient { try await $0.device(id) }
      if connection.json { return print(Output.json(detail)) }
      let device = detail.device
      print(
        "device \(device.id)  \(device.online ? "online" : "offline")  agent \(device.agentVersion ?? "-")"
          + "  transport \(device.transport?.rawValue ?? "-")" + "  compatible \(device.compatible ?? "-")"
          + "  repositories \(device.repositories?.joined(separator: ",") ?? "all")"
          + (device.nextCheckIn.map { "  next check-in by \(Output.date($0))" } ?? ""))
      if let revoked = device.revokedAt { print("REVOKED at \(Output.date(revoked)): the broker refuses it") }
      for problem in device.problems ?? [] { print("PROBLEM: \(problem)") }
      print(
        "first seen \(Output.date(device.firstSeen))  last seen \(Output.date(device.lastSeen))"
          + "  certificate expires \(device.certificateExpires.map(Output.date) ?? "-")")
      print("groups: \(detail.groups.isEmpty ? "-" : detail.groups.joined(separator: ", "))")
      for (key, value) in device.attributes.sorted(by: { $0.key < $1.key }) { print("  \(key) = \(value)") }
      print(
        "installed: "
          + device.installed.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: ", "))
      if let channels = device.channels {
        print("follows: " + channels.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ", "))
      }
      if let properties = detail.properties { print(Device.SetProperties.render(properties)) }
      if let apps = device.apps, !apps.isEmpty {
        print(
          Output.table(
            ["APP", "VERSION", "STATE", "REASON"],
            apps.map { [$0.name, $0.version, $0.state.rawValue, $0.reason ?? ""] }))
      }
      print(
        Output.table(
          ["DEPLOYMENT", "RELEASE", "STATE", "ATTEMPTS", "UPDATED", "ERROR"],
          detail.history.map {
            [
              $0.deployment, $0.release.description, $0.state.rawValue, "\($0.attempts)", Output.date($0.updatedAt),
              $0.error ?? "",
            ]
          }))
    }
  }
}

extension Device {
  struct Rollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Switch a device's package back to the version it ran before (directory and ab-slot handlers).",
      discussion: """
        No download: the device switches back to the version it kept, reports the deployment that installed \
        the current one as RolledBack, and answers. Waits for the answer unless --no-wait; an offline device \
        gets the command when it reconnects.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Device id.") var id: String
    @Option(help: "The package to roll back (default: the device's only installed package).") var package: String?
    @Option(help: "Why, recorded with the rollback.") var reason: String?
    @Flag(help: "Return once the command is sent.") var noWait = false
    @Option(help: "Seconds to wait for the device's answer.") var timeout: Double = 120

    func validate() throws { try OptionRange.check("--timeout", timeout, 1...86_400, unit: "seconds") }

    func run() async throws {
      let command = try await connection.withClient { client in
        var package = self.package
        if package == nil {
          let installed = try await client.device(id).device.installed
          guard installed.count == 1, let only = installed.keys.first else {
            throw ValidationError(
              "device \(id) runs \(installed.isEmpty ? "no package" : installed.keys.sorted().joined(separator: ", ")); name one with --package"
            )
          }
          package = only
        }
        var command = try await client.rollBack(device: id, package: package!, reason: reason)
        if noWait { return command }
        let deadline = Date().addingTimeInterval(timeout)
        while command.status == .sent, Date() < deadline {
          try await Task.sleep(for: .milliseconds(500))
          command = try await client.command(device: id, id: command.id)
        }
        return command
      }
      if connection.json { return print(Output.json(command)) }
      switch command.status {
      case .sent:
        print("sent \(command.id): \(id) has not answered yet (`airlift device show \(id)` shows when it did)")
        if !noWait { throw ExitCode(2) }
      case .succeeded: print("\(id): \(command.message ?? "rolled back")")
      case .failed:
        print("error: \(id) refused the rollback: \(command.message ?? "no reason given")")
        throw ExitCode(1)
      }
    }
  }
}

struct Group: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Groups of devices: static, or dynamic by expression; with maintenance windows.",
    subcommands: [Create.self, Add.self, Remove.self, List.self, SetProperties.self, Window.self, Delete.self])

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create a group: empty (add devices by hand), or dynamic with --where.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Group name.") var name: String
    @Option(
      name: .customLong("where"),
      help: "A policy expression; members are the devices that match, re-checked at every check-in.")
    var expression: String?

    func validate() throws {
      if let expression {
        do { _ = try PolicyExpression(expression) } catch { throw ValidationError("\(error)\n\(error.pointer)") }
      }
    }

    func run() async throws {
      let group = try await connection.withClient { try await $0.createGroup(name, expression: expression) }
      if connection.json { return print(Output.json(group)) }
      print(
        "created group \(group.name)"
          + (group.expression.map { " (dynamic: \($0)), \(group.devices.count) device(s) match now" } ?? ""))
    }
  }

  struct Add: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Add devices to a group (they join its active deployments).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Group name.") var name: String
    @Argument(help: "Device ids.") var devices: [String]

    func run() async throws {
      let group = try await connection.withClient { try await $0.addToGroup(name, devices: devices) }
      if connection.json { return print(Output.json(group)) }
      print("\(group.name): \(group.devices.count) device(s)")
    }
  }

  struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove devices from a group.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Group name.") var name: String
    @Argument(help: "Device ids.") var devices: [String]

    func run() async throws {
      let group = try await connection.withClient { client in
        var last: API.Group?
        for device in devices { last = try await client.removeFromGroup(name, device: device) }
        return last
      }
      if connection.json { return print(Output.json(group)) }
      print("\(name): \(group?.devices.count ?? 0) device(s)")
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List groups and their members.")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let groups = try await connection.withClient { try await $0.groups() }
      if connection.json { return print(Output.json(groups)) }
      print(
        Output.table(
          ["GROUP", "DEVICES", "MEMBERS", "WHERE"],
          groups.map {
            [$0.name, "\($0.devices.count)", $0.devices.prefix(8).joined(separator: ","), $0.expression ?? "(static)"]
          }))
    }
  }

  struct Window: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Set a group's maintenance window: outside it, its devices are not started (those updating finish).",
      discussion: "The window uses the agent's cron subset (README), e.g. '* 1-4 * * *' for 01:00-04:59.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Group name.") var name: String
    @Argument(help: "The window, e.g. '* 1-4 * * mon-fri'.") var window: String?
    @Option(help: "IANA time zone the window is read in [UTC].") var timeZone: String?
    @Flag(help: "Remove the window.") var clear = false

    func validate() throws {
      guard clear != (window != nil) else { throw ValidationError("give a window, or --clear") }
      if let window {
        do { _ = try UpdateWindow(window) } catch { throw ValidationError("\(error)\n\(error.pointer)") }
      }
    }

    func run() async throws {
      let group = try await connection.withClient {
        try await $0.setGroupWindow(name, window: clear ? nil : window, timeZone: timeZone)
      }
      if connection.json { return print(Output.json(group)) }
      print(
        "group \(group.name): " + (group.window.map { "window '\($0)' (\(group.timeZone ?? "UTC"))" } ?? "no window"))
    }
  }

  struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a group (its devices stay).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Group name.") var name: String

    func run() async throws {
      try await connection.withClient { try await $0.deleteGroup(name) }
      if connection.json { return print(Output.json(["deleted": name])) }
      print("deleted group \(name)")
    }
  }
}
