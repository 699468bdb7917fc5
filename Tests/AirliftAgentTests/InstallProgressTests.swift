import Foundation
import Testing

@testable import AirliftAgent

/// The progress the install tools print, read into `Installing` reports.
struct InstallProgressTests {
  @Test("RAUC's progress lines give its percent and step; other lines give nothing")
  func raucLines() {
    #expect(
      RAUCHandler.progress(" 40% Copying image to rootfs.1")
        == InstallProgress(stage: "rauc: Copying image to rootfs.1", percent: 40))
    #expect(RAUCHandler.progress("100% Installing done.")?.wholePercent == 100)
    #expect(RAUCHandler.progress("installing") == nil)
    #expect(RAUCHandler.progress("Installing `/tmp/b.raucb` succeeded") == nil)
    #expect(RAUCHandler.progress("140% nonsense") == nil, "a percent out of range is not progress")
    #expect(RAUCHandler.progress(" 20%") == nil, "no step named")
  }

  @Test("swupdate's trace lines give its steps, naming the slot it writes")
  func swupdateLines() {
    let line = "[TRACE] : SWUPDATE running :  [install_single_image] : Found installer for stream rootfs.img raw"
    #expect(SWUpdateHandler.stage(line, slot: "b") == "swupdate: writing rootfs.img into slot b")
    #expect(
      SWUpdateHandler.stage("[TRACE] : SWUPDATE running :  [swupdate_verify_file] : Verified OK", slot: "b")
        == "swupdate: signature verified")
    #expect(SWUpdateHandler.stage("[TRACE] : SWUPDATE running :  [extract_files] : Found file", slot: "b") == nil)
  }

  @Test("the percent of a stage: the tool's own, else bytes of the total, else none")
  func percent() {
    #expect(InstallProgress(stage: "x", bytes: 50, total: 200).wholePercent == 25)
    #expect(InstallProgress(stage: "x", percent: 120).wholePercent == 100)
    #expect(InstallProgress(stage: "x").wholePercent == nil)
    #expect(InstallProgress(stage: "x", bytes: 5, total: 0).wholePercent == nil)
  }
}
