#!/usr/bin/python3
"""The Airlift dashboard in headless Chromium (Debian's chromium,
chromium-driver and python3-selenium 4.8; nothing is downloaded).

Tests/Browser/run starts the controller, three agents and a deployment in two
phases with a manual gate whose first phase has finished, then runs this:

  dashboard_test.py --url https://127.0.0.1:PORT --token SECRET \
      --deployment ID --devices "ui-gw-01 ui-gw-02 ui-gw-03" --screenshots DIR

Each step saves a screenshot (01-login.png, ...); a failure saves
failure.png and failure.html and exits 1.
"""

import argparse
import os
import sys
import time
import traceback
from urllib.parse import parse_qs, urlparse

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def luminance(css_color):
    """Relative luminance (0 black .. 1 white) of an rgb()/rgba() colour."""
    numbers = [float(n) for n in css_color[css_color.index("(") + 1 : css_color.index(")")].split(",")[:3]]

    def channel(value):
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(n) for n in numbers)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


class Dashboard:
    def __init__(self, args):
        self.base = args.url.rstrip("/")
        self.token = args.token
        self.deployment_id = args.deployment
        self.devices = args.devices.split()
        self.shots = args.screenshots
        self.step = 0
        os.makedirs(self.shots, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--ignore-certificate-errors",
            "--window-size=1280,900",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--disable-extensions",
            "--no-first-run",
            "--lang=en-US",
        ):
            options.add_argument(argument)
        options.accept_insecure_certs = True
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)

    # Helpers

    def url(self, path):
        return self.base + path

    def path(self):
        return urlparse(self.driver.current_url).path

    def page(self):
        return self.driver.find_element(By.TAG_NAME, "body").get_attribute("data-page")

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def exists(self, css):
        return len(self.find_all(css)) > 0

    def text(self, css):
        return self.find(css).text.strip()

    def wait(self, seconds, what, condition):
        """Waits until condition() is truthy, re-evaluating it (and so re-finding
        elements) each time: the live region's HTML is replaced on updates."""

        def attempt(_):
            try:
                return condition()
            except StaleElementReferenceException:
                return False

        try:
            return WebDriverWait(self.driver, seconds, poll_frequency=0.2).until(attempt)
        except TimeoutException:
            raise Failure(f"timed out after {seconds} s waiting for {what}") from None

    def wait_page(self, name, seconds=10):
        self.wait(seconds, f"body[data-page={name}] (at {self.driver.current_url})", lambda: self.page() == name)

    def shot(self, name):
        self.step += 1
        file = os.path.join(self.shots, f"{self.step:02d}-{name}.png")
        self.driver.save_screenshot(file)
        return file

    def say(self, message):
        print(f"browser: {message}", flush=True)

    def expect(self, condition, message):
        if not condition:
            raise Failure(message)

    def device_row_progress(self):
        """Rows of the deployment's device table that show a progress bar
        although the device is not Downloading (the only state with one)."""
        return [
            (row.get_attribute("data-device"), row.get_attribute("data-state"), bar.get_attribute("value"))
            for row in self.find_all("table#devices tr[data-device]")
            if row.get_attribute("data-state") != "Downloading"
            for bar in row.find_elements(By.TAG_NAME, "progress")
        ]

    # Steps

    def login(self):
        self.say("(a) /ui without a session goes to the login page")
        self.driver.get(self.url("/ui"))
        self.wait_page("login")
        check(self.path() == "/ui/login", f"/ui should redirect to /ui/login, got {self.driver.current_url}")
        next_value = parse_qs(urlparse(self.driver.current_url).query).get("next")
        check(next_value == ["/ui/fleet"], f"the login page should send back to /ui/fleet, got next={next_value}")
        check(self.exists("#token") and self.exists("button#login"), "the login form (#token, #login) is missing")
        check(not self.exists("#login-error"), "#login-error shows before any attempt")
        check(not self.exists("button#logout"), "a logout button shows without a session")
        self.shot("login")

        self.say("(a) a wrong token is refused")
        self.find("#token").send_keys("not-a-token")
        self.find("button#login").click()
        self.wait(10, "#login-error after a wrong token", lambda: self.exists("#login-error"))
        check(self.find("#login-error").is_displayed(), "#login-error is there but not visible")
        check(self.page() == "login", f"a wrong token should stay on the login page, got {self.page()}")
        check(self.driver.get_cookie("airlift_session") is None, "a wrong token still got a session cookie")
        self.shot("login-error")

        self.say("(a) the right token lands on the fleet with a strict session cookie")
        self.find("#token").clear()
        self.find("#token").send_keys(self.token)
        self.find("button#login").click()
        self.wait_page("fleet")
        check(self.path() == "/ui/fleet", f"after login expected /ui/fleet, got {self.driver.current_url}")
        cookie = self.driver.get_cookie("airlift_session")
        check(cookie is not None, "no airlift_session cookie after logging in")
        check(cookie.get("secure") is True, f"the session cookie is not Secure: {cookie}")
        check(cookie.get("httpOnly") is True, f"the session cookie is not HttpOnly: {cookie}")
        check(cookie.get("sameSite") == "Strict", f"the session cookie is not SameSite=Strict: {cookie}")
        check(
            "airlift_session" not in self.driver.execute_script("return document.cookie"),
            "script can read the session cookie (document.cookie)",
        )
        who = self.text("#whoami")
        check(who.startswith("ui-test") and "deployer" in who, f"#whoami should name ui-test · deployer, got '{who}'")
        check(
            self.find("#nav-fleet").get_attribute("aria-current") == "page",
            "the Fleet link is not marked aria-current on the fleet page",
        )

    def fleet(self):
        self.say("(b) fleet counts and charts")
        counts = {e.get_attribute("data-state"): e.text.strip() for e in self.find_all("#fleet-counts [data-state]")}
        for state in ("total", "online", "offline", "updating", "failed"):
            check(state in counts and counts[state] != "", f"#fleet-counts has no visible {state} count: {counts}")
        check(self.find("#fleet-counts").is_displayed(), "#fleet-counts is not visible")
        check(counts["total"] == str(len(self.devices)), f"expected {len(self.devices)} devices, counts say {counts}")
        check(counts["online"] == str(len(self.devices)), f"expected every device online, counts say {counts}")
        check(counts["offline"] == "0", f"expected no device offline, counts say {counts}")
        for chart in ("svg#chart-model", "svg#chart-version"):
            check(self.exists(chart), f"{chart} is missing")
            check(self.find(chart).is_displayed(), f"{chart} is not visible")
        model_labels = [e.text for e in self.find_all("svg#chart-model text.label")]
        check(
            sorted(model_labels) == ["gw-200", "gw-300"],
            f"the model chart should show gw-200 and gw-300: {model_labels}",
        )
        model_bars = len(self.find_all("svg#chart-model rect.bar"))
        check(model_bars == 2, f"the model chart should have 2 bars, has {model_bars}")
        version_labels = [e.text for e in self.find_all("svg#chart-version text.label")]
        check("1.0.0" in version_labels, f"the version chart should show hello 1.0.0: {version_labels}")
        rows = self.find_all("table#devices tr[data-device]")
        check(
            len(rows) == len(self.devices), f"the fleet table should list {len(self.devices)} devices, has {len(rows)}"
        )
        self.shot("fleet")

        self.say("(b) filter by attribute model=gw-300")
        field = self.find("form#filters #f-attr")
        field.clear()
        field.send_keys("model=gw-300")
        self.find("form#filters #apply").click()
        self.wait(10, "the filtered fleet", lambda: "attr=" in self.driver.current_url and self.page() == "fleet")
        query = parse_qs(urlparse(self.driver.current_url).query)
        check(
            query.get("attr") == ["model=gw-300"],
            f"the URL should carry attr=model=gw-300, got {self.driver.current_url}",
        )
        rows = [r.get_attribute("data-device") for r in self.find_all("table#devices tr[data-device]")]
        check(len(rows) == 2, f"model=gw-300 should match exactly 2 devices, the table shows {rows}")
        check(sorted(rows) == sorted(self.devices[1:]), f"model=gw-300 should be {self.devices[1:]}, got {rows}")
        check(
            self.find("#f-attr").get_attribute("value") == "model=gw-300",
            "the filter form does not show the applied filter",
        )
        errors = [e.text for e in self.find_all("#filter-error")]
        check(not errors, f"#filter-error shows for a good filter: {errors}")
        self.shot("fleet-filtered")

        self.say("(b) a bad filter shows #filter-error")
        field = self.find("#f-attr")
        field.clear()
        field.send_keys("nonsense")
        self.find("#apply").click()
        self.wait(10, "#filter-error for attr=nonsense", lambda: self.exists("#filter-error"))
        error = self.find("#filter-error")
        check(error.is_displayed(), "#filter-error is not visible")
        check("attr" in error.text, f"#filter-error should explain the attr filter, says '{error.text}'")
        check(
            len(self.find_all("table#devices tr[data-device]")) == 0,
            "a bad filter still lists devices",
        )
        self.shot("fleet-filter-error")

    def live_deployment(self):
        self.say("(c) deployments list -> the deployment's live page")
        self.find("#nav-deployments").click()
        self.wait_page("deployments")
        row_css = f'table#deployments tr[data-deployment="{self.deployment_id}"]'
        check(self.exists(row_css), f"the deployments list has no row for {self.deployment_id}")
        self.shot("deployments")
        self.find(row_css + " a").click()
        self.wait_page("deployment")
        check(
            self.path() == f"/ui/deployments/{self.deployment_id}",
            f"expected /ui/deployments/{self.deployment_id}, got {self.driver.current_url}",
        )
        self.driver.execute_script("window.__marker = 42;")
        self.wait(10, "#live to say live", lambda: self.text("#live") == "live")
        status = self.text("#deployment-status")
        check(status == "Active", f"the deployment should start Active (waiting at the gate), shows '{status}'")
        check(self.exists("#phase") and "phase 1 of 2" in self.text("#phase"), "#phase should say phase 1 of 2")
        for button in ("#pause", "#promote", "#abort"):
            check(self.exists(button), f"{button} is missing on an active deployment")
        check(not self.exists("#resume"), "#resume shows on an active deployment")
        header = self.text("main > p.muted")
        self.expect(
            f"· {len(self.devices)} devices ·" in header,
            f"the deployment's header should say '{len(self.devices)} devices' (its target), says '{header}'",
        )
        bars = self.device_row_progress()
        self.expect(
            not bars,
            "device rows that are not Downloading show a progress bar (value = the deployment's overall percent): "
            + ", ".join(f"{device} {state} value={value}" for device, state, value in bars),
        )
        counts = {e.get_attribute("data-state"): e.text.strip() for e in self.find_all("#counts [data-state]")}
        check(
            counts == {"Successful": "1", "Waiting (phase)": str(len(self.devices) - 1)},
            f"#counts should show phase 1's device Successful and the others waiting for their phase: {counts}",
        )
        waiting = self.find_all('table#devices tr[data-state="Pending"]')
        check(len(waiting) == len(self.devices) - 1, f"expected {len(self.devices) - 1} Pending rows: {len(waiting)}")
        for row in waiting:
            check("waiting for its phase" in row.text, f"a Pending row should say it waits for its phase: '{row.text}'")
        self.shot("deployment-active")

        self.say("(c) pause")
        self.find("#pause").click()
        self.wait(10, "#deployment-status Paused (live update)", lambda: self.text("#deployment-status") == "Paused")
        self.wait(10, "#action-message 'pause: done'", lambda: self.text("#action-message") == "pause: done")
        self.wait(10, "#resume to replace #pause", lambda: self.exists("#resume") and not self.exists("#pause"))
        self.shot("deployment-paused")
        if self.exists("#promote"):
            # The API promotes only an Active deployment: see what the offered button does.
            self.find("#promote").click()
            self.wait(
                10, "#action-message after promote while paused",
                lambda: self.text("#action-message").startswith("promote"),
            )
            self.wait(10, "#action-message to settle", lambda: self.text("#action-message") != "promote…")
            self.expect(False, f"#promote is offered while Paused; clicking it says '{self.text('#action-message')}'")

        self.say("(c) resume")
        self.find("#resume").click()
        self.wait(10, "#deployment-status Active again", lambda: self.text("#deployment-status") == "Active")
        self.wait(10, "#action-message 'resume: done'", lambda: self.text("#action-message") == "resume: done")
        self.wait(10, "#pause and #promote back", lambda: self.exists("#pause") and self.exists("#promote"))
        self.shot("deployment-resumed")

        self.say("(c) promote through the manual gate, then follow it to Completed")
        self.find("#promote").click()
        self.wait(10, "#action-message 'promote: done'", lambda: self.text("#action-message") == "promote: done")
        self.wait(90, "#deployment-status Completed", lambda: self.text("#deployment-status") == "Completed")
        self.wait(10, "#live to say finished", lambda: self.text("#live") == "finished")
        check(
            self.driver.execute_script("return window.__marker;") == 42,
            "window.__marker is gone: the page reloaded instead of updating live",
        )
        progress = self.find("progress#deployment-progress")
        value, maximum = progress.get_attribute("value"), progress.get_attribute("max")
        check(
            value == maximum == str(len(self.devices)),
            f"the progress bar should be full ({len(self.devices)}), is {value} of {maximum}",
        )
        rows = {
            r.get_attribute("data-device"): r.get_attribute("data-state")
            for r in self.find_all("table#devices tr[data-device]")
        }
        check(
            sorted(rows) == sorted(self.devices), f"the device table should list {self.devices}, lists {sorted(rows)}"
        )
        check(all(s == "Successful" for s in rows.values()), f"every device should be Successful: {rows}")
        counts = {e.get_attribute("data-state"): e.text.strip() for e in self.find_all("#counts [data-state]")}
        check(
            counts == {"Successful": str(len(self.devices))},
            f"#counts should be {len(self.devices)} Successful: {counts}",
        )
        for button in ("#pause", "#resume", "#promote", "#abort"):
            check(not self.exists(button), f"{button} still shows on a completed deployment")
        check(self.text("#action-message") == "promote: done", "#action-message lost the promote's outcome")
        self.driver.execute_script("window.scrollTo(0, 0);")
        self.shot("deployment-completed")
        self.driver.save_screenshot(os.path.join(self.shots, "deployment-completed.png"))

    def device_and_releases(self):
        device = self.devices[1]
        self.say(f"(d) the device page of {device}")
        self.find(f'table#devices tr[data-device="{device}"] a').click()
        self.wait_page("device")
        check(self.path() == f"/ui/devices/{device}", f"expected /ui/devices/{device}, got {self.driver.current_url}")
        check(device in self.text("h1"), f"the heading should name {device}: '{self.text('h1')}'")
        attributes = {
            r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text
            for r in self.find_all("table#attributes tr")
            if r.find_elements(By.TAG_NAME, "th")
        }
        check(attributes.get("model") == "gw-300", f"#attributes should have model gw-300: {attributes}")
        check(attributes.get("region"), f"#attributes should have a region: {attributes}")
        apps = {
            r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text
            for r in self.find_all("table#apps tr")
            if r.find_elements(By.TAG_NAME, "th")
        }
        check(apps.get("hello") == "1.0.0", f"#apps should have hello 1.0.0: {apps}")
        check(len(self.find_all("#presence li")) >= 1, "#presence lists nothing")
        links = [a.get_attribute("href") for a in self.find_all("#history details summary a")]
        check(
            any(link.endswith(f"/ui/deployments/{self.deployment_id}") for link in links),
            f"#history should link the deployment {self.deployment_id}: {links}",
        )
        summary = self.text("#history details summary")
        check("Successful" in summary, f"the deployment in #history should be Successful: '{summary}'")
        events = self.find_all("#history details[open] table.events tbody tr")
        check(len(events) >= 1, "the open deployment in #history shows no status events")
        self.shot("device")

        self.say("(d) releases")
        self.find("#nav-releases").click()
        self.wait_page("releases")
        row_css = 'tr[data-release="hello@1.0.0"]'
        check(self.exists(row_css), "the releases page has no hello@1.0.0 row")
        check("signed" in self.find(row_css).text, f"hello@1.0.0 should show as signed: '{self.find(row_css).text}'")
        check(self.exists('[data-tag="stable"]'), "the releases page does not show the tag stable")
        check("1.0.0" in self.text('[data-tag="stable"]'), "the tag stable should point at 1.0.0")
        self.shot("releases")

    def phone_dark_keyboard(self):
        self.say("(f) a phone-sized window, the dark theme and the keyboard")
        self.driver.get(self.url(f"/ui/deployments/{self.deployment_id}"))
        self.wait_page("deployment")
        self.driver.set_window_size(390, 844)
        width = self.driver.execute_script("return document.documentElement.scrollWidth")
        inner = self.driver.execute_script("return window.innerWidth")
        check(width <= inner, f"the deployment page scrolls sideways on a phone: {width} px wide in {inner}")
        self.shot("phone")
        self.driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
        )
        background = self.driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        foreground = self.driver.execute_script("return getComputedStyle(document.body).color")
        check(luminance(background) < 0.2, f"the dark theme should have a dark background: {background}")
        check(luminance(foreground) > 0.6, f"the dark theme should have light text: {foreground}")
        self.shot("phone-dark")
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        self.driver.set_window_size(1280, 900)
        # The navigation is reachable with Tab, and the focused link is visibly outlined.
        body = self.find("body")
        body.send_keys(Keys.TAB)
        reached = []
        for _ in range(8):
            active = self.driver.switch_to.active_element
            reached.append(active.get_attribute("id") or active.tag_name)
            if active.get_attribute("id") == "nav-fleet":
                break
            active.send_keys(Keys.TAB)
        active = self.driver.switch_to.active_element
        check(active.get_attribute("id") == "nav-fleet", f"Tab should reach #nav-fleet: went {reached}")
        outline = self.driver.execute_script(
            "const s = getComputedStyle(arguments[0]); return s.outlineStyle + ' ' + s.outlineWidth", active
        )
        check(not outline.startswith("none"), f"the focused link has no visible outline: {outline}")
        active.send_keys(Keys.ENTER)
        self.wait_page("fleet")

    def logout(self):
        self.say("(e) logout")
        self.find("button#logout").click()
        self.wait_page("login")
        check(self.path() == "/ui/login", f"logout should land on /ui/login, got {self.driver.current_url}")
        check(self.driver.get_cookie("airlift_session") is None, "the session cookie survived logout")
        self.shot("logged-out")
        self.driver.get(self.url("/ui/fleet"))
        self.wait_page("login")
        check(self.path() == "/ui/login", f"/ui/fleet after logout should go to login, got {self.driver.current_url}")

    def run(self):
        self.login()
        self.fleet()
        self.live_deployment()
        self.device_and_releases()
        self.phone_dark_keyboard()
        self.logout()

    def save_failure(self):
        try:
            self.driver.save_screenshot(os.path.join(self.shots, "failure.png"))
            with open(os.path.join(self.shots, "failure.html"), "w", encoding="utf-8") as file:
                file.write(self.driver.page_source)
            print(f"browser: at {self.driver.current_url}; see failure.png and failure.html", file=sys.stderr)
        except Exception as error:  # the browser itself may be gone
            print(f"browser: could not save the failure: {error}", file=sys.stderr)

    def quit(self):
        try:
            self.driver.quit()
        except Exception:
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the controller, https://127.0.0.1:PORT")
    parser.add_argument("--token", required=True, help="an operator token (deployer)")
    parser.add_argument("--deployment", required=True, help="a deployment waiting at its manual gate")
    parser.add_argument("--devices", required=True, help="its devices, space-separated (the 2nd and 3rd are gw-300)")
    parser.add_argument("--screenshots", required=True, help="where the screenshots go")
    args = parser.parse_args()

    started = time.monotonic()
    dashboard = Dashboard(args)
    try:
        dashboard.run()
    except Exception as error:
        dashboard.save_failure()
        if isinstance(error, Failure):
            print(f"browser: FAILED: {error}", file=sys.stderr)
        else:
            traceback.print_exc()
        return 1
    finally:
        dashboard.quit()
    seconds = time.monotonic() - started
    print(f"browser: all steps passed in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
