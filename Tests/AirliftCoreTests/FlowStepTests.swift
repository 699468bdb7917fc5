import AirliftCore
import Testing

/// Steps of a multi-step flow: parameters filled into any field, and what a step must hold to run.
struct FlowStepTests {
  let download = FlowStep(name: "config", action: .download, asset: "config.json", path: "${DIR}/config.json")

  @Test("${NAME} in any field takes the run's value; a name with no value is refused, naming it")
  func substitution() throws {
    let script = FlowStep(action: .script, asset: "${SCRIPT}", arguments: ["--to", "${LEVEL}", "${LEVEL}x"])
    #expect(script.references == ["SCRIPT", "LEVEL"])
    let resolved = try script.resolved(["SCRIPT": "migrate.sh", "LEVEL": "3"])
    #expect(resolved.asset == "migrate.sh" && resolved.arguments == ["--to", "3", "3x"])
    #expect(throws: FlowStepError.noValue("DIR")) { try download.resolved([:]) }
    #expect(try FlowStep(action: .script, asset: "a", arguments: ["${open"]).resolved([:]).arguments == ["${open"])
  }

  @Test("a resolved step needs what its action needs: an asset, an absolute path without .., ranges kept")
  func validation() throws {
    try download.resolved(["DIR": "/opt/app"]).validate(resolved: true)
    for dir in ["opt/app", "/opt/../etc", "/opt/./app"] {
      #expect(throws: FlowStepError.self) { try download.resolved(["DIR": dir]).validate(resolved: true) }
    }
    #expect(throws: FlowStepError.self) { try download.validate(resolved: true) }  // ${DIR} left
    try download.validate(resolved: false)
    #expect(throws: FlowStepError.self) { try FlowStep(action: .script).validate(resolved: false) }
    #expect(throws: FlowStepError.self) { try FlowStep(action: .reboot, asset: "x").validate(resolved: false) }
    #expect(throws: FlowStepError.self) {
      try FlowStep(action: .script, asset: "a", timeout: 0).validate(resolved: false)
    }
    #expect(throws: FlowStepError.self) {
      try FlowStep(action: .script, asset: "a", retries: 2).validate(resolved: false)
    }
    #expect(throws: FlowStepError.self) {
      try FlowStep(action: .script, asset: "a", onFailure: .retry, retries: 11).validate(resolved: false)
    }
    #expect(throws: FlowStepError.self) {
      try FlowStep(action: .script, asset: "../etc/passwd").validate(resolved: true)
    }
  }

  @Test("a compose step names no asset; its compose file is a path inside the bundle")
  func composeStep() throws {
    try FlowStep(action: .compose, composeFile: "deploy/compose.prod.yml").validate(resolved: true)
    try FlowStep(action: .compose).validate(resolved: true)
    #expect(FlowStep(action: .compose).label == "compose update")
    for file in ["/etc/compose.yml", "../compose.yml", "a/./b.yml", ""] {
      #expect(throws: FlowStepError.self) { try FlowStep(action: .compose, composeFile: file).validate(resolved: true) }
    }
    #expect(throws: FlowStepError.self) { try FlowStep(action: .compose, asset: "x").validate(resolved: false) }
    #expect(throws: FlowStepError.self) {
      try FlowStep(action: .script, asset: "x", composeFile: "c.yml").validate(resolved: false)
    }
  }

  @Test("a list: 1 to 50 steps, one reboot at most, every parameter it names declared")
  func lists() throws {
    try [download].validateSteps(declared: ["DIR"], resolved: false)
    #expect(throws: FlowStepError.unknownParameter("DIR")) {
      try [download].validateSteps(declared: [], resolved: false)
    }
    #expect(throws: FlowStepError.self) { try [FlowStep]().validateSteps(declared: nil, resolved: false) }
    #expect(throws: FlowStepError.self) {
      try [FlowStep(action: .reboot), FlowStep(action: .reboot)].validateSteps(declared: nil, resolved: false)
    }
  }

  @Test("a flow of the steps handler must list steps; another handler must not")
  func flowNeedsSteps() {
    var flow = API.CreateFlow(name: "f", handler: HandlerName.steps, target: .init(allDevices: true))
    #expect(throws: FlowError.self) { try flow.validate() }
    flow.steps = [download]
    #expect(throws: FlowError.self) { try flow.validate() }  // ${DIR} not declared
    flow.parameters = [.init(name: "DIR", required: true)]
    #expect(throws: Never.self) { try flow.validate() }
    flow.handler = HandlerName.script
    #expect(throws: FlowError.self) { try flow.validate() }
  }

  @Test("a step reads as one line")
  func summary() {
    #expect(
      FlowStep(action: .healthCheck, asset: "h.sh", timeout: 30, onFailure: .retry, retries: 2).summary
        == "health-check h.sh (up to 30 s) (on failure: retry 2×)")
    #expect(download.summary == "config: download config.json → ${DIR}/config.json (on failure: stop)")
  }
}
