extension ConsoleAssets {
    /// `/console/app.js`: login, the signed requests (status documents, and SQS API calls for the actions), the
    /// hash routes (`#cluster`, `#partitions`, `#queues`, `#queue/<name>`), and a refresh every two seconds.
    static let appScript = #"""
        "use strict";
        (function (Ferry) {
          const $ = (id) => document.getElementById(id);
          const state = { credentials: null, identity: null, timer: null, peek: null, groups: null, busy: false };

          function banner(text, kind) {
            const element = $("banner");
            element.hidden = !text;
            element.textContent = text || "";
            element.className = kind || "";
          }

          // A status document, signed with the logged-in key (unsigned when the node takes unsigned requests).
          async function status(path) {
            const url = "/status/v1/" + path;
            const headers = state.credentials ? Ferry.sign(state.credentials, "GET", url, "", {}) : {};
            const response = await fetch(url, { headers, cache: "no-store" });
            const body = await response.json().catch(() => ({}));
            if (!response.ok) {
              const error = body.error || {};
              throw new Error((error.code || response.status) + ": " + (error.message || response.statusText));
            }
            return body;
          }

          // An SQS call (JSON protocol), signed: the same operation and permission check as any SQS client's.
          async function sqs(operation, input) {
            const body = JSON.stringify(input);
            const headers = { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS." + operation };
            const sent = state.credentials ? Ferry.sign(state.credentials, "POST", "/", body, headers) : headers;
            const response = await fetch("/", { method: "POST", headers: sent, body });
            const answer = await response.json().catch(() => ({}));
            if (!response.ok) {
              const code = (answer.__type || String(response.status)).split("#").pop();
              throw new Error(operation + " refused: " + code + ": " + (answer.message || answer.Message || ""));
            }
            return answer;
          }

          const queueURL = (name) => location.origin + "/" + state.identity.account + "/" + name;
          const queueARN = (name) => "arn:aws:sqs:" + (state.credentials ? state.credentials.region : "us-east-1") +
            ":" + state.identity.account + ":" + name;

          function route() {
            const hash = decodeURIComponent(location.hash.slice(1)) || "cluster";
            if (hash.startsWith("queue/")) return { page: "queue", name: hash.slice(6) };
            return { page: ["cluster", "partitions", "queues"].includes(hash) ? hash : "cluster" };
          }

          async function render() {
            if (!state.identity || state.busy) return;
            const where = route();
            for (const page of ["cluster", "partitions", "queues"]) {
              $("nav-" + page).className = where.page === page || (where.page === "queue" && page === "queues")
                ? "active" : "";
            }
            let html;
            try {
              if (where.page === "cluster") html = Ferry.views.cluster(await status("cluster"));
              if (where.page === "partitions") html = Ferry.views.partitions(await status("cluster"), Date.now());
              if (where.page === "queues") html = Ferry.views.queues(await status("queues"));
              if (where.page === "queue") {
                const detail = await status("queues/" + encodeURIComponent(where.name));
                html = Ferry.views.queue(detail, state.identity);
                if (state.groups && state.groups.queue === where.name) html += Ferry.views.groups(state.groups.list);
                if (state.peek && state.peek.queue === where.name) html += Ferry.views.peeked(state.peek.messages);
              }
            } catch (error) {
              banner(error.message);
              return;
            }
            if (route().page !== where.page || route().name !== where.name) return;
            const view = $("view");
            if (view.dataset.html !== html) {
              view.innerHTML = html;
              view.dataset.html = html;
              view.dataset.page = where.page;
              bindActions(where);
            }
            document.body.dataset.rendered = String(Date.now());
          }

          // Runs an action, shows its outcome, and renders at once.
          async function act(label, body) {
            state.busy = true;
            try {
              const note = await body();
              banner(note || label + ": done", "info");
            } catch (error) {
              banner(error.message);
            } finally {
              state.busy = false;
              $("view").dataset.html = "";
              render();
            }
          }

          function bindActions(where) {
            if (where.page !== "queue") return;
            const name = where.name;
            const redrive = $("start-redrive");
            if (redrive) {
              redrive.onclick = () => act("Redrive", async () => {
                const answer = await sqs("StartMessageMoveTask", { SourceArn: queueARN(name) });
                return "Redrive started (task " + answer.TaskHandle.slice(0, 16) + "…)";
              });
            }
            $("purge").onclick = () => {
              if (!confirm("Purge every message of " + name + "?")) return;
              act("Purge", async () => {
                await sqs("PurgeQueue", { QueueUrl: queueURL(name) });
                return "Purge of " + name + " accepted";
              });
            };
            const showGroups = $("show-groups");
            if (showGroups) {
              showGroups.onclick = () => act("Groups", async () => {
                const answer = await status("queues/" + encodeURIComponent(name) + "/groups");
                state.groups = { queue: name, list: answer.groups };
                return answer.groups.length + " FIFO groups with messages (largest first, at most 20)";
              });
            }
            $("peek").onclick = () => act("Peek", async () => {
              const answer = await status("queues/" + encodeURIComponent(name) + "/messages");
              state.peek = { queue: name, messages: answer.messages };
              return "Peeked at " + answer.messages.length + " messages; their visibility is unchanged";
            });
          }

          function showLogin(error) {
            $("login").hidden = false;
            $("nav").hidden = true;
            $("logout").hidden = true;
            $("view").innerHTML = "";
            $("who").textContent = "";
            banner(error || "");
          }

          async function login(credentials) {
            state.credentials = credentials;
            try {
              state.identity = await status("whoami");
            } catch (error) {
              state.credentials = null;
              state.identity = null;
              throw error;
            }
            if (credentials) sessionStorage.setItem("ferry.credentials", JSON.stringify(credentials));
            $("login").hidden = true;
            $("nav").hidden = false;
            $("logout").hidden = !credentials;
            $("who").textContent = (state.identity.keyID || "unsigned") + " · account " + state.identity.account +
              (state.identity.readOnly ? " · read-only" : "") + " · node " + state.identity.node;
            banner("");
            clearInterval(state.timer);
            state.timer = setInterval(render, 2000);
            render();
          }

          $("login").onsubmit = (event) => {
            event.preventDefault();
            const credentials = { keyId: $("key-id").value.trim(), secret: $("key-secret").value,
              region: $("key-region").value.trim() || "us-east-1" };
            login(credentials).catch((error) => showLogin("Log in failed: " + error.message));
          };
          $("logout").onclick = () => {
            sessionStorage.removeItem("ferry.credentials");
            clearInterval(state.timer);
            state.identity = null;
            state.peek = null;
            state.groups = null;
            showLogin("");
          };
          window.addEventListener("hashchange", () => {
            banner("");  // an action's outcome belongs to the page it was taken on
            $("view").dataset.html = "";
            render();
          });

          const saved = sessionStorage.getItem("ferry.credentials");
          login(saved ? JSON.parse(saved) : null).catch((error) => showLogin(saved ? error.message : ""));
        })(window.Ferry);
        """#
}
