"""Early validation on the CLI (issue 15): options that cannot work are refused before the input
is decoded, with one line saying what is wrong and what to do (no traceback, nothing written).
Rows of the README's "Bad-input catalogue" (with tests/test_bad_input.py)."""

from __future__ import annotations

import time

import pytest

from polydub.cli import main
from tests.conftest import media_file

CASES = [
    # (case, extra arguments, words in the error)
    ("unknown source language", ["--from", "zz", "--to", "es"], ["source language 'zz'"]),
    ("language pair not installed", ["--from", "en", "--to", "eo"], ["en->eo"]),
    ("not a language code", ["--to", "e$"], ["not a language code"]),
    ("voice-over level out of range", ["--to", "es", "--original-voice-db", "10"], ["between -60 and 0 dB"]),
    ("tempo range upside down", ["--to", "es", "--min-tempo", "1.2", "--max-tempo", "1.0"], ["above max tempo"]),
    ("speaker count out of range", ["--to", "es", "--speakers", "0"], ["number of speakers"]),
    ("unknown Whisper model", ["--to", "es", "--asr-model", "huge"], ["whisper model 'huge'"]),
    ("English-only model for another language", ["--from", "de", "--to", "es", "--asr-model", "tiny.en"],
     ["english only"]),
    ("unknown voice id", ["--to", "es", "--voice", "S1=kokoro:nobody"], ["kokoro:nobody"]),
    ("lip-sync model missing", ["--to", "es", "--lipsync-model", "/nonexistent/w2l.onnx"],
     ["lip-sync model not found"]),
]


@pytest.mark.parametrize("case,args,words", CASES, ids=[c[0] for c in CASES])
def test_cli_refuses_before_work(case, args, words, tmp_path, capsys):
    out_dir = tmp_path / "o"
    began = time.monotonic()
    code = main(["dub", str(media_file("audio/fw_jfk.flac")), "-o", str(out_dir), *args])
    captured = capsys.readouterr()
    text = " ".join((captured.err + captured.out).split())
    assert code != 0 and "Traceback" not in text
    assert "error:" in text and "what to do" in text, text
    for word in words:
        assert word.lower() in text.lower(), text
    assert not out_dir.exists()  # not even the output folder was made
    assert time.monotonic() - began < 20  # refused at once: nothing was decoded or transcribed
