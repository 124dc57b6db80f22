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
      if (seen !== null && state.version !== seen) {
        // never under someone's hands: while they fill the upload form, say so instead of reloading
        const typing = document.activeElement && document.activeElement.closest("#upload-form, #upload-outcome");
        if (document.body.classList.contains("busy") || typing) offerReload(); else location.reload();
      }
      seen = state.version;
    });
  }

  const next = document.getElementById("next-round");
  if (next) {
    next.closest("form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!window.confirm(next.dataset.confirm)) return;
      next.disabled = true;
      const box = document.getElementById("picks");
      const picks = box ? box.value.split(/[\s,;]+/).filter(Boolean) : [];
      const resp = await fetch(api + "/rounds:next?" + ns.slice(1), {method: "POST", body: JSON.stringify({picks}),
        headers: {"X-CSRF-Token": csrf(), "Content-Type": "application/json"}});
      const body = await resp.json().catch(() => ({}));
      showOutcome(resp.ok ? body.message : (body.detail || resp.statusText), resp.ok ? "ok" : "error");
      if (resp.ok) setTimeout(() => location.reload(), 800); else next.disabled = false;
    });
  }

  setupUpload(api, ns);
}

// ---- a plate upload (the campaign page: a new plate; a plate's page: a correction of it)
function setupUpload(api, ns) {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const file = document.getElementById("file");
  const field = (id) => { const e = document.getElementById(id); return e ? e.value.trim() : ""; };
  ["dragenter", "dragover"].forEach((t) => form.addEventListener(t, (ev) => { ev.preventDefault(); form.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => form.addEventListener(t, (ev) => { ev.preventDefault(); form.classList.remove("over"); }));
  form.addEventListener("drop", (ev) => { if (ev.dataTransfer.files.length) { file.files = ev.dataTransfer.files; send(true); } });
  file.addEventListener("change", () => { if (file.files.length) send(true); });
  form.addEventListener("submit", (ev) => { ev.preventDefault(); send(!(ev.submitter && ev.submitter.value === "record")); });

  async function send(dryRun) {
    if (!file.files.length) { showOutcome("Choose a file first.", "error"); return; }
    const data = new FormData();
    data.append("file", file.files[0]);
    const map = document.getElementById("map");
    if (map && map.files.length) data.append("map", map.files[0]);
    const params = new URLSearchParams({dryRun: dryRun ? "true" : "false", decimal: field("decimal") || "auto"});
    const options = {valueColumn: "value_column", layout: "layout", round: "round", plateNumber: "plate_number", skipRows: "skip_rows",
                     task: "task"};
    for (const [param, id] of Object.entries(options)) if (field(id)) params.set(param, field(id));
    const earlier = document.getElementById("earlier");
    if (earlier && earlier.checked) params.set("earlier", "true");
    if (form.dataset.supersedes) params.set("supersedes", form.dataset.supersedes);
    document.body.classList.add("busy");
    const resp = await fetch(api + "/results?" + params + ns, {method: "POST", body: data, headers: {"X-CSRF-Token": csrf()}});
    const body = await resp.json().catch(() => ({detail: resp.statusText}));
    if (!resp.ok) { showProblems(body); return; }
    const plate = (n) => api.replace("/api/v1", "") + "/plates/" + encodeURIComponent(n);
    if (body.dryRun) {
      // a preview stays on the page (live updates wait) until it is recorded or the page is left
      const out = showOutcome(`All ${body.rows} rows of ${file.files[0].name} are good` +
        (body.failed ? ` (${body.failed} failed wells)` : "") + ". Nothing recorded yet.", "ok");
      const notes = [];
      if (body.skippedRows) notes.push(`${body.skippedRows} title row(s) above the header skipped.`);
      if (body.skippedWells) notes.push(`${body.skippedWells} well(s) the plate map leaves empty left out.`);
      if (body.decimal === ",") notes.push("Values read with a decimal comma.");
      for (const c of body.controls || []) notes.push(`Control ${c.kind}${c.variant ? " " + c.variant : ""}: ${c.wells} wells` +
        (c.mean !== null ? `, mean ${Number(c.mean).toPrecision(4)}` : "") + (c.cv !== null ? `, CV ${(100 * c.cv).toFixed(0)}%` : ""));
      notes.forEach((n) => out.appendChild(el("p", n, "small")));
      for (const d of body.drift || []) out.appendChild(el("p", "Controls out of line: " + d, "warn"));
      if (body.supersedes && body.supersedes.length) {
        out.appendChild(el("p", `The correction changes ${body.changes.length} variant(s) and leaves ${body.unchanged} as they were.`));
        if (body.changes.length) out.appendChild(table(["Variant", "Before", "After", "Change"], body.changes.map((c) => [
          c.variant, c.kind === "added" ? "—" : (c.beforeFailed ? "failed" : num(c.before)),
          c.kind === "removed" ? "—" : (c.afterFailed ? "failed" : num(c.after)), c.kind]), "changes"));
      } else {
        out.appendChild(table(["Variant", "Well", "Value", "Replicate"], body.preview.map((m) => [
          m.variant || (m.control || ""), m.well || "", m.failed ? "failed" : m.value, m.replicate || ""]), "preview"));
      }
      const record = el("button", body.supersedes && body.supersedes.length ? "Record the correction" : `Record ${body.rows} measurements`, "primary");
      record.type = "button";
      record.id = "record-button";
      record.addEventListener("click", () => send(false));
      out.appendChild(record);
    } else if (body.recorded) {
      location.href = plate(body.name) + "?recorded=true" + ns;
    } else {
      document.body.classList.remove("busy");
      const out = showOutcome(`These results were recorded before (as ${body.duplicateOf}); nothing recorded. `, "muted");
      const link = el("a", "See " + body.duplicateOf);
      link.href = plate(body.duplicateOf) + (ns ? "?" + ns.slice(1) : "");
      out.firstChild.appendChild(link);
    }
  }

  function showProblems(body) {
    document.body.classList.remove("busy");
    const out = showOutcome(body.detail || "Not recorded.", "error");
    out.firstChild.setAttribute("role", "alert");
    if (body.problems && body.problems.length) {
      out.appendChild(table(["Line", "Column", "Problem"], body.problems.map((p) => [p.line, p.column, p.problem]), "problems"));
    }
  }
}

function num(v) { return v === null || v === undefined ? "" : Number(Number(v).toPrecision(4)).toString(); }

function table(headers, rows, cls) {
  const t = el("table", null, "list " + (cls || ""));
  const head = t.createTHead().insertRow();
  headers.forEach((h) => { const th = el("th", h); th.scope = "col"; head.appendChild(th); });
  const body = t.createTBody();
  for (const r of rows) {
    const row = body.insertRow();
    r.forEach((v) => row.appendChild(el("td", v === null || v === undefined ? "" : v)));
  }
  return t;
}

// ---- times: in the reader's own time zone (the server writes UTC)
function localTimes() {
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"}); }
  }
}

function offerReload() {
  if (document.getElementById("reload-notice")) return;
  const note = el("p", "The campaign has changed since this page was shown. ", "notice");
  note.id = "reload-notice";
  note.setAttribute("role", "status");
  const button = el("button", "Show the changes", "secondary");
  button.type = "button";
  button.addEventListener("click", () => location.reload());
  note.appendChild(button);
  document.getElementById("campaign").appendChild(note);
}

function showOutcome(text, cls) {
  const out = document.getElementById("upload-outcome") || document.getElementById("message");
  out.replaceChildren(el("p", text, cls));
  return out;
}

// ---- a new campaign: pick sites on the sequence; the library's size under its constraints as you go
// (the server counts it: POST /api/v1/library-size, the arithmetic the campaign will use)
function setupNewCampaign() {
  const form = document.getElementById("new-campaign");
  if (!form) return;
  const field = (id) => document.getElementById(id);
  const parent = field("parent"), sites = field("sites"), view = field("sequence");
  const size = field("library-size"), list = field("library-sites");
  const sequence = () => parent.value.split(/\r?\n/).filter((l) => !l.startsWith(">")).join("").replace(/\s+/g, "").toUpperCase();
  const items = () => sites.value.split(/[,;]+/).map((s) => s.trim()).filter(Boolean);
  const picked = () => new Set(items().map((s) => Number(s.split(":")[0])));
  let timer = null, asked = 0;

  function library() {
    const lib = {sites: items().map((s) => {
      const [pos, res] = s.split(":");
      return res && res.trim() ? {position: Number(pos), residues: res.trim().toUpperCase()} : Number(pos);
    })};
    if (field("alphabet").value.trim()) lib.alphabet = field("alphabet").value.trim().toUpperCase();
    const most = field("max_substitutions").value.trim();
    if (most) lib.maxSubstitutions = Number(most);
    const forbidden = field("forbidden").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (forbidden.length) lib.forbidden = forbidden;
    return lib;
  }

  async function count() {
    const mine = ++asked;
    if (!items().length || !sequence()) { size.textContent = "Library size: pick sites."; list.replaceChildren(); return; }
    let resp, body;
    try {
      resp = await fetch("/api/v1/library-size", {method: "POST", body: JSON.stringify({parentSequence: sequence(), library: library()}),
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()}});
      body = await resp.json();
    } catch (e) { return; }
    if (mine !== asked) return;  // a later edit asked again
    list.replaceChildren();
    if (!resp.ok) {
      const problems = (body.problems || []).map((p) => (p.column && p.column !== "body" ? `${p.column}: ` : "") + p.problem).join("; ");
      size.textContent = "Library size: " + (problems || body.detail || resp.statusText);
      return;
    }
    size.textContent = `Library size: ${body.variants.toLocaleString()} variants (${body.description}` +
      (body.excluded ? `; ${body.excluded.toLocaleString()} of ${body.combinations.toLocaleString()} combinations excluded` : "") + ")";
    body.sites.forEach((s) => list.appendChild(el("li", `${s.parent}${s.position}: ${s.residues} (${s.residues.length})`)));
  }

  function draw() {
    const seq = sequence(), chosen = picked();
    view.replaceChildren();
    [...seq].forEach((aa, i) => {
      const s = el("span", aa, chosen.has(i + 1) ? "site" : "");
      s.title = `${aa}${i + 1}`;
      s.addEventListener("click", () => {
        const now = items(), at = now.findIndex((t) => Number(t.split(":")[0]) === i + 1);
        if (at >= 0) now.splice(at, 1); else now.push(String(i + 1));
        sites.value = now.sort((a, b) => Number(a.split(":")[0]) - Number(b.split(":")[0])).join(", ");
        draw();
      });
      view.appendChild(s);
    });
    clearTimeout(timer);
    timer = setTimeout(count, 250);
  }
  ["parent", "sites", "alphabet", "max_substitutions", "forbidden"].forEach((id) => field(id).addEventListener("input", draw));
  draw();
}

document.addEventListener("DOMContentLoaded", () => { localTimes(); setupFilter(); setupCampaign(); setupUploadOnly(); setupNewCampaign(); });

// a plate's page has the upload form (a correction) without the campaign's live updates
function setupUploadOnly() {
  if (document.getElementById("campaign") || !document.getElementById("upload-form")) return;
  const form = document.getElementById("upload-form");
  const target = new URL(form.getAttribute("action"), location.href);  // (form.action is its "action" button)
  const campaign = target.pathname.split("/campaigns/")[1].split("/")[0];
  const query = target.search;
  setupUpload("/api/v1/campaigns/" + campaign, query ? "&" + query.slice(1) : "");
}
