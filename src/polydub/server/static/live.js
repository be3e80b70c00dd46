"use strict";
// The studio's Live page: a file or the microphone → /api/live → the dub plays here, line by line.
const $ = (s, el = document) => el.querySelector(s);
const live = { token: localStorage.getItem("polydub-token") || "", client: null, ctx: null, capture: null,
  player: null, stream: null, lines: new Map(), latencies: [], speakers: {}, running: false };
window.liveState = live;  // for tests and the curious: player stats, lines, latencies

function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function showError(msg) { const a = $("#alert"); a.textContent = msg; a.hidden = !msg; }
function status(msg) { $("#live-status").textContent = msg; }

async function api(path) {
  const res = await fetch(path, { headers: live.token ? { Authorization: `Bearer ${live.token}` } : {} });
  if (res.status === 401) { $("#token-box").hidden = false; throw new Error("This server needs an API token; enter it above."); }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
  return body;
}

async function loadLanguages() {
  try {
    const langs = await api("/api/languages");
    const targets = langs.target.length ? langs.target : [{ code: "es", name: "Spanish" }];
    $("#live-target").innerHTML = targets.map(l => `<option value="${esc(l.code)}">${esc(l.name)}</option>`).join("");
    if (targets.find(l => l.code === "es")) $("#live-target").value = "es";
    $("#live-source").innerHTML = `<option value="auto">Detect automatically</option>` +
      langs.source.map(l => `<option value="${esc(l.code)}">${esc(l.name)}</option>`).join("");
  } catch (e) { showError(`Could not load the language list: ${e.message}`); }
}

// ---------------------------------------------------------------- start / stop
async function start(e) {
  e.preventDefault();
  showError("");
  const mode = document.querySelector("input[name=source]:checked").value;
  const file = $("#live-file").files[0];
  if (mode === "file" && !file) { showError("Choose a file to dub, or switch the source to the microphone."); return; }
  $("#live-start").disabled = true;
  reset();
  try {
    live.ctx = new AudioContext();
    await live.ctx.resume();
    let source;
    if (mode === "mic") {
      status("Asking for the microphone…");
      live.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false,
        noiseSuppression: false, autoGainControl: false } });
      source = live.ctx.createMediaStreamSource(live.stream);
    } else {
      const media = $("#live-media");
      media.src = URL.createObjectURL(file);
      source = live.ctx.createMediaElementSource(media);
      const duck = live.ctx.createGain(); duck.gain.value = Number($("#live-original").value);
      source.connect(duck).connect(live.ctx.destination);
      media.onended = () => stop();
    }
    live.player = new PolydubPlayer(live.ctx);
    live.client = new PolydubLive({ url: location.origin, token: live.token, onEvent, onClose: closed });
    status("Connecting (the first session loads the models)…");
    await live.client.start({ target_language: $("#live-target").value, source_language: $("#live-source").value,
      sample_rate: live.ctx.sampleRate, preserve_voice: $("#live-preserve").checked });
    live.capture = new PolydubCapture(live.ctx, "/live-worklet.js");
    await live.capture.start(source, chunk => live.client && live.client.send(chunk));
    if (mode === "file") await $("#live-media").play();
    live.running = true;
    $("#live-stop").disabled = false;
    status(mode === "mic" ? "Listening…" : "Playing and dubbing…");
  } catch (err) {
    if (/unauthorized/.test(err.message)) $("#token-box").hidden = false;
    showError(`Could not start: ${err.message}`);
    teardown();
  }
}

function stop() {
  if (!live.running) return;
  live.running = false;
  $("#live-stop").disabled = true;
  status("Finishing the last lines…");
  if (live.capture) live.capture.stop();
  const media = $("#live-media"); if (!media.paused) media.pause();
  if (live.stream) live.stream.getTracks().forEach(t => t.stop());
  if (live.client) live.client.stop();
}

function closed(e) {
  if (live.running && e.code !== 1000) showError(`The connection closed: ${e.reason || e.code}`);
  live.running = false;
  status(e.code === 1000 ? "Done." : "Disconnected.");
  teardown(true);
}

function teardown(keepAudio) {
  if (live.capture) { live.capture.stop(); live.capture = null; }
  if (live.stream) { live.stream.getTracks().forEach(t => t.stop()); live.stream = null; }
  if (live.client) { live.client.close(); live.client = null; }
  if (!keepAudio && live.ctx) { live.ctx.close(); live.ctx = null; }
  $("#live-start").disabled = false; $("#live-stop").disabled = true;
}

function reset() {
  live.lines.clear(); live.latencies = []; live.speakers = {};
  $("#live-lines tbody").innerHTML = ""; $("#live-speakers").textContent = "";
  $("#live-latency").textContent = "–"; $("#live-lag").textContent = "";
  if (live.ctx) { live.ctx.close(); live.ctx = null; }
  drawChart();
}

// ---------------------------------------------------------------- events
function row(id, start) {
  if (!live.lines.has(id)) {
    const tr = document.createElement("tr");
    tr.id = `line-${id}`;
    tr.innerHTML = `<td class="num">${start.toFixed(1)} s</td><td class="spk"></td><td class="src"></td>` +
      `<td class="tgt"></td><td class="num lat"></td>`;
    $("#live-lines tbody").appendChild(tr);
    live.lines.set(id, tr);
  }
  return live.lines.get(id);
}

function onEvent(ev) {
  switch (ev.type) {
    case "speaker":
      live.speakers[ev.speaker] = ev;
      $("#live-speakers").textContent = "Voices: " + Object.values(live.speakers)
        .map(s => `${s.speaker} → ${s.voice}${s.profile ? ` (profile ${s.profile})` : ""}`).join(", ");
      break;
    case "transcript": {
      const tr = row(ev.utterance, ev.start);
      $(".spk", tr).textContent = ev.speaker; $(".src", tr).textContent = ev.text;
      break;
    }
    case "translation": $(".tgt", row(ev.utterance, ev.start)).textContent = ev.text; break;
    case "audio": if (live.player && ev.pcm) live.player.play(ev.pcm, ev.sample_rate); break;
    case "metrics":
      $(".lat", row(ev.utterance, 0)).textContent = `${ev.first_audio_ms} ms`;
      live.latencies.push(ev.first_audio_ms);
      $("#live-latency").textContent = `Last line ${ev.first_audio_ms} ms (recognition ${ev.asr_ms}, ` +
        `translation ${ev.mt_ms}, first voice ${ev.tts_first_ms})`;
      $("#live-lag").textContent = ev.tempo > 1 ? `catching up: ${ev.lag_s.toFixed(1)} s behind, speech ×${ev.tempo}` : "";
      drawChart();
      break;
    case "skipped": {
      if (!ev.abandoned && !live.lines.has(ev.utterance)) break;  // noise without words: not a line
      const tr = row(ev.utterance, ev.start);
      $(".tgt", tr).textContent = ev.abandoned ? `not dubbed: ${ev.reason}` : `(${ev.reason})`;
      break;
    }
    case "error": showError(ev.message + (ev.hint ? ` — ${ev.hint}` : "")); break;
    case "end": status(`Done: ${ev.lines} lines dubbed.`); break;
    default: break;
  }
}

function drawChart() {
  const canvas = $("#live-chart"), g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 30, data = live.latencies;
  const css = getComputedStyle(document.documentElement);
  g.clearRect(0, 0, w, h);
  const top = Math.max(2000, ...data) * 1.1;
  const y = v => h - pad - (v / top) * (h - 2 * pad);
  g.fillStyle = g.strokeStyle = css.getPropertyValue("--muted") || "#666";
  g.font = "12px system-ui";
  const tick = [500, 1000, 2000, 5000, 10000, 20000, 60000].find(t => t >= top / 4) || 60000;
  for (let v = 0; v <= top; v += tick) { g.fillText(`${v / 1000} s`, 2, y(v) + 4); }
  g.setLineDash([5, 4]); g.beginPath(); g.moveTo(pad, y(1000)); g.lineTo(w - 5, y(1000)); g.stroke(); g.setLineDash([]);
  if (!data.length) return;
  const step = (w - pad - 10) / Math.max(1, data.length - 1);
  g.strokeStyle = g.fillStyle = css.getPropertyValue("--accent") || "#2457d6"; g.lineWidth = 2; g.beginPath();
  data.forEach((v, i) => { const x = pad + i * step; if (i) g.lineTo(x, y(v)); else g.moveTo(x, y(v)); });
  g.stroke();
  data.forEach((v, i) => { g.beginPath(); g.arc(pad + i * step, y(v), 3, 0, 7); g.fill(); });
}

document.addEventListener("DOMContentLoaded", () => {
  $("#live-form").addEventListener("submit", start);
  $("#live-stop").addEventListener("click", stop);
  document.querySelectorAll("input[name=source]").forEach(r => r.addEventListener("change", () => {
    $("#file-box").hidden = document.querySelector("input[name=source]:checked").value !== "file";
  }));
  $("#token-form").addEventListener("submit", e => { e.preventDefault(); live.token = $("#token-input").value.trim();
    localStorage.setItem("polydub-token", live.token); $("#token-box").hidden = true; loadLanguages(); });
  loadLanguages();
  drawChart();
});
