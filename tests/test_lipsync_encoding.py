"""The x264 quality a lip-synced video is re-encoded at (face/crf.py), on real media: the CRF chosen
near the start must not leave a later, noisier shot under the target."""

from __future__ import annotations

import subprocess

import pytest

from polydub.face import crf as crf_module
from polydub.face.video import preset_for, read_frames
from tests.conftest import media_file

pytestmark = pytest.mark.slow


def test_the_encoder_quality_holds_for_a_later_noisier_shot(tmp_path) -> None:
    """A clean shot (vr_face_2) then a noisy one (KatieHill, upscaled): the CRF chosen from the start
    alone would leave the second shot far under the target; the later spots bring it down to it."""
    video = tmp_path / "shots.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(media_file("video/vr_face_2.mp4")), "-i",
                    str(media_file("video/st_ref_KatieHill_000.mp4")), "-filter_complex",
                    "[0:v]scale=512:512,setsar=1,fps=25,trim=0:2,setpts=PTS-STARTPTS[a];"
                    "[1:v]scale=512:512,setsar=1,fps=25,trim=0:3,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]",
                    "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "8", "-an", str(video)],
                   check=True)
    start_only = crf_module._search([f.av_frame for f in read_frames(video) if 12 <= f.index < 20],
                                    crf_module.TARGET_PSNR, preset_for(512, 512), 18.0)[0]
    crf, measured = crf_module.choose_crf(video)
    # KatieHill is noisy enough to take the lowest CRF allowed (6), which reaches the target within 0.1 dB.
    assert crf < start_only and measured >= crf_module.TARGET_PSNR - 0.5, (start_only, crf, measured)
    later = [f.av_frame for f in read_frames(video) if 60 <= f.index < 68]  # the noisy shot
    assert crf_module._probe_psnr(later, crf, preset_for(512, 512)) >= crf_module.TARGET_PSNR - 1.0
    assert crf_module._probe_psnr(later, start_only, preset_for(512, 512)) < crf_module.TARGET_PSNR - 3.0
