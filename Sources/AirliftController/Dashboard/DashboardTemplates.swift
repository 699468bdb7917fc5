/// The dashboard's Mustache templates. `{{name}}` escapes HTML, so what
/// devices send (attributes, error texts) is shown as text, never run; no
/// template uses the unescaped `{{{name}}}` form.
enum DashboardTemplates {
  static let all: [String: String] = [
    "head": head, "foot": foot, "login": login, "fleet": fleet, "chart": chart, "device": device,
    "releases": releases, "deployments": deployments, "deployment": deployment, "deployment-live": deploymentLive,
    "error": error,
  ]

  static let head = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="color-scheme" content="light dark">
    <title>{{layout.title}} · Airlift</title>
    <link rel="stylesheet" href="/ui/static/app.css">
    <script src="/ui/static/app.js" defer></script>
    </head>
    <body data-page="{{layout.page}}">
    <a class="skip" href="#main">Skip to content</a>
    {{#layout.who}}
    <header class="top">
      <nav aria-label="Main">
        <a class="brand" href="/ui/fleet">Airlift</a>
        <a id="nav-fleet" href="/ui/fleet"{{#layout.inFleet}} aria-current="page"{{/layout.inFleet}}>Fleet</a>
        <a id="nav-releases" href="/ui/releases"{{#layout.inReleases}} aria-current="page"{{/layout.inReleases}}>Releases</a>
        <a id="nav-deployments" href="/ui/deployments"{{#layout.inDeployments}} aria-current="page"{{/layout.inDeployments}}>Deployments</a>
      </nav>
      <div class="who">
        <span id="whoami">{{name}} · {{role}}</span>
        <form action="/ui/logout" method="post"><button id="logout" type="submit" class="link">Log out</button></form>
      </div>
    </header>
    {{/layout.who}}
    <main id="main">
    """

  static let foot = """
    </main>
    </body>
    </html>
    """

  static let error = """
    {{> head}}
    <h1>{{view.heading}}</h1>
    <p class="error" role="alert">{{view.message}}</p>
    <p><a href="/ui/fleet">Back to the fleet</a></p>
    {{> foot}}
    """

  static let login = """
    {{> head}}
    {{#view}}
    <section class="login">
      <h1>Airlift</h1>
      <p>Sign in with an operator token (<code>airlift token create NAME --role deployer</code>).</p>
      {{#error}}<p id="login-error" class="error" role="alert">{{error}}</p>{{/error}}
      <form method="post" action="/ui/login">
        <label for="token">Operator token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
        <input type="hidden" name="next" value="{{next}}">
        <button id="login" type="submit">Log in</button>
      </form>
    </section>
    {{/view}}
    {{> foot}}
    """

  static let chart = """
    <figure class="chart">
      <figcaption>{{caption}}</figcaption>
      {{#empty}}<p class="muted">No data yet.</p>{{/empty}}
      {{^empty}}
      <svg id="{{id}}" role="img" aria-label="{{caption}}" viewBox="0 0 {{width}} {{height}}" width="100%" preserveAspectRatio="xMinYMin meet">
        {{#bars}}
        <g>
          <text x="0" y="{{textY}}" class="label">{{label}}</text>
          <rect x="{{barX}}" y="{{y}}" width="{{barWidth}}" height="{{barHeight}}" rx="3" class="bar"><title>{{label}}: {{count}}</title></rect>
          <text x="{{countX}}" y="{{textY}}" class="count">{{count}}</text>
        </g>
        {{/bars}}
      </svg>
      {{/empty}}
    </figure>
    """

  static let fleet = """
    {{> head}}
    {{#view}}
    <h1>Fleet</h1>
    <section id="fleet-counts" class="cards" aria-label="Devices by state">
      <div class="card"><span class="n" data-state="total">{{summary.total}}</span> devices</div>
      <div class="card ok"><span class="n" data-state="online">{{summary.online}}</span> online</div>
      <div class="card muted"><span class="n" data-state="offline">{{offline}}</span> offline</div>
      <div class="card busy"><span class="n" data-state="updating">{{summary.updating}}</span> updating</div>
      <div class="card bad"><span class="n" data-state="failed">{{summary.failed}}</span> failed</div>
    </section>
    <section class="charts">
      {{#modelChart}}{{> chart}}{{/modelChart}}
      {{#versionChart}}{{> chart}}{{/versionChart}}
    </section>
    <form id="filters" method="get" action="/ui/fleet" class="filters">
      <div><label for="f-group">Group</label><input id="f-group" name="group" value="{{query.group}}"></div>
      <div><label for="f-app">App</label><input id="f-app" name="app" value="{{query.app}}" placeholder="package"></div>
      <div><label for="f-version">Version</label><input id="f-version" name="version" value="{{query.version}}" placeholder="&gt;=1.0.0 &lt;2.0.0"></div>
      <div><label for="f-attr">Attribute</label><input id="f-attr" name="attr" value="{{query.attr}}" placeholder="model=gw-200"></div>
      <div><label for="f-online">Presence</label>
        <select id="f-online" name="online">
          <option value=""{{#query.anyPresence}} selected{{/query.anyPresence}}>any</option>
          <option value="true"{{#query.onlineOnly}} selected{{/query.onlineOnly}}>online</option>
          <option value="false"{{#query.offlineOnly}} selected{{/query.offlineOnly}}>offline</option>
        </select></div>
      <div class="actions"><button id="apply" type="submit">Apply</button> <a href="/ui/fleet">Clear</a></div>
    </form>
    {{#certificateWarning}}<p id="certificate-warning" class="error" role="alert">{{certificateWarning}}</p>{{/certificateWarning}}
    {{#filterError}}<p id="filter-error" class="error" role="alert">{{filterError}}</p>{{/filterError}}
    <p class="muted">{{matching}} matching · page {{pageNumber}} of {{pageCount}}</p>
    <div class="scroll">
    <table id="devices">
      <thead><tr><th scope="col">Device</th><th scope="col">Presence</th><th scope="col">Model</th><th scope="col">Installed</th><th scope="col">Last seen</th></tr></thead>
      <tbody>
      {{#rows}}
        <tr data-device="{{id}}">
          <td><a href="/ui/devices/{{id}}">{{id}}</a></td>
          <td>{{#online}}<span class="pill ok">online</span>{{/online}}{{^online}}<span class="pill muted">offline</span>{{/online}}</td>
          <td>{{model}}</td>
          <td>{{installed}}</td>
          <td><time datetime="{{lastSeenISO}}">{{lastSeen}}</time></td>
        </tr>
      {{/rows}}
      {{^rows}}<tr><td colspan="5" class="muted">No device matches.</td></tr>{{/rows}}
      </tbody>
    </table>
    </div>
    <nav class="pages" aria-label="Pages">
      {{#prevLink}}<a id="prev-page" href="{{prevLink}}">← Previous</a>{{/prevLink}}
      {{#nextLink}}<a id="next-page" href="{{nextLink}}">Next →</a>{{/nextLink}}
    </nav>
    {{/view}}
    {{> foot}}
    """

  static let device = """
    {{> head}}
    {{#view}}
    <h1>{{id}} {{#online}}<span class="pill ok">online</span>{{/online}}{{^online}}<span class="pill muted">offline</span>{{/online}}</h1>
    <p class="muted">First seen {{firstSeen}} · last seen {{lastSeen}}{{#agentVersion}} · agent {{agentVersion}}{{/agentVersion}}{{#transport}} · <span id="transport">{{transport}}</span>{{/transport}}{{#compatible}} · hardware <span id="compatible">{{compatible}}</span>{{/compatible}}{{#groups}} · groups: {{groups}}{{/groups}}{{#revoked}} · <span class="pill bad">revoked {{revoked}}</span>{{/revoked}}</p>
    {{#problems}}<p class="pill bad problem">{{.}}</p>{{/problems}}
    <div class="two">
      <section>
        <h2>Attributes</h2>
        <table id="attributes"><tbody>
          {{#attributes}}<tr><th scope="row">{{key}}</th><td>{{value}}</td></tr>{{/attributes}}
          {{^attributes}}<tr><td class="muted">none reported</td></tr>{{/attributes}}
        </tbody></table>
        <h2>Installed apps</h2>
        <table id="apps"><tbody>
          {{#apps}}<tr><th scope="row">{{key}}</th><td>{{value}}</td></tr>{{/apps}}
          {{^apps}}<tr><td class="muted">nothing installed by Airlift</td></tr>{{/apps}}
        </tbody></table>
      </section>
      <section>
        <h2>Presence</h2>
        <ol id="presence" class="plain">
          {{#presence}}<li>{{#online}}<span class="pill ok">online</span>{{/online}}{{^online}}<span class="pill muted">offline</span>{{/online}} <time>{{at}}</time></li>{{/presence}}
          {{^presence}}<li class="muted">no presence change recorded</li>{{/presence}}
        </ol>
      </section>
    </div>
    <h2>Deployments</h2>
    <div id="history">
    {{#history}}
      <details{{#open}} open{{/open}}>
        <summary><a href="/ui/deployments/{{deployment}}">{{deployment}}</a> {{release}} <span class="pill {{stateClass}}">{{state}}</span> {{#deploymentError}}<span class="error">{{deploymentError}}</span>{{/deploymentError}}</summary>
        <div class="scroll"><table class="events">
          <thead><tr><th scope="col">Time</th><th scope="col">State</th><th scope="col">Progress</th><th scope="col">Attempt</th><th scope="col">Error</th></tr></thead>
          <tbody>
          {{#events}}<tr><td>{{time}}</td><td>{{state}}{{#eventStage}} ({{eventStage}}){{/eventStage}}</td><td>{{progress}}</td><td>{{attempt}}</td><td class="error">{{eventError}}</td></tr>{{/events}}
          {{^events}}<tr><td colspan="5" class="muted">no status event yet</td></tr>{{/events}}
          </tbody>
        </table></div>
      </details>
    {{/history}}
    {{^history}}<p class="muted">No deployment has reached this device.</p>{{/history}}
    </div>
    {{/view}}
    {{> foot}}
    """

  static let releases = """
    {{> head}}
    {{#view}}
    <h1>Releases</h1>
    {{#packages}}
    <section class="package">
      <h2>{{name}}</h2>
      <p>Tags: {{#tags}}<span class="tag" data-tag="{{name}}">{{name}} → {{version}}{{#locked}} 🔒{{/locked}}</span> {{/tags}}{{^tags}}<span class="muted">none</span>{{/tags}}</p>
      <div class="scroll">
      <table id="releases-{{name}}" class="releases">
        <thead><tr><th scope="col">Version</th><th scope="col">Handler</th><th scope="col">Assets</th><th scope="col">Metadata</th><th scope="col">Signature</th><th scope="col">Created</th></tr></thead>
        <tbody>
        {{#versions}}
          <tr data-release="{{ref}}">
            <th scope="row">{{version}}</th>
            <td>{{handler}}</td>
            <td><ul class="plain">{{#assets}}<li>{{name}} · {{size}} · <code title="{{sha256}}">{{short}}</code></li>{{/assets}}</ul></td>
            <td><ul class="plain">{{#metadata}}<li><a class="metadata" href="{{link}}">{{name}}</a> · {{kind}} · {{size}}</li>{{/metadata}}</ul>{{^metadata}}<span class="muted">none</span>{{/metadata}}</td>
            <td>{{#signature}}<span class="pill ok">signed</span> key {{key}}, expires {{expires}}{{#downgrade}}, downgrade allowed{{/downgrade}}{{/signature}}{{^signature}}<span class="pill bad">unsigned</span>{{/signature}}</td>
            <td>{{created}}</td>
          </tr>
        {{/versions}}
        </tbody>
      </table>
      </div>
    </section>
    {{/packages}}
    {{^packages}}<p class="muted">No release yet: <code>airlift release create PACKAGE VERSION --asset FILE</code>.</p>{{/packages}}
    {{/view}}
    {{> foot}}
    """

  static let deployments = """
    {{> head}}
    {{#view}}
    <h1>Deployments</h1>
    <div class="scroll">
    <table id="deployments">
      <thead><tr><th scope="col">Deployment</th><th scope="col">Release</th><th scope="col">Status</th><th scope="col">Progress</th><th scope="col">Failed</th><th scope="col">Created</th></tr></thead>
      <tbody>
      {{#rows}}
        <tr data-deployment="{{id}}">
          <td><a href="/ui/deployments/{{id}}">{{title}}</a></td>
          <td>{{release}}</td>
          <td class="status"><span class="pill {{statusClass}}">{{status}}</span></td>
          <td><progress max="{{total}}" value="{{ended}}" aria-label="{{ended}} of {{total}} devices ended"></progress> {{ended}}/{{total}}</td>
          <td>{{failed}}</td>
          <td>{{created}}</td>
        </tr>
      {{/rows}}
      {{^rows}}<tr><td colspan="6" class="muted">No deployment yet.</td></tr>{{/rows}}
      </tbody>
    </table>
    </div>
    {{/view}}
    {{> foot}}
    """

  static let deployment = """
    {{> head}}
    {{#view}}
    <h1>{{title}}</h1>
    <p class="muted">{{release}}{{#tag}} (tag {{tag}}){{/tag}} · {{target}} · created {{created}}{{#createdBy}} by {{createdBy}}{{/createdBy}}{{#launchedBy}} · <span id="flow">{{launchedBy}}</span>{{/launchedBy}} · <span id="live" aria-live="polite">connecting…</span></p>
    <div id="live-region" data-events="/ui/deployments/{{id}}/events" data-deployment="{{id}}">
    {{> deployment-live}}
    </div>
    <p id="action-message" role="status"></p>
    {{/view}}
    {{> foot}}
    """

  static let deploymentLive = """
    <section class="status-row" data-finished="{{finished}}">
      <span id="deployment-status" class="pill {{statusClass}}">{{status}}</span>
      {{#phase}}<span id="phase">{{phase}}</span>{{/phase}}
      {{#note}}<span id="note" class="muted">{{note}}</span>{{/note}}
      {{#reason}}<span id="reason" class="muted">{{reason}}</span>{{/reason}}
    </section>
    <p><progress id="deployment-progress" max="{{total}}" value="{{ended}}" aria-label="{{ended}} of {{total}} devices ended"></progress> {{ended}} of {{total}} ended ({{percent}} %)</p>
    {{#phases}}
    <ol class="phases" aria-label="Phases">
      {{#items}}<li class="{{state}}"><span>Phase {{number}}</span> <progress max="{{size}}" value="{{ended}}" aria-label="phase {{number}}: {{ended}} of {{size}} ended"></progress> {{ended}}/{{size}}</li>{{/items}}
    </ol>
    {{/phases}}
    {{#download}}<p id="download">Download: {{download}}</p>{{/download}}
    <div id="counts" class="cards" aria-label="Devices by state">
      {{#counts}}<div class="card {{cls}}"><span class="n" data-state="{{state}}">{{count}}</span> {{state}}</div>{{/counts}}
    </div>
    {{#canWrite}}
    <div class="buttons">
      {{#canPause}}<button id="pause" type="button" data-action="pause">Pause</button>{{/canPause}}
      {{#canResume}}<button id="resume" type="button" data-action="resume">Resume</button>{{/canResume}}
      {{#canPromote}}<button id="promote" type="button" data-action="promote">Promote to phase {{nextPhase}}</button>{{/canPromote}}
      {{#canAbort}}<button id="abort" type="button" class="danger" data-action="abort" data-confirm="Abort this deployment? Devices that have not started will not get it.">Abort…</button>{{/canAbort}}
    </div>
    {{/canWrite}}
    <div class="scroll">
    <table id="devices">
      <thead><tr><th scope="col">Device</th><th scope="col">State</th><th scope="col">Progress</th><th scope="col">Attempts</th><th scope="col">Fetched</th><th scope="col">Updated</th><th scope="col">Error</th></tr></thead>
      <tbody>
      {{#devices}}
        <tr data-device="{{id}}" data-state="{{state}}">
          <td><a href="/ui/devices/{{id}}">{{id}}</a></td>
          <td><span class="pill {{cls}}">{{state}}</span>{{#rowStage}} <span class="muted">{{rowStage}}</span>{{/rowStage}}</td>
          <td>{{#downloadPercent}}<progress max="100" value="{{downloadPercent}}" aria-label="{{downloadPercent}} %"></progress>{{/downloadPercent}}</td>
          <td>{{attempts}}</td>
          <td>{{rowFetched}}</td>
          <td>{{updated}}</td>
          <td class="error">{{failure}}</td>
        </tr>
      {{/devices}}
      </tbody>
    </table>
    </div>
    {{#hidden}}<p class="muted">and {{hidden}} more devices (the CLI lists all: <code>airlift deploy show ID</code>)</p>{{/hidden}}
    """
}
