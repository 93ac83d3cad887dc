/// The console's page, style and scripts, embedded in the binary: a node serves them without a file of its own and
/// the page loads nothing from anywhere else (no font, script or style from the Internet).
package enum ConsoleAssets {
    package struct Asset: Sendable {
        package var contentType: String
        package var body: String
    }

    /// The asset at `path`, or nil.
    package static func asset(at path: String) -> Asset? {
        switch path {
        case "/console", "/console/", "/console/index.html":
            return Asset(contentType: "text/html; charset=utf-8", body: page)
        case "/console/console.css": return Asset(contentType: "text/css; charset=utf-8", body: style)
        case "/console/sigv4.js": return Asset(contentType: "text/javascript; charset=utf-8", body: sigV4Script)
        case "/console/app.js": return Asset(contentType: "text/javascript; charset=utf-8", body: appScript)
        case "/console/views.js": return Asset(contentType: "text/javascript; charset=utf-8", body: viewsScript)
        default: return nil
        }
    }

    static let page = #"""
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>Ferry console</title>
          <link rel="stylesheet" href="/console/console.css">
        </head>
        <body>
          <header>
            <span class="brand">Ferry</span>
            <nav id="nav" hidden>
              <a href="#cluster" id="nav-cluster">Cluster</a>
              <a href="#partitions" id="nav-partitions">Partitions</a>
              <a href="#queues" id="nav-queues">Queues</a>
            </nav>
            <span id="who"></span>
            <button id="logout" hidden>Log out</button>
          </header>
          <div id="banner" role="alert" hidden></div>
          <main id="main">
            <form id="login" hidden>
              <h1>Log in</h1>
              <p>With an access key of this cluster (node.yaml's <code>sqs.access_keys</code> or <code>ferry auth
                create-key</code>). The secret stays in this browser tab: every request is signed with it.</p>
              <label>Access key id <input id="key-id" autocomplete="username" required></label>
              <label>Secret access key <input id="key-secret" type="password" autocomplete="current-password"
                required></label>
              <label>Region <input id="key-region" value="us-east-1" required></label>
              <button type="submit" id="login-button">Log in</button>
            </form>
            <section id="view"></section>
          </main>
          <script src="/console/sigv4.js"></script>
          <script src="/console/views.js"></script>
          <script src="/console/app.js"></script>
        </body>
        </html>
        """#

    static let style = #"""
        :root { --ink: #1d2733; --muted: #5d6b7a; --line: #d9e0e7; --accent: #0b6bcb; --bad: #b42318;
          --good: #067647; --warn: #b54708; --panel: #f6f8fa; }
        * { box-sizing: border-box; }
        [hidden] { display: none !important; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); }
        header { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #10243b;
          color: #fff; }
        header .brand { font-weight: 700; font-size: 18px; letter-spacing: 0.5px; }
        header nav a { color: #cfe0f5; margin-right: 16px; text-decoration: none; }
        header nav a.active { color: #fff; border-bottom: 2px solid #7fb8ff; }
        header #who { margin-left: auto; color: #cfe0f5; }
        main { padding: 16px 24px; }
        h1 { font-size: 20px; margin: 8px 0 12px; }
        h2 { font-size: 16px; margin: 20px 0 8px; }
        table { border-collapse: collapse; width: 100%; margin-bottom: 12px; }
        th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
        th { background: var(--panel); font-weight: 600; color: var(--muted); }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        .tiles { display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 12px; }
        .tile { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px;
          min-width: 150px; }
        .tile .label { color: var(--muted); font-size: 12px; }
        .tile .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
        .ok { color: var(--good); } .bad { color: var(--bad); } .warn { color: var(--warn); }
        button { background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: 6px 12px;
          cursor: pointer; font: inherit; }
        button.danger { background: var(--bad); }
        button.plain { background: #e6ebf1; color: var(--ink); }
        button:disabled { opacity: 0.5; cursor: default; }
        #banner { margin: 12px 24px 0; padding: 10px 14px; border-radius: 6px; background: #fef3f2;
          border: 1px solid #fecdca; color: var(--bad); }
        #banner.info { background: #ecfdf3; border-color: #abefc6; color: var(--good); }
        form#login { max-width: 420px; display: flex; flex-direction: column; gap: 10px; }
        form#login input { width: 100%; padding: 6px 8px; font: inherit; border: 1px solid var(--line);
          border-radius: 4px; }
        .actions { display: flex; gap: 8px; margin: 8px 0 16px; }
        .charts { display: flex; gap: 16px; flex-wrap: wrap; }
        .chart { border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
        .chart .title { color: var(--muted); font-size: 12px; margin-bottom: 4px; }
        .chart svg text { font-size: 10px; fill: var(--muted); }
        .timeline svg text { font-size: 10px; fill: var(--muted); }
        code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12px; }
        .muted { color: var(--muted); }
        pre.body { background: var(--panel); padding: 6px 8px; margin: 0; max-width: 520px; overflow: hidden;
          text-overflow: ellipsis; }
        """#
}
