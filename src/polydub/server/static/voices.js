"use strict";
// polydub studio, Voices page: profiles (enrol from a file or the microphone, rename, delete), the voice each
// profile speaks per language, previews, and cloning a voice with live progress. Plain JS, API v1.
// Shared helpers ($, esc, api, tokenQuery, showError, followJob, auth) are in studio.js.
const V = { voices: [], profiles: [], cloneLanguages: [], recorder: null, recording: null };

const LANG_NAMES = { en: "English", es: "Spanish", fr: "French", it: "Italian", pt: "Portuguese", hi: "Hindi",
  ja: "Japanese", de: "German", ru: "Russian", zh: "Chinese" };
const langName = c => LANG_NAMES[c] || c;

// ---------------------------------------------------------------- profiles
async function load() {
  try {
    const [profiles, voices] = await Promise.all([api("/api/profiles"), api("/api/voices")]);
    V.profiles = profiles.profiles; V.cloneLanguages = profiles.clone_languages; V.voices = voices.voices;
    draw();
  } catch (e) { showError(e.message); }
}

function languages() { return [...new Set(V.voices.map(v => v.language))].sort(); }

function voiceRow(p, lang, v, n) {
  const c = v.clone;
  const facts = c ? `clone of ${esc(p.name)}: similarity ${c.similarity_evolved} vs stock ${esc(c.stock_voice)} ${c.similarity_stock}; CER ${c.cer_evolved ?? "?"}; ${c.syntheses} syntheses, ${c.search_seconds} s` : "stock voice";
  return `<dt>${esc(langName(lang))}</dt><dd><span class="badge ${v.source === "evolved" ? "clone" : ""}">${v.source === "evolved" ? "clone" : "stock"}</span>
    <code>${esc(v.voice)}</code> <button type="button" data-act="preview" data-lang="${esc(lang)}" aria-label="Preview ${esc(p.name)} in ${esc(langName(lang))}">▶</button>
    <button type="button" data-act="forget" data-lang="${esc(lang)}" aria-label="Forget ${esc(p.name)}'s ${esc(langName(lang))} voice">Forget</button>
    <br><span class="muted small">${facts}</span></dd>`;
}

function draw() {
  $("#profiles-empty").hidden = V.profiles.length > 0;
  const langs = languages();
  $("#profiles").innerHTML = V.profiles.map((p, n) => `<article class="profile-card" data-name="${esc(p.name)}" aria-labelledby="p-${n}">
    <h3 id="p-${n}">${esc(p.name)} <span class="muted small">· ${p.samples} recording${p.samples === 1 ? "" : "s"}</span></h3>
    <dl>${Object.entries(p.voices).map(([lang, v]) => voiceRow(p, lang, v, n)).join("") || `<dt>Voices</dt><dd class="muted small">none chosen yet (the closest stock voice is used)</dd>`}</dl>
    <div class="grid">
      <div><label for="lang-${n}">Language</label><select id="lang-${n}" data-role="lang">
        ${langs.map(l => `<option value="${esc(l)}" ${l === "es" ? "selected" : ""}>${esc(langName(l))}</option>`).join("")}</select></div>
      <div><label for="text-${n}">Preview text</label><input id="text-${n}" type="text" data-role="text" placeholder="a sentence in that language"></div>
    </div>
    <div class="actions">
      <button type="button" data-act="preview-lang">▶ Preview</button>
      <button type="button" data-act="clone" class="primary">Clone voice</button>
      <label class="sr-only" for="budget-${n}">Search time</label>
      <select id="budget-${n}" data-role="budget" aria-label="Search time">
        <option value="30">30 s search</option><option value="60" selected>60 s search</option><option value="120">2 min search</option><option value="300">5 min search</option></select>
    </div>
    <div class="grid">
      <div><label for="voice-${n}">Speak this language with</label><select id="voice-${n}" data-role="voice"></select></div>
      <div><label for="rename-${n}">Rename</label><input id="rename-${n}" type="text" data-role="rename" value="${esc(p.name)}"></div>
    </div>
    <div class="actions">
      <button type="button" data-act="set-voice">Use this voice</button>
      <button type="button" data-act="rename">Rename</button>
      <button type="button" data-act="delete" class="danger">Delete profile</button>
    </div>
    <div class="clone-progress" hidden><progress max="100" value="0" aria-label="Cloning ${esc(p.name)}"></progress><p class="small" aria-live="polite"></p></div>
  </article>`).join("");
  document.querySelectorAll(".profile-card").forEach(fillVoiceSelect);
}

function fillVoiceSelect(card) {
  const p = V.profiles.find(x => x.name === card.dataset.name), lang = $("[data-role=lang]", card).value;
  const current = p.voices[lang] ? p.voices[lang].voice : "";
  const voices = V.voices.filter(v => v.language === lang && (!v.extra || !v.extra.evolved || v.extra.profile === p.name));
  // The profile's voice may be one the list leaves out (an English timbre speaking Spanish): show it anyway.
  const unlisted = current && !voices.some(v => v.id === current) ? `<option value="${esc(current)}" selected>${esc(current)}</option>` : "";
  $("[data-role=voice]", card).innerHTML = unlisted + voices.map(v => `<option value="${esc(v.id)}" ${v.id === current ? "selected" : ""}>${esc(v.name)} (${esc(v.engine)}${v.gender ? ", " + esc(v.gender) : ""})</option>`).join("");
  const cloneBtn = $("button[data-act=clone]", card);
  cloneBtn.disabled = !V.cloneLanguages.includes(lang);
  cloneBtn.title = cloneBtn.disabled ? `Cloned voices speak ${V.cloneLanguages.map(langName).join(", ")}` : "";
}

function play(url) { const a = $("#preview-audio"); a.src = url; a.play().catch(e => showError(`Cannot play the preview: ${e.message}`)); }

async function act(btn) {
  const card = btn.closest(".profile-card"), name = card.dataset.name, what = btn.dataset.act;
  const lang = btn.dataset.lang || $("[data-role=lang]", card).value;
  const enc = encodeURIComponent(name);
  showError("");
  try {
    if (what === "preview" || what === "preview-lang") {
      const text = $("[data-role=text]", card).value;
      play(`/api/profiles/${enc}/preview?lang=${encodeURIComponent(lang)}&text=${encodeURIComponent(text)}${tokenQuery("&")}`);
    } else if (what === "forget") {
      await api(`/api/profiles/${enc}/voices/${encodeURIComponent(lang)}`, { method: "DELETE" }); await load();
    } else if (what === "set-voice") {
      await api(`/api/profiles/${enc}/voices/${encodeURIComponent(lang)}`, { method: "PUT", json: { voice: $("[data-role=voice]", card).value } });
      await load();
    } else if (what === "rename") {
      const to = $("[data-role=rename]", card).value.trim();
      if (to && to !== name) { await api(`/api/profiles/${enc}`, { method: "PATCH", json: { name: to } }); await load(); }
    } else if (what === "delete") {
      if (!confirm(`Delete the profile “${name}”, its recordings and its cloned voices?`)) return;
      await api(`/api/profiles/${enc}`, { method: "DELETE" }); await load();
    } else if (what === "clone") await clone(card, name, lang, +$("[data-role=budget]", card).value);
  } catch (e) { showError(e.message); }
}

async function clone(card, name, lang, budget) {
  const box = $(".clone-progress", card), bar = $("progress", box), note = $("p", box);
  box.hidden = false; bar.value = 0; note.textContent = "Starting the voice search…";
  card.querySelectorAll("button").forEach(b => { b.disabled = true; });
  let message;
  try {
    const job = await api("/api/voices/clone", { method: "POST", json: { profile: name, language: lang, budget_s: budget } });
    const done = await followJob(job.id, e => { bar.value = e.percent; note.textContent = e.message || ""; });
    if (done.status !== "done") throw new Error(done.error ? done.error.message : `the clone ended ${done.status}`);
    await load();
    const v = (V.profiles.find(p => p.name === name) || { voices: {} }).voices[lang];
    message = v && v.source === "evolved"
      ? `Cloned: ${name} now speaks ${langName(lang)} with ${v.voice} (similarity ${v.clone.similarity_evolved}, stock ${v.clone.similarity_stock}).`
      : `No evolved voice beat the closest stock voice; ${name} keeps ${v ? v.voice : "the stock voice"}.`;
  } catch (e) { showError(`Could not clone ${name}'s voice: ${e.message}`); await load(); }
  const after = document.querySelector(`.profile-card[data-name="${CSS.escape(name)}"]`);
  if (after && message) { const b = $(".clone-progress", after); b.hidden = false; $("progress", b).value = 100; $("p", b).textContent = message; }
}

// ---------------------------------------------------------------- enrolment
async function toggleRecording() {
  const btn = $("#rec-btn"), st = $("#rec-state");
  if (V.recorder) { V.recorder.stop(); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } }); }
  catch (e) { showError(`The microphone cannot be used: ${e.message}. Choose a recording file instead.`); return; }
  const chunks = [], started = Date.now();
  const rec = new MediaRecorder(stream);
  V.recorder = rec;
  rec.ondataavailable = e => { if (e.data.size) chunks.push(e.data); };
  const timer = setInterval(() => { st.innerHTML = `<span class="dot" aria-hidden="true"></span> recording ${((Date.now() - started) / 1000).toFixed(0)} s (say 10 s or more)`; }, 250);
  rec.onstop = () => {
    clearInterval(timer); stream.getTracks().forEach(t => t.stop()); V.recorder = null;
    V.recording = new Blob(chunks, { type: rec.mimeType || "audio/webm" });
    const secs = (Date.now() - started) / 1000;
    st.textContent = `Recorded ${secs.toFixed(1)} s. Listen, then save the profile.`;
    const a = $("#rec-audio"); a.src = URL.createObjectURL(V.recording); a.hidden = false;
    btn.textContent = "● Record again";
  };
  rec.start(250);
  btn.textContent = "■ Stop recording";
}

async function enrol(e) {
  e.preventDefault(); showError("");
  const name = $("#enrol-name").value.trim(), file = $("#enrol-file").files[0];
  if (!name) { showError("Give the profile a name."); $("#enrol-name").focus(); return; }
  if (!file && !V.recording) { showError("Choose a recording of the person, or record them with the microphone."); return; }
  const fd = new FormData();
  fd.append("name", name);
  if (file) fd.append("file", file); else fd.append("file", V.recording, `recording.${(V.recording.type.split("/")[1] || "webm").split(";")[0]}`);
  $("#enrol-btn").disabled = true;
  try {
    await api("/api/profiles", { method: "POST", body: fd });
    $("#enrol-form").reset(); V.recording = null; $("#rec-audio").hidden = true; $("#rec-state").textContent = `Saved “${name}”.`;
    await load();
  } catch (err) { showError(`Could not save the profile: ${err.message}`); }
  $("#enrol-btn").disabled = false;
}

document.addEventListener("DOMContentLoaded", () => {
  $("#enrol-form").addEventListener("submit", enrol);
  $("#rec-btn").addEventListener("click", toggleRecording);
  $("#profiles").addEventListener("click", e => { const b = e.target.closest("button[data-act]"); if (b) act(b); });
  $("#profiles").addEventListener("change", e => { if (e.target.dataset.role === "lang") fillVoiceSelect(e.target.closest(".profile-card")); });
  $("#token-form").addEventListener("submit", e => { e.preventDefault(); setToken($("#token-input").value.trim());
    $("#token-box").hidden = true; load(); });
  load();
});
