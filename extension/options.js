"use strict";
const $ = id => document.getElementById(id);
const DEFAULTS = { server: "http://127.0.0.1:8000", token: "", duck: "0.15" };

async function load() {
  const saved = Object.assign({}, DEFAULTS, await chrome.storage.sync.get(Object.keys(DEFAULTS)));
  $("server").value = saved.server; $("token").value = saved.token; $("duck").value = String(saved.duck);
}

function testConnection(server, token) {
  return new Promise(resolve => {
    const url = server.replace(/^http/, "ws").replace(/\/+$/, "") + "/api/live" + (token ? `?token=${encodeURIComponent(token)}` : "");
    let ws;
    try { ws = new WebSocket(url); } catch (e) { resolve(`Not a valid server address: ${e.message}`); return; }
    const timer = setTimeout(() => { ws.close(); resolve("No answer within 5 s."); }, 5000);
    ws.onopen = () => ws.send(JSON.stringify({ type: "ping" }));
    ws.onmessage = e => { clearTimeout(timer); ws.close(); resolve(JSON.parse(e.data).type === "pong" ? "Connected: the server answers." : `Unexpected answer: ${e.data}`); };
    ws.onclose = e => { clearTimeout(timer); if (e.code === 4401) resolve("The server needs a (different) API token."); else if (e.code !== 1000 && e.code !== 1005) resolve(`Cannot connect (${e.code}). Is polydub serve running there?`); };
  });
}

$("form").addEventListener("submit", async e => {
  e.preventDefault();
  await chrome.storage.sync.set({ server: $("server").value.trim(), token: $("token").value.trim(), duck: Number($("duck").value) });
  $("result").textContent = "Saved.";
});
$("test").addEventListener("click", async () => { $("result").textContent = "Testing…"; $("result").textContent = await testConnection($("server").value.trim(), $("token").value.trim()); });
load();
