"use strict";
// polydub studio: plain JS, no build step. Talks to API v1 of the same server.
// Shared helpers ($, esc, api, tokenQuery, showError, followJob, auth) are in studio.js.
const STAGES = ["media", "transcribe", "speakers", "translate", "synthesize", "mix", "lips", "render", "done"];
const STAGE_NAMES = { media: "Read media", transcribe: "Transcribe", speakers: "Speakers", translate: "Translate",
  synthesize: "Voices", timing: "Timing", mix: "Mix", lips: "Lip-sync", render: "Render", done: "Done" };
const state = { ws: null, jobId: null, job: null, jobsTimer: null, voices: [], languages: null };

function fmtTime(t) { const m = Math.floor(t / 60), s = (t % 60).toFixed(1).padStart(4, "0"); return `${m}:${s}`; }

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
      <td><a href="${j.task === "clone" ? "/voices.html" : `#/jobs/${j.id}`}">${esc(j.input_name)}</a></td><td>${esc(j.target_language || "")}</td>
      <td class="status ${j.status}">${esc(j.status)}${j.task === "render" ? " (re-render)" : j.task === "clone" ? " (voice clone)" : ""}</td>
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
    if (auth.token) xhr.setRequestHeader("Authorization", `Bearer ${auth.token}`);
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
  if (!state.voices.length) api("/api/voices").then(v => { state.voices = v.voices; fillVoiceList();
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

function fileUrl(name, download) { return `/api/jobs/${state.jobId}/files/${name.split("/").map(encodeURIComponent).join("/")}${tokenQuery()}${download ? (auth.token ? "&" : "?") + "download=true" : ""}`; }

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
      <td data-label="Speaker"><span class="swatch" style="--hue:${hue(s.speaker)}"></span>${esc(s.speaker)}</td>
      <td data-label="Original"><label class="sr-only" for="text-${s.index}">Original text of line ${s.index + 1}</label>
        <textarea id="text-${s.index}" data-field="text" rows="1">${esc(s.text)}</textarea></td>
      <td data-label="Translation"><label class="sr-only" for="tr-${s.index}">Translation of line ${s.index + 1}</label>
        <textarea id="tr-${s.index}" data-field="translation" rows="1">${esc(s.translation || "")}</textarea></td>
      <td data-label="Voice"><label class="sr-only" for="voice-${s.index}">Voice of line ${s.index + 1}</label>
        <input id="voice-${s.index}" type="text" list="voice-list" data-field="voice" value="${esc(s.voice || "")}"></td>
      <td data-label="Flags">${flags(s).map(f => `<span class="flag">${esc(f)}</span>`).join("") || "—"}</td>
      <td data-label="Lips">${lips(s)}</td>
      <td data-label="Play"><button type="button" data-play="original" aria-label="Play original line ${s.index + 1}">Original</button>
        ${s.audio ? `<button type="button" data-play="${esc(s.audio)}" aria-label="Play dubbed line ${s.index + 1}">Dubbed</button>` : ""}</td></tr>`).join("");
    state.segments = segments;
    document.querySelectorAll("#seg-table textarea").forEach(autosize);
    drawSpeakerVoices();
    loadSpeakers();
    drawWaveTimeline();
  } catch (e) { showError(`Could not load the lines: ${e.message}`); }
}

// Text fields grow with their text, so long lines are read whole (no scrolling inside small boxes).
function autosize(el) { el.style.height = "auto"; el.style.height = `${el.scrollHeight + 2}px`; }

// ---------------------------------------------------------------- speakers
async function loadSpeakers() {
  try { state.speakers = (await api(`/api/jobs/${state.jobId}/speakers`)).speakers; } catch (e) { state.speakers = []; }
  drawSpeakerVoices();
}

function voiceLabel(id) {
  const v = state.voices.find(x => x.id === id);
  if (v) return `${v.name} (${v.engine}${v.gender ? ", " + v.gender : ""})`;
  const [engine, name] = id.includes(":") ? id.split(/:(.*)/s) : ["", id];
  return engine ? `${name} (${engine})` : id;  // e.g. a stock timbre speaking another language
}

function speakerFacts(info) {
  const d = (info && info.details) || {}, out = [];
  if (info && info.voice_source) out.push(`source: ${info.voice_source}`);
  if (d.match_similarity != null) out.push(`match similarity ${d.match_similarity}${d.default_voice_similarity != null ? ` (default voice ${d.default_voice_similarity})` : ""}`);
  const c = d.clone || {};
  if (c.similarity_evolved != null) out.push(`clone similarity ${c.similarity_evolved} vs stock ${c.similarity_stock}; CER ${c.cer_evolved ?? "?"} vs ${c.cer_stock ?? "?"}`);
  else if (c.skipped) out.push(c.skipped);
  else if (c.reason && c.voice_source === "matched") out.push(`clone not kept: ${c.reason}`);
  if (d.dub_similarity != null) out.push(`dub similarity ${d.dub_similarity}`);
  if (info && info.profile) out.push(`profile: ${info.profile}`);
  return out;
}

function drawSpeakerVoices() {
  if (!state.segments) return;
  const lang = state.job && state.job.target_language;
  const voices = state.voices.filter(v => !lang || v.language === lang);
  const speakers = [...new Set(state.segments.map(s => s.speaker))];
  $("#speaker-voices").innerHTML = speakers.map((sp, n) => {
    const current = (state.segments.find(s => s.speaker === sp && s.voice) || {}).voice || "";
    const info = (state.speakers || []).find(x => x.speaker === sp);
    const lines = state.segments.filter(s => s.speaker === sp);
    const evolved = current.startsWith("kokoro-evolved:");
    return `<article class="speaker-card" data-speaker="${esc(sp)}" aria-labelledby="spk-name-${n}">
      <h4 id="spk-name-${n}"><span class="swatch" style="--hue:${hue(sp)}"></span>${esc(sp)} <span class="muted small">· ${lines.length} line${lines.length === 1 ? "" : "s"}${info && info.seconds ? ` · ${info.seconds.toFixed(1)} s of speech` : ""}</span></h4>
      <p class="voice-now">Voice in use: <strong>${esc(current ? voiceLabel(current) : "automatic")}</strong>
        ${evolved ? `<span class="badge clone">clone</span>` : current ? `<span class="badge">stock</span>` : ""}
        ${current ? `<button type="button" data-act="preview" aria-label="Preview the voice of ${esc(sp)}">▶ Preview</button>` : ""}</p>
      <p class="muted small facts">${speakerFacts(info).map(esc).join(" · ")}</p>
      <label for="spk-${n}">Voice of speaker ${esc(sp)}</label><select id="spk-${n}" data-speaker="${esc(sp)}">
      <option value="">Automatic</option>${current && !voices.some(v => v.id === current) ? `<option value="${esc(current)}" selected>${esc(voiceLabel(current))}</option>` : ""}${voices.map(v => `<option value="${esc(v.id)}" ${v.id === current ? "selected" : ""}>${esc(v.name)} (${esc(v.engine)}${v.gender ? ", " + esc(v.gender) : ""})</option>`).join("")}</select>
      <div class="actions">
        <button type="button" data-act="match">Match again</button>
        <button type="button" data-act="clone">Clone this voice</button>
        <button type="button" data-act="profile">Save as profile</button>
      </div>
      <div class="clone-progress" hidden><progress max="100" value="0" aria-label="Cloning the voice of ${esc(sp)}"></progress><p class="small" aria-live="polite"></p></div>
    </article>`;
  }).join("");
}

// One clearly different colour per speaker, in order of appearance.
const HUES = [212, 28, 140, 300, 55, 175, 0, 255];
function hue(speaker) {
  const order = state.segments ? [...new Set(state.segments.map(s => s.speaker))] : [];
  const i = order.indexOf(speaker);
  return HUES[(i < 0 ? 0 : i) % HUES.length];
}

function firstLineText(sp) { const s = state.segments.find(x => x.speaker === sp && (x.translation || "").trim()); return s ? s.translation : ""; }

function playUrl(url) { const a = $("#line-audio"); a.src = url; a.play().catch(e => showError(`Cannot play: ${e.message}`)); }

async function speakerAction(btn) {
  const card = btn.closest(".speaker-card"), sp = card.dataset.speaker, act = btn.dataset.act;
  showError("");
  if (act === "preview") {
    const voice = (state.segments.find(s => s.speaker === sp && s.voice) || {}).voice;
    playUrl(`/api/voices/preview?voice=${encodeURIComponent(voice)}&text=${encodeURIComponent(firstLineText(sp))}${tokenQuery("&")}`);
  } else if (act === "match") {
    btn.disabled = true;
    try {
      const r = await api(`/api/jobs/${state.jobId}/speakers/${encodeURIComponent(sp)}/match`, { method: "POST" });
      await reloadLinesKeepingPlace();
      $("#render-note").textContent = `${sp} matched to ${r.voice} (similarity ${r.similarity}). Re-render to hear it.`;
    } catch (e) { showError(`Could not match ${sp} again: ${e.message}`); }
    btn.disabled = false;
  } else if (act === "profile") {
    const info = (state.speakers || []).find(x => x.speaker === sp) || {};
    const name = prompt(`Save ${sp} as a voice profile named:`, info.profile || `${(state.job.input_name || "speaker").replace(/\.[^.]+$/, "")} ${sp}`);
    if (!name) return;
    try {
      await api(`/api/jobs/${state.jobId}/speakers/${encodeURIComponent(sp)}/profile`, { method: "POST", json: { name } });
      $("#render-note").textContent = `${sp} saved as profile “${name}”. Manage it on the Voices page.`;
      loadSpeakers();
    } catch (e) { showError(`Could not save the profile: ${e.message}`); }
  } else if (act === "clone") cloneSpeaker(card, sp, btn);
}

async function cloneSpeaker(card, sp, btn) {
  const box = $(".clone-progress", card), bar = $("progress", box), note = $("p", box);
  btn.disabled = true; box.hidden = false; bar.value = 0; note.textContent = "Starting the voice search…";
  let message = "";
  try {
    const job = await api("/api/voices/clone", { method: "POST", json: { job_id: state.jobId, speaker: sp, language: state.job.target_language } });
    const done = await followJob(job.id, e => { bar.value = e.percent; note.textContent = e.message || ""; });
    if (done.status !== "done") throw new Error(done.error ? done.error.message : `the clone job ended ${done.status}`);
    const { profiles } = await api("/api/profiles");
    const prof = profiles.find(p => p.name === job.profile), v = prof && prof.voices[job.language];
    if (v && v.source === "evolved") {
      state.voices = (await api("/api/voices")).voices; fillVoiceList();
      await pinSpeakerVoice(sp, v.voice);
      message = `Cloned into profile “${job.profile}”: similarity ${v.clone.similarity_evolved} (stock voice ${v.clone.similarity_stock}). Re-render to hear it.`;
      $("#render-note").textContent = `Voice of ${sp} changed. Re-render to hear it.`;
    } else message = `No evolved voice beat the stock one (${(v && v.voice) || "?"} kept).`;
    await loadSpeakers();
  } catch (e) { showError(`Could not clone ${sp}'s voice: ${e.message}`); }
  const again = document.querySelector(`.speaker-card[data-speaker="${CSS.escape(sp)}"]`);
  if (again) { const b = $(".clone-progress", again); b.hidden = !message; $("progress", b).value = 100; $("p", b).textContent = message;
    $("button[data-act=clone]", again).disabled = false; }
}

async function pinSpeakerVoice(sp, voice) {
  for (const seg of state.segments.filter(s => s.speaker === sp))
    state.segments[seg.index] = await api(`/api/jobs/${state.jobId}/segments/${seg.index}`, { method: "PATCH", json: { voice } });
  await reloadLinesKeepingPlace();
}

async function reloadLinesKeepingPlace() { const y = window.scrollY; await loadSegments(); window.scrollTo(0, y); }

function fillVoiceList() { $("#voice-list").innerHTML = state.voices.map(x => `<option value="${esc(x.id)}">`).join(""); }

// ---------------------------------------------------------------- timeline
async function drawWaveTimeline() {
  const segs = state.segments, box = $("#wave-timeline");
  if (!segs || !segs.length) { box.innerHTML = ""; return; }
  const speakers = [...new Set(segs.map(s => s.speaker))];
  const end = Math.max(...segs.map(s => Math.max(s.end, s.dub_end || 0)));
  const waves = await Promise.all(["original", "dubbed"].map(t => api(`/api/jobs/${state.jobId}/waveform?track=${t}&points=600`).catch(() => null)));
  const dur = Math.max(end, ...waves.filter(Boolean).map(w => w.duration)) || 1;
  const pct = t => `${(100 * t / dur).toFixed(3)}%`;
  const block = (s, start, stop, kind) => `<button type="button" class="tl-line" data-i="${s.index}" data-kind="${kind}" style="left:${pct(start)};width:${pct(Math.max(stop - start, 0.05))};--hue:${hue(s.speaker)}"
      title="${esc(`${s.index + 1}. ${s.speaker} ${fmtTime(start)}–${fmtTime(stop)}: ${kind === "original" ? s.text : s.translation || ""}`)}"
      aria-label="${esc(`Play ${kind === "original" ? "the original of" : "the dub of"} line ${s.index + 1} (${s.speaker})`)}">${s.index + 1}</button>`;
  const wave = (w, label) => `<div class="tl-row tl-wave"><span class="tl-label">${label}</span><div class="tl-track">${w
    ? `<svg viewBox="0 0 ${w.peaks.length} 100" preserveAspectRatio="none" role="img" aria-label="${label} sound"><path d="${wavePath(w.peaks)}"/></svg>`
    : `<span class="muted small">no ${label.toLowerCase()} sound yet</span>`}</div></div>`;
  box.innerHTML = wave(waves[0], "Original")
    + speakers.map(sp => `<div class="tl-row"><span class="tl-label">${esc(sp)}</span><div class="tl-track">${segs.filter(s => s.speaker === sp).map(s => block(s, s.start, s.end, "original")).join("")}</div></div>`).join("")
    + wave(waves[1], "Dubbed")
    + `<div class="tl-row"><span class="tl-label">Dub</span><div class="tl-track">${segs.filter(s => s.audio).map(s => block(s, s.dub_start ?? s.start, s.dub_end ?? s.end, "dubbed")).join("")}</div></div>`
    + `<div class="tl-axis" aria-hidden="true"><span>0:00</span><span>${fmtTime(dur / 2)}</span><span>${fmtTime(dur)}</span></div>`;
}

function wavePath(peaks) {
  const top = peaks.map((p, i) => `${i},${(50 - 48 * p).toFixed(1)}`), bottom = peaks.map((p, i) => `${i},${(50 + 48 * p).toFixed(1)}`).reverse();
  return `M${top.join("L")}L${bottom.join("L")}Z`;
}

function timelineClick(btn) {
  const i = +btn.dataset.i, row = document.querySelector(`#seg-table tr[data-i="${i}"]`);
  document.querySelectorAll("#seg-table tr.playing, .tl-line.playing").forEach(el => el.classList.remove("playing"));
  btn.classList.add("playing");
  if (row) { row.classList.add("playing"); row.scrollIntoView({ block: "nearest" }); }
  const seg = state.segments[i];
  if (btn.dataset.kind === "dubbed" && seg.audio) playUrl(fileUrl(seg.audio) + `${tokenQuery() ? "&" : "?"}v=${Date.now()}`);
  else if (row) playLine($("button[data-play=original]", row));
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
  $("#speaker-voices").addEventListener("click", e => { const b = e.target.closest("button[data-act]"); if (b) speakerAction(b); });
  $("#wave-timeline").addEventListener("click", e => { const b = e.target.closest("button.tl-line"); if (b) timelineClick(b); });
  $("#seg-table").addEventListener("input", e => { if (e.target.tagName === "TEXTAREA") autosize(e.target); });
  window.addEventListener("resize", () => document.querySelectorAll("#seg-table textarea").forEach(autosize));
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
  $("#token-form").addEventListener("submit", e => { e.preventDefault(); setToken($("#token-input").value.trim());
    $("#token-box").hidden = true; state.languages = null; route(); });
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => { setupUpload(); setupJobPage(); route(); });
