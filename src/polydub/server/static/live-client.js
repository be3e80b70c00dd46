"use strict";
// polydub live client: capture → WebSocket (protocol polydub-live/1) → dub playback.
// Shared by the studio's Live page and the browser extension (scripts/package_extension.py copies
// this file into extension/lib/; a test checks that the copy is identical). No build step, no imports.

/** Turns an AudioNode's output into 16-bit PCM chunks of ~100 ms at the context's sample rate. */
class PolydubCapture {
  constructor(ctx, workletUrl) { this.ctx = ctx; this.workletUrl = workletUrl; this.node = null; }

  async start(sourceNode, onChunk) {
    await this.ctx.audioWorklet.addModule(this.workletUrl);
    this.node = new AudioWorkletNode(this.ctx, "polydub-capture", { numberOfInputs: 1, numberOfOutputs: 1,
      channelCount: 2, channelCountMode: "explicit" });
    this.node.port.onmessage = e => onChunk(e.data);
    sourceNode.connect(this.node);
    // A node that leads nowhere may not be processed: route it to the speakers through a silent gain.
    this.mute = this.ctx.createGain(); this.mute.gain.value = 0;
    this.node.connect(this.mute).connect(this.ctx.destination);
  }

  stop() {
    if (this.node) { this.node.port.onmessage = null; this.node.disconnect(); this.node = null; }
    if (this.mute) { this.mute.disconnect(); this.mute = null; }
  }
}

/** Plays dub chunks back to back: each starts when the previous one ends, or at once if none is playing. */
class PolydubPlayer {
  constructor(ctx, destination) {
    this.ctx = ctx; this.out = destination || ctx.destination; this.nextTime = 0;
    this.scheduledSeconds = 0; this.playedSeconds = 0; this.chunks = 0; this.peak = 0;
  }

  play(buffer, sampleRate) {
    const pcm = new Int16Array(buffer);
    if (!pcm.length) return;
    const audio = this.ctx.createBuffer(1, pcm.length, sampleRate);
    const data = audio.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) { data[i] = pcm[i] / 32768; this.peak = Math.max(this.peak, Math.abs(data[i])); }
    const node = this.ctx.createBufferSource();
    node.buffer = audio; node.connect(this.out);
    const at = Math.max(this.ctx.currentTime + 0.02, this.nextTime);
    node.onended = () => { this.playedSeconds += audio.duration; };
    node.start(at);
    this.nextTime = at + audio.duration; this.scheduledSeconds += audio.duration; this.chunks += 1;
  }

  /** Seconds of dub still queued to play. */
  get backlog() { return Math.max(0, this.nextTime - this.ctx.currentTime); }
}

/** One live session over a WebSocket. onEvent receives every JSON event; audio events get `pcm` attached. */
class PolydubLive {
  constructor({ url, token, onEvent, onClose }) {
    this.url = url.replace(/^http/, "ws").replace(/\/+$/, "") + "/api/live" + (token ? `?token=${encodeURIComponent(token)}` : "");
    this.onEvent = onEvent || (() => {}); this.onClose = onClose || (() => {});
    this.ws = null; this.pendingAudio = null; this.sessionId = null; this.sentSamples = 0; this.sampleRate = 16000;
    this.startedAt = null;
  }

  /** Opens the socket, sends `start`, resolves with the `ready` event (rejects with the server's error). */
  start(options) {
    this.sampleRate = options.sample_rate || 16000;
    return new Promise((resolve, reject) => {
      let ready = false;
      const ws = new WebSocket(this.url);
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      ws.onopen = () => ws.send(JSON.stringify(Object.assign({ type: "start" }, options)));
      ws.onmessage = e => {
        if (typeof e.data !== "string") {
          const ev = this.pendingAudio; this.pendingAudio = null;
          if (ev) { ev.pcm = e.data; this.onEvent(ev); }
          return;
        }
        const ev = JSON.parse(e.data);
        if (ev.type === "audio") { this.pendingAudio = ev; return; }  // its PCM is the next binary frame
        if (ev.type === "ready") { ready = true; this.sessionId = ev.session_id; this.startedAt = performance.now(); resolve(ev); }
        if (ev.type === "error" && !ready) { reject(new Error(ev.message + (ev.hint ? ` (${ev.hint})` : ""))); }
        this.onEvent(ev);
      };
      ws.onerror = () => { if (!ready) reject(new Error(`cannot connect to ${this.url.split("?")[0]}`)); };
      ws.onclose = e => {
        if (!ready) reject(new Error(e.reason || `the server closed the connection (${e.code})`));
        this.onClose(e);
      };
    });
  }

  /** Sends one chunk of 16-bit mono PCM (an ArrayBuffer or Int16Array) at the declared sample rate. */
  send(pcm) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    const buf = pcm instanceof ArrayBuffer ? pcm : pcm.buffer;
    this.ws.send(buf);
    this.sentSamples += buf.byteLength / 2;
    return true;
  }

  /** Seconds of input sent so far: the server's source times are on this clock. */
  get streamSeconds() { return this.sentSamples / this.sampleRate; }

  /** Ask the server to dub what is pending; it answers `end` and closes. */
  stop() { if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "stop" })); }

  close() { if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; } }
}

if (typeof window !== "undefined") Object.assign(window, { PolydubCapture, PolydubPlayer, PolydubLive });
