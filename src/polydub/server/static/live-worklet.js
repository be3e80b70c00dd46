// AudioWorklet of the polydub live client: mixes its input to mono and posts 16-bit PCM chunks of
// ~100 ms (at the context's sample rate) to the main thread. Shared with the browser extension.
class PolydubCaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 10);
    this.chunk = new Int16Array(this.size);
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0];
    if (input && input.length) {
      const left = input[0], right = input[1];
      for (let i = 0; i < left.length; i++) {
        const v = right ? (left[i] + right[i]) / 2 : left[i];
        this.chunk[this.filled++] = Math.max(-32768, Math.min(32767, Math.round(v * 32767)));
        if (this.filled === this.size) {
          this.port.postMessage(this.chunk.buffer, [this.chunk.buffer]);  // transferred: the array is now empty
          this.chunk = new Int16Array(this.size);
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("polydub-capture", PolydubCaptureProcessor);
