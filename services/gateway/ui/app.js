/* segflow planners' UI: vanilla JS, no external resources. Talks only to the gateway's /v1 API. */
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fmt = (v, digits = 2) => (typeof v === "number" ? (Number.isInteger(v) ? v.toLocaleString() : v.toFixed(digits)) : v === null || v === undefined ? "—" : esc(v));
const pct = (v) => (typeof v === "number" ? (v * 100).toFixed(1) + "%" : "—");

const auth = {
  get token() { return localStorage.getItem("segflow.token") || ""; },
  set token(v) { v ? localStorage.setItem("segflow.token", v) : localStorage.removeItem("segflow.token"); },
  claims() {
    try { return JSON.parse(atob(this.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); } catch { return null; }
  },
};

function toast(message, error = false) {
  const t = $("#toast");
  t.textContent = message; t.className = "toast" + (error ? " error" : ""); t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 3500);
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (auth.token) headers.Authorization = "Bearer " + auth.token;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { ...options, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  if (res.status === 401) { auth.token = ""; location.hash = "#/signin"; throw new Error("please sign in"); }
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) throw new Error((data && (data.detail || data.title)) || "HTTP " + res.status);
  return data;
}

function maskedNote(data) {
  const fields = (data && data.masked_fields) || [];
  return fields.length ? `<p class="masked">Financial fields hidden for your role: ${esc([...new Set(fields.map((f) => f.split(".").pop()))].join(", "))}</p>` : "";
}

function table(columns, rows, empty = "Nothing to show.") {
  if (!rows.length) return `<p class="empty">${esc(empty)}</p>`;
  const head = columns.map((c) => `<th class="${c.num ? "num" : ""}">${esc(c.label)}</th>`).join("");
  const body = rows.map((r) => `<tr>${columns.map((c) => `<td class="${c.num ? "num" : ""}">${c.html ? c.html(r) : fmt(r[c.key])}</td>`).join("")}</tr>`).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/* ------------------------------------------------------------------ charts (inline SVG) */

function lineChart(series, { width = 900, height = 260, target = null, yMin = null, yMax = null } = {}) {
  const pad = { l: 44, r: 12, t: 12, b: 28 };
  const all = series.flatMap((s) => s.points.map((p) => p.y)).concat(target === null ? [] : [target]);
  if (!all.length) return '<p class="empty">No data points yet.</p>';
  let lo = yMin ?? Math.min(...all), hi = yMax ?? Math.max(...all);
  if (hi === lo) { // a flat line: ratios keep a 0..1 axis (shown as %), other values get a small band
    if (lo >= 0 && hi <= 1) { lo = Math.max(0, lo - 0.1); hi = Math.min(1, hi + 0.1); } else { hi += 0.05; lo -= 0.05; }
  }
  const n = Math.max(...series.map((s) => s.points.length), 2);
  const x = (i) => pad.l + (i * (width - pad.l - pad.r)) / (n - 1);
  const y = (v) => pad.t + ((hi - v) * (height - pad.t - pad.b)) / (hi - lo);
  const colors = ["#1f5eff", "#28a27a", "#c77700", "#8a3ffc", "#c62f3a"];
  let svg = `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="trend chart">`;
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    svg += `<line x1="${pad.l}" x2="${width - pad.r}" y1="${y(v)}" y2="${y(v)}" stroke="#eef1f6"/><text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end">${v <= 1 && hi <= 1 ? (v * 100).toFixed(0) + "%" : v.toFixed(1)}</text>`;
  }
  if (target !== null) svg += `<line x1="${pad.l}" x2="${width - pad.r}" y1="${y(target)}" y2="${y(target)}" stroke="#c62f3a" stroke-dasharray="5 4"/>`;
  series.forEach((s, si) => {
    const color = colors[si % colors.length];
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.y).toFixed(1)}`).join(" ");
    svg += `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`;
    s.points.forEach((p, i) => { svg += `<circle cx="${x(i)}" cy="${y(p.y)}" r="3" fill="${color}"><title>${esc(p.label)}: ${esc(p.y)}</title></circle>`; });
  });
  const labels = series[0]?.points || [];
  const step = Math.ceil(labels.length / 8) || 1;
  labels.forEach((p, i) => {
    const anchor = i === 0 ? "start" : i === labels.length - 1 ? "end" : "middle";
    if (i % step === 0 || i === labels.length - 1) svg += `<text x="${x(i)}" y="${height - 8}" text-anchor="${anchor}">${esc(p.label)}</text>`;
  });
  svg += "</svg>";
  const legend = series.map((s, si) => `<span><i style="background:${colors[si % colors.length]}"></i>${esc(s.name)}</span>`).join("") + (target !== null ? `<span><i style="background:#c62f3a"></i>target ${pct(target)}</span>` : "");
  return svg + `<div class="legend">${legend}</div>`;
}

function barChart(bars, { width = 640, height = 220 } = {}) {
  if (!bars.length) return '<p class="empty">No buckets.</p>';
  const pad = { l: 44, r: 12, t: 10, b: 28 };
  const hi = Math.max(...bars.map((b) => b.y), 1), lo = Math.min(...bars.map((b) => b.y), 0);
  const w = (width - pad.l - pad.r) / bars.length;
  const y = (v) => pad.t + ((hi - v) * (height - pad.t - pad.b)) / (hi - lo);
  let svg = `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="bar chart">`;
  svg += `<line x1="${pad.l}" x2="${width - pad.r}" y1="${y(0)}" y2="${y(0)}" stroke="#cfd7e4"/>`;
  bars.forEach((b, i) => {
    const top = Math.min(y(b.y), y(0)), h = Math.abs(y(b.y) - y(0));
    svg += `<rect x="${pad.l + i * w + 3}" y="${top}" width="${Math.max(w - 6, 2)}" height="${h}" rx="2" fill="${b.y < 0 ? "#c62f3a" : "#1f5eff"}"><title>${esc(b.label)}: ${esc(b.y)}</title></rect>`;
    svg += `<text x="${pad.l + i * w + w / 2}" y="${height - 8}" text-anchor="middle">${esc(b.label.slice(5))}</text>`;
  });
  svg += `<text x="${pad.l - 6}" y="${y(hi) + 4}" text-anchor="end">${fmt(hi)}</text><text x="${pad.l - 6}" y="${y(0) + 4}" text-anchor="end">0</text>`;
  return svg + "</svg>";
}

/* ------------------------------------------------------------------ views */

const views = {};

views.signin = async (main) => {
  main.innerHTML = `
  <div class="panel signin">
    <h1>Sign in</h1>
    <p class="sub">Paste a bearer token issued by your identity provider, or create a development token.</p>
    <label>Bearer token <textarea id="token" placeholder="eyJhbGciOi..."></textarea></label>
    <div class="row" style="margin:12px 0 24px"><button class="primary" id="use">Sign in with token</button></div>
    <h2>Development token</h2>
    <div class="filters">
      <label>User <input id="subject" value="planner.one"></label>
      <label>Role <select id="role">${["planner", "approver", "finance", "admin"].map((r) => `<option>${r}</option>`).join("")}</select></label>
      <button id="dev">Generate and sign in</button>
    </div>
  </div>`;
  $("#use").onclick = () => { auth.token = $("#token").value.trim(); if (auth.claims()) { location.hash = "#/matrix"; } else { toast("That is not a JWT", true); } };
  $("#dev").onclick = async () => {
    try {
      const data = await api("/v1/dev/token", { method: "POST", body: { subject: $("#subject").value.trim(), roles: [$("#role").value] } });
      auth.token = data.token; location.hash = "#/matrix";
    } catch (e) { toast("Development tokens are not available: " + e.message, true); }
  };
};

const heat = (v, max) => { const a = max ? 0.12 + 0.7 * (v / max) : 0.1; return `background: rgba(31,94,255,${a.toFixed(2)}); color: ${a > 0.5 ? "#fff" : "#1b2333"}`; };

function migrationRows(run) {
  const m = run && (run.migration_matrix || run.migration || run.migrations);
  if (!m) return [];
  if (Array.isArray(m.labels) && Array.isArray(m.counts)) { // the classifier's {labels, counts[from][to]}
    return m.labels.flatMap((from, i) => m.labels.map((to, j) => ({ from, to, count: (m.counts[i] || [])[j] || 0 }))).filter((r) => r.count > 0);
  }
  if (Array.isArray(m)) return m.map((r) => ({ from: r.from ?? r.old ?? r.from_segment, to: r.to ?? r.new ?? r.to_segment, count: r.count ?? r.n }));
  return Object.entries(m).flatMap(([from, tos]) => Object.entries(tos || {}).map(([to, count]) => ({ from, to, count })));
}

views.matrix = async (main, params) => {
  const dimension = params.get("dimension") || "product";
  main.innerHTML = `<h1>ABC × XYZ matrix</h1><p class="sub">Value class (ABC) against demand variability (XYZ). Click a cell to list its members.</p>
  <div class="filters"><label>Dimension <select id="dim">${["product", "customer", "customer_product", "supplier"].map((d) => `<option ${d === dimension ? "selected" : ""}>${d}</option>`).join("")}</select></label></div>
  <div class="grid"><div class="panel" id="abcxyz"><h2>Entities per cell</h2><p class="empty">Loading…</p></div>
  <div class="panel" id="migration"><h2>Migration in the last run</h2><p class="empty">Loading…</p></div></div>`;
  $("#dim").onchange = (e) => { location.hash = "#/matrix?dimension=" + e.target.value; };
  api("/v1/segments/matrix?dimension=" + encodeURIComponent(dimension)).then((data) => {
    const cells = data.cells || [];
    const get = (a, x) => (cells.find((c) => c.abc === a && c.xyz === x) || { count: 0 }).count;
    const max = Math.max(0, ...cells.map((c) => c.count));
    const total = cells.reduce((s, c) => s + c.count, 0);
    let html = '<div class="matrix"><div></div>' + ["X", "Y", "Z"].map((x) => `<div class="h">${x}</div>`).join("");
    for (const a of ["A", "B", "C"]) {
      html += `<div class="h">${a}</div>`;
      for (const x of ["X", "Y", "Z"]) {
        const n = get(a, x);
        html += `<a class="cell" data-testid="cell-${a}${x}" style="${heat(n, max)}" href="#/members?dimension=${dimension}&abc=${a}&xyz=${x}"><b>${n.toLocaleString()}</b><span>${a}${x} · ${total ? ((100 * n) / total).toFixed(1) : 0}%</span></a>`;
      }
    }
    $("#abcxyz").innerHTML = `<h2>Entities per cell <span class="pill">${total.toLocaleString()} total</span></h2>` + html + "</div>";
  }).catch((e) => { $("#abcxyz").innerHTML = `<h2>Entities per cell</h2><p class="empty">Unavailable: ${esc(e.message)}</p>`; });
  api("/v1/runs/latest").then((run) => {
    const rows = migrationRows(run);
    const froms = [...new Set(rows.map((r) => r.from))], tos = [...new Set(rows.map((r) => r.to))];
    const max = Math.max(0, ...rows.map((r) => r.count));
    let html = `<h2>Migration in the last run ${run.run_id ? `<span class="pill">${esc(run.run_id)}</span>` : ""}</h2>`;
    if (!rows.length) { $("#migration").innerHTML = html + '<p class="empty">No migration recorded for the latest run.</p>'; return; }
    html += `<table><thead><tr><th>from \\ to</th>${tos.map((t) => `<th class="num">${esc(t)}</th>`).join("")}</tr></thead><tbody>`;
    for (const f of froms) {
      html += `<tr><th>${esc(f)}</th>${tos.map((t) => { const n = (rows.find((r) => r.from === f && r.to === t) || { count: 0 }).count; return `<td class="num" style="${f === t ? "" : heat(n, max)}">${n}</td>`; }).join("")}</tr>`;
    }
    $("#migration").innerHTML = html + "</tbody></table>";
  }).catch((e) => { $("#migration").innerHTML = `<h2>Migration in the last run</h2><p class="empty">Unavailable: ${esc(e.message)}</p>`; });
};

views.members = async (main, params) => {
  const f = Object.fromEntries(["dimension", "segment", "abc", "xyz", "region", "q"].map((k) => [k, params.get(k) || ""]));
  const sel = (name, options) => `<select name="${name}"><option value="">any</option>${options.map((o) => `<option ${o === f[name] ? "selected" : ""}>${o}</option>`).join("")}</select>`;
  main.innerHTML = `<h1>Segment members</h1><p class="sub">Filter, search, page through and export the current assignments.</p>
  <form class="filters" id="filters">
    <label>Dimension ${sel("dimension", ["customer", "product", "customer_product", "supplier"])}</label>
    <label>Segment <input name="segment" value="${esc(f.segment)}" size="10"></label>
    <label>ABC ${sel("abc", ["A", "B", "C"])}</label><label>XYZ ${sel("xyz", ["X", "Y", "Z"])}</label>
    <label>Region <input name="region" value="${esc(f.region)}" size="8"></label>
    <label>Search <input name="q" value="${esc(f.q)}" placeholder="id or name" size="16"></label>
    <button class="primary" type="submit">Apply</button><span class="spacer"></span><button type="button" id="csv">Export CSV</button>
  </form>
  <div class="panel"><div id="list"><p class="empty">Loading…</p></div>
  <div class="row" style="margin-top:12px"><span id="pageinfo" class="sub" style="margin:0"></span><span class="spacer"></span><button id="prev" disabled>Previous</button><button id="next" disabled>Next</button></div></div>`;
  const query = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
  $("#filters").onsubmit = (e) => { e.preventDefault(); const q = new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v)); location.hash = "#/members?" + q; };
  $("#csv").onclick = async () => {
    const res = await fetch("/v1/segments/export.csv?" + query, { headers: { Authorization: "Bearer " + auth.token } });
    if (!res.ok) { toast("Export failed: HTTP " + res.status, true); return; }
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a"); a.href = url; a.download = "segments.csv"; a.click(); URL.revokeObjectURL(url);
  };
  const cursors = [""]; let page = 0;
  const load = async () => {
    const q = new URLSearchParams(query); q.set("limit", "50"); if (cursors[page]) q.set("cursor", cursors[page]);
    try {
      const data = await api("/v1/segments?" + q);
      const items = data.items || [];
      $("#list").innerHTML = table([
        { label: "Entity", html: (r) => `<a href="#/entity/${encodeURIComponent(r.dimension)}/${encodeURIComponent(r.entity_id)}">${esc(r.entity_id)}</a>` },
        { label: "Dimension", key: "dimension" },
        { label: "Segment", html: (r) => `<span class="pill">${esc(r.segment)}</span>` },
        { label: "ABC", html: (r) => (r.abc ? `<span class="pill ${esc(r.abc)}">${esc(r.abc)}</span>` : "—") },
        { label: "XYZ", key: "xyz" }, { label: "Tier", key: "tier", num: true }, { label: "Region", key: "region" },
        { label: "Revenue", key: "revenue", num: true }, { label: "Margin", key: "margin", num: true },
      ], items, "No entity matches these filters.") + maskedNote(data);
      cursors[page + 1] = data.next_cursor || null;
      $("#next").disabled = !data.next_cursor; $("#prev").disabled = page === 0;
      $("#pageinfo").textContent = `Page ${page + 1} · ${items.length} rows`;
    } catch (e) { $("#list").innerHTML = `<p class="empty">Unavailable: ${esc(e.message)}</p>`; }
  };
  $("#next").onclick = () => { page++; load(); }; $("#prev").onclick = () => { page = Math.max(0, page - 1); load(); };
  load();
};

function kv(obj) {
  if (!obj || typeof obj !== "object") return `<p>${esc(obj)}</p>`;
  return `<dl class="kv">${Object.entries(obj).map(([k, v]) => `<dt>${esc(k.replace(/_/g, " "))}</dt><dd>${v && typeof v === "object" ? (Array.isArray(v) ? v.map((x) => (typeof x === "object" ? kv(x) : esc(x))).join("<br>") : kv(v)) : fmt(v, 3)}</dd>`).join("")}</dl>`;
}

views.entity = async (main, params, [dimension, id]) => {
  main.innerHTML = `<p><a href="#/members?dimension=${esc(dimension)}">← members</a></p><h1>${esc(decodeURIComponent(id))}</h1><p class="sub">${esc(dimension)}</p><div class="grid" id="entity"><div class="panel"><p class="empty">Loading…</p></div></div>`;
  try {
    const e = await api(`/v1/segments/${encodeURIComponent(dimension)}/${id}`);
    const history = e.history || [];
    const { history: _h, explanation, masked_fields: _m, ...current } = e;
    $("#entity").innerHTML = `
      <div class="panel"><h2>Current segment <span class="pill" data-testid="entity-segment">${esc(e.segment)}</span></h2>${kv(current)}${maskedNote(e)}</div>
      <div class="panel"><h2>Why this segment</h2>${explanation ? kv(explanation) : '<p class="empty">No explanation recorded.</p>'}</div>
      <div class="panel" style="grid-column: 1 / -1"><h2>History</h2>${table([
        { label: "When", html: (r) => esc(String(r.at || "").slice(0, 19).replace("T", " ")) },
        { label: "From", html: (r) => esc(r.old ?? r.old_segment ?? "—") }, { label: "To", html: (r) => `<span class="pill">${esc(r.new ?? r.new_segment)}</span>` },
        { label: "Reasons", html: (r) => esc((r.reasons || []).join("; ")) },
      ], history, "No changes yet.")}</div>` + overrideForm(e);
    const form = $("#override");
    if (form) form.onsubmit = async (ev) => {
      ev.preventDefault();
      const d = Object.fromEntries(new FormData(form));
      const expires = new Date(Date.now() + Number(d.days || 30) * 86400000).toISOString();
      try {
        const row = await api("/v1/overrides", { method: "POST", body: { dimension: e.dimension, entity_id: e.entity_id, segment: d.segment.trim(), reason: d.reason.trim(), expires_at: expires } });
        toast(`Override ${row.id ?? row.override_id} requested: waiting for an approver`); form.reset();
      } catch (err) { toast(err.message, true); }
    };
  } catch (err) { $("#entity").innerHTML = `<div class="panel"><p class="empty">Unavailable: ${esc(err.message)}</p></div>`; }
};

function overrideForm(e) {
  const roles = (auth.claims() || {}).roles || [];
  if (!roles.includes("planner") && !roles.includes("admin")) return "";
  return `<div class="panel" style="grid-column: 1 / -1"><h2>Request an override</h2><p class="sub">Places this entity in another segment once a different approver agrees.</p>
    <form class="filters" id="override"><label>Segment <input name="segment" required size="14" placeholder="e.g. GOLD"></label>
    <label>Reason <input name="reason" required size="36"></label><label>Days <input name="days" type="number" min="1" max="365" value="30" size="4"></label>
    <button class="primary" type="submit">Request override</button></form></div>`;
}

views.overrides = async (main) => {
  main.innerHTML = `<h1>Override queue</h1><p class="sub">Manual segment placements waiting for a second pair of eyes. You cannot decide your own requests.</p><div class="panel" id="queue"><p class="empty">Loading…</p></div>`;
  const me = (auth.claims() || {}).sub;
  const load = async () => {
    try {
      const data = await api("/v1/overrides?status=pending");
      const items = data.items || data;
      $("#queue").innerHTML = table([
        { label: "Entity", html: (r) => `<a href="#/entity/${encodeURIComponent(r.dimension)}/${encodeURIComponent(r.entity_id)}">${esc(r.entity_id)}</a>` },
        { label: "To segment", html: (r) => `<span class="pill">${esc(r.segment)}</span>` }, { label: "Reason", key: "reason" },
        { label: "Requested by", key: "requested_by" }, { label: "Expires", html: (r) => esc(String(r.expires_at || "—").slice(0, 10)) },
        { label: "", html: (r) => { const id = esc(r.id ?? r.override_id); const own = r.requested_by === me; return `<div class="row"><button class="ok" data-act="approve" data-id="${id}" ${own ? "disabled title='your own request'" : ""}>Approve</button><button class="bad" data-act="reject" data-id="${id}" ${own ? "disabled" : ""}>Reject</button></div>`; } },
      ], items, "The queue is empty.");
      main.querySelectorAll("button[data-act]").forEach((b) => { b.onclick = async () => {
        b.disabled = true;
        try { await api(`/v1/overrides/${encodeURIComponent(b.dataset.id)}/${b.dataset.act}`, { method: "POST", body: {} }); toast(`Override ${b.dataset.id} ${b.dataset.act === "approve" ? "approved" : "rejected"}`); load(); }
        catch (e) { toast(e.message, true); b.disabled = false; }
      }; });
    } catch (e) { $("#queue").innerHTML = `<p class="empty">Unavailable: ${esc(e.message)}</p>`; }
  };
  load();
};

views.kpis = async (main) => {
  main.innerHTML = `<h1>KPI dashboard</h1><p class="sub">Service attainment per segment against its targets; open alerts need attention.</p>
  <div class="panel" id="alerts" style="margin-bottom:20px"><h2>Open alerts</h2><p class="empty">Loading…</p></div><div class="grid" id="charts"></div>`;
  api("/v1/alerts?status=open").then((data) => {
    const items = data.items || data;
    $("#alerts").innerHTML = `<h2>Open alerts <span class="pill open">${items.length}</span></h2>` + table([
      { label: "Segment", key: "segment" }, { label: "KPI", key: "kpi" }, { label: "Status", html: (r) => `<span class="pill open">${esc(r.status || "open")}</span>` },
      { label: "Raised", html: (r) => esc(String(r.raised_at || r.at || "").slice(0, 10)) }, { label: "Detail", html: (r) => esc(r.message || r.reason || "") },
    ], items, "No open alerts.");
  }).catch((e) => { $("#alerts").innerHTML = `<h2>Open alerts</h2><p class="empty">Unavailable: ${esc(e.message)}</p>`; });
  try {
    const data = await api("/v1/kpis");
    const series = data.series || data.items || [];
    const byKpi = {};
    for (const s of series) (byKpi[s.kpi || "kpi"] ||= []).push(s);
    $("#charts").innerHTML = Object.entries(byKpi).map(([kpi, list]) => {
      const target = list.length === 1 && typeof list[0].target === "number" ? list[0].target : null;
      const chart = lineChart(list.map((s) => ({ name: s.segment ?? s.group, points: (s.points || s.values || []).map((p) => ({ label: String(p.week_start ?? p.window ?? p.at ?? p.date ?? ""), y: Number(p.value ?? p.y) })) })), { target });
      const targets = list.filter((s) => typeof s.target === "number").map((s) => `${esc(s.segment)} ${pct(s.target)}`).join(" · ");
      return `<div class="panel" data-testid="kpi-${esc(kpi)}"><h2>${esc(kpi.toUpperCase())}</h2>${chart}${targets ? `<p class="masked">Targets: ${targets}</p>` : ""}</div>`;
    }).join("") || '<div class="panel"><p class="empty">No KPI series yet.</p></div>';
  } catch (e) { $("#charts").innerHTML = `<div class="panel"><p class="empty">Unavailable: ${esc(e.message)}</p></div>`; }
};

views.allocation = async (main, params) => {
  const sku = params.get("sku") || "", site = params.get("site") || "";
  main.innerHTML = `<h1>Allocation by SKU</h1><p class="sub">Available-to-promise by day and the latest allocation decisions with their explanation.</p>
  <form class="filters" id="f"><label>SKU <input name="sku" value="${esc(sku)}" required></label><label>Site <input name="site" value="${esc(site)}" required></label><button class="primary">Show</button></form>
  <div class="grid"><div class="panel" id="atp"><h2>ATP</h2><p class="empty">Choose a SKU and a site.</p></div><div class="panel" id="dec"><h2>Decisions</h2><p class="empty">Choose a SKU and a site.</p></div></div>`;
  $("#f").onsubmit = (e) => { e.preventDefault(); location.hash = "#/allocation?" + new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v)); };
  if (!sku || !site) return;  // the allocator keeps ATP per sku@site
  const q = new URLSearchParams({ sku, site });
  api("/v1/atp?" + q).then((d) => { $("#atp").innerHTML = "<h2>ATP by day</h2>" + barChart((d.buckets || []).map((b) => ({ label: String(b.date), y: Number(b.atp) }))); })
    .catch((e) => { $("#atp").innerHTML = `<h2>ATP</h2><p class="empty">Unavailable: ${esc(e.message)}</p>`; });
  api("/v1/allocations?" + q).then((d) => {
    const items = d.items || d;
    $("#dec").innerHTML = "<h2>Decisions</h2>" + table(Object.keys(items[0] || {}).filter((k) => typeof items[0][k] !== "object").map((k) => ({ label: k.replace(/_/g, " "), key: k, num: typeof items[0][k] === "number" })), items, "No decisions yet.") + maskedNote(d);
  }).catch((e) => { $("#dec").innerHTML = `<h2>Decisions</h2><p class="empty">Unavailable: ${esc(e.message)}</p>`; });
};

/* ------------------------------------------------------------------ router */

function renderWho() {
  const c = auth.claims();
  $("#who").innerHTML = c ? `<span>${esc(c.sub)} · ${esc((c.roles || []).join(", "))}</span><button id="signout">Sign out</button>` : "";
  if (c) $("#signout").onclick = () => { auth.token = ""; location.hash = "#/signin"; };
}

async function route() {
  const [path, qs] = (location.hash.slice(1) || "/matrix").split("?");
  const [name, ...rest] = path.split("/").filter(Boolean);
  const claims = auth.claims();
  const view = !claims || (claims.exp && claims.exp * 1000 < Date.now()) ? "signin" : views[name] ? name : "matrix";
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === view));
  $("#nav").style.visibility = view === "signin" ? "hidden" : "visible";
  renderWho();
  await views[view]($("#main"), new URLSearchParams(qs || ""), rest);
}

window.addEventListener("hashchange", route);
route();
