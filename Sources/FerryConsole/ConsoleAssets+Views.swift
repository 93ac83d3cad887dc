extension ConsoleAssets {
    /// `/console/views.js`: the pages as HTML from the status documents (pure functions of the documents, no
    /// requests), the charts and the leadership timeline as inline SVG.
    static let viewsScript = #"""
        "use strict";
        window.Ferry = window.Ferry || {};
        (function (Ferry) {
          const esc = (value) => String(value ?? "").replace(/[&<>"']/g,
            (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
          const num = (n) => Number(n || 0).toLocaleString("en-US");
          const bytes = (n) => {
            if (!n) return "–";
            const units = ["B", "KiB", "MiB", "GiB", "TiB"];
            let i = 0;
            while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
            return n.toFixed(i ? 1 : 0) + " " + units[i];
          };
          const micros = (us) => !us ? "–" : us < 1000 ? us + " µs" : (us / 1000).toFixed(2) + " ms";
          const age = (s) => s < 120 ? s + " s" : s < 7200 ? Math.round(s / 60) + " min" :
            (s / 3600).toFixed(1) + " h";
          // A queue's oldest message: none when it is empty.
          const oldest = (q) => q.visible + q.inFlight + q.delayed ? age(q.oldestAgeSeconds) : "–";
          const clock = (ms) => new Date(ms).toLocaleTimeString("en-GB", { hour12: false });
          const tile = (label, value, cls, id) =>
            `<div class="tile"${id ? ` id="${id}"` : ""}><div class="label">${esc(label)}</div>` +
            `<div class="value ${cls || ""}">${value}</div></div>`;
          const table = (id, heads, rows) => `<table id="${id}"><thead><tr>` +
            heads.map((h) => `<th class="${h.num ? "num" : ""}">${esc(h.label || h)}</th>`).join("") +
            `</tr></thead><tbody>${rows.join("") || `<tr><td colspan="${heads.length}" class="muted">none</td></tr>`}` +
            `</tbody></table>`;
          const cell = (v, isNum) => `<td class="${isNum ? "num" : ""}">${v}</td>`;
          const N = (label) => ({ label, num: true });

          function cluster(doc) {
            const reachable = doc.nodes.filter((n) => n.reachable).length;
            const leaderless = doc.partitions.filter((p) => !p.leader).length;
            const lagging = doc.partitions.filter((p) => p.followers.some((f) => f.lag >= 10)).length;
            const rows = doc.nodes.map((n) => {
              const used = n.diskTotalBytes ? (100 * (1 - n.diskFreeBytes / n.diskTotalBytes)).toFixed(0) + " %" : "–";
              const tls = !n.reachable ? "–" : n.tlsNotAfter ?
                new Date(n.tlsNotAfter * 1000).toISOString().slice(0, 10) : "plain";
              const count = (value) => n.reachable ? value : "–";
              return `<tr data-node="${n.id}">` + cell(n.id) + cell(esc(n.address) + ":" + n.httpPort) +
                cell(`<span class="${n.health === "ok" ? "ok" : "bad"}">${esc(n.health)}</span>`) +
                cell(esc(n.fsync) || "–") + cell(count(n.leaderOf), true) + cell(count(n.followerOf), true) +
                cell(count(n.repairing), true) +
                cell(micros(n.fsyncMedianMicros), true) + cell(micros(n.fsyncMaxMicros), true) +
                cell(used, true) + cell(bytes(n.diskFreeBytes), true) + cell(tls) + "</tr>";
            });
            return `<h1>Cluster <span class="muted mono">${esc(doc.clusterID)}</span></h1>` +
              `<div class="tiles">` + tile("Nodes answering", `${reachable} / ${doc.nodes.length}`,
                reachable === doc.nodes.length ? "ok" : "bad", "tile-nodes") +
              tile("Raft groups", num(doc.partitions.length)) +
              tile("Groups without a leader", num(leaderless), leaderless ? "bad" : "ok", "tile-leaderless") +
              tile("Groups with a lagging follower", num(lagging), lagging ? "warn" : "ok") +
              tile("Served by node", doc.servedBy) + `</div>` +
              table("nodes", ["Node", "Address", "Health", "fsync", N("Leads"), N("Follows"), N("Repairing"),
                N("fsync median"), N("fsync max"), N("Disk used"), N("Disk free"), "TLS expires"], rows);
          }

          function timeline(changes, nowMs) {
            const span = 3600 * 1000, width = 900, rowHeight = 16, left = 150;
            const recent = changes.filter((c) => nowMs - c.atMs <= span);
            const groups = [...new Set(recent.map((c) => c.group))].slice(0, 24);
            const height = 24 + rowHeight * Math.max(1, groups.length);
            const x = (ms) => left + (width - left - 10) * (1 - (nowMs - ms) / span);
            let svg = `<svg width="${width}" height="${height}" role="img" aria-label="leadership timeline">`;
            for (let m = 0; m <= 60; m += 10) {
              const px = x(nowMs - m * 60000);
              svg += `<line x1="${px}" x2="${px}" y1="0" y2="${height - 14}" stroke="#e4e9ee"/>` +
                `<text x="${px - 12}" y="${height - 2}">${m ? "-" + m + " min" : "now"}</text>`;
            }
            groups.forEach((group, row) => {
              const y = 12 + row * rowHeight;
              const first = recent.find((c) => c.group === group);
              const label = first.queue ? `${first.queue}/${first.partition}` : "metadata";
              svg += `<text x="0" y="${y + 4}">${esc(label).slice(0, 24)}</text>`;
              for (const c of recent.filter((c) => c.group === group)) {
                const color = c.leader ? ["#0b6bcb", "#067647", "#7a5af8", "#c11574", "#b54708"][c.leader % 5] : "#b42318";
                svg += `<circle cx="${x(c.atMs)}" cy="${y}" r="4" fill="${color}">` +
                  `<title>${clock(c.atMs)} term ${c.term}: ${c.leader ? "node " + c.leader + " leads" : "election"}` +
                  `</title></circle>`;
              }
            });
            return svg + `</svg>`;
          }

          function partitions(doc, nowMs) {
            const rows = doc.partitions.map((p) => {
              const lag = p.followers.length ? Math.max(...p.followers.map((f) => f.lag)) : 0;
              return `<tr data-group="${p.group}">` + cell(p.queue ? esc(p.queue) : `<span class="muted">metadata</span>`) +
                cell(p.partition, true) + cell(p.group, true) +
                cell(p.leader ? p.leader : `<span class="bad">none</span>`, true) + cell(p.term, true) +
                cell(num(p.commitIndex), true) + cell(num(p.appliedIndex), true) +
                cell(p.followers.map((f) => `${f.node}: ${f.lag}`).join(", ") || "–") +
                cell(lag >= 10 ? `<span class="warn">${lag}</span>` : lag, true) + "</tr>";
            });
            const changes = doc.leadershipChanges.slice(0, 30).map((c) => "<tr>" + cell(clock(c.atMs)) +
              cell(c.queue ? `${esc(c.queue)}/${c.partition}` : "metadata") + cell(c.term, true) +
              cell(c.leader ? "node " + c.leader + " leads" : `<span class="bad">leader lost</span>`) +
              cell(c.reportedBy, true) + "</tr>");
            return `<h1>Partitions</h1>` +
              table("partitions", ["Queue", N("Partition"), N("Group"), N("Leader"), N("Term"), N("Commit"),
                N("Applied"), "Follower lag (node: entries)", N("Largest lag")], rows) +
              `<h2>Leadership over the last hour</h2><div class="timeline">${timeline(doc.leadershipChanges, nowMs)}</div>` +
              `<h2>Recent leadership changes</h2>` +
              table("leadership", ["Time", "Partition", N("Term"), "Change", N("Seen by node")], changes);
          }

          function queues(doc) {
            const rows = doc.queues.map((q) => `<tr data-queue="${esc(q.name)}">` +
              cell(`<a href="#queue/${encodeURIComponent(q.name)}">${esc(q.name)}</a>`) +
              cell(q.partitions, true) + cell(num(q.visible), true) + cell(num(q.inFlight), true) +
              cell(num(q.delayed), true) + cell(oldest(q), true) +
              cell(q.fifo ? `${num(q.groups)} (${num(q.groupsWithInFlight)} blocked)` : "–", true) +
              cell(q.deadLetterQueue ? `→ ${esc(q.deadLetterQueue)} after ${q.maxReceiveCount}` : "–") +
              cell(q.deadLetterSources.length ? "DLQ of " + q.deadLetterSources.map(esc).join(", ") : "–") +
              cell(q.error ? `<span class="warn">${esc(q.error)}</span>` : "") + "</tr>");
            return `<h1>Queues</h1>` + table("queues", ["Name", N("Partitions"), N("Visible"), N("In flight"),
              N("Delayed"), N("Oldest"), N("FIFO groups with a backlog"), "Redrive", "Dead-letter queue", ""], rows);
          }

          function chart(points, series, title, id) {
            const width = 420, height = 150, pad = 28;
            const max = Math.max(1, ...points.flatMap((p) => series.map((s) => p[s.key])));
            const t0 = points.length ? points[0].atMs : 0, t1 = points.length ? points[points.length - 1].atMs : 1;
            const x = (ms) => pad + (width - pad - 8) * (t1 > t0 ? (ms - t0) / (t1 - t0) : 1);
            const y = (v) => height - 18 - (height - 30) * v / max;
            let svg = `<svg width="${width}" height="${height}" id="${id}">` +
              `<line x1="${pad}" x2="${width - 8}" y1="${y(0)}" y2="${y(0)}" stroke="#d9e0e7"/>` +
              `<text x="0" y="12">${max >= 100 ? num(Math.round(max)) : max.toFixed(1)}</text>` +
              `<text x="${pad}" y="${height - 2}">${points.length ? clock(t0) : "no samples yet"}</text>` +
              (points.length ? `<text x="${width - 60}" y="${height - 2}">${clock(t1)}</text>` : "");
            for (const s of series) {
              const line = points.map((p) => `${x(p.atMs).toFixed(1)},${y(p[s.key]).toFixed(1)}`).join(" ");
              svg += `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${line}"/>`;
            }
            const legend = series.map((s) => `<span style="color:${s.color}">■ ${esc(s.label)}</span>`).join(" ");
            return `<div class="chart"><div class="title">${esc(title)} ${legend}</div>${svg}</svg></div>`;
          }

          function queue(detail, identity) {
            const q = detail.queue;
            const tasks = detail.moveTasks.map((t) => `<tr data-task="${esc(t.taskHandle)}">` +
              cell(`<span class="${t.status === "COMPLETED" ? "ok" : ""}">${esc(t.status)}</span>`) +
              cell(clock(t.startedAtMs)) + cell(esc(t.destination || "each message's source")) +
              cell(num(t.messagesMoved) + " / " + num(t.messagesToMove), true) + cell(num(t.messagesSkipped), true) +
              "</tr>");
            const isDLQ = q.deadLetterSources.length > 0;
            return `<h1>Queue <span class="mono" id="queue-name">${esc(q.name)}</span></h1>` +
              (identity.readOnly ? `<p class="warn">This key is read-only: the SQS API refuses its actions.</p>` : "") +
              `<div class="tiles">` + tile("Visible", num(q.visible), "", "tile-visible") +
              tile("In flight", num(q.inFlight), "", "tile-inflight") + tile("Delayed", num(q.delayed)) +
              tile("Oldest message", oldest(q), "", "tile-oldest") +
              (q.fifo ? tile("FIFO groups with a backlog", num(q.groups)) +
                tile("Groups blocked by a message in flight", num(q.groupsWithInFlight)) : "") +
              tile("Sent (total)", num(q.sent), "", "tile-sent") + tile("Dead-lettered (total)", num(q.deadLettered)) +
              `</div>` +
              `<p>` + (q.deadLetterQueue ? `Messages received ${q.maxReceiveCount} times move to ` +
                `<a href="#queue/${encodeURIComponent(q.deadLetterQueue)}">${esc(q.deadLetterQueue)}</a>. ` : "") +
              (isDLQ ? `Dead-letter queue of ${q.deadLetterSources.map((s) =>
                `<a href="#queue/${encodeURIComponent(s)}">${esc(s)}</a>`).join(", ")}.` : "") + `</p>` +
              `<div class="actions">` +
              (isDLQ ? `<button id="start-redrive">Start redrive to source queues</button>` : "") +
              `<button id="peek" class="plain">Peek at messages</button>` +
              (q.fifo ? `<button id="show-groups" class="plain">FIFO groups with a backlog</button>` : "") +
              `<button id="purge" class="danger">Purge queue</button></div>` +
              `<div class="charts">` +
              chart(detail.history, [{ key: "sentPerSecond", label: "sent", color: "#0b6bcb" },
                { key: "receivedPerSecond", label: "received", color: "#067647" },
                { key: "deletedPerSecond", label: "deleted", color: "#b54708" }], "Messages per second", "chart-rates") +
              chart(detail.history, [{ key: "visible", label: "visible", color: "#0b6bcb" },
                { key: "inFlight", label: "in flight", color: "#7a5af8" }], "Depth", "chart-depth") + `</div>` +
              `<h2>Redrives (message move tasks)</h2>` +
              table("move-tasks", ["Status", "Started", "Destination", N("Moved / to move"), N("Skipped")], tasks) +
              `<div id="peeked"></div>`;
          }

          function groups(list) {
            const rows = list.map((g) => `<tr data-group-id="${esc(g.groupId)}">` +
              cell(`<span class="mono">${esc(g.groupId)}</span>`) + cell(num(g.messages), true) +
              cell(g.inFlight ? `<span class="warn">${g.inFlight} (blocked)</span>` : "0", true) +
              cell(age(g.oldestAgeSeconds), true) + "</tr>");
            return `<h2>FIFO groups with a backlog (largest first)</h2>` +
              table("groups-table", ["Group", N("Messages"), N("In flight"), N("Oldest")], rows);
          }

          function peeked(messages) {
            const rows = messages.map((m) => "<tr>" + cell(`<span class="mono">${esc(m.messageId)}</span>`) +
              cell(esc(m.groupId || "–")) + cell(clock(m.sentAtMs)) + cell(m.receiveCount, true) +
              cell(`<pre class="body">${esc(m.body)}</pre>`) + "</tr>");
            return `<h2>Messages (peeked: visibility unchanged)</h2>` +
              table("peek-table", ["Message id", "Group", "Sent", N("Receives"), "Body"], rows);
          }

          Ferry.views = { cluster, partitions, queues, queue, peeked, groups };
        })(window.Ferry);
        """#
}
