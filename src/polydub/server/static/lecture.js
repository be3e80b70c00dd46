"use strict";
// polydub studio, Lecture page: face photo, voice sample, text split into slides by a delimiter (previewed as
// you type), optional PDF; the lecture job's progress per fragment, each fragment playable as soon as it is
// ready, then the whole lecture. Plain JS, API v1. Shared helpers are in studio.js.
const L = { job: null, shown: new Set() };
const withToken = url => url + tokenQuery(url.includes("?") ? "&" : "?");
const MAX_CHARS = 400;

// The same split as the server (polydub.avatar.lecture.split_lecture): delimiter lines, else the delimiter anywhere.
function splitSlides(text, delim) {
  if (!delim) return [];
  const quoted = delim.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const line = new RegExp(`^\\s*${quoted}\\s*$`, "m");
  const parts = line.test(text) ? text.split(new RegExp(`^\\s*${quoted}\\s*$`, "m")) : text.split(delim);
  return parts.map(p => p.split(/\s+/).join(" ").trim()).filter(Boolean).map(slide => {
    const sentences = slide.split(/(?<=[.!?;])\s+/), fragments = [];
    for (const s of sentences) {
      if (fragments.length && fragments[fragments.length - 1].length + 1 + s.length <= MAX_CHARS) fragments[fragments.length - 1] += " " + s;
      else fragments.push(s);
    }
    return fragments;
  });
}

function preview() {
  const slides = splitSlides($("#lecture-text").value, $("#lecture-delim").value);
  const fragments = slides.reduce((n, s) => n + s.length, 0);
  $("#preview-count").textContent = slides.length ? `(${slides.length} slide${slides.length === 1 ? "" : "s"}, ${fragments} fragment${fragments === 1 ? "" : "s"})` : "";
  $("#slides-preview").innerHTML = slides.map(s => `<li>${esc(s.join(" "))}${s.length > 1 ? ` <span class="muted small">(${s.length} fragments)</span>` : ""}</li>`).join("");
}

async function showFragments() {
  if (!L.job) return;
  const lecture = await api(`/api/lectures/${L.job}`);
  for (const f of lecture.fragments) {
    if (L.shown.has(f.n)) continue;
    L.shown.add(f.n);
    const div = document.createElement("div");
    div.className = "fragment";
    div.innerHTML = `<p class="small"><strong>Fragment ${f.n}</strong> · <code>${esc(f.video)}</code></p>
      <video controls playsinline preload="metadata" src="${esc(withToken(f.url))}" aria-label="Fragment ${f.n}"></video>`;
    $("#fragments").appendChild(div);
  }
  return lecture;
}

async function submit(ev) {
  ev.preventDefault();
  showError("");
  const face = $("#lecture-face").files[0];
  if (!face) { showError("Choose the lecturer's face photo."); return; }
  const text = $("#lecture-text").value, file = $("#lecture-file").files[0];
  if (!text.trim() && !file) { showError("Type the lecture text or choose a text file."); return; }
  const fd = new FormData();
  fd.append("face", face);
  if ($("#lecture-voice").files[0]) fd.append("voice_sample", $("#lecture-voice").files[0]);
  if ($("#lecture-slides").files[0]) fd.append("slides", $("#lecture-slides").files[0]);
  if (file) fd.append("text_file", file); else fd.append("text", text);
  fd.append("delimiter", $("#lecture-delim").value);
  if ($("#lecture-lang").value) fd.append("language", $("#lecture-lang").value);
  const btn = $("#lecture-btn"), box = $("#lecture-progress"), bar = $("progress", box), note = $("p", box);
  btn.disabled = true; box.hidden = false; bar.value = 0; note.textContent = "uploading";
  $("#fragments").innerHTML = ""; L.shown.clear(); $("#lecture-done").hidden = true;
  try {
    const created = await api("/api/lectures", { method: "POST", body: fd });
    L.job = created.id; $("#lecture-cancel").hidden = false; $("#result-panel").hidden = false;
    note.textContent = `${created.slides} slides, ${created.fragments} fragments: queued`;
    const done = await followJob(created.id, e => {
      bar.value = e.percent; note.textContent = `${e.stage || ""}: ${e.message || ""}`;
      if (e.stage === "fragment") showFragments().catch(() => {});
    });
    const lecture = await showFragments();
    if (done.status === "done") {
      bar.value = 100; note.textContent = "done";
      $("#lecture-done").hidden = false;
      $("#lecture-video").src = withToken(lecture.video_url);
      $("#lecture-download").href = withToken(lecture.video_url + "?download=true");
      $("#lecture-map").textContent = JSON.stringify(lecture.result);
    } else showError(done.error && done.error.message ? done.error.message : `The lecture ${done.status}.`);
  } catch (e) { showError(e.message); }
  finally { btn.disabled = false; $("#lecture-cancel").hidden = true; }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#token-form").addEventListener("submit", e => { e.preventDefault(); setToken($("#token-input").value); $("#token-box").hidden = true; });
  $("#lecture-text").addEventListener("input", preview);
  $("#lecture-delim").addEventListener("input", preview);
  $("#lecture-file").addEventListener("change", async () => {
    const f = $("#lecture-file").files[0];
    if (f) { $("#lecture-text").value = await f.text(); preview(); }
  });
  $("#lecture-form").addEventListener("submit", submit);
  $("#lecture-cancel").addEventListener("click", () => L.job && api(`/api/jobs/${L.job}/cancel`, { method: "POST" }).catch(e => showError(e.message)));
  preview();
});
