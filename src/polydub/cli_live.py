"""`polydub live`: dub a stream as it plays (a file at real-time pace, raw PCM on stdin, or a microphone)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from polydub.errors import PolydubError

console = Console(stderr=True)
CHUNK_S = 0.1


def live_command(
    input: str = typer.Argument(..., help="media file, '-' for raw 16-bit mono PCM on stdin, or 'mic'"),
    to: str = typer.Option(..., "--to", help="target language, e.g. es"),
    output: Path = typer.Option(Path("live-out"), "-o", "--output", help="folder for the dub, subtitles, latency"),
    source: str = typer.Option("auto", "--from", help="source language (default: detect once)"),
    fast: bool = typer.Option(False, "--fast", help="stream a file as fast as possible, not at real-time pace"),
    rate: int = typer.Option(16000, "--rate", help="sample rate of PCM on stdin"),
    voice: str | None = typer.Option(None, "--voice", help="one voice for every speaker"),
    mt: str | None = typer.Option(None, "--mt", help="translation engine; 'whisper' = Whisper's own (→ en)"),
    asr_model: str | None = typer.Option(None, "--asr-model", help="default: tiny.en for --from en, else base"),
    pause: float = typer.Option(0.5, "--pause", help="seconds of silence that end an utterance"),
    max_lag: float = typer.Option(12.0, "--max-lag", help="abandon (and report) lines further behind than this"),
    no_preserve_voice: bool = typer.Option(False, "--no-preserve-voice", help="default voices, not matched ones"),
) -> None:
    """Dub live: subtitles and the dub stream out while the input plays."""
    from polydub.live import LiveConfig, LiveSession, shared_engines
    from polydub.live.recorder import LiveRecorder

    mic = input == "mic"
    realtime = not fast or input == "-" or mic
    config = LiveConfig(target_language=to, source_language=source, sample_rate=16000 if input != "-" else rate,
                        realtime=realtime, voice=voice, mt_engine=mt, asr_model=asr_model, end_pause_s=pause,
                        max_lag_s=max_lag, preserve_voice=not no_preserve_voice)
    player = _Player(config.output_sample_rate) if mic else None
    audio = None
    if not mic and input != "-":
        path = Path(input)
        if not path.exists():
            raise PolydubError(f"input not found: {input}", "give a media file, '-' for PCM on stdin, or 'mic'")
        from polydub.media.decode import decode_for_asr
        from polydub.media.probe import probe

        probe(path)
        audio = decode_for_asr(path)
    recorder = LiveRecorder()
    engines = shared_engines()
    with console.status("loading models…"):
        engines.warm_up((engines.asr_model_for(config.validated().source_language, asr_model),), to)

    def on_event(event) -> None:
        recorder(event)
        if player is not None and event.pcm is not None:
            player.play(event.pcm)
        if event.type == "translation":
            d = event.data
            console.print(f"[dim]{d['start']:6.1f}s {d['speaker']}[/dim] {d['source_text']}\n"
                          f"        [green]{d['text']}[/green]", highlight=False)
        elif event.type == "skipped" and event.data.get("abandoned"):
            console.print(f"[yellow]line {event.data['utterance']} abandoned:[/yellow] {event.data['reason']}")
        elif event.type == "error":
            console.print(f"[red]error:[/red] {event.data['message']}")

    session = LiveSession(config, on_event, engines)
    started = time.monotonic()
    try:
        if mic:
            _stream_mic(session)
        elif audio is not None:
            _stream_file(session, audio.samples, realtime)
        else:
            _stream_stdin(session, rate)
        console.print("[dim]end of input: finishing the last lines…[/dim]")
        session.finish()
    except KeyboardInterrupt:
        console.print("[yellow]stopped[/yellow]: finishing the lines already heard")
        session.finish()
    if player is not None:
        player.close()
    seconds = audio.duration if audio is not None else 0.0
    files = recorder.write(output, seconds)
    _latency_table(recorder, time.monotonic() - started)
    console.print(f"[green]dub:[/green] {files['dub']}  [green]subtitles:[/green] {files['source_srt'].name}, "
                  f"{files['target_srt'].name}  [green]latency:[/green] {files['latency'].name}")


def _stream_file(session, samples, realtime: bool) -> None:
    step = int(16000 * CHUNK_S)
    began = time.monotonic()
    for i in range(0, len(samples), step):
        if realtime:  # pace by the clock, not by sleeps, so time spent in feed() is not added up
            delay = began + i / 16000 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        session.feed_float(samples[i:i + step])


def _stream_stdin(session, rate: int) -> None:
    chunk = int(rate * CHUNK_S) * 2
    stream = sys.stdin.buffer
    leftover = b""
    while True:
        data = stream.read(chunk)
        if not data:
            break
        data = leftover + data
        cut = len(data) - len(data) % 2
        leftover = data[cut:]
        session.feed(data[:cut])


def _sounddevice():
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there but PortAudio is not
        raise PolydubError(f"live microphone input needs the optional sounddevice package ({exc})",
                           "pip install sounddevice (and the PortAudio library: apt-get install libportaudio2)"
                           ) from None
    return sounddevice


def _no_device(exc: Exception, what: str) -> PolydubError:
    return PolydubError(f"no usable audio {what} device: {exc}",
                        "check the sound settings (PortAudio sees no device), or dub a file instead")


def _stream_mic(session) -> None:
    sd = _sounddevice()
    try:
        stream = sd.RawInputStream(samplerate=16000, channels=1, dtype="int16", blocksize=int(16000 * CHUNK_S),
                                   callback=lambda data, frames, t, status: session.feed(bytes(data)))
    except Exception as exc:  # sounddevice.PortAudioError: no device, or it refuses the format
        raise _no_device(exc, "input") from None
    console.print("[bold]listening[/bold] (Ctrl-C to stop)")
    with stream:
        while True:
            time.sleep(0.2)


class _Player:
    """Plays dub chunks one after another on the default output device."""

    def __init__(self, rate: int) -> None:
        import queue
        import threading

        self.sd = _sounddevice()
        self.rate = rate
        try:
            self.sd.check_output_settings(samplerate=rate, channels=1, dtype="int16")
        except Exception as exc:  # sounddevice.PortAudioError
            raise _no_device(exc, "output") from None
        self.queue: queue.Queue[bytes | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def play(self, pcm: bytes) -> None:
        self.queue.put(pcm)

    def _run(self) -> None:
        with self.sd.RawOutputStream(samplerate=self.rate, channels=1, dtype="int16") as out:
            while (pcm := self.queue.get()) is not None:
                out.write(pcm)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=60)


def _latency_table(recorder, wall: float) -> None:
    rows = recorder.latency_rows()
    table = Table(title=f"live latency (ms from the end of each utterance; {wall:.1f} s wall)")
    for col in ("line", "speaker", "source", "VAD", "ASR", "MT", "first TTS", "first audio", "lag s", "tempo"):
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(str(row["utterance"]), str(row["speaker"]), f"{row['start']:.1f}-{row['end']:.1f}",
                      *(str(row[k]) for k in ("vad_ms", "asr_ms", "mt_ms", "tts_first_ms", "first_audio_ms")),
                      f"{row['lag_s']:.2f}", f"{row['tempo']:.2f}")
    summary = recorder.latency()
    first = summary.get("first_audio_ms")
    if first:
        table.add_row("[bold]median", "", "", *(str((summary.get(k) or {}).get("median", "")) for k in
                                                  ("vad_ms", "asr_ms", "mt_ms", "tts_first_ms", "first_audio_ms")),
                      "", "")
        table.add_row("[bold]p95", "", "", *(str((summary.get(k) or {}).get("p95", "")) for k in
                                               ("vad_ms", "asr_ms", "mt_ms", "tts_first_ms", "first_audio_ms")),
                      "", "")
    console.print(table)
    skipped = [line for line in recorder.ordered() if line.skipped]
    for line in skipped:
        console.print(f"  [yellow]line {line.utterance} not dubbed:[/yellow] {line.skipped}")
