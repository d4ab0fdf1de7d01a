// The dashboard's page, script, style sheet and icon: served from memory, nothing loaded from elsewhere, so the
// dashboard works offline. No inline script or style (the content security policy forbids both).

/// What the dashboard's pages are made of.
enum DashboardAssets {
    /// The page shell: both pages (`/` and `/connections/NAME`) are this document; the script draws them.
    static let html = #"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>Isthmus</title>
        <link rel="icon" href="/favicon.svg" type="image/svg+xml">
        <link rel="stylesheet" href="/app.css">
        <script src="/app.js" defer></script>
        </head>
        <body>
        <header class="top">
          <a class="brand" href="/"><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 2l8 3v6c0 5-3.4 9.3-8 11-4.6-1.7-8-6-8-11V5zm-2 9v-1a2 2 0 1 1 4 0v1h1v5H9v-5zm1 0h2v-1a1 1 0 1 0-2 0z"/></svg>Isthmus</a>
          <div class="gw"><span id="gateway-name"></span><span id="gateway-kind"></span></div>
          <div class="spacer"></div>
          <div class="live off" id="live"><span class="dot"></span><span>Connecting</span></div>
          <div id="access"></div>
        </header>
        <nav class="crumbs" id="crumbs" aria-label="Breadcrumb"></nav>
        <main id="main"><p class="empty">Loading…</p></main>
        <div id="toasts" aria-live="polite"></div>
        </body>
        </html>
        """#

    /// The script: the diagram (SVG), the tables, the traffic chart (canvas), live updates (EventSource), actions;
    /// its shared part here, the overview and connection pages in DashboardAssets+Pages.swift.
    static let script = scriptFoundation + "\n" + scriptPages

    /// The script up to the pages: helpers, the diagram, live updates, actions.
    static let scriptFoundation = #"""
        "use strict";
        // Isthmus dashboard: one script for the overview (/) and the connection pages (/connections/NAME).
        // Everything it shows comes from this gateway's own API; it loads nothing from elsewhere.
        (function () {
          const SVG = "http://www.w3.org/2000/svg";
          const STATE_TEXT = { up: "Connected", connecting: "Connecting", down: "Not connected" };
          const app = {
            model: null, snapshot: null, session: { actions: false }, live: false,
            page: null, events: [], diagnosis: null, traffic: [], connection: null,
          };

          // ---------------------------------------------------------------- helpers
          function h(tag, attrs, ...children) {
            const el = document.createElement(tag);
            for (const [k, v] of Object.entries(attrs || {})) {
              if (v === null || v === undefined || v === false) continue;
              if (k === "class") el.className = v;
              else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
              else el.setAttribute(k, v === true ? "" : String(v));
            }
            for (const c of children.flat()) {
              if (c === null || c === undefined || c === false) continue;
              el.append(c instanceof Node ? c : document.createTextNode(String(c)));
            }
            return el;
          }
          function s(tag, attrs, ...children) {
            const el = document.createElementNS(SVG, tag);
            for (const [k, v] of Object.entries(attrs || {})) {
              if (v !== null && v !== undefined) el.setAttribute(k, String(v));
            }
            for (const c of children.flat()) {
              if (c === null || c === undefined) continue;
              el.append(c instanceof Node ? c : document.createTextNode(String(c)));
            }
            return el;
          }
          function token() { return sessionStorage.getItem("isthmus-token") || ""; }
          async function getJSON(path) {
            const r = await fetch(path, { cache: "no-store" });
            if (!r.ok) throw new Error(path + ": HTTP " + r.status);
            return r.json();
          }
          async function act(path) {
            const r = await fetch(path, { method: "POST", headers: { "Authorization": "Bearer " + token() } });
            let body = {};
            try { body = await r.json(); } catch (e) { body = { ok: false, error: "HTTP " + r.status }; }
            return { status: r.status, body };
          }
          function duration(sec) {
            if (sec === null || sec === undefined || isNaN(sec)) return "—";
            sec = Math.max(0, Math.round(sec));
            const d = Math.floor(sec / 86400), hh = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60), ss = sec % 60;
            if (d) return d + "d " + hh + "h";
            if (hh) return hh + "h " + String(m).padStart(2, "0") + "m";
            if (m) return m + "m " + String(ss).padStart(2, "0") + "s";
            return ss + "s";
          }
          function bytes(n) {
            if (!n) return "0 B";
            const u = ["B", "KB", "MB", "GB", "TB"]; let i = 0;
            while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
            return (i ? n.toFixed(n < 10 ? 1 : 0) : Math.round(n)) + " " + u[i];
          }
          function rate(n) { return bytes(n) + "/s"; }
          // The chart's top: a round number in the unit bytes() prints it in (steps of 1024), whose quarters
          // are round too (1, 2, 4, 6, 8 or 10 times a power of ten, or the next unit).
          function niceCeiling(v) {
            let unit = 1;
            while (v >= unit * 1024 && unit < Math.pow(1024, 4)) unit *= 1024;
            const x = v / unit, p = Math.pow(10, Math.floor(Math.log10(x)));
            for (const m of [1, 2, 4, 6, 8, 10]) if (m * p >= x) return Math.min(m * p, 1024) * unit;
            return 1024 * unit;
          }
          function clock(iso) {
            const d = new Date(iso);
            return isNaN(d) ? iso : d.toLocaleTimeString([], { hour12: false }) ;
          }
          function stateOf(name) {
            return (app.snapshot && app.snapshot.states && app.snapshot.states[name]) || "down";
          }
          function statusOf(name) {
            const st = app.snapshot && app.snapshot.status;
            return st && (st.connections || []).find(c => c.name === name);
          }
          function pill(state) {
            return h("span", { class: "pill " + state, "data-state": state }, h("span", { class: "dot" }), STATE_TEXT[state] || state);
          }
          function age() { return app.snapshot ? (Date.now() - app.snapshot.time) / 1000 : 0; }
          function toast(text, bad) {
            const t = h("div", { class: "toast" + (bad ? " bad" : "") }, text);
            document.getElementById("toasts").append(t);
            setTimeout(() => t.remove(), 4000);
          }

          // ---------------------------------------------------------------- header: live indicator, token
          function renderHeader() {
            const gw = app.model ? app.model.gateway : null;
            document.getElementById("gateway-name").textContent = gw ? gw.name : "";
            document.getElementById("gateway-kind").textContent = gw ? gw.kindText + (gw.publicAddress ? " · " + gw.publicAddress : "") : "";
            const live = document.getElementById("live");
            live.className = "live " + (app.live ? "on" : "off");
            live.lastChild.textContent = app.live ? "Live" : "Reconnecting";
            const box = document.getElementById("access");
            box.replaceChildren();
            if (!app.session.actions) {
              box.append(h("span", { class: "access ro", title: "Started without --dashboard-token-file" }, "Read-only"));
            } else if (token()) {
              box.append(h("span", { class: "access rw" }, "Actions unlocked"),
                h("button", { class: "btn subtle", id: "lock", onclick: () => { sessionStorage.removeItem("isthmus-token"); refreshAll(); } }, "Lock"));
            } else {
              const input = h("input", { type: "password", id: "token-input", placeholder: "Paste the dashboard token", autocomplete: "off", "aria-label": "Dashboard token" });
              const unlock = async () => {
                const value = input.value.trim();
                if (!value) return;
                sessionStorage.setItem("isthmus-token", value);
                const r = await act("/api/token");
                if (r.status !== 200) { sessionStorage.removeItem("isthmus-token"); toast(r.body.error || "The token was refused", true); }
                else toast("Actions unlocked for this tab");
                refreshAll();
              };
              input.addEventListener("keydown", e => { if (e.key === "Enter") unlock(); });
              box.append(h("span", { class: "access ro" }, "Read-only"), input, h("button", { class: "btn", id: "unlock", onclick: unlock }, "Unlock"));
            }
          }
          function actionsEnabled() { return app.session.actions && !!token(); }
          function actionButton(label, path, confirmText, kind) {
            return h("button", {
              class: "btn " + (kind || ""), "data-action": path, disabled: !actionsEnabled(),
              title: actionsEnabled() ? "" : "Paste the dashboard token to enable actions",
              onclick: async (e) => {
                if (confirmText && !window.confirm(confirmText)) return;
                e.target.disabled = true;
                const r = await act(path);
                e.target.disabled = !actionsEnabled();
                const b = r.body || {};
                if (r.status === 200 && b.ok) {
                  let text = b.message || "Done";
                  if (b.reloaded) text += ": " + b.reloaded.map(x => x.connection + " " + x.change).join(", ");
                  toast(text);
                } else toast(b.error || ("HTTP " + r.status), true);
              },
            }, label);
          }

          // ---------------------------------------------------------------- the network diagram
          function icon(kind, x, y, size, cls) {
            const g = s("g", { transform: `translate(${x},${y}) scale(${size / 24})`, class: "icon " + (cls || "") });
            const paths = {
              cloud: "M6.5 19a4.5 4.5 0 0 1-.6-8.96A6 6 0 0 1 17.6 8.1 5 5 0 0 1 18 19z",
              building: "M4 21V5l8-3v5l8 3v11zM7 9h2v2H7zm0 4h2v2H7zm4-4h2v2h-2zm0 4h2v2h-2zm4 0h2v2h-2zm0 4h2v2h-2zM7 17h2v2H7zm4 0h2v2h-2z",
              gateway: "M12 2l8 3v6c0 5-3.4 9.3-8 11-4.6-1.7-8-6-8-11V5zm-2 9v-1a2 2 0 1 1 4 0v1h1v5H9v-5zm1 0h2v-1a1 1 0 1 0-2 0z",
              subnet: "M3 4h18v6H3zm0 10h18v6H3zM6 6.5h2v1H6zm0 10h2v1H6z",
              laptop: "M4 5h16v10H4zM2 17h20v2H2z",
            };
            g.append(s("path", { d: paths[kind] }));
            return g;
          }
          function text(x, y, str, cls, anchor) {
            return s("text", { x, y, class: cls || "", "text-anchor": anchor || "start" }, str);
          }
          function renderDiagram(container) {
            const m = app.model;
            const svg = s("svg", { class: "diagram", id: "diagram", role: "img", "aria-label": "Network diagram of " + m.gateway.name });
            const W = 1180, netX = 24, netW = 380, gwCX = 540, siteX = 860, siteW = 296;
            const rows = [];
            const isVnet = m.network.name !== null && m.network.name !== undefined;
            if (isVnet) for (const sn of m.network.subnets) rows.push({ title: sn.name, sub: sn.prefix, gateway: sn.gateway, kind: "subnet" });
            else for (const p of m.network.prefixes) rows.push({ title: p, sub: "Local prefix", gateway: false, kind: "subnet" });
            if (m.gateway.pointToSitePool) rows.push({ title: "Point-to-site clients", sub: "Address pool " + m.gateway.pointToSitePool, kind: "laptop" });
            const rowH = 50, rowGap = 10, headH = 78;
            const netH = headH + rows.length * (rowH + rowGap) + 14;
            const siteHeights = m.sites.map(site => 86 + site.prefixes.length * 26);
            const sitesH = siteHeights.reduce((a, b) => a + b, 0) + Math.max(0, m.sites.length - 1) * 28;
            const H = Math.max(netH, sitesH, 200) + 48;
            svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
            const top = 24;
            // The network this gateway serves.
            const net = s("g", { class: "vnet" });
            net.append(s("rect", { x: netX, y: top, width: netW, height: netH, rx: 10, class: "vnet-box" }));
            net.append(icon(isVnet ? "cloud" : "building", netX + 16, top + 16, 28, "blue"));
            net.append(text(netX + 54, top + 28, isVnet ? "Virtual network" : "On-premises site", "caption"));
            net.append(text(netX + 54, top + 48, isVnet ? m.network.name : m.gateway.name, "title"));
            net.append(text(netX + 16, top + 68, (isVnet ? "Address space " : "") + m.network.addressSpaces.join(", "), "mono small"));
            let gwRowY = null;
            rows.forEach((row, i) => {
              const y = top + headH + i * (rowH + rowGap);
              const g = s("g", { class: "subnet" + (row.gateway ? " gateway-subnet" : ""), "data-subnet": row.title });
              g.append(s("rect", { x: netX + 14, y, width: netW - 28, height: rowH, rx: 6, class: "subnet-box" }));
              g.append(icon(row.kind, netX + 26, y + 14, 22, row.gateway ? "amber" : "grey"));
              g.append(text(netX + 58, y + 21, row.title, "label"));
              g.append(text(netX + 58, y + 39, row.sub, "mono small"));
              if (row.gateway) {
                g.append(s("rect", { x: netX + netW - 146, y: y + 14, width: 118, height: 22, rx: 11, class: "tag" }));
                g.append(text(netX + netW - 87, y + 29, "Gateway subnet", "tag-text", "middle"));
                gwRowY = y + rowH / 2;
              }
              net.append(g);
            });
            svg.append(net);
            // The gateway.
            const gwCY = gwRowY !== null ? gwRowY : top + netH / 2;
            svg.append(s("path", { d: `M${netX + netW - 14} ${gwCY} H${gwCX - 56}`, class: "attach" }));
            const gw = s("g", { class: "gateway", "data-gateway": m.gateway.name });
            gw.append(s("rect", { x: gwCX - 56, y: gwCY - 42, width: 112, height: 84, rx: 12, class: "gw-box" }));
            gw.append(icon("gateway", gwCX - 16, gwCY - 34, 32, "blue"));
            gw.append(text(gwCX, gwCY + 14, "VPN gateway", "caption", "middle"));
            gw.append(text(gwCX, gwCY + 32, m.gateway.publicAddress || "any address", "mono small", "middle"));
            gw.append(text(gwCX, gwCY + 62, m.gateway.name, "label", "middle"));
            svg.append(gw);
            // The remote sites and the connections to them.
            let y = Math.max(top, gwCY - sitesH / 2);
            if (y + sitesH > H - 24) y = H - 24 - sitesH;
            m.sites.forEach((site, i) => {
              const hgt = siteHeights[i];
              const cy = y + hgt / 2;
              const conns = m.connections.filter(c => c.site === site.name);
              conns.forEach((c, k) => {
                const state = stateOf(c.name);
                const ly = cy + k * 8;
                const path = `M${gwCX + 56} ${gwCY} C${gwCX + 150} ${gwCY}, ${siteX - 110} ${ly}, ${siteX} ${ly}`;
                const link = s("a", { href: "/connections/" + encodeURIComponent(c.name), class: "link-anchor" });
                const line = s("path", { d: path, class: "link " + state, id: "link-" + c.name, "data-connection": c.name, "data-state": state });
                link.append(s("path", { d: path, class: "link-hit" }), line);
                const mx = (gwCX + 56 + siteX) / 2, my = (gwCY + ly) / 2;
                const label = s("g", { class: "link-label", id: "label-" + c.name, "data-state": state });
                const lw = Math.max(116, c.name.length * 8 + 28);
                label.append(s("rect", { x: mx - lw / 2, y: my - 22, width: lw, height: 44, rx: 8, class: "label-box " + state }));
                label.append(text(mx, my - 4, c.name, "label", "middle"));
                label.append(text(mx, my + 13, STATE_TEXT[state], "state-text " + state, "middle"));
                label.append(text(mx, my + 40, (c.kind === "dynamic" ? "route-based" : "policy-based") + " · IKEv" + c.ikeVersion, "caption-lc", "middle"));
                link.append(label);
                svg.append(link);
              });
              const g = s("g", { class: "site", "data-site": site.name });
              g.append(s("rect", { x: siteX, y, width: siteW, height: hgt, rx: 10, class: "site-box" }));
              g.append(icon("building", siteX + 16, y + 14, 26, "grey"));
              g.append(text(siteX + 52, y + 24, "Local network gateway", "caption"));
              g.append(text(siteX + 52, y + 44, site.name, "title"));
              g.append(text(siteX + 52, y + 62, "Gateway " + site.gateway, "mono small"));
              site.prefixes.forEach((p, k) => {
                const py = y + 74 + k * 26;
                g.append(s("rect", { x: siteX + 16, y: py, width: siteW - 32, height: 20, rx: 4, class: "prefix-box" }));
                g.append(text(siteX + 26, py + 14, p, "mono small"));
              });
              svg.append(g);
              y += hgt + 28;
            });
            container.replaceChildren(svg);
          }
          function updateDiagram() {
            if (!app.model) return;
            for (const c of app.model.connections) {
              const state = stateOf(c.name);
              const line = document.getElementById("link-" + c.name);
              if (line) { line.setAttribute("class", "link " + state); line.setAttribute("data-state", state); }
              const label = document.getElementById("label-" + c.name);
              if (label) {
                label.setAttribute("data-state", state);
                label.querySelector("rect").setAttribute("class", "label-box " + state);
                const t = label.querySelector(".state-text");
                t.setAttribute("class", "state-text " + state);
                t.textContent = STATE_TEXT[state];
              }
            }
          }

        """#

    /// The style sheet.
    static let style = #"""
        :root {
          --bg: #f3f2f1; --card: #ffffff; --line: #e1dfdd; --text: #201f1e; --muted: #605e5c; --brand: #0f1b2d;
          --blue: #0078d4; --up: #107c10; --up-bg: #dff6dd; --amber: #c67c00; --amber-bg: #fff4ce; --down: #d13438; --down-bg: #fde7e9;
          --mono: ui-monospace, "DejaVu Sans Mono", "Cascadia Mono", Menlo, Consolas, monospace;
        }
        * { box-sizing: border-box; }
        html, body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 "Segoe UI", system-ui, "DejaVu Sans", sans-serif; }
        a { color: var(--blue); text-decoration: none; }
        a:hover { text-decoration: underline; }
        header.top { background: var(--brand); color: #fff; display: flex; align-items: center; gap: 18px; padding: 0 20px; height: 48px; }
        .brand { display: flex; align-items: center; gap: 10px; font-weight: 600; font-size: 15px; letter-spacing: .2px; color: #fff; }
        .brand svg { width: 22px; height: 22px; fill: #4fa3ff; }
        .brand:hover { text-decoration: none; }
        .top .gw { display: flex; flex-direction: column; line-height: 1.15; border-left: 1px solid #2c3e57; padding-left: 18px; }
        .top .gw #gateway-name { font-weight: 600; }
        .top .gw #gateway-kind { color: #a9b8cc; font-size: 12px; }
        .top .spacer { flex: 1; }
        .live { display: flex; align-items: center; gap: 6px; font-size: 12px; color: #cfd8e3; }
        .live .dot { width: 8px; height: 8px; border-radius: 50%; background: #8a8886; }
        .live.on .dot { background: #54d35f; box-shadow: 0 0 0 3px rgba(84,211,95,.2); }
        #access { display: flex; align-items: center; gap: 8px; }
        #access input { height: 28px; border-radius: 4px; border: 1px solid #3b4f6b; background: #17263b; color: #fff; padding: 0 8px; width: 220px; font-size: 12px; }
        #access input::placeholder { color: #8fa1b8; }
        .access { font-size: 12px; padding: 3px 8px; border-radius: 10px; }
        .access.ro { background: #23354d; color: #cfd8e3; }
        .access.rw { background: #1d5c2a; color: #dff6dd; }
        .crumbs { padding: 12px 24px 0; color: var(--muted); font-size: 13px; }
        .crumbs .sep { margin: 0 8px; }
        main { padding: 8px 24px 32px; max-width: 1440px; }
        .page-head { display: flex; align-items: flex-end; justify-content: space-between; gap: 16px; margin: 8px 0 16px; }
        h1 { font-size: 22px; font-weight: 600; margin: 0; display: flex; align-items: center; gap: 12px; }
        h2 { font-size: 15px; font-weight: 600; margin: 0; }
        .sub { color: var(--muted); margin-top: 2px; }
        .head-actions { display: flex; gap: 8px; flex-wrap: wrap; }
        .btn { height: 32px; padding: 0 14px; border-radius: 4px; border: 1px solid #8a8886; background: #fff; color: var(--text); font: inherit; font-weight: 600; font-size: 13px; cursor: pointer; }
        .btn:hover:not([disabled]) { background: #f3f2f1; }
        .btn.primary { background: var(--blue); border-color: var(--blue); color: #fff; }
        .btn.primary:hover:not([disabled]) { background: #106ebe; }
        .btn[disabled] { opacity: .45; cursor: not-allowed; }
        header .btn { height: 28px; background: #23354d; border-color: #3b4f6b; color: #fff; }
        header .btn.subtle { background: transparent; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 16px 18px; margin-bottom: 16px; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
        .card-head { display: flex; align-items: center; justify-content: space-between; margin-bottom: 12px; }
        .columns { display: grid; grid-template-columns: minmax(0,1fr) minmax(0,1fr); gap: 16px; }
        .columns > .card { margin-bottom: 16px; }
        .stats { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 12px; margin-bottom: 16px; }
        .stat { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
        .stat-label { color: var(--muted); font-size: 12px; }
        .stat-value { font-size: 18px; font-weight: 600; margin-top: 2px; }
        .legend { display: flex; gap: 16px; color: var(--muted); font-size: 12px; flex-wrap: wrap; }
        .legend-item { display: inline-flex; align-items: center; gap: 6px; }
        .swatch { width: 18px; height: 4px; border-radius: 2px; display: inline-block; }
        .swatch.up { background: var(--up); } .swatch.connecting { background: var(--amber); } .swatch.down { background: var(--down); }
        .swatch.in { background: #0078d4; } .swatch.out { background: #00a36c; }
        .pill { display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 12px; font-size: 12px; font-weight: 600; }
        .pill .dot { width: 8px; height: 8px; border-radius: 50%; }
        .pill.up { background: var(--up-bg); color: var(--up); } .pill.up .dot { background: var(--up); }
        .pill.connecting { background: var(--amber-bg); color: #8a5600; } .pill.connecting .dot { background: var(--amber); }
        .pill.down { background: var(--down-bg); color: var(--down); } .pill.down .dot { background: var(--down); }
        table.grid { width: 100%; border-collapse: collapse; font-size: 13px; }
        table.grid th { text-align: left; font-weight: 600; color: var(--muted); border-bottom: 1px solid var(--line); padding: 6px 10px; white-space: nowrap; }
        table.grid td { border-bottom: 1px solid #f3f2f1; padding: 8px 10px; vertical-align: top; }
        table.grid tr:last-child td { border-bottom: none; }
        td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
        .mono, code, pre { font-family: var(--mono); font-size: 12px; }
        td.countdown { font-variant-numeric: tabular-nums; white-space: nowrap; }
        tr.child-sa td:first-child { padding-left: 22px; color: var(--muted); }
        dl.props { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
        dl.props dt { color: var(--muted); }
        dl.props dd { margin: 0; word-break: break-word; }
        .empty { color: var(--muted); margin: 4px 0; }
        .muted { color: var(--muted); font-size: 12px; }
        .diagram-wrap { overflow-x: auto; }
        svg.diagram { width: 100%; max-width: 1240px; min-width: 900px; height: auto; display: block; font-family: "Segoe UI", system-ui, "DejaVu Sans", sans-serif; }
        svg.diagram .vnet-box { fill: #f5f9fd; stroke: #7fb3e6; stroke-width: 1.5; stroke-dasharray: 6 4; }
        svg.diagram .subnet-box { fill: #ffffff; stroke: #c8c6c4; }
        svg.diagram .gateway-subnet .subnet-box { fill: #fffaf0; stroke: #e3b34c; }
        svg.diagram .tag { fill: #fff4ce; stroke: #e3b34c; }
        svg.diagram .tag-text { font-size: 11px; fill: #8a5600; font-weight: 600; }
        svg.diagram .gw-box { fill: #ffffff; stroke: #0078d4; stroke-width: 2; }
        svg.diagram .site-box { fill: #ffffff; stroke: #a19f9d; stroke-width: 1.5; }
        svg.diagram .prefix-box { fill: #f3f2f1; }
        svg.diagram .attach { stroke: #7fb3e6; stroke-width: 2; fill: none; }
        svg.diagram .caption-lc { font-size: 11px; fill: #605e5c; }
        svg.diagram .caption { font-size: 11px; fill: #605e5c; text-transform: uppercase; letter-spacing: .6px; }
        svg.diagram .title { font-size: 15px; font-weight: 600; fill: #201f1e; }
        svg.diagram .label { font-size: 13px; font-weight: 600; fill: #201f1e; }
        svg.diagram .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; fill: #323130; }
        svg.diagram .small { font-size: 11.5px; }
        svg.diagram .icon.blue path { fill: #0078d4; } svg.diagram .icon.grey path { fill: #797775; } svg.diagram .icon.amber path { fill: #c67c00; }
        svg.diagram .link { fill: none; stroke-width: 4; stroke-linecap: round; transition: stroke .3s; }
        svg.diagram .link.up { stroke: var(--up); }
        svg.diagram .link.connecting { stroke: var(--amber); stroke-dasharray: 10 8; animation: flow 1s linear infinite; }
        svg.diagram .link.down { stroke: var(--down); stroke-dasharray: 4 8; }
        svg.diagram .link-hit { fill: none; stroke: transparent; stroke-width: 18; }
        svg.diagram .link-anchor { cursor: pointer; }
        svg.diagram .label-box { fill: #fff; stroke-width: 1.5; }
        svg.diagram .label-box.up { stroke: var(--up); } svg.diagram .label-box.connecting { stroke: var(--amber); } svg.diagram .label-box.down { stroke: var(--down); }
        svg.diagram .state-text { font-size: 11.5px; font-weight: 600; }
        svg.diagram .state-text.up { fill: var(--up); } svg.diagram .state-text.connecting { fill: #8a5600; } svg.diagram .state-text.down { fill: var(--down); }
        @keyframes flow { to { stroke-dashoffset: -18; } }
        .chart-wrap { width: 100%; }
        canvas#traffic-chart { display: block; width: 100%; }
        ol.timeline { list-style: none; margin: 0; padding: 0; max-height: 420px; overflow-y: auto; }
        ol.timeline li.event { display: grid; grid-template-columns: 74px 70px 190px 1fr; gap: 10px; padding: 6px 4px; border-bottom: 1px solid #f3f2f1; font-size: 13px; align-items: baseline; }
        .when { font-family: var(--mono); font-size: 12px; color: var(--muted); }
        .kind { font-family: var(--mono); font-size: 12px; color: #323130; }
        .sev { font-size: 11px; font-weight: 600; text-transform: uppercase; padding: 1px 6px; border-radius: 3px; text-align: center; background: #f3f2f1; color: var(--muted); }
        .sev.notice { background: #deecf9; color: #004578; } .sev.warning { background: var(--amber-bg); color: #8a5600; } .sev.error { background: var(--down-bg); color: var(--down); }
        .verdict { font-weight: 600; padding: 8px 12px; border-radius: 4px; margin-bottom: 8px; }
        .verdict.healthy { background: var(--up-bg); color: var(--up); } .verdict.unhealthy { background: var(--down-bg); color: var(--down); }
        .finding { border-left: 3px solid var(--amber); padding: 4px 12px; margin: 8px 0; }
        .finding.error { border-color: var(--down); }
        .finding-head { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }
        .finding p { margin: 6px 0; color: #323130; }
        .evidence { margin: 4px 0; padding-left: 18px; color: var(--muted); font-size: 13px; }
        .fix { display: grid; gap: 4px; margin: 6px 0; }
        .fix .side { font-size: 12px; font-weight: 600; color: var(--muted); }
        .fix pre { background: #f3f2f1; padding: 6px 8px; border-radius: 4px; margin: 0; white-space: pre-wrap; }
        #toasts { position: fixed; right: 20px; bottom: 20px; display: grid; gap: 8px; z-index: 10; }
        .toast { background: #201f1e; color: #fff; padding: 10px 14px; border-radius: 4px; max-width: 420px; box-shadow: 0 4px 12px rgba(0,0,0,.2); }
        .toast.bad { background: #a4262c; }
        footer { color: var(--muted); font-size: 12px; padding: 0 24px 24px; }
        @media (max-width: 900px) { .columns { grid-template-columns: 1fr; } .stats { grid-template-columns: repeat(2, 1fr); } }
        .diag { font-size: 12px; display: inline-block; max-width: 320px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
        .diag.healthy { color: var(--up); } .diag.unhealthy { color: var(--down); }
        """#

    /// The tab icon.
    static let favicon = #"""
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><rect width="24" height="24" rx="5" fill="#0f1b2d"/><path fill="#4fa3ff" d="M12 3.5l6.5 2.4v4.9c0 4.1-2.8 7.6-6.5 9-3.7-1.4-6.5-4.9-6.5-9V5.9z"/></svg>
        """#
}
