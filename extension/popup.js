"use strict";
const $ = id => document.getElementById(id);

function show(status) {
  const on = !!(status && status.running);
  $("state").textContent = on ? "on" : "off";
  $("state").className = on ? "state on" : "state";
  $("toggle").textContent = on ? "Stop dubbing" : "Dub this tab";
  $("latency").textContent = status && status.latencyMs != null ? `${(status.latencyMs / 1000).toFixed(2)} s` : "–";
  $("lines").textContent = (status && status.lines) || 0;
  $("last").textContent = (status && status.lastLine) || "";
  $("error").textContent = (status && status.error) || "";
}

async function init() {
  fillLanguages($("source"), true);
  fillLanguages($("target"), false);
  const saved = await chrome.storage.sync.get(["source", "target"]);
  $("source").value = saved.source || "auto";
  $("target").value = saved.target || "es";
  for (const id of ["source", "target"]) {
    $(id).addEventListener("change", () => chrome.storage.sync.set({ [id]: $(id).value }));
  }
  $("toggle").addEventListener("click", async () => {
    $("toggle").disabled = true;
    const status = await chrome.runtime.sendMessage({ cmd: "status" });
    const reply = await chrome.runtime.sendMessage(status.running ? { cmd: "stop" }
      : { cmd: "start", options: { source: $("source").value, target: $("target").value } });
    if (reply && reply.error) $("error").textContent = reply.error;
    $("toggle").disabled = false;
  });
  chrome.storage.session.onChanged.addListener(changes => { if (changes.status) show(changes.status.newValue); });
  show(await chrome.runtime.sendMessage({ cmd: "status" }));
}

init();
