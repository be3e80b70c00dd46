"use strict";
// polydub studio, Avatars page: upload a portrait (face checked by the server), list avatars, make one say a
// text with a chosen voice (a job with live progress), watch it, and each avatar's history. Plain JS, API v1.
// Shared helpers ($, esc, api, showError, followJob, setToken, tokenQuery) are in studio.js.
const A = { avatars: [], voices: [], profiles: [], current: null, job: null };
const LANGS = { ru: "Russian", en: "English", es: "Spanish", fr: "French", de: "German", it: "Italian", pt: "Portuguese",
  hi: "Hindi", ja: "Japanese", zh: "Chinese" };
const withToken = url => url + tokenQuery(url.includes("?") ? "&" : "?");

async function loadAvatars() {
  try {
    A.avatars = (await api("/api/avatars")).avatars;
    $("#avatars-empty").hidden = A.avatars.length > 0;
    $("#avatars").innerHTML = A.avatars.map(a => `<article class="profile-card avatar-card" data-id="${esc(a.id)}">
      <img class="thumb" src="${esc(withToken(a.image_url))}" alt="Photo of ${esc(a.name)}">
      <h3>${esc(a.name)}</h3><p class="muted small">${esc(a.description || "")} · ${a.animations} animation${a.animations === 1 ? "" : "s"}</p>
      <div class="actions"><button type="button" class="primary" data-act="pick">Make ${esc(a.name)} speak</button>
        <button type="button" class="danger" data-act="delete" aria-label="Delete ${esc(a.name)}">Delete</button></div></article>`).join("");
  } catch (e) { showError(e.message); }
}

async function loadVoices() {
  try {
    const body = await api("/api/voices");
    A.voices = body.voices; A.profiles = body.profiles || [];
    const langs = [...new Set(A.voices.map(v => v.language))].sort();
    $("#animate-lang").innerHTML = langs.map(l => `<option value="${esc(l)}" ${l === "ru" ? "selected" : ""}>${esc(LANGS[l] || l)}</option>`).join("");
    fillVoices();
  } catch (e) { showError(e.message); }
}

function fillVoices() {
  const lang = $("#animate-lang").value;
  const voices = A.voices.filter(v => v.language === lang);
  const profiles = A.profiles.map(p => p.name || p).filter(Boolean);
  $("#animate-voice").innerHTML = `<option value="">Best installed voice</option>` +
    voices.map(v => `<option value="${esc(v.id)}">${esc(v.name)} (${esc(v.engine)}${v.gender ? ", " + esc(v.gender) : ""})</option>`).join("") +
    profiles.map(p => `<option value="${esc(p)}">Profile: ${esc(p)}</option>`).join("");
}

async function pick(id) {
  A.current = A.avatars.find(a => a.id === id);
  $("#animate-panel").hidden = false;
  $("#animate-name").textContent = A.current.name;
  $("#animate-video").hidden = true;
  await loadHistory();
  $("#animate-text").focus();
}

async function loadHistory() {
  if (!A.current) return;
  const rows = (await api(`/api/avatars/${A.current.id}/animations`)).animations;
  $("#history-empty").hidden = rows.length > 0;
  $("#history tbody").innerHTML = rows.map(r => `<tr><td class="num">${esc(new Date(r.created_at * 1000).toLocaleString())}</td>
    <td>${esc(r.text)}</td><td><code>${esc(r.voice || "")}</code></td><td class="status ${esc(r.status)}">${esc(r.status)}</td>
    <td>${r.video_url ? `<button type="button" data-play="${esc(r.video_url)}">▶ Play</button> <a href="${esc(withToken(r.video_url))}" download>Download</a>` : esc(r.error || "")}</td></tr>`).join("");
}

function play(url) { const v = $("#animate-video"); v.hidden = false; v.src = withToken(url); v.play().catch(() => {}); }

async function animate(ev) {
  ev.preventDefault();
  showError("");
  const text = $("#animate-text").value.trim();
  if (!text) { showError("Type the text the avatar should say."); return; }
  const btn = $("#animate-btn"), box = $("#animate-progress"), bar = $("progress", box), note = $("p", box);
  btn.disabled = true; box.hidden = false; bar.value = 0; note.textContent = "queued";
  try {
    const job = await api(`/api/avatars/${A.current.id}/animations`, { method: "POST",
      json: { text, language: $("#animate-lang").value || null, voice: $("#animate-voice").value || null } });
    A.job = job.id; $("#animate-cancel").hidden = false;
    await loadHistory();
    const done = await followJob(job.id, e => { bar.value = e.percent; note.textContent = `${e.stage || ""} ${e.message || ""}`.trim(); });
    if (done.status === "done") { note.textContent = "done"; bar.value = 100; play(`/api/jobs/${job.id}/files/avatar.mp4`); }
    else showError(done.error ? done.error.message : `The animation ${done.status}.`);
  } catch (e) { showError(e.message); }
  finally { btn.disabled = false; $("#animate-cancel").hidden = true; A.job = null; await loadHistory().catch(() => {}); loadAvatars(); }
}

async function upload(ev) {
  ev.preventDefault();
  showError("");
  const file = $("#avatar-photo").files[0], name = $("#avatar-name").value.trim();
  if (!file || !name) { showError("Choose a photo and give the avatar a name."); return; }
  const fd = new FormData();
  fd.append("photo", file); fd.append("name", name); fd.append("description", $("#avatar-desc").value);
  const btn = $("#avatar-btn"); btn.disabled = true; btn.textContent = "Checking the face…";
  try {
    const avatar = await api("/api/avatars", { method: "POST", body: fd });
    $("#avatar-form").reset(); $("#avatar-preview").hidden = true;
    await loadAvatars(); await pick(avatar.id);
  } catch (e) { showError(e.message); }
  finally { btn.disabled = false; btn.textContent = "Upload avatar"; }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#token-form").addEventListener("submit", e => { e.preventDefault(); setToken($("#token-input").value); $("#token-box").hidden = true; loadAvatars(); loadVoices(); });
  $("#avatar-form").addEventListener("submit", upload);
  $("#avatar-photo").addEventListener("change", () => {
    const f = $("#avatar-photo").files[0], img = $("#avatar-preview");
    if (f) { img.src = URL.createObjectURL(f); img.hidden = false; } else img.hidden = true;
  });
  $("#animate-form").addEventListener("submit", animate);
  $("#animate-lang").addEventListener("change", fillVoices);
  $("#animate-cancel").addEventListener("click", () => A.job && api(`/api/jobs/${A.job}/cancel`, { method: "POST" }).catch(e => showError(e.message)));
  $("#avatars").addEventListener("click", async e => {
    const btn = e.target.closest("button[data-act]"); if (!btn) return;
    const id = btn.closest(".avatar-card").dataset.id;
    if (btn.dataset.act === "pick") await pick(id);
    if (btn.dataset.act === "delete" && confirm("Delete this avatar and its videos?")) {
      try { await api(`/api/avatars/${id}`, { method: "DELETE" }); if (A.current && A.current.id === id) { A.current = null; $("#animate-panel").hidden = true; } loadAvatars(); }
      catch (err) { showError(err.message); }
    }
  });
  $("#history").addEventListener("click", e => { const b = e.target.closest("button[data-play]"); if (b) play(b.dataset.play); });
  loadAvatars(); loadVoices();
});
