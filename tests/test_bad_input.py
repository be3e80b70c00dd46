"""Every user mistake gives a one-line error with a hint, a non-zero exit, and no output presented."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from polydub.cli import main
from tests.conftest import media_file


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def assert_clean_failure(code: int, output: str, must_contain: str, out_dir: Path | None = None) -> None:
    assert code != 0
    assert "Traceback" not in output
    assert "error:" in output and must_contain.lower() in output.lower(), output
    assert "what to do" in output, output
    if out_dir is not None and out_dir.exists():
        assert not list(out_dir.glob("*.mp4")) and not (out_dir / "report.json").exists()


def test_zero_byte_file(tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    code, out = run_cli(["dub", str(empty), "--to", "es", "-o", str(tmp_path / "o")], capsys)
    assert_clean_failure(code, out, "empty", tmp_path / "o")


def test_text_file_named_mp4(tmp_path, capsys):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    code, out = run_cli(["dub", str(fake), "--to", "es", "-o", str(tmp_path / "o")], capsys)
    assert_clean_failure(code, out, "not a readable video or audio file", tmp_path / "o")


def test_corrupt_video(tmp_path, capsys):
    data = media_file("video/vr_face_1.mp4").read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: len(data) // 50])  # truncated: the index at the end is gone
    code, out = run_cli(["dub", str(broken), "--to", "es", "-o", str(tmp_path / "o")], capsys)
    assert_clean_failure(code, out, str(broken.name), tmp_path / "o")


def test_missing_file(tmp_path, capsys):
    code, out = run_cli(["dub", str(tmp_path / "nope.mp4"), "--to", "es"], capsys)
    assert_clean_failure(code, out, "not found")


def test_video_without_audio(tmp_path, capsys):
    silent_video = tmp_path / "noaudio.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(silent_video)], check=True)
    code, out = run_cli(["dub", str(silent_video), "--to", "es", "-o", str(tmp_path / "o")], capsys)
    assert_clean_failure(code, out, "no audio track", tmp_path / "o")


def test_silent_audio_has_nothing_to_dub(tmp_path, capsys):
    wav = tmp_path / "silence.wav"
    sf.write(wav, np.zeros(16000 * 3, dtype=np.float32), 16000)
    code, out = run_cli(["dub", str(wav), "--to", "es", "-o", str(tmp_path / "o")], capsys)
    assert_clean_failure(code, out, "no speech", tmp_path / "o")


def test_unsupported_language(tmp_path, capsys):
    code, out = run_cli(["dub", str(media_file("audio/fw_jfk.flac")), "--to", "xx", "-o", str(tmp_path / "o")],
                        capsys)
    assert_clean_failure(code, out, "xx", tmp_path / "o")


def test_unsupported_language_pair(tmp_path, capsys):
    srt = tmp_path / "a.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHello there.\n")
    # Nothing installed translates English to Esperanto text (Qwen covers Korean since issue 9).
    code, out = run_cli(["translate", str(srt), "--from", "en", "--to", "eo"], capsys)
    assert_clean_failure(code, out, "eo")


def test_engine_not_installed(tmp_path, capsys):
    code, out = run_cli(["dub", str(media_file("audio/fw_jfk.flac")), "--to", "es", "--tts", "xtts",
                         "-o", str(tmp_path / "o")], capsys)
    assert_clean_failure(code, out, "xtts", tmp_path / "o")


def test_mt_engine_not_installed(tmp_path, capsys):
    srt = tmp_path / "a.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHello there.\n")
    code, out = run_cli(["translate", str(srt), "--to", "es", "--mt", "deepl"], capsys)
    assert_clean_failure(code, out, "deepl")


def test_output_folder_not_writable(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")  # a file where a folder should go: unwritable even for root
    code, out = run_cli(["dub", str(media_file("audio/fw_jfk.flac")), "--to", "es",
                         "-o", str(blocker / "out")], capsys)
    assert_clean_failure(code, out, "cannot write")


def test_bad_voice_option(tmp_path, capsys):
    code, out = run_cli(["dub", str(media_file("audio/fw_jfk.flac")), "--to", "es", "--voice", "nonsense",
                         "-o", str(tmp_path / "o")], capsys)
    assert_clean_failure(code, out, "--voice")
