import AirliftClient
import AirliftCore
import ArgumentParser
import Foundation

struct FlowCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "flow",
    abstract:
      "Update flows: a deployment defined once (handler, parameters, target, rollout, failure policy), run for every release.",
    discussion: """
      Run one with `airlift deploy create --flow NAME --release PKG@VERSION --param KEY=VALUE ...`. Creating a \
      flow that exists stores its next version; deployments record the version they ran.
      """,
    subcommands: [Create.self, List.self, Show.self, Delete.self])

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Store a flow (or its next version), from options or from a JSON document (--file).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The flow's name.") var name: String
    @Option(help: "A flow document (JSON, the API's CreateFlow); options below are then not allowed.") var file: String?
    @Option(help: "The install handler its releases use (script, directory, ab-slot, compose).") var handler: String?
    @Option(help: "What the flow is for.") var description: String?
    @Option(
      name: .customLong("param"),
      help: "A parameter: NAME (required), NAME=DEFAULT, or NAME? (optional, no default) (repeatable).")
    var parameterSpecs: [String] = []
    @Option(name: .customLong("param-help"), help: "NAME=TEXT: describe a parameter (repeatable).")
    var parameterHelp: [String] = []
    @Option(name: .customLong("device"), help: "Target a device (repeatable).") var devices: [String] = []
    @Option(help: "Target a group.") var group: String?
    @Option(help: "Target the devices matching a policy expression when it runs (model == \"gw\" && ...).")
    var expression: String?
    @Option(help: "Target the devices following a channel, PACKAGE:TAG.") var channel: String?
    @Flag(help: "Target every device.") var all = false
    @OptionGroup var rolloutOptions: RolloutOptions
    @Option(help: "On failure: stop (abort past --max-failures, default the first), retry, or roll-back.")
    var onFailure: API.FailureAction?
    @Option(parsing: .unconditional, help: "With --on-failure retry: tries after the first [2].") var retries: Int?
    @Option(parsing: .unconditional, help: "Seconds a device may take once started before it counts as failed.")
    var deviceTimeout: Int?
    @Option(parsing: .unconditional, help: "Seconds a device may spend downloading [600].") var downloadTimeout: Int?
    @Option(parsing: .unconditional, help: "Seconds a device may spend installing [600].") var installTimeout: Int?

    func validate() throws {
      if file != nil {
        let given =
          handler != nil || description != nil || !parameterSpecs.isEmpty || !devices.isEmpty || group != nil
          || expression != nil || channel != nil || all || onFailure != nil
        if given { throw ValidationError("with --file the document describes the flow; leave out the other options") }
        return
      }
      guard handler != nil else { throw ValidationError("give --handler (or --file)") }
      _ = try definition()
    }

    func definition() throws -> API.CreateFlow {
      if let file {
        guard let data = FileManager.default.contents(atPath: file) else {
          throw ValidationError("cannot read the flow document \(file)")
        }
        do {
          var flow = try JSONDecoder().decode(API.CreateFlow.self, from: data)
          flow.name = name
          return flow
        } catch {
          throw ValidationError("\(file) is not a flow document: \(error)")
        }
      }
      var parameters = try parameterSpecs.map(Self.parameter)
      for (key, text) in try KeyValues.parse(parameterHelp) {
        guard let index = parameters.firstIndex(where: { $0.name == key }) else {
          throw ValidationError("--param-help names '\(key)', which no --param declares")
        }
        parameters[index].description = text
      }
      var plan = try rolloutOptions.plan()
      var failure = onFailure.map { API.FlowFailure(action: $0, retries: retries) }
      // --max-failures is the allowance of --on-failure stop|roll-back.
      if let policy = plan?.failure, failure != nil {
        failure?.maxFailures = policy.maxFailures
        failure?.maxFailurePercent = policy.maxFailurePercent
        plan?.failure = nil
        if plan?.phases == [.percent(100)] && plan?.ratePerMinute == nil && rolloutOptions.phases == nil { plan = nil }
      }
      if retries != nil && onFailure != .retry { throw ValidationError("--retries goes with --on-failure retry") }
      var flow = API.CreateFlow(
        name: name, description: description, handler: handler ?? "", parameters: parameters,
        target: API.FlowTarget(
          devices: devices.isEmpty ? nil : devices, group: group, expression: expression, channel: channel,
          allDevices: all),
        rollout: plan, onFailure: failure)
      flow.deviceTimeout = deviceTimeout
      flow.downloadTimeout = downloadTimeout
      flow.installTimeout = installTimeout
      do { try flow.validate() } catch { throw ValidationError(error.description) }
      return flow
    }

    /// `NAME` (required), `NAME=DEFAULT`, `NAME?` (optional).
    static func parameter(_ spec: String) throws -> API.FlowParameter {
      if let equals = spec.firstIndex(of: "=") {
        return API.FlowParameter(
          name: String(spec[..<equals]), defaultValue: String(spec[spec.index(after: equals)...]))
      }
      if spec.hasSuffix("?") { return API.FlowParameter(name: String(spec.dropLast())) }
      return API.FlowParameter(name: spec, required: true)
    }

    func run() async throws {
      let request = try definition()
      let flow = try await connection.withClient { try await $0.createFlow(request) }
      if connection.json { return print(Output.json(flow)) }
      print("stored flow \(flow.ref): \(flow.definition.handler) releases to \(flow.definition.target.description)")
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List flows (their newest versions).")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let flows = try await connection.withClient { try await $0.flows() }
      if connection.json { return print(Output.json(flows)) }
      print(
        Output.table(
          ["NAME", "VERSION", "HANDLER", "TARGET", "PARAMETERS", "ON FAILURE", "CREATED"],
          flows.map {
            [
              $0.name, "\($0.version)", $0.definition.handler, $0.definition.target.description,
              $0.definition.parameters.map(\.name).joined(separator: ","),
              $0.definition.onFailure?.action.rawValue ?? "", Output.date($0.createdAt),
            ]
          }))
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show a flow: parameters, target, rollout, failure policy.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The flow's name.") var name: String
    @Option(help: "An older version.") var version: Int?
    @Flag(help: "List every version instead.") var versions = false

    func run() async throws {
      if versions {
        let all = try await connection.withClient { try await $0.flowVersions(name) }
        if connection.json { return print(Output.json(all)) }
        return print(
          Output.table(
            ["VERSION", "CREATED", "BY", "TARGET"],
            all.map {
              ["\($0.version)", Output.date($0.createdAt), $0.createdBy ?? "", $0.definition.target.description]
            }
          ))
      }
      let flow = try await connection.withClient { try await $0.flow(name, version: version) }
      print(connection.json ? Output.json(flow) : Self.render(flow))
    }

    static func render(_ flow: API.Flow) -> String {
      let definition = flow.definition
      var lines = ["flow \(flow.ref)  handler \(definition.handler)  created \(Output.date(flow.createdAt))"]
      if let description = definition.description { lines.append(description) }
      lines.append("target: \(definition.target.description)")
      for (number, step) in (definition.steps ?? []).enumerated() {
        lines.append("step \(number + 1): \(step.summary)")
      }
      if let plan = flow.runPolicy.rollout {
        lines.append(
          "rollout: phases \(plan.phases.map(\.description).joined(separator: ",")), success threshold \(plan.successThreshold)%"
            + (plan.manualPromotion ? ", manual promotion" : "")
            + (plan.soakSeconds > 0 ? ", soak \(plan.soakSeconds) s" : ""))
      }
      if let failure = definition.onFailure {
        var text = "on failure: \(failure.action.rawValue)"
        if let retries = flow.runPolicy.retries { text += " (\(retries) more tries)" }
        if let policy = flow.runPolicy.rollout?.failure {
          text += policy.maxFailurePercent.map { " past \($0)% failed" } ?? " past \(policy.maxFailures ?? 0) failed"
        }
        lines.append(text)
      }
      guard !definition.parameters.isEmpty else { return (lines + ["parameters: none"]).joined(separator: "\n") }
      lines.append("")
      lines.append(
        Output.table(
          ["PARAMETER", "REQUIRED", "DEFAULT", "DESCRIPTION"],
          definition.parameters.map {
            [$0.name, $0.required ? "yes" : "no", $0.defaultValue ?? "", $0.description ?? ""]
          }))
      return lines.joined(separator: "\n")
    }
  }

  struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Delete a flow (every version); deployments it launched keep naming it.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The flow's name.") var name: String

    func run() async throws {
      try await connection.withClient { try await $0.deleteFlow(name) }
      if connection.json { return print(Output.json(["deleted": name])) }
      print("deleted flow \(name)")
    }
  }
}

extension API.FailureAction: ExpressibleByArgument {}
