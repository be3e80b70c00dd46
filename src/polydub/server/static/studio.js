"use strict";
// Shared by the studio's pages (index.html, voices.html, …): API calls with the optional token, escaping,
// errors in words, and following a job's progress events. Plain JS, no build step.
const $ = (s, el = document) => el.querySelector(s);
const auth = { token: localStorage.getItem("polydub-token") || "" };

function setToken(token) { auth.token = token; localStorage.setItem("polydub-token", token); }
function tokenQuery(sep = "?") { return auth.token ? `${sep}token=${encodeURIComponent(auth.token)}` : ""; }
function showError(msg) { const a = $("#alert"); a.textContent = msg; a.hidden = !msg; }
function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
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

// Resolves with the job once it has finished; onEvent gets each progress event on the way.
function followJob(id, onEvent) {
  return new Promise(resolve => {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/api/jobs/${id}/events${tokenQuery()}`);
    ws.onmessage = ev => onEvent(JSON.parse(ev.data));
    ws.onclose = () => api(`/api/jobs/${id}`).then(resolve).catch(e => resolve({ status: "failed", error: { message: e.message } }));
  });
}
