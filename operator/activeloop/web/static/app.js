// ActiveLoop pages: a little JavaScript, no library. Every string from the server or a file is put
// into the page with textContent (never innerHTML), so nothing a user typed can run as code.
"use strict";

const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

// ---- the campaigns list: filter rows as you type
function setupFilter() {
  const input = document.querySelector("input[data-filter]");
  if (!input) return;
  const table = document.getElementById(input.dataset.filter);
  if (!table) return;
  input.addEventListener("input", () => {
    const q = input.value.trim().toLowerCase();
    for (const row of table.tBodies[0].rows) row.hidden = q && !row.dataset.search.includes(q);
  });
}

// ---- a campaign: live updates, the next-round button, drag-and-drop uploads
function setupCampaign() {
  const root = document.getElementById("campaign");
  if (!root) return;
  const name = root.dataset.campaign;
  const ns = root.dataset.namespace ? "&namespace=" + encodeURIComponent(root.dataset.namespace) : "";
  const api = "/api/v1/campaigns/" + encodeURIComponent(name);

  // server-sent events: reload when the campaign differs from what the page shows (the version it
  // was rendered from), so a change between rendering and listening is not missed
  let seen = root.dataset.version || null;
  if (window.EventSource) {
    const source = new EventSource(root.dataset.events);
    source.addEventListener("state", (ev) => {
      const state = JSON.parse(ev.data);
      if (seen !== null && state.version !== seen && !document.body.classList.contains("busy")) location.reload();
      seen = state.version;
    });
  }

  const next = document.getElementById("next-round");
  if (next) {
    next.closest("form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!window.confirm(next.dataset.confirm)) return;
      next.disabled = true;
      const resp = await fetch(api + "/rounds:next?" + ns.slice(1), {method: "POST", headers: {"X-CSRF-Token": csrf()}});
      const body = await resp.json().catch(() => ({}));
      showOutcome(resp.ok ? body.message : (body.detail || resp.statusText), resp.ok ? "ok" : "error");
      if (resp.ok) setTimeout(() => location.reload(), 800); else next.disabled = false;
    });
  }

  const form = document.getElementById("upload-form");
  if (!form) return;
  const file = document.getElementById("file");
  ["dragenter", "dragover"].forEach((t) => form.addEventListener(t, (ev) => { ev.preventDefault(); form.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => form.addEventListener(t, (ev) => { ev.preventDefault(); form.classList.remove("over"); }));
  form.addEventListener("drop", (ev) => { if (ev.dataTransfer.files.length) { file.files = ev.dataTransfer.files; send(true); } });
  file.addEventListener("change", () => send(true));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); send(ev.submitter && ev.submitter.value !== "record"); });

  async function send(dryRun) {
    if (!file.files.length) { showOutcome("Choose a file first.", "error"); return; }
    const data = new FormData();
    data.append("file", file.files[0]);
    const params = new URLSearchParams({dryRun: dryRun ? "true" : "false", decimal: document.getElementById("decimal").value});
    const vc = document.getElementById("value_column").value.trim();
    if (vc) params.set("valueColumn", vc);
    document.body.classList.add("busy");
    const resp = await fetch(api + "/results?" + params + ns, {method: "POST", body: data, headers: {"X-CSRF-Token": csrf()}});
    const body = await resp.json().catch(() => ({detail: resp.statusText}));
    document.body.classList.remove("busy");
    if (!resp.ok) { showProblems(body); return; }
    if (body.dryRun) {
      const out = showOutcome(`All ${body.rows} rows of ${file.files[0].name} are good` +
        (body.failed ? ` (${body.failed} failed wells)` : "") + ". Nothing recorded yet.", "ok");
      const table = el("table", null, "list");
      const head = table.createTHead().insertRow();
      ["Variant", "Value", "Replicate"].forEach((h) => head.appendChild(el("th", h)));
      const tbody = table.createTBody();
      for (const m of body.preview) {
        const row = tbody.insertRow();
        row.appendChild(el("td", m.variant));
        row.appendChild(el("td", m.failed ? "failed" : m.value));
        row.appendChild(el("td", m.replicate || ""));
      }
      out.appendChild(table);
      const record = el("button", `Record ${body.rows} measurements`);
      record.type = "button";
      record.id = "record-button";
      record.addEventListener("click", () => send(false));
      out.appendChild(record);
    } else if (body.recorded) {
      showOutcome(`Recorded ${body.rows} measurements as ${body.name}.`, "ok");
      setTimeout(() => location.reload(), 800);
    } else {
      showOutcome(`These results were recorded before (as ${body.duplicateOf}); nothing recorded.`, "muted");
    }
  }

  function showProblems(body) {
    const out = showOutcome(body.detail || "Not recorded.", "error");
    if (!body.problems || !body.problems.length) return;
    const table = el("table", null, "list problems");
    const head = table.createTHead().insertRow();
    ["Line", "Column", "Problem"].forEach((h) => head.appendChild(el("th", h)));
    const tbody = table.createTBody();
    for (const p of body.problems) {
      const row = tbody.insertRow();
      row.appendChild(el("td", p.line));
      row.appendChild(el("td", p.column));
      row.appendChild(el("td", p.problem));
    }
    out.appendChild(table);
  }
}

function showOutcome(text, cls) {
  const out = document.getElementById("upload-outcome") || document.getElementById("message");
  out.replaceChildren(el("p", text, cls));
  return out;
}

// ---- a new campaign: pick sites on the sequence; the library size as you go
function setupNewCampaign() {
  const form = document.getElementById("new-campaign");
  if (!form) return;
  const parent = document.getElementById("parent"), sites = document.getElementById("sites");
  const alphabet = document.getElementById("alphabet"), view = document.getElementById("sequence");
  const size = document.getElementById("library-size");
  const sequence = () => parent.value.split(/\r?\n/).filter((l) => !l.startsWith(">")).join("").replace(/\s+/g, "").toUpperCase();
  const picked = () => new Set(sites.value.split(/[,;\s]+/).filter(Boolean).map(Number));

  function draw() {
    const seq = sequence(), chosen = picked();
    view.replaceChildren();
    [...seq].forEach((aa, i) => {
      const s = el("span", aa, chosen.has(i + 1) ? "site" : "");
      s.title = `${aa}${i + 1}`;
      s.addEventListener("click", () => {
        const now = picked();
        now.has(i + 1) ? now.delete(i + 1) : now.add(i + 1);
        sites.value = [...now].sort((a, b) => a - b).join(",");
        draw();
      });
      view.appendChild(s);
    });
    const n = chosen.size, k = new Set(alphabet.value.toUpperCase().replace(/[^A-Z]/g, "")).size;
    size.textContent = n ? `Library size: ${k}^${n} = ${Math.pow(k, n).toLocaleString()} variants` : "Library size: pick sites.";
  }
  [parent, sites, alphabet].forEach((i) => i.addEventListener("input", draw));
  draw();
}

document.addEventListener("DOMContentLoaded", () => { setupFilter(); setupCampaign(); setupNewCampaign(); });
