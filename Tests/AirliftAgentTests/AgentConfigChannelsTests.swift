import AirliftAgent
import Foundation
import Testing

@Suite("Agent config: channels")
struct AgentConfigChannelsTests {
  private func load(channels: String) -> String {
    let json = """
      {"deviceID": "d-1", "brokerURL": "mqtts://127.0.0.1:1", "controllerURL": "https://127.0.0.1:2",
       "certificate": "c", "key": "k", "caFile": "ca", "dataDirectory": "/tmp/d", "installDirectory": "/tmp/i",
       "channels": \(channels)}
      """
    do {
      let config = try JSONDecoder().decode(AgentConfig.self, from: Data(json.utf8))
      return "accepted \(config.channels)"
    } catch {
      return "\(error)"
    }
  }

  @Test("a channel is a package and a tag; anything else is refused at start, naming it")
  func channels() {
    #expect(load(channels: #"{"gw-fw": "stable"}"#) == #"accepted ["gw-fw": "stable"]"#)
    #expect(load(channels: #"{"gw-fw": ""}"#).contains("'gw-fw': '' is not a channel"))
    #expect(load(channels: #"{"Bad Name": "stable"}"#).contains("'Bad Name': 'stable' is not a channel"))
    #expect(load(channels: #"{"gw-fw": "a:b"}"#).contains("is not a channel"))
  }
}
