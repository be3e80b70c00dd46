"use strict";
// polydub studio: plain JS, no build step. Talks to API v1 of the same server.
const $ = (s, el = document) => el.querySelector(s);
const STAGES = ["media", "transcribe", "speakers", "translate", "synthesize", "mix", "lips", "render", "done"];
const STAGE_NAMES = { media: "Read media", transcribe: "Transcribe", speakers: "Speakers", translate: "Translate",
  synthesize: "Voices", timing: "Timing", mix: "Mix", lips: "Lip-sync", render: "Render", done: "Done" };
const state = { token: localStorage.getItem("polydub-token") || "", ws: null, jobId: null, job: null,
  jobsTimer: null, voices: [], languages: null };

function tokenQuery(sep = "?") { return state.token ? `${sep}token=${encodeURIComponent(state.token)}` : ""; }
function showError(msg) { const a = $("#alert"); a.textContent = msg; a.hidden = !msg; }
function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function fmtTime(t) { const m = Math.floor(t / 60), s = (t % 60).toFixed(1).padStart(4, "0"); return `${m}:${s}`; }

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  let res;
  try { res = await fetch(path, Object.assign({}, opts, { headers })); }
  catch (e) { throw new Error("The server cannot be reached. Is `polydub serve` still running?"); }
  if (res.status === 401) { $("#token-box").hidden = false; throw new Error("This server needs an API token; enter it above."); }
  if (res.status === 204) return null;
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ? body.error.message : `Request failed (HTTP ${res.status})`);
  return body;
}

// ---------------------------------------------------------------- routing
function route() {
  showError("");
  if (state.ws) { state.ws.close(); state.ws = null; }
  clearInterval(state.jobsTimer);
  const m = location.hash.match(/^#\/jobs\/([\w-]+)/);
  $("#view-home").hidden = !!m; $("#view-job").hidden = !m;
  if (m) openJob(m[1]); else openHome();
}

// ---------------------------------------------------------------- home
async function openHome() {
  loadLanguages();
  await refreshJobs();
  state.jobsTimer = setInterval(refreshJobs, 3000);
}

async function loadLanguages() {
  if (state.languages) return;
  try {
    const langs = await api("/api/languages");
    state.languages = langs;
    const tgt = $("#target-lang"), src = $("#source-lang");
    const targets = langs.target.length ? langs.target : [{ code: "es", name: "Spanish", tier: null }];
    tgt.innerHTML = targets.map(l => `<option value="${esc(l.code)}">${esc(l.name)}${l.tier ? ` — ${esc(l.tier)} quality` : ""}</option>`).join("");
    const es = targets.find(l => l.code === "es"); if (es) tgt.value = "es";
    src.innerHTML = `<option value="">Detect automatically</option>` + langs.source.map(l => `<option value="${esc(l.code)}">${esc(l.name)}</option>`).join("");
    if (langs.note) $("#tier-note").textContent = langs.note;
    updateTierNote();
  } catch (e) { showError(`Could not load the language list: ${e.message}`); }
}

function updateTierNote() {
  const l = state.languages && state.languages.target.find(t => t.code === $("#target-lang").value);
  if (l) $("#tier-note").textContent = `Engines: ${l.engines.join(", ")}; from ${l.sources.join(", ")}`;
}

async function refreshJobs() {
  try {
    const { jobs } = await api("/api/jobs");
    $("#jobs-empty").hidden = jobs.length > 0;
    $("#jobs-table tbody").innerHTML = jobs.map(j => `<tr>
      <td><a href="#/jobs/${j.id}">${esc(j.input_name)}</a></td><td>${esc(j.target_language || "")}</td>
      <td class="status ${j.status}">${esc(j.status)}${j.task === "render" ? " (re-render)" : ""}</td>
      <td><progress max="100" value="${j.progress}" aria-label="Progress of ${esc(j.input_name)}"></progress></td>
      <td>${new Date(j.created_at * 1000).toLocaleString()}</td></tr>`).join("");
  } catch (e) { showError(e.message); clearInterval(state.jobsTimer); }
}

function setupUpload() {
  const drop = $("#drop"), input = $("#file-input");
  const show = () => { $("#file-name").textContent = input.files[0] ? `Selected: ${input.files[0].name} (${(input.files[0].size / 1e6).toFixed(1)} MB)` : ""; };
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach(ev => drop.addEventListener(ev, e => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach(ev => drop.addEventListener(ev, e => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", e => { if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(); } });
  $("#target-lang").addEventListener("change", updateTierNote);
  $("#new-form").addEventListener("submit", e => {
    e.preventDefault(); showError("");
    const file = input.files[0];
    if (!file) { showError("Choose a video or audio file first."); input.focus(); return; }
    if (!$("#target-lang").value) { showError("Choose the language to dub into."); return; }
    const fd = new FormData();
    fd.append("target_language", $("#target-lang").value);
    if ($("#source-lang").value) fd.append("source_language", $("#source-lang").value);
    fd.append("keep_original", $("#keep-original").checked);
    fd.append("separation", $("#separation").checked);
    fd.append("lipsync", $("#lipsync").checked);
    if ($("#voice-db").value !== "") fd.append("original_voice_db", $("#voice-db").value);
    if ($("#commercial-safe").checked) fd.append("commercial_safe", true);  // else the server's default
    fd.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    if (state.token) xhr.setRequestHeader("Authorization", `Bearer ${state.token}`);
    $("#upload-wrap").hidden = false; $("#start-btn").disabled = true;
    xhr.upload.onprogress = ev => { if (ev.lengthComputable) { const p = Math.round(100 * ev.loaded / ev.total);
      $("#upload-bar").value = p; $("#upload-pct").textContent = `${p}%`; } };
    xhr.onload = () => {
      $("#start-btn").disabled = false; $("#upload-wrap").hidden = true;
      let body = {}; try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 201) { input.value = ""; $("#file-name").textContent = ""; location.hash = `#/jobs/${body.id}`; }
      else if (xhr.status === 401) { $("#token-box").hidden = false; showError("This server needs an API token; enter it above."); }
      else showError(body.error ? `Upload refused: ${body.error.message}` : `Upload failed (HTTP ${xhr.status}).`);
    };
    xhr.onerror = () => { $("#start-btn").disabled = false; showError("The upload was interrupted: the server cannot be reached."); };
    xhr.send(fd);
  });
}

// ---------------------------------------------------------------- job page
async function openJob(id) {
  state.jobId = id; state.segments = null; state.lastStatus = null;
  $("#player").removeAttribute("src");
  ["#player-panel", "#segments-panel", "#files-panel"].forEach(s => { $(s).hidden = true; });
  try { renderJob(await api(`/api/jobs/${id}`)); } catch (e) { showError(e.message); return; }
  connectEvents(id);
  if (!state.voices.length) api("/api/voices").then(v => { state.voices = v.voices;
    $("#voice-list").innerHTML = v.voices.map(x => `<option value="${esc(x.id)}">`).join("");
    if (state.segments && !$("#segments-panel").hidden) drawSpeakerVoices(); }).catch(() => {});
}

function connectEvents(id) {
  if (state.ws) state.ws.close();
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/jobs/${id}/events${tokenQuery()}`);
  state.ws = ws; state.timeline = {};
  ws.onmessage = ev => { const e = JSON.parse(ev.data); applyEvent(e); };
  ws.onclose = () => { if (state.ws === ws) { state.ws = null; api(`/api/jobs/${id}`).then(renderJob).catch(() => {}); } };
  ws.onerror = () => { /* onclose follows; the page falls back to the job's stored state */ };
}

function applyEvent(e) {
  const tl = state.timeline;
  if (e.status === "queued") { state.stageSeconds = {}; for (const k of Object.keys(tl)) delete tl[k]; }
  if (e.stage && e.status === "running") { for (const s of STAGES) { if (s === e.stage) break; if (tl[s] !== "done" && STAGES.indexOf(s) < STAGES.indexOf(e.stage)) tl[s] = tl[s] || "done"; } tl[e.stage] = "active"; }
  Object.assign(state.stageSeconds = state.stageSeconds || {}, e.stage_seconds || {});
  Object.keys(e.stage_seconds || {}).forEach(s => { tl[s] = "done"; });
  if (e.status === "done") STAGES.forEach(s => { tl[s] = "done"; });
  drawTimeline();
  $("#job-bar").value = e.percent;
  $("#job-status").innerHTML = `<span class="status ${e.status}">${esc(e.status)}</span> · ${Math.round(e.percent)}% · ${esc(e.message || STAGE_NAMES[e.stage] || "")}`;
  if (["done", "failed", "cancelled"].includes(e.status)) api(`/api/jobs/${state.jobId}`).then(renderJob).catch(() => {});
}

function drawTimeline() {
  const tl = state.timeline || {}, secs = state.stageSeconds || {};
  $("#timeline").innerHTML = STAGES.map(s => { const st = tl[s] || "pending";
    return `<li class="${st}" aria-current="${st === "active" ? "step" : "false"}">${esc(STAGE_NAMES[s])}${secs[s] ? ` · ${secs[s].toFixed(1)} s` : ""}<span class="sr-only"> (${st})</span></li>`; }).join("");
}

function renderJob(job) {
  state.job = job; state.stageSeconds = Object.assign({}, job.stage_seconds);
  const active = ["queued", "running"].includes(job.status);
  $("#job-title").textContent = `${job.input_name} → ${job.target_language || "?"}`;
  $("#job-status").innerHTML = `<span class="status ${job.status}">${esc(job.status)}</span> · ${Math.round(job.progress)}% · ${esc(job.message || "")}`;
  $("#job-bar").value = job.progress;
  $("#cancel-btn").hidden = !active;
  $("#render-btn").disabled = active;
  const err = $("#job-error"); err.hidden = !job.error; err.textContent = job.error ? `${job.error.message}` : "";
  if (!state.timeline || !Object.keys(state.timeline).length) { state.timeline = {}; Object.keys(job.stage_seconds || {}).forEach(s => { state.timeline[s] = "done"; }); if (job.status === "done") STAGES.forEach(s => { state.timeline[s] = "done"; }); }
  drawTimeline();
  // Once per arrival at "done": the done event and the job fetch can both deliver it, and a second
  // reload would wipe a line the user has just started editing (and its "Saved" note).
  const arrived = job.status === "done" && state.lastStatus !== "done";
  state.lastStatus = job.status;
  if (arrived) { showPlayer(job); loadSegments(); loadFiles(job); $("#render-note").textContent = ""; }
  else if (job.status !== "done" && !active && job.output) { loadFiles(job); }
}

function fileUrl(name, download) { return `/api/jobs/${state.jobId}/files/${name.split("/").map(encodeURIComponent).join("/")}${tokenQuery()}${download ? (state.token ? "&" : "?") + "download=true" : ""}`; }

function showPlayer(job) {
  $("#player-panel").hidden = false;
  const want = document.querySelector("input[name=track]:checked").value;
  const src = want === "original" || !job.output ? `/api/jobs/${job.id}/original${tokenQuery()}` : fileUrl(job.output) + `${tokenQuery() ? "&" : "?"}v=${job.updated_at}`;
  const v = $("#player");
  if (v.getAttribute("src") !== src) { const t = v.currentTime || 0, playing = !v.paused; v.src = src;
    v.addEventListener("loadedmetadata", () => { v.currentTime = t; if (playing) v.play().catch(() => {}); }, { once: true }); }
}

async function loadSegments() {
  try {
    const { segments } = await api(`/api/jobs/${state.jobId}/segments`);
    $("#segments-panel").hidden = false;
    $("#seg-table tbody").innerHTML = segments.map(s => `<tr data-i="${s.index}" class="${s.changed ? "changed" : ""}">
      <td class="num" data-label="Time">${fmtTime(s.start)}–${fmtTime(s.end)}</td>
      <td data-label="Speaker">${esc(s.speaker)}</td>
      <td data-label="Original"><label class="sr-only" for="text-${s.index}">Original text of line ${s.index + 1}</label>
        <textarea id="text-${s.index}" data-field="text">${esc(s.text)}</textarea></td>
      <td data-label="Translation"><label class="sr-only" for="tr-${s.index}">Translation of line ${s.index + 1}</label>
        <textarea id="tr-${s.index}" data-field="translation">${esc(s.translation || "")}</textarea></td>
      <td data-label="Voice"><label class="sr-only" for="voice-${s.index}">Voice of line ${s.index + 1}</label>
        <input id="voice-${s.index}" type="text" list="voice-list" data-field="voice" value="${esc(s.voice || "")}"></td>
      <td data-label="Flags">${flags(s).map(f => `<span class="flag">${esc(f)}</span>`).join("") || "—"}</td>
      <td data-label="Lips">${lips(s)}</td>
      <td data-label="Play"><button type="button" data-play="original" aria-label="Play original line ${s.index + 1}">Original</button>
        ${s.audio ? `<button type="button" data-play="${esc(s.audio)}" aria-label="Play dubbed line ${s.index + 1}">Dubbed</button>` : ""}</td></tr>`).join("");
    state.segments = segments;
    drawSpeakerVoices();
  } catch (e) { showError(`Could not load the lines: ${e.message}`); }
}

function drawSpeakerVoices() {
  const lang = state.job && state.job.target_language;
  const voices = state.voices.filter(v => !lang || v.language === lang);
  const speakers = [...new Set(state.segments.map(s => s.speaker))];
  $("#speaker-voices").innerHTML = speakers.map((sp, n) => {
    const current = (state.segments.find(s => s.speaker === sp && s.voice) || {}).voice || "";
    return `<div><label for="spk-${n}">Voice of speaker ${esc(sp)}</label><select id="spk-${n}" data-speaker="${esc(sp)}">
      <option value="">Automatic</option>${voices.map(v => `<option value="${esc(v.id)}" ${v.id === current ? "selected" : ""}>${esc(v.name)} (${esc(v.engine)}${v.gender ? ", " + esc(v.gender) : ""})</option>`).join("")}</select></div>`;
  }).join("");
}

async function setSpeakerVoice(sel) {
  const sp = sel.dataset.speaker;
  try {
    for (const seg of state.segments.filter(s => s.speaker === sp)) {
      const updated = await api(`/api/jobs/${state.jobId}/segments/${seg.index}`, { method: "PATCH", json: { voice: sel.value || null } });
      state.segments[seg.index] = updated;
      const row = document.querySelector(`#seg-table tr[data-i="${seg.index}"]`);
      row.classList.add("changed"); $("input[data-field=voice]", row).value = sel.value;
    }
    $("#render-note").textContent = `Voice of ${sp} changed. Re-render to hear it.`;
  } catch (e) { showError(`Could not change the voice: ${e.message}`); }
}

// Lip-sync of a line: its status, how well the mouth follows the dub, and a before/after view.
function lips(s) {
  const l = (s.metrics || {}).lipsync;
  if (!l) return "—";
  if (l.status !== "lipsync") return `<span class="muted small" title="${esc(l.reason)}">untouched</span>`;
  const score = l.lip_follow != null ? ` ${l.lip_follow.toFixed(2)}` : "";
  const view = l.crops ? ` <button type="button" data-lips="${esc(l.crops)}" aria-label="Before and after mouth of line ${s.index + 1}">Before/after</button>` : "";
  return `<span title="mouth follows the dub (correlation; untouched video ${l.lip_follow_floor != null ? l.lip_follow_floor.toFixed(2) : "?"})">synced${score}</span>${view}`;
}

function showLips(btn) {
  const tr = btn.closest("tr"), next = tr.nextElementSibling;
  if (next && next.classList.contains("lips-row")) { next.remove(); return; }
  const row = document.createElement("tr"); row.className = "lips-row";
  row.innerHTML = `<td colspan="8"><img alt="Mouth before (top) and after lip-sync (bottom)" src="${fileUrl(btn.dataset.lips)}${tokenQuery() ? "&" : "?"}v=${Date.now()}"></td>`;
  tr.after(row);
}

function flags(s) {
  const out = [], m = s.metrics || {};
  if (s.changed) out.push("edited");
  if (s.tempo && Math.abs(s.tempo - 1) > 0.05) out.push(`tempo ×${s.tempo.toFixed(2)}`);
  if (s.overflow && s.overflow > 0.05) out.push(`overruns ${s.overflow.toFixed(1)} s`);
  for (const [k, v] of Object.entries(m)) if (v === true || (typeof v === "string" && k.includes("flag"))) out.push(k.replace(/_/g, " "));
  if (Array.isArray(m.flags)) out.push(...m.flags);
  return out;
}

async function saveField(el) {
  const tr = el.closest("tr"), i = +tr.dataset.i, field = el.dataset.field, seg = state.segments[i];
  if ((seg[field] || "") === el.value) return;
  try {
    const updated = await api(`/api/jobs/${state.jobId}/segments/${i}`, { method: "PATCH", json: { [field]: el.value } });
    state.segments[i] = updated; tr.classList.add("changed");
    $("#render-note").textContent = "Saved. Re-render to hear the change.";
  } catch (e) { showError(`Could not save line ${i + 1}: ${e.message}`); }
}

function playLine(btn) {
  const tr = btn.closest("tr"), seg = state.segments[+tr.dataset.i];
  if (btn.dataset.play === "original") {
    document.querySelector("input[name=track][value=original]").checked = true; showPlayer(state.job);
    const v = $("#player"), go = () => { v.currentTime = seg.start; v.play().catch(() => {});
      const stop = () => { if (v.currentTime >= seg.end) { v.pause(); v.removeEventListener("timeupdate", stop); } };
      v.addEventListener("timeupdate", stop); };
    if (v.readyState >= 1) go(); else v.addEventListener("loadedmetadata", go, { once: true });
  } else { const a = $("#line-audio"); a.src = fileUrl(btn.dataset.play) + `${tokenQuery() ? "&" : "?"}v=${Date.now()}`; a.play().catch(e => showError(`Cannot play this line: ${e.message}`)); }
}

async function loadFiles(job) {
  try {
    const { files } = await api(`/api/jobs/${job.id}/files`);
    $("#files-panel").hidden = false;
    const main = files.filter(f => f.kind !== "line_audio");
    $("#files").innerHTML = main.map(f => `<li><a href="${fileUrl(f.name, true)}" download>${esc(f.name)}</a> <span class="muted small">${esc(f.kind)}, ${(f.size / 1024).toFixed(0)} KB</span></li>`).join("")
      + (files.length > main.length ? `<li class="muted small">${files.length - main.length} per-line audio files (see the lines table)</li>` : "");
    const rep = $("#report-link"); rep.hidden = !job.has_report_html;
    if (job.has_report_html) $("a", rep).href = fileUrl("report.html");
  } catch (e) { showError(`Could not list the files: ${e.message}`); }
}

function setupJobPage() {
  $("#seg-table").addEventListener("focusout", e => { if (e.target.dataset && e.target.dataset.field) saveField(e.target); });
  $("#speaker-voices").addEventListener("change", e => { if (e.target.dataset.speaker) setSpeakerVoice(e.target); });
  $("#seg-table").addEventListener("click", e => { const b = e.target.closest("button[data-play]"); if (b) playLine(b);
    const l = e.target.closest("button[data-lips]"); if (l) showLips(l); });
  document.querySelectorAll("input[name=track]").forEach(r => r.addEventListener("change", () => showPlayer(state.job)));
  $("#cancel-btn").addEventListener("click", async () => {
    try { renderJob(await api(`/api/jobs/${state.jobId}/cancel`, { method: "POST" })); } catch (e) { showError(e.message); } });
  $("#delete-btn").addEventListener("click", async () => {
    if (!confirm("Delete this job and all its files?")) return;
    try { await api(`/api/jobs/${state.jobId}`, { method: "DELETE" }); location.hash = "#/"; } catch (e) { showError(e.message); } });
  $("#render-btn").addEventListener("click", async () => {
    const el = document.activeElement; if (el && el.dataset && el.dataset.field) await saveField(el);
    try { showError(""); $("#render-note").textContent = "Re-rendering…"; $("#render-btn").disabled = true;
      state.timeline = {}; renderJob(await api(`/api/jobs/${state.jobId}/render`, { method: "POST" })); connectEvents(state.jobId);
    } catch (e) { $("#render-btn").disabled = false; $("#render-note").textContent = ""; showError(`Re-render refused: ${e.message}`); } });
  $("#token-form").addEventListener("submit", e => { e.preventDefault(); state.token = $("#token-input").value.trim();
    localStorage.setItem("polydub-token", state.token); $("#token-box").hidden = true; state.languages = null; route(); });
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => { setupUpload(); setupJobPage(); route(); });
