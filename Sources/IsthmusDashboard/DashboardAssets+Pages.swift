extension DashboardAssets {
    /// The script's pages: the overview (/) and a connection's page (/connections/NAME); it follows
    /// ``scriptFoundation`` in ``script``.
    static let scriptPages = #"""
          // ---------------------------------------------------------------- overview
          function renderOverview() {
            const main = document.getElementById("main");
            const m = app.model;
            document.title = m.gateway.name + " · Isthmus";
            document.getElementById("crumbs").replaceChildren(h("span", {}, "Overview"));
            const diagram = h("div", { class: "diagram-wrap" });
            const table = h("table", { class: "grid", id: "connections" },
              h("thead", {}, h("tr", {}, ["Connection", "Status", "Local network", "Type", "IKE SA", "CHILD SAs", "Traffic in / out", "Rate in / out", "Diagnosis"].map(x => h("th", {}, x)))),
              h("tbody", { id: "connection-rows" }));
            const cards = h("div", { class: "stats", id: "stats" });
            main.replaceChildren(
              h("div", { class: "page-head" },
                h("div", {}, h("h1", {}, m.gateway.name), h("div", { class: "sub" }, "Site-to-site VPN gateway · " + m.gateway.kindText)),
                h("div", { class: "head-actions" }, actionButton("Reload configuration", "/api/reload", "Read the configuration file again and apply what changed?"))),
              cards,
              h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Topology"),
                h("div", { class: "legend" }, ["up", "connecting", "down"].map(st => h("span", { class: "legend-item" }, h("span", { class: "swatch " + st }), STATE_TEXT[st])))), diagram),
              h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Connections")), table));
            renderDiagram(diagram);
            updateOverview();
          }
          function updateOverview() {
            updateDiagram();
            const rows = document.getElementById("connection-rows");
            if (!rows) return;
            const snap = app.snapshot || {};
            const traffic = snap.traffic || {};
            rows.replaceChildren(...app.model.connections.map(c => {
              const st = statusOf(c.name) || { ikeSAs: [] };
              const ike = (st.ikeSAs || [])[0];
              const children = (st.ikeSAs || []).reduce((n, sa) => n + (sa.childSAs || []).length, 0);
              const t = traffic[c.name] || { bytesIn: 0, bytesOut: 0 };
              const r = app.rates[c.name];
              return h("tr", { "data-connection": c.name },
                h("td", {}, h("a", { href: "/connections/" + encodeURIComponent(c.name) }, c.name)),
                h("td", {}, pill(stateOf(c.name))),
                h("td", {}, c.site),
                h("td", {}, (c.kind === "dynamic" ? "Route-based" : "Policy-based") + " · IKEv" + c.ikeVersion),
                h("td", {}, ike ? ike.state + (ike.establishedSecondsAgo != null ? " · " + duration(ike.establishedSecondsAgo) : "") : "—"),
                h("td", {}, String(children)),
                h("td", { class: "num" }, bytes(t.bytesIn) + " / " + bytes(t.bytesOut)),
                h("td", { class: "num" }, r ? rate(r.in) + " / " + rate(r.out) : "—"),
                h("td", { class: "diag-cell" }, diagnosisLine(app.diagnoses[c.name])));
            }));
            const status = snap.status || {};
            const states = Object.values(snap.states || {});
            const plane = status.dataplane || {};
            document.getElementById("stats").replaceChildren(
              stat("Connections", states.filter(x => x === "up").length + " of " + app.model.connections.length + " up"),
              stat("IKE SAs", String((status.counters || {}).ikeSAs || 0)),
              stat("CHILD SAs", String((status.childSAs || []).length)),
              stat("ESP packets out / in", (plane.espPacketsOut || 0) + " / " + (plane.espPacketsIn || 0)),
              stat("Uptime", duration(status.uptimeSeconds)));
          }
          function diagnosisLine(d) {
            if (!d) return "—";
            return h("span", { class: "diag " + (d.healthy ? "healthy" : "unhealthy"), title: d.summary }, (d.healthy ? "✓ " : "! ") + d.summary);
          }
          async function loadDiagnoses() {
            const all = await getJSON("/api/diagnose").catch(() => null);
            app.diagnoses = {};
            if (all && all.ok && all.diagnoses) for (const d of all.diagnoses) app.diagnoses[d.connection] = d;
          }
          function stat(label, value) { return h("div", { class: "stat" }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value)); }

          // ---------------------------------------------------------------- connection page
          function renderConnection(name) {
            const main = document.getElementById("main");
            const c = app.model.connections.find(x => x.name === name);
            document.title = name + " · " + app.model.gateway.name + " · Isthmus";
            document.getElementById("crumbs").replaceChildren(h("a", { href: "/" }, "Overview"), h("span", { class: "sep" }, "›"), h("span", {}, name));
            if (!c) {
              main.replaceChildren(h("section", { class: "card" }, h("h2", {}, "No connection named " + name), h("p", {}, h("a", { href: "/" }, "Back to the overview"))));
              return;
            }
            const site = app.model.sites.find(x => x.name === c.site) || { prefixes: [], gateway: "" };
            const enc = encodeURIComponent(name);
            main.replaceChildren(
              h("div", { class: "page-head" },
                h("div", {}, h("h1", {}, name, " ", h("span", { id: "conn-state" })), h("div", { class: "sub" }, "Connection to local network " + c.site + " (" + site.gateway + ")")),
                h("div", { class: "head-actions" },
                  actionButton("Connect", "/api/connections/" + enc + "/up", null, "primary"),
                  actionButton("Disconnect", "/api/connections/" + enc + "/down", "Delete the SAs of " + name + " and stay down until Connect?"),
                  actionButton("Rotate key", "/api/connections/" + enc + "/rotate-key", "Write a new pre-shared key into the key file of " + name + "? The peer needs it too."),
                  actionButton("Reload", "/api/reload", "Read the configuration file again and apply what changed?"))),
              h("div", { class: "columns" },
                h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Configuration")), properties([
                  ["Type", (c.kind === "dynamic" ? "Route-based (dynamic)" : "Policy-based (static)") + ", IKEv" + c.ikeVersion],
                  ["Local prefixes", app.model.network.prefixes.join(", ")],
                  ["Remote prefixes", site.prefixes.join(", ")],
                  ["Peer gateway", site.gateway],
                  ["Shared key", c.sharedKey === "inline" ? "inline in the configuration" : c.sharedKey],
                  ["IKE proposals", c.ikeProposals.join(", ")],
                  ["ESP proposals", c.espProposals.join(", ")],
                  ["Lifetimes", "IKE " + duration(c.ikeLifetimeSeconds) + ", ESP " + duration(c.espLifetimeSeconds) + (c.espLifetimeKilobytes ? " or " + bytes(c.espLifetimeKilobytes * 1024) : "")],
                  ["Liveness", c.liveness],
                  ["NAT traversal", c.natTraversal],
                  c.localID ? ["Local ID", c.localID] : null,
                  c.remoteID ? ["Remote ID", c.remoteID] : null,
                ])),
                h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Status")), h("div", { id: "conn-status" }))),
              h("section", { class: "card", id: "diagnosis-card", hidden: true }, h("div", { class: "card-head" }, h("h2", {}, "Diagnosis")), h("div", { id: "diagnosis" })),
              h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Security associations")), h("div", { id: "sas" })),
              h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Traffic"), h("div", { class: "legend", id: "traffic-legend" })),
                h("div", { class: "chart-wrap" }, h("canvas", { id: "traffic-chart", height: 220 }))),
              h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Event timeline"), h("span", { class: "muted", id: "event-count" })), h("ol", { class: "timeline", id: "timeline" })));
            updateConnection();
            renderTimeline();
            renderDiagnosis();
          }
          function properties(pairs) {
            return h("dl", { class: "props" }, pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
          }
          function updateConnection() {
            const name = app.connection;
            const stateBox = document.getElementById("conn-state");
            if (!stateBox) return;
            stateBox.replaceChildren(pill(stateOf(name)));
            const st = statusOf(name) || { ikeSAs: [] };
            const late = age();
            const model = app.model.connections.find(x => x.name === name) || {};
            const ike0 = (st.ikeSAs || []).find(sa => sa.state === "established") || (st.ikeSAs || [])[0];
            const dp = st.dataPath;
            const tot = (app.snapshot && app.snapshot.traffic && app.snapshot.traffic[name]) || { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 };
            const lastEvent = app.events[app.events.length - 1];
            const statusBox = document.getElementById("conn-status");
            if (statusBox) statusBox.replaceChildren(properties([
              ["State", pill(stateOf(name))],
              ["IKE SA", ike0 ? (ike0.establishedSecondsAgo != null ? "established " + duration(ike0.establishedSecondsAgo + late) + " ago" : ike0.state) + " (" + ike0.role + ")" : "none"],
              ["CHILD SAs", String((st.ikeSAs || []).reduce((n, sa) => n + (sa.childSAs || []).length, 0))],
              ["Peer", st.remoteAddress || "—"],
              ["Data path", dp ? (dp.interface || "—") + (dp.mtu ? ", MTU " + dp.mtu : "") + (dp.routes && dp.routes.length ? ", routes " + dp.routes.join(", ") : "") + (dp.error ? " — " + dp.error : "") : "none (IKE only)"],
              ["Traffic", "in " + bytes(tot.bytesIn) + " (" + tot.packetsIn + " packets), out " + bytes(tot.bytesOut) + " (" + tot.packetsOut + " packets)"],
              ["Key", (st.sharedKey || model.sharedKey || "—") + (st.keyChangedSinceStart ? " — changed since loaded: Reload to use it" : "")],
              ["Last event", lastEvent ? clock(lastEvent.time) + " " + lastEvent.kind : "—"],
              st.lastFailure ? ["Last failure", clock(st.lastFailure.time) + " " + st.lastFailure.kind + ": " + st.lastFailure.message] : null,
              st.nextAttemptSeconds != null ? ["Next attempt", "in " + duration(st.nextAttemptSeconds - late)] : null,
            ]));
            const sas = document.getElementById("sas");
            const ikeRows = (st.ikeSAs || []).map(sa => h("tr", { class: "ike-sa" },
              h("td", {}, "IKE"), h("td", {}, sa.state), h("td", {}, sa.role),
              h("td", { class: "mono" }, sa.localSPI + " / " + sa.remoteSPI),
              h("td", { class: "mono" }, sa.algorithms || "—"),
              h("td", { class: "mono" }, sa.local + " ⇄ " + sa.remote + (sa.natLocal || sa.natRemote ? " (NAT)" : "")),
              h("td", {}, sa.establishedSecondsAgo != null ? duration(sa.establishedSecondsAgo + late) : "—"),
              h("td", { class: "countdown" }, sa.rekeyInSeconds != null ? duration(sa.rekeyInSeconds - late) : "—"),
              h("td", {}, sa.lifetimeSeconds != null ? duration(sa.lifetimeSeconds) + (sa.lifetimeReason ? " (" + sa.lifetimeReason + ")" : "") : duration(model.ikeLifetimeSeconds) + " (configured)")));
            const childRows = [];
            for (const sa of st.ikeSAs || []) for (const ch of sa.childSAs || []) {
              childRows.push(h("tr", { class: "child-sa" },
                h("td", {}, "CHILD"), h("td", {}, ch.state), h("td", {}, ""),
                h("td", { class: "mono" }, ch.inboundSPI + " / " + ch.outboundSPI),
                h("td", { class: "mono" }, ch.algorithms),
                h("td", { class: "mono" }, ch.localSelectors.join(", ") + " ⇄ " + ch.remoteSelectors.join(", ")),
                h("td", {}, "—"),
                h("td", { class: "countdown" }, ch.rekeyInSeconds != null ? duration(ch.rekeyInSeconds - late) : "—"),
                h("td", {}, ch.lifetimeSeconds != null ? duration(ch.lifetimeSeconds) + (ch.lifetimeReason ? " (" + ch.lifetimeReason + ")" : "") : duration(model.espLifetimeSeconds) + " (configured)")));
            }
            if (!ikeRows.length) {
              sas.replaceChildren(h("p", { class: "empty" }, "No security associations: the connection is not established."));
            } else {
              sas.replaceChildren(h("table", { class: "grid", id: "sa-table" },
                h("thead", {}, h("tr", {}, ["SA", "State", "Role", "SPIs (ours / peer's)", "Algorithms", "Endpoints / selectors", "Established", "Rekey in", "Lifetime"].map(x => h("th", {}, x)))),
                h("tbody", {}, ikeRows, childRows)));
            }
            drawChart();
          }
          function renderTimeline() {
            const list = document.getElementById("timeline");
            if (!list) return;
            const items = app.events.slice(-200).reverse();
            document.getElementById("event-count").textContent = app.events.length + " events";
            list.replaceChildren(...items.map(e => h("li", { class: "event " + e.severity },
              h("span", { class: "when", title: e.time }, clock(e.time)),
              h("span", { class: "sev " + e.severity }, e.severity),
              h("span", { class: "kind" }, e.kind),
              h("span", { class: "msg" }, e.message))));
            if (!items.length) list.append(h("li", { class: "empty" }, "No events recorded for this connection yet."));
          }
          function renderDiagnosis() {
            const card = document.getElementById("diagnosis-card");
            const box = document.getElementById("diagnosis");
            if (!card) return;
            const d = app.diagnosis;
            if (!d) { card.hidden = true; return; }
            card.hidden = false;
            const findings = (d.findings || []).map(f => h("div", { class: "finding " + f.severity },
              h("div", { class: "finding-head" }, h("span", { class: "sev " + f.severity }, f.severity), h("strong", {}, f.summary), h("code", {}, f.cause)),
              f.explanation ? h("p", {}, f.explanation) : null,
              (f.evidence || []).length ? h("ul", { class: "evidence" }, f.evidence.map(ev => h("li", {}, (ev.time ? clock(ev.time) + " " : "") + ev.text))) : null,
              (f.fixes || []).length ? h("div", { class: "fixes" }, f.fixes.map(fx => h("div", { class: "fix" },
                h("span", { class: "side" }, fx.side === "peer" ? "On the peer" + (fx.device ? " (" + fx.device + ")" : "") : "Here"),
                h("span", {}, fx.text), fx.yaml ? h("pre", {}, fx.yaml) : null, fx.command ? h("pre", {}, fx.command) : null))) : null));
            box.replaceChildren(h("div", { class: "verdict " + (d.healthy ? "healthy" : "unhealthy") }, d.healthy ? "✓ " : "! ", d.summary), ...findings);
          }
          async function loadConnectionData() {
            const name = app.connection;
            const [events, traffic, diag] = await Promise.all([
              getJSON("/api/events?connection=" + encodeURIComponent(name)).catch(() => ({ events: [] })),
              getJSON("/api/connections/" + encodeURIComponent(name) + "/traffic").catch(() => []),
              getJSON("/api/diagnose?connection=" + encodeURIComponent(name)).catch(() => null),
            ]);
            app.events = events.events || [];
            app.traffic = traffic;
            app.diagnosis = diag && diag.ok && diag.diagnoses ? diag.diagnoses.find(x => x.connection === name) || null : null;
          }
          let diagnoseTimer = null;
          function refreshDiagnosisSoon() {
            if (diagnoseTimer) return;
            diagnoseTimer = setTimeout(async () => {
              diagnoseTimer = null;
              if (app.page === "overview") { await loadDiagnoses(); updateOverview(); return; }
              const diag = await getJSON("/api/diagnose?connection=" + encodeURIComponent(app.connection)).catch(() => null);
              app.diagnosis = diag && diag.ok && diag.diagnoses ? diag.diagnoses.find(x => x.connection === app.connection) || null : null;
              renderDiagnosis();
            }, 1500);
          }

          // ---------------------------------------------------------------- traffic chart (canvas)
          function series() {
            const out = [];
            const t = app.traffic;
            for (let i = 1; i < t.length; i++) {
              const dt = (t[i].time - t[i - 1].time) / 1000;
              if (dt <= 0) continue;
              const d = (a, b) => a >= b ? a - b : a;
              out.push({ time: t[i].time, in: d(t[i].bytesIn, t[i - 1].bytesIn) / dt, out: d(t[i].bytesOut, t[i - 1].bytesOut) / dt });
            }
            return out;
          }
          function drawChart() {
            const canvas = document.getElementById("traffic-chart");
            if (!canvas) return;
            const data = series();
            const width = canvas.parentElement.clientWidth, height = 220, dpr = window.devicePixelRatio || 1;
            if (canvas.width !== Math.round(width * dpr)) { canvas.width = Math.round(width * dpr); canvas.height = Math.round(height * dpr); canvas.style.width = width + "px"; canvas.style.height = height + "px"; }
            const ctx = canvas.getContext("2d");
            ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
            ctx.clearRect(0, 0, width, height);
            const left = 78, right = 16, topP = 12, bottom = 28, w = width - left - right, hh = height - topP - bottom;
            const now = data.length ? data[data.length - 1].time : Date.now();
            // The last minute while there is less than a minute of samples, else the last five minutes.
            const span = (data.length && now - data[0].time > 60 * 1000 ? 300 : 60) * 1000;
            const shown = data.filter(p => p.time >= now - span);
            const max = niceCeiling(Math.max(1024, ...shown.map(p => Math.max(p.in, p.out))) * 1.1);
            ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#605e5c"; ctx.strokeStyle = "#edebe9"; ctx.lineWidth = 1;
            for (let i = 0; i <= 4; i++) {
              const y = topP + hh - hh * i / 4;
              ctx.beginPath(); ctx.moveTo(left, Math.round(y) + 0.5); ctx.lineTo(left + w, Math.round(y) + 0.5); ctx.stroke();
              ctx.textAlign = "right"; ctx.fillText(rate(max * i / 4), left - 8, y + 4);
            }
            ctx.textAlign = "center";
            for (let m = 0; m <= 5; m++) {
              const x = left + w - w * m / 5;
              const ago = span * m / 5 / 1000;
              ctx.fillText(m === 0 ? "now" : ago >= 60 ? "-" + ago / 60 + "m" : "-" + ago + "s", x, height - 8);
            }
            const X = p => left + w - w * (now - p.time) / span, Y = v => topP + hh - hh * v / max;
            const colors = { in: "#0078d4", out: "#00a36c" };
            for (const key of ["out", "in"]) {
              if (!shown.length) break;
              ctx.beginPath();
              shown.forEach((p, i) => { i ? ctx.lineTo(X(p), Y(p[key])) : ctx.moveTo(X(p), Y(p[key])); });
              ctx.strokeStyle = colors[key]; ctx.lineWidth = 2; ctx.stroke();
              ctx.lineTo(X(shown[shown.length - 1]), topP + hh); ctx.lineTo(X(shown[0]), topP + hh); ctx.closePath();
              ctx.fillStyle = key === "in" ? "rgba(0,120,212,0.08)" : "rgba(0,163,108,0.08)"; ctx.fill();
            }
            canvas.setAttribute("data-samples", String(shown.length));
            canvas.setAttribute("data-nonzero", String(shown.filter(p => p.in > 0 || p.out > 0).length));
            const last = data[data.length - 1] || { in: 0, out: 0 };
            const tot = (app.snapshot && app.snapshot.traffic && app.snapshot.traffic[app.connection]) || { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 };
            const legend = document.getElementById("traffic-legend");
            if (legend) legend.replaceChildren(
              h("span", { class: "legend-item" }, h("span", { class: "swatch in" }), "In " + rate(last.in) + " · " + bytes(tot.bytesIn) + " (" + tot.packetsIn + " packets)"),
              h("span", { class: "legend-item" }, h("span", { class: "swatch out" }), "Out " + rate(last.out) + " · " + bytes(tot.bytesOut) + " (" + tot.packetsOut + " packets)"));
          }

          // ---------------------------------------------------------------- live updates
          app.rates = {};
          app.diagnoses = {};
          function onSnapshot(snap) {
            const prev = app.snapshot;
            app.snapshot = snap;
            if (prev && prev.traffic && snap.traffic && snap.time > prev.time) {
              const dt = (snap.time - prev.time) / 1000;
              for (const [name, t] of Object.entries(snap.traffic)) {
                const p = prev.traffic[name];
                if (p) app.rates[name] = { in: Math.max(0, t.bytesIn - p.bytesIn) / dt, out: Math.max(0, t.bytesOut - p.bytesOut) / dt };
              }
            }
            if (app.connection && snap.traffic && snap.traffic[app.connection]) {
              const last = app.traffic[app.traffic.length - 1];
              if (!last || snap.time > last.time) {
                app.traffic.push(Object.assign({ time: snap.time }, snap.traffic[app.connection]));
                if (app.traffic.length > 600) app.traffic.shift();
              }
            }
            if (app.page === "overview") updateOverview(); else if (app.page === "connection") updateConnection();
          }
          function connectStream() {
            const source = new EventSource("/events");
            source.addEventListener("open", () => { app.live = true; renderHeader(); });
            source.addEventListener("error", () => { app.live = false; renderHeader(); });
            source.addEventListener("status", e => onSnapshot(JSON.parse(e.data)));
            source.addEventListener("record", e => {
              const record = JSON.parse(e.data);
              if (app.page === "overview") refreshDiagnosisSoon();
              if (app.page === "connection" && record.connection === app.connection) {
                app.events.push(record);
                if (app.events.length > 1000) app.events.shift();
                renderTimeline();
                refreshDiagnosisSoon();
              }
            });
            source.addEventListener("resync", async () => {
              if (app.page === "connection") { await loadConnectionData(); renderTimeline(); }
            });
          }
          async function refreshAll() {
            renderHeader();
            if (app.page === "overview") renderOverview(); else renderConnection(app.connection);
          }
          async function start() {
            try {
              [app.model, app.session] = await Promise.all([getJSON("/api/model"), getJSON("/api/session")]);
              app.snapshot = await getJSON("/api/status");
            } catch (e) {
              document.getElementById("main").replaceChildren(h("section", { class: "card" }, h("h2", {}, "The gateway does not answer"), h("p", {}, String(e.message))));
              return;
            }
            const match = location.pathname.match(/^\/connections\/([^/]+)$/);
            if (match) { app.page = "connection"; app.connection = decodeURIComponent(match[1]); await loadConnectionData(); }
            else { app.page = "overview"; await loadDiagnoses(); }
            await refreshAll();
            connectStream();
            window.addEventListener("resize", () => { if (app.page === "connection") drawChart(); });
            document.body.setAttribute("data-ready", "true");
          }
          document.addEventListener("DOMContentLoaded", start);
        })();
        """#
}
