import AirliftCore
import Foundation
import Testing

@Suite("Update flows: definitions, one run's values, the failure policy")
struct UpdateFlowTests {
  static func flow(
    _ parameters: [API.FlowParameter] = [
      .init(name: "GREETING", description: "what it says", required: true), .init(name: "COLOR", defaultValue: "blue"),
      .init(name: "NOTE"),
    ], onFailure: API.FlowFailure? = nil, rollout: RolloutPlan? = nil
  ) -> API.Flow {
    API.Flow(
      version: 3,
      definition: API.CreateFlow(
        name: "canary", handler: "script", parameters: parameters, target: .init(group: "lab"), rollout: rollout,
        onFailure: onFailure), createdAt: Date(timeIntervalSince1970: 0))
  }

  @Test("a run's values: given ones, then defaults; an optional parameter without a default stays out")
  func resolvesValues() throws {
    #expect(try Self.flow().resolve(["GREETING": "hello"]) == ["GREETING": "hello", "COLOR": "blue"])
    #expect(
      try Self.flow().resolve(["GREETING": "", "COLOR": "red", "NOTE": "x"]) == [
        "GREETING": "", "COLOR": "red", "NOTE": "x",
      ])
  }

  @Test("an unknown parameter, or a missing required one, is refused with the names a person needs")
  func refusesBadValues() {
    #expect(
      throws: FlowError.unknownParameters(
        ["COLOUR"], flow: .init(name: "canary", version: 3), declared: ["GREETING", "COLOR", "NOTE"])
    ) {
      try Self.flow().resolve(["GREETING": "hi", "COLOUR": "red"])
    }
    #expect(throws: FlowError.missingParameters(["GREETING"], flow: .init(name: "canary", version: 3))) {
      try Self.flow().resolve(["COLOR": "red"])
    }
    #expect(
      FlowError.unknownParameters(["COLOUR"], flow: .init(name: "canary", version: 3), declared: ["COLOR"]).description
        == "flow canary v3 has no parameter 'COLOUR'; it declares COLOR")
    #expect(
      FlowError.missingParameters(["GREETING"], flow: .init(name: "canary", version: 3)).description
        == "flow canary v3 needs 'GREETING': give --param NAME=VALUE for each")
  }

  @Test("stop and roll-back abort past the allowed failures (the first by default); retry gives devices more tries")
  func failurePolicies() {
    #expect(Self.flow().runPolicy.rollout == nil && Self.flow().runPolicy.retries == nil)
    let stop = Self.flow(onFailure: .init(action: .stop)).runPolicy
    #expect(stop.rollout?.phases == [.percent(100)])
    #expect(stop.rollout?.failure == FailurePolicy(maxFailures: 0))
    let phased = RolloutPlan(phases: [.count(1), .percent(100)], manualPromotion: true)
    let back = Self.flow(onFailure: .init(action: .rollBack, maxFailurePercent: 10), rollout: phased).runPolicy
    #expect(back.rollout?.phases == phased.phases && back.rollout?.manualPromotion == true)
    #expect(back.rollout?.failure == FailurePolicy(maxFailurePercent: 10, rollBackOnAbort: true))
    #expect(Self.flow(onFailure: .init(action: .retry)).runPolicy.retries == 2)
    #expect(Self.flow(onFailure: .init(action: .retry, retries: 5)).runPolicy.retries == 5)
  }

  @Test("a definition must name one target, declare each parameter once, and keep its failure options coherent")
  func validation() throws {
    func reason(_ change: (inout API.CreateFlow) -> Void) -> String? {
      var definition = Self.flow().definition
      change(&definition)
      do {
        try definition.validate()
        return nil
      } catch {
        return error.description
      }
    }
    #expect(reason { _ in } == nil)
    #expect(reason { $0.target.allDevices = true }?.contains("exactly one target") == true)
    #expect(reason { $0.target = .init() }?.contains("exactly one target") == true)
    #expect(reason { $0.target = .init(devices: []) }?.contains("empty") == true)
    #expect(reason { $0.target = .init(expression: #"model = "gw""#) }?.contains("target expression") == true)
    #expect(reason { $0.target = .init(channel: "app") }?.contains("PACKAGE:TAG") == true)
    #expect(reason { $0.parameters.append(.init(name: "COLOR")) }?.contains("declared twice") == true)
    #expect(
      reason { $0.parameters = [.init(name: "A", defaultValue: "x", required: true)] }?.contains("one or the other")
        == true)
    #expect(reason { $0.parameters = [.init(name: "9lives")] }?.contains("invalid parameter name") == true)
    #expect(reason { $0.name = "has space" }?.hasPrefix("flow 'has space': invalid name") == true)
    #expect(reason { $0.onFailure = .init(action: .stop, retries: 2) }?.contains("retry action") == true)
    #expect(reason { $0.onFailure = .init(action: .retry, maxFailures: 2) }?.contains("stop and roll-back") == true)
    #expect(reason { $0.onFailure = .init(action: .retry, retries: 11) }?.contains("1 to 10") == true)
    #expect(
      reason {
        $0.onFailure = .init(action: .stop)
        $0.rollout = RolloutPlan(failure: FailurePolicy(maxFailures: 1))
      }?.contains("not both") == true)
    #expect(reason { $0.installTimeout = 0 }?.contains("installTimeout") == true)
  }

  @Test("a flow document round-trips through JSON with `default` as the key; left-out fields take defaults")
  func documentFormat() throws {
    let text = #"""
      {"name": "nightly", "handler": "directory", "target": {"channel": "app:testing"},
       "parameters": [{"name": "MODE", "default": "fast"}, {"name": "TOKEN", "required": true}]}
      """#
    let definition = try JSONDecoder().decode(API.CreateFlow.self, from: Data(text.utf8))
    #expect(definition.parameters == [.init(name: "MODE", defaultValue: "fast"), .init(name: "TOKEN", required: true)])
    #expect(definition.target == .init(channel: "app:testing"))
    #expect(definition.rollout == nil && definition.onFailure == nil)
    let again = try JSONDecoder().decode(API.CreateFlow.self, from: JSONEncoder().encode(definition))
    #expect(again == definition)
    #expect(
      String(decoding: try JSONEncoder().encode(definition.parameters[0]), as: UTF8.self).contains(#""default":"fast""#)
    )
  }
}
