"use strict";
// Service worker: owns the on/off state; the offscreen document does the audio (a worker cannot).
const OFFSCREEN = "offscreen.html";
const DEFAULTS = { server: "http://127.0.0.1:8000", token: "", source: "auto", target: "es", duck: 0.15 };

async function settings() { return Object.assign({}, DEFAULTS, await chrome.storage.sync.get(Object.keys(DEFAULTS))); }

async function setStatus(patch) {
  const { status } = await chrome.storage.session.get("status");
  const next = Object.assign({ running: false }, status || {}, patch, { updated: Date.now() });
  await chrome.storage.session.set({ status: next });
  await chrome.action.setBadgeText({ text: next.running ? "ON" : "" });
  if (next.running) await chrome.action.setBadgeBackgroundColor({ color: "#2457d6" });
  return next;
}

async function ensureOffscreen() {
  const url = chrome.runtime.getURL(OFFSCREEN);
  const existing = await chrome.runtime.getContexts({ contextTypes: ["OFFSCREEN_DOCUMENT"], documentUrls: [url] });
  if (existing.length) return;
  await chrome.offscreen.createDocument({ url: OFFSCREEN, reasons: ["USER_MEDIA", "AUDIO_PLAYBACK"],
    justification: "Capture the tab's audio, stream it to the polydub server and play the dub." });
}

/** Start dubbing a tab (default: the active one); resolves {ok} or {error}. */
async function startDubbing(options = {}) {
  try {
    const conf = Object.assign(await settings(), options);
    let tabId = options.tabId;
    if (tabId === undefined) {
      const [tab] = await chrome.tabs.query({ active: true, lastFocusedWindow: true });
      if (!tab) throw new Error("no active tab to dub");
      tabId = tab.id;
    }
    const streamId = await chrome.tabCapture.getMediaStreamId({ targetTabId: tabId });
    await ensureOffscreen();
    await setStatus({ running: true, tabId, error: null, source: conf.source, target: conf.target, latencyMs: null,
      lines: 0, lastLine: "" });
    const reply = await chrome.runtime.sendMessage({ to: "offscreen", cmd: "start", streamId, server: conf.server,
      token: conf.token, source: conf.source, target: conf.target, duck: Number(conf.duck) });
    if (reply && reply.error) throw new Error(reply.error);
    return { ok: true, tabId };
  } catch (err) {
    await setStatus({ running: false, error: err.message });
    return { error: err.message };
  }
}

async function stopDubbing() {
  try { await chrome.runtime.sendMessage({ to: "offscreen", cmd: "stop" }); } catch (e) { /* not running */ }
  return setStatus({ running: false });
}

chrome.runtime.onMessage.addListener((msg, _sender, reply) => {
  if (msg.to === "offscreen") return false;
  if (msg.cmd === "start") { startDubbing(msg.options || {}).then(reply); return true; }
  if (msg.cmd === "stop") { stopDubbing().then(reply); return true; }
  if (msg.cmd === "status") { chrome.storage.session.get("status").then(s => reply(s.status || { running: false })); return true; }
  if (msg.type === "offscreen-status") { setStatus(msg.status).then(() => reply({ ok: true })); return true; }
  return false;
});

chrome.tabs.onRemoved.addListener(async tabId => {
  const { status } = await chrome.storage.session.get("status");
  if (status && status.running && status.tabId === tabId) stopDubbing();
});
