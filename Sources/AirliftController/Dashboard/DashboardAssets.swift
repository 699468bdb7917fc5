/// The dashboard's stylesheet and script, served from memory: nothing is
/// fetched from the internet, so the dashboard works on an air-gapped network.
enum DashboardAssets {
  static let css = """
    :root {
      --bg: #f7f7f5; --fg: #1b1d21; --muted: #5b6068; --card: #ffffff; --line: #d9dbe0;
      --accent: #0b5cad; --ok: #1a7f37; --busy: #9a6700; --bad: #c62828; --focus: #ff9f1a;
    }
    @media (prefers-color-scheme: dark) {
      :root {
        --bg: #15171b; --fg: #e8eaed; --muted: #a5abb4; --card: #1f2228; --line: #363a43;
        --accent: #7cb7ff; --ok: #5fd37c; --busy: #e3b341; --bad: #ff7b72; --focus: #ffb454;
      }
    }
    * { box-sizing: border-box; }
    body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
      background: var(--bg); color: var(--fg); }
    main { max-width: 1200px; margin: 0 auto; padding: 1rem; }
    a { color: var(--accent); }
    :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
    .skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; background: var(--card); padding: .5rem; }
    header.top { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: center; gap: .5rem;
      padding: .5rem 1rem; background: var(--card); border-bottom: 1px solid var(--line); }
    header nav { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; }
    header nav a { text-decoration: none; padding: .25rem 0; }
    header nav a[aria-current="page"] { font-weight: 600; border-bottom: 2px solid var(--accent); }
    .brand { font-weight: 700; color: var(--fg) !important; }
    .who { display: flex; gap: .75rem; align-items: center; color: var(--muted); }
    .who form { margin: 0; }
    h1 { font-size: 1.5rem; margin: .5rem 0 1rem; } h2 { font-size: 1.15rem; margin: 1.25rem 0 .5rem; }
    .muted { color: var(--muted); }
    .error { color: var(--bad); }
    .cards { display: flex; flex-wrap: wrap; gap: .5rem; margin: .5rem 0 1rem; }
    .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .5rem .85rem; min-width: 7rem; }
    .card .n { display: block; font-size: 1.4rem; font-weight: 700; }
    .card.ok .n { color: var(--ok); } .card.busy .n { color: var(--busy); } .card.bad .n { color: var(--bad); }
    .pill { display: inline-block; padding: 0 .5rem; border-radius: 999px; border: 1px solid currentColor; font-size: .85em; }
    .pill.ok { color: var(--ok); } .pill.busy { color: var(--busy); } .pill.bad { color: var(--bad); } .pill.muted { color: var(--muted); }
    .scroll { overflow-x: auto; }
    table { border-collapse: collapse; width: 100%; background: var(--card); }
    th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
    thead th { font-size: .85em; color: var(--muted); }
    td.error { max-width: 28rem; overflow-wrap: anywhere; }
    progress { width: 8rem; height: .8rem; accent-color: var(--ok); vertical-align: middle; }
    #deployment-progress { width: min(32rem, 100%); height: 1.1rem; }
    .status-row { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; }
    .status-row .pill { font-size: 1rem; }
    .phases { display: flex; flex-wrap: wrap; gap: .75rem; list-style: none; padding: 0; }
    .phases li { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .3rem .6rem; }
    .phases li.current { border-color: var(--accent); }
    .buttons { display: flex; flex-wrap: wrap; gap: .5rem; margin: 1rem 0; }
    button { font: inherit; padding: .45rem .9rem; border-radius: 6px; border: 1px solid var(--line);
      background: var(--card); color: var(--fg); cursor: pointer; min-height: 2.5rem; }
    button:hover { border-color: var(--accent); }
    button.danger { color: var(--bad); border-color: var(--bad); }
    button.link { border: none; background: none; color: var(--accent); padding: 0; min-height: 0; }
    input, select { font: inherit; padding: .4rem .5rem; border: 1px solid var(--line); border-radius: 6px;
      background: var(--card); color: var(--fg); min-height: 2.4rem; }
    label { display: block; font-size: .85em; color: var(--muted); margin-bottom: .15rem; }
    .filters { display: flex; flex-wrap: wrap; gap: .75rem; align-items: flex-end; margin: 1rem 0; }
    .filters .actions { display: flex; gap: .75rem; align-items: center; }
    .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1rem; }
    .chart { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .5rem .75rem; }
    .chart figcaption { font-weight: 600; margin-bottom: .25rem; }
    .chart .bar { fill: var(--accent); } .chart text { fill: var(--fg); font-size: 12px; }
    .pages { display: flex; gap: 1rem; margin: 1rem 0; }
    .two { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 1rem; }
    ul.plain, ol.plain { list-style: none; padding: 0; margin: 0; }
    details { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .5rem .75rem; margin: .5rem 0; }
    summary { cursor: pointer; }
    .tag { display: inline-block; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 0 .4rem; }
    .login { max-width: 24rem; margin: 4rem auto; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1.5rem; }
    .login input { width: 100%; margin-bottom: 1rem; }
    code { font-size: .9em; }
    @media (max-width: 600px) { main { padding: .5rem; } th, td { padding: .3rem .4rem; } .card { min-width: 5.5rem; } }
    """

  static let js = """
    // Airlift dashboard: live deployment updates (Server-Sent Events) and the
    // deployment buttons, which call the same REST API as the CLI.
    "use strict";
    (function () {
      const region = document.getElementById("live-region");
      const live = document.getElementById("live");
      const message = document.getElementById("action-message");

      function finished() {
        const row = region && region.querySelector("[data-finished]");
        return row && row.getAttribute("data-finished") === "true";
      }

      if (region) {
        const source = new EventSource(region.getAttribute("data-events"));
        source.addEventListener("open", function () { live.textContent = "live"; });
        source.addEventListener("error", function () {
          live.textContent = finished() ? "finished" : "reconnecting…";
        });
        source.addEventListener("update", function (event) {
          // The fragment is rendered and escaped by the controller's templates.
          region.innerHTML = event.data;
          live.textContent = "live";
          if (finished()) { source.close(); live.textContent = "finished"; }
        });
      }

      document.addEventListener("click", async function (event) {
        const button = event.target.closest("button[data-action]");
        if (!button || !region) { return; }
        const question = button.getAttribute("data-confirm");
        if (question && !window.confirm(question)) { return; }
        const action = button.getAttribute("data-action");
        const id = region.getAttribute("data-deployment");
        button.disabled = true;
        message.textContent = action + "…";
        try {
          const response = await fetch("/api/v1/deployments/" + encodeURIComponent(id) + "/" + action, {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-Airlift-UI": "1" }, body: "{}",
          });
          if (response.ok) {
            message.textContent = action + ": done";
          } else {
            const body = await response.json().catch(function () { return null; });
            message.textContent = action + " refused: " + ((body && body.error && body.error.message) || response.status);
          }
        } catch (error) {
          message.textContent = action + " failed: " + error;
        } finally {
          button.disabled = false;
        }
      });

      // The fleet filter: leave empty fields out of the URL, so a shared link says only what it filters.
      const filters = document.getElementById("filters");
      if (filters) {
        filters.addEventListener("submit", function (event) {
          event.preventDefault();
          const query = new URLSearchParams();
          new FormData(filters).forEach(function (value, key) { if (value !== "") { query.append(key, value); } });
          const text = query.toString();
          window.location.assign(filters.getAttribute("action") + (text ? "?" + text : ""));
        });
      }
    })();
    """
}
