/// The install handlers agents know, by the name a release gives as its `handler`: the controller refuses a
/// release naming another, and each agent handler answers to one of these.
public enum HandlerName {
  public static let script = "script"
  public static let directory = "directory"
  public static let abSlot = "ab-slot"
  public static let compose = "compose"
  /// An SWUpdate image (`.swu`) into the inactive A/B slot.
  public static let swupdate = "swupdate"
  /// A RAUC bundle, installed by the device's `rauc service`.
  public static let rauc = "rauc"
  /// A multi-step update: the deployment's steps, each through its action, on the release's assets.
  public static let steps = "steps"
  /// Every name a release may use.
  public static let all: Set<String> = [script, directory, abSlot, compose, swupdate, rauc, steps]
}
