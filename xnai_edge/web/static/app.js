// xnai-edge status page: live overview (SSE), question box, upload, remove, re-index.
// Plain JavaScript, no build step. Every state-changing request carries the CSRF token.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const TIER_NAMES = ["full", "lean", "extractive", "cached", "silent"];

function text(el, value) { if (el) el.textContent = value == null ? "" : String(value); }

async function call(method, url, body) {
  const headers = { "X-CSRF-Token": csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) throw new Error((data && data.error) || response.status + " " + response.statusText);
  return data;
}

function fillTable(id, rows) {
  const table = $(id);
  if (!table) return;
  const body = table.tBodies[0];
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell instanceof Node) td.append(cell); else td.textContent = cell == null ? "" : String(cell);
      tr.append(td);
    }
    return tr;
  }));
}

// ---------------------------------------------------------------- overview
const samples = [];

function drawChart() {
  const svg = $("memory-chart");
  if (!svg) return;
  // The last hour, or since the first sample when the device has been up for less.
  const now = Date.now() / 1000;
  const first = samples.length ? samples[0].t : now;
  const from = Math.max(now - 3600, Math.min(first, now - 60));
  const pts = samples.filter((s) => s.t >= from);
  const W = 300, H = 80, P = 3;
  const x = (t) => P + ((t - from) / (now - from)) * (W - 2 * P);
  const mems = pts.map((s) => s.mem_available_mb).filter((v) => typeof v === "number");
  const memMax = Math.max(1, ...mems) * 1.1;
  const psis = pts.map((s) => s.psi_some_avg10).filter((v) => typeof v === "number");
  const psiMax = Math.max(10, ...psis) * 1.1;
  const line = (key, max, color) => {
    const coords = pts.filter((s) => typeof s[key] === "number")
      .map((s) => x(s.t).toFixed(1) + "," + (H - P - (s[key] / max) * (H - 2 * P)).toFixed(1));
    return coords.length ? `<polyline fill="none" stroke="${color}" stroke-width="2" points="${coords.join(" ")}"/>` : "";
  };
  svg.innerHTML = line("mem_available_mb", memMax, "#0b5cad") + line("psi_some_avg10", psiMax, "#b00020");
}

function showStatus(s) {
  text($("voice-state"), s.voice_state || s.state);
  text($("tier"), s.tier);
  text($("tier-name"), s.tier_name);
  text($("tier-reason"), s.tier_reason);
  const reading = (s.memory && s.memory.memory) || {};
  text($("mem-available"), reading.mem_available_mb);
  text($("psi"), reading.psi_some_avg10);
  if (typeof s.uptime_s === "number") text($("uptime"), formatDuration(s.uptime_s));
  text($("muted"), s.muted ? "muted" : "listening");
  if (s.models) fillTable("models", Object.entries(s.models).sort());
  if (s.breakers) fillTable("breakers", Object.entries(s.breakers).sort()
    .map(([name, b]) => [name, b.state + (b.retry_in_s ? ` (retry in ${b.retry_in_s} s)` : "")]));
  if (s.mqtt !== undefined) text($("mqtt"), mqttText(s.mqtt));
  if (s.last_interaction) showLast(s.last_interaction);
  samples.push({ t: Date.now() / 1000, mem_available_mb: reading.mem_available_mb,
                 psi_some_avg10: reading.psi_some_avg10 });
  drawChart();
}

function mqttText(part) {
  if (!part) return "not configured";
  if (typeof part !== "object") return String(part);
  const head = part.connected === true ? "connected" : part.connected === false ? "not connected" : "";
  const rest = ["broker", "last_error"].filter((k) => part[k]).map((k) => `${k}: ${part[k]}`);
  return [head, rest.join(", ")].filter(Boolean).join("; ") || "on";
}

function formatDuration(sec) {
  sec = Math.floor(sec);
  const d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60);
  return d ? `${d}d ${h}h ${m}m` : h ? `${h}h ${m}m ${sec % 60}s` : `${m}m ${sec % 60}s`;
}

function sourcesText(sources) {
  return (sources || []).map((s) => s.title || s.path).filter(Boolean).join(", ");
}

function showLast(last) {
  const box = $("last");
  if (!box) return;
  const q = document.createElement("p"), a = document.createElement("p"), m = document.createElement("p");
  const strong = document.createElement("strong");
  strong.textContent = last.question;
  q.append(strong);
  a.textContent = last.answer;
  m.className = "muted";
  m.textContent = `source: ${sourcesText(last.sources) || "none"} · tier ${last.tier} · ${last.method}`;
  box.replaceChildren(q, a, m);
}

function startLive() {
  const events = new EventSource("/api/events");
  events.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
  events.addEventListener("state-changed", (e) => text($("voice-state"), JSON.parse(e.data).state));
  events.addEventListener("tier-changed", (e) => {
    const d = JSON.parse(e.data);
    text($("tier"), d.tier); text($("tier-name"), TIER_NAMES[d.tier]); text($("tier-reason"), d.reason);
  });
  events.addEventListener("mute-changed", (e) => text($("muted"), JSON.parse(e.data).muted ? "muted" : "listening"));
  events.addEventListener("answer-end", (e) => showLast(JSON.parse(e.data)));
}

function startAsk() {
  const form = $("ask-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const question = $("question").value.trim();
    if (!question) return;
    const button = $("ask-button");
    button.disabled = true;
    text($("answer"), "Thinking…");
    text($("answer-sources"), "");
    try {
      const r = await call("POST", "/api/ask", { question, speak: $("speak").checked });
      text($("answer"), r.answer);
      const src = sourcesText(r.sources);
      text($("answer-sources"), src ? `Source: ${src} (tier ${r.tier}, ${r.method})` : `No source (tier ${r.tier}, ${r.method})`);
    } catch (err) {
      text($("answer"), "Error: " + err.message);
    } finally {
      button.disabled = false;
    }
  });
}

async function startOverview() {
  try {
    const history = await call("GET", "/api/history");
    samples.push(...history);
    drawChart();
  } catch (err) { /* the live stream still fills the chart */ }
  startLive();
  startAsk();
}

// ---------------------------------------------------------------- knowledge
async function refreshDocuments() {
  const docs = await call("GET", "/api/documents");
  text($("doc-count"), docs.length);
  fillTable("documents", docs.map((d) => {
    const code = document.createElement("code");
    code.textContent = d.path;
    return [d.title, code, d.kind, d.chunks, (d.size / 1024).toFixed(1) + " KB", d.ingested_at, removeButton(d)];
  }));
}

function removeButton(doc) {
  const b = document.createElement("button");
  b.type = "button"; b.className = "remove"; b.dataset.id = doc.id; b.textContent = "Remove";
  b.setAttribute("aria-label", "Remove " + doc.title);
  return b;
}

function startKnowledge() {
  const form = $("upload-form");
  const progress = $("upload-progress"), status = $("upload-status");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = $("file").files[0];
    if (!file) return;
    if (file.size > Number(form.dataset.maxBytes)) {
      text(status, `${file.name} is larger than the upload limit.`);
      return;
    }
    const data = new FormData();
    data.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/documents");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.onprogress = (p) => { if (p.lengthComputable) progress.value = (100 * p.loaded) / p.total; };
    xhr.upload.onload = () => text(status, `Uploaded ${file.name}; reading it…`);
    xhr.onload = async () => {
      progress.hidden = true;
      let r = {};
      try { r = JSON.parse(xhr.responseText); } catch (err) { r = {}; }
      if (xhr.status === 200 || xhr.status === 201) {
        text(status, `Added ${r.title} (${r.chunks} chunks).`);
        form.reset();
        await refreshDocuments();
      } else {
        text(status, `Not added: ${r.error || xhr.status}`);
      }
    };
    xhr.onerror = () => { progress.hidden = true; text(status, "The upload failed (connection)."); };
    progress.value = 0; progress.hidden = false;
    text(status, `Uploading ${file.name}…`);
    xhr.send(data);
  });
  $("documents").addEventListener("click", async (e) => {
    const b = e.target.closest("button.remove");
    if (!b) return;
    b.disabled = true;
    try {
      await call("DELETE", "/api/documents/" + b.dataset.id);
      await refreshDocuments();
      text(status, "Removed.");
    } catch (err) { b.disabled = false; text(status, "Not removed: " + err.message); }
  });
  $("reindex").addEventListener("click", async () => {
    const p = $("reindex-progress"), s = $("reindex-status");
    p.hidden = false; text(s, "Re-indexing…"); $("reindex").disabled = true;
    try {
      const r = await call("POST", "/api/reindex");
      text(s, `Done: ${r.vectors} vectors.`);
    } catch (err) { text(s, "Failed: " + err.message); }
    finally { p.hidden = true; $("reindex").disabled = false; }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("ask-form")) startOverview();
  if ($("upload-form")) startKnowledge();
});
