"use strict";
// Offscreen document: tab audio → polydub server; the dub → speakers; the original ducked while the dub speaks.
const run = { ctx: null, stream: null, client: null, capture: null, player: null, duck: null, timer: null,
  stats: { lines: 0, latencyMs: null, lastLine: "", error: null } };

function report(patch) {
  Object.assign(run.stats, patch || {});
  const p = run.player;
  const status = Object.assign({}, run.stats, p ? { chunks: p.chunks, playedSeconds: +p.playedSeconds.toFixed(2),
    scheduledSeconds: +p.scheduledSeconds.toFixed(2), peak: +p.peak.toFixed(3) } : {},
    run.client ? { sentSeconds: +run.client.streamSeconds.toFixed(2), sessionId: run.client.sessionId } : {});
  chrome.runtime.sendMessage({ type: "offscreen-status", status }).catch(() => {});
}

async function start(msg) {
  await stop();
  run.stats = { running: true, lines: 0, latencyMs: null, lastLine: "", error: null };
  run.stream = await navigator.mediaDevices.getUserMedia({ audio: { mandatory: {
    chromeMediaSource: "tab", chromeMediaSourceId: msg.streamId } } });
  run.ctx = new AudioContext();
  const source = run.ctx.createMediaStreamSource(run.stream);
  // Capturing a tab silences it: the original is played again here, ducked while the dub speaks.
  run.duck = run.ctx.createGain();
  source.connect(run.duck).connect(run.ctx.destination);
  run.player = new PolydubPlayer(run.ctx);
  run.client = new PolydubLive({ url: msg.server, token: msg.token, onEvent, onClose: e => {
    if (run.stats.running) report({ running: false, error: e.code === 1000 ? null : (e.reason || `closed (${e.code})`) });
  } });
  await run.client.start({ target_language: msg.target, source_language: msg.source, sample_rate: run.ctx.sampleRate });
  run.capture = new PolydubCapture(run.ctx, "lib/live-worklet.js");
  await run.capture.start(source, chunk => run.client && run.client.send(chunk));
  run.timer = setInterval(() => {
    run.duck.gain.setTargetAtTime(run.player.backlog > 0.05 ? msg.duck : 1.0, run.ctx.currentTime, 0.08);
  }, 100);
  run.reporter = setInterval(report, 1000);
  report();
}

function onEvent(ev) {
  if (ev.type === "audio" && ev.pcm) run.player.play(ev.pcm, ev.sample_rate);
  else if (ev.type === "translation") report({ lastLine: ev.text });
  else if (ev.type === "metrics") report({ lines: run.stats.lines + 1, latencyMs: ev.first_audio_ms, lagS: ev.lag_s });
  else if (ev.type === "error") report({ error: ev.message });
}

async function stop() {
  clearInterval(run.timer); clearInterval(run.reporter);
  if (run.capture) run.capture.stop();
  if (run.stream) run.stream.getTracks().forEach(t => t.stop());
  if (run.client) { run.client.stop(); setTimeout(c => c.close(), 30000, run.client); }
  if (run.ctx) { const ctx = run.ctx; setTimeout(() => ctx.close(), 30000); }  // let the last lines play
  run.capture = run.stream = run.client = run.ctx = null;
  if (run.stats.running) report({ running: false });
}

chrome.runtime.onMessage.addListener((msg, _sender, reply) => {
  if (msg.to !== "offscreen") return false;
  const done = p => p.then(() => reply({ ok: true }), err => { report({ running: false, error: err.message }); reply({ error: err.message }); });
  if (msg.cmd === "start") { done(start(msg)); return true; }
  if (msg.cmd === "stop") { done(stop()); return true; }
  return false;
});
