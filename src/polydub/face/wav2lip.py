"""Wav2Lip-compatible models by path: the user's own weights, run with onnxruntime.

polydub ships no Wav2Lip weights (their licence is non-commercial research) and needs no torch:
the public Wav2Lip generator (36.3 M parameters) is written here as an ONNX graph built from a
plain numpy state dict, batch-norm folded into the convolutions. A `.onnx` export is used as it
is; a `.pth` checkpoint is converted once (torch.load -> numpy -> this builder) when torch is
installed, and cached beside polydub's data. Inputs per frame: the face crop resized to 96x96
(BGR, 0..1) with its lower half blanked, stacked with the unblanked crop (6 channels), and the
16 mel frames (80 bands, 16 kHz, n_fft 800, hop 200) starting at the frame's time.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from polydub.audio import Audio
from polydub.errors import EngineNotInstalledError, InputMediaError
from polydub.face.animate import FrameJob, MouthAnimator
from polydub.face.renderer import RenderResult

FACE_SIZE = 96
MEL_STEP = 16
MEL_RATE = 80.0  # mel frames per second (16000 / 200)
BN_EPS = 1e-5

# (kind, in, out, kernel, stride, padding, residual | output_padding); kinds: c = conv+BN+ReLU,
# t = transposed conv+BN+ReLU.
_R = True
FACE_ENCODER = [
    [("c", 6, 16, 7, 1, 3, False)],
    [("c", 16, 32, 3, 2, 1, False), ("c", 32, 32, 3, 1, 1, _R), ("c", 32, 32, 3, 1, 1, _R)],
    [("c", 32, 64, 3, 2, 1, False)] + [("c", 64, 64, 3, 1, 1, _R)] * 3,
    [("c", 64, 128, 3, 2, 1, False)] + [("c", 128, 128, 3, 1, 1, _R)] * 2,
    [("c", 128, 256, 3, 2, 1, False)] + [("c", 256, 256, 3, 1, 1, _R)] * 2,
    [("c", 256, 512, 3, 2, 1, False), ("c", 512, 512, 3, 1, 1, _R)],
    [("c", 512, 512, 3, 1, 0, False), ("c", 512, 512, 1, 1, 0, False)],
]
AUDIO_ENCODER = [
    ("c", 1, 32, 3, 1, 1, False), ("c", 32, 32, 3, 1, 1, _R), ("c", 32, 32, 3, 1, 1, _R),
    ("c", 32, 64, 3, (3, 1), 1, False), ("c", 64, 64, 3, 1, 1, _R), ("c", 64, 64, 3, 1, 1, _R),
    ("c", 64, 128, 3, 3, 1, False), ("c", 128, 128, 3, 1, 1, _R), ("c", 128, 128, 3, 1, 1, _R),
    ("c", 128, 256, 3, (3, 2), 1, False), ("c", 256, 256, 3, 1, 1, _R),
    ("c", 256, 512, 3, 1, 0, False), ("c", 512, 512, 1, 1, 0, False),
]
FACE_DECODER = [
    [("c", 512, 512, 1, 1, 0, False)],
    [("t", 1024, 512, 3, 1, 0, 0), ("c", 512, 512, 3, 1, 1, _R)],
    [("t", 1024, 512, 3, 2, 1, 1), ("c", 512, 512, 3, 1, 1, _R), ("c", 512, 512, 3, 1, 1, _R)],
    [("t", 768, 384, 3, 2, 1, 1), ("c", 384, 384, 3, 1, 1, _R), ("c", 384, 384, 3, 1, 1, _R)],
    [("t", 512, 256, 3, 2, 1, 1), ("c", 256, 256, 3, 1, 1, _R), ("c", 256, 256, 3, 1, 1, _R)],
    [("t", 320, 128, 3, 2, 1, 1), ("c", 128, 128, 3, 1, 1, _R), ("c", 128, 128, 3, 1, 1, _R)],
    [("t", 160, 64, 3, 2, 1, 1), ("c", 64, 64, 3, 1, 1, _R), ("c", 64, 64, 3, 1, 1, _R)],
]
OUTPUT_BLOCK = ("c", 80, 32, 3, 1, 1, False)  # then a plain 1x1 conv to 3 channels and a sigmoid


def _layers() -> list[tuple[str, tuple]]:
    """(state-dict prefix, spec) of every conv layer with batch norm, in graph order."""
    out = []
    for i, block in enumerate(FACE_ENCODER):
        out += [(f"face_encoder_blocks.{i}.{j}", spec) for j, spec in enumerate(block)]
    out += [(f"audio_encoder.{j}", spec) for j, spec in enumerate(AUDIO_ENCODER)]
    for i, block in enumerate(FACE_DECODER):
        out += [(f"face_decoder_blocks.{i}.{j}", spec) for j, spec in enumerate(block)]
    out.append(("output_block.0", OUTPUT_BLOCK))
    return out


def random_state_dict(seed: int = 0) -> dict[str, np.ndarray]:
    """A randomly initialised state dict of the Wav2Lip generator (same names and shapes as the
    public checkpoints): for testing the plumbing without anyone's weights."""
    rng = np.random.default_rng(seed)
    sd: dict[str, np.ndarray] = {}
    for prefix, (kind, cin, cout, k, *_rest) in _layers():
        shape = (cin, cout, k, k) if kind == "t" else (cout, cin, k, k)
        fan_in = cin * k * k
        sd[f"{prefix}.conv_block.0.weight"] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        sd[f"{prefix}.conv_block.0.bias"] = np.zeros(cout, np.float32)
        sd[f"{prefix}.conv_block.1.weight"] = (1 + 0.1 * rng.standard_normal(cout)).astype(np.float32)
        sd[f"{prefix}.conv_block.1.bias"] = (0.1 * rng.standard_normal(cout)).astype(np.float32)
        sd[f"{prefix}.conv_block.1.running_mean"] = (0.1 * rng.standard_normal(cout)).astype(np.float32)
        sd[f"{prefix}.conv_block.1.running_var"] = (1 + 0.1 * rng.random(cout)).astype(np.float32)
    sd["output_block.1.weight"] = (rng.standard_normal((3, 32, 1, 1)) * np.sqrt(2.0 / 32)).astype(np.float32)
    sd["output_block.1.bias"] = np.zeros(3, np.float32)
    return sd


def build_onnx(state_dict: dict[str, np.ndarray]):
    """The Wav2Lip generator as an onnx.ModelProto (opset 17, dynamic batch): inputs `mel`
    (B, 1, 80, 16) and `face` (B, 6, 96, 96), output `out` (B, 3, 96, 96) in 0..1."""
    from onnx import TensorProto, helper, numpy_helper

    sd = {k.removeprefix("module."): np.asarray(v, dtype=np.float32) for k, v in state_dict.items()
          if not k.endswith("num_batches_tracked")}
    missing = [f"{p}.conv_block.0.weight" for p, _ in _layers() if f"{p}.conv_block.0.weight" not in sd]
    if missing or "output_block.1.weight" not in sd:
        raise InputMediaError(f"not a Wav2Lip generator checkpoint (missing {', '.join(missing[:3]) or 'output'})",
                              "give the generator weights (wav2lip.pth / wav2lip_gan.pth) or their ONNX export")
    nodes, inits = [], []
    counter = [0]

    def name(base: str) -> str:
        counter[0] += 1
        return f"{base}_{counter[0]}"

    def layer(x: str, prefix: str, spec) -> str:
        kind, _cin, _cout, k, stride, pad, extra = spec
        w = sd[f"{prefix}.conv_block.0.weight"]
        b = sd.get(f"{prefix}.conv_block.0.bias", np.zeros(w.shape[1 if kind == "t" else 0], np.float32))
        gamma, beta = sd[f"{prefix}.conv_block.1.weight"], sd[f"{prefix}.conv_block.1.bias"]
        mean, var = sd[f"{prefix}.conv_block.1.running_mean"], sd[f"{prefix}.conv_block.1.running_var"]
        scale = gamma / np.sqrt(var + BN_EPS)
        w = w * (scale[None, :, None, None] if kind == "t" else scale[:, None, None, None])
        b = (b - mean) * scale + beta
        wn, bn = name(f"{prefix}.w"), name(f"{prefix}.b")
        inits.extend([numpy_helper.from_array(w.astype(np.float32), wn),
                      numpy_helper.from_array(b.astype(np.float32), bn)])
        strides = list(stride) if isinstance(stride, tuple) else [stride, stride]
        y = name(prefix)
        if kind == "t":
            nodes.append(helper.make_node("ConvTranspose", [x, wn, bn], [y], kernel_shape=[k, k], strides=strides,
                                          pads=[pad] * 4, output_padding=[extra, extra]))
        else:
            nodes.append(helper.make_node("Conv", [x, wn, bn], [y], kernel_shape=[k, k], strides=strides,
                                          pads=[pad] * 4))
        if kind == "c" and extra:  # residual
            added = name(f"{prefix}.res")
            nodes.append(helper.make_node("Add", [y, x], [added]))
            y = added
        out = name(f"{prefix}.relu")
        nodes.append(helper.make_node("Relu", [y], [out]))
        return out

    x = "mel"
    for j, spec in enumerate(AUDIO_ENCODER):
        x = layer(x, f"audio_encoder.{j}", spec)
    audio = x
    feats, x = [], "face"
    for i, block in enumerate(FACE_ENCODER):
        for j, spec in enumerate(block):
            x = layer(x, f"face_encoder_blocks.{i}.{j}", spec)
        feats.append(x)
    x = audio
    for i, block in enumerate(FACE_DECODER):
        for j, spec in enumerate(block):
            x = layer(x, f"face_decoder_blocks.{i}.{j}", spec)
        joined = name("concat")
        nodes.append(helper.make_node("Concat", [x, feats.pop()], [joined], axis=1))
        x = joined
    x = layer(x, "output_block.0", OUTPUT_BLOCK)
    wn, bn = "output_block.1.w", "output_block.1.b"
    inits.extend([numpy_helper.from_array(sd["output_block.1.weight"], wn),
                  numpy_helper.from_array(sd["output_block.1.bias"], bn)])
    nodes.append(helper.make_node("Conv", [x, wn, bn], ["logits"], kernel_shape=[1, 1]))
    nodes.append(helper.make_node("Sigmoid", ["logits"], ["out"]))
    graph = helper.make_graph(
        nodes, "wav2lip",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["B", 1, 80, MEL_STEP]),
         helper.make_tensor_value_info("face", TensorProto.FLOAT, ["B", 6, FACE_SIZE, FACE_SIZE])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["B", 3, FACE_SIZE, FACE_SIZE])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="polydub")
    model.ir_version = 8
    return model


def convert_checkpoint(path: Path, cache_dir: Path) -> Path:
    """A .pth Wav2Lip checkpoint -> cached ONNX file (needs torch, once per checkpoint)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    target = cache_dir / f"wav2lip-{digest}.onnx"
    if target.exists():
        return target
    try:
        import torch
    except ImportError:
        raise EngineNotInstalledError(
            f"{path.name} is a PyTorch checkpoint and torch is not installed",
            "export it to ONNX where torch is installed, or pip install torch once to convert it") from None
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=False)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    numpy_state = {k: v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "detach")}
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(build_onnx(numpy_state).SerializeToString())
    tmp.replace(target)
    return target


def mel_frames(audio: Audio) -> np.ndarray:
    """Wav2Lip's mel spectrogram (80, T) of `audio`, T at 80 frames per second, in [-4, 4]."""
    import librosa
    from scipy.signal import lfilter

    samples = audio.mono().resample(16000).samples.astype(np.float64)
    if len(samples) < 800:
        samples = np.pad(samples, (0, 800 - len(samples)))
    emphasized = lfilter([1, -0.97], [1], samples)
    spec = np.abs(librosa.stft(emphasized, n_fft=800, hop_length=200, win_length=800))
    mel = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600) @ spec
    db = 20 * np.log10(np.maximum(1e-5, mel)) - 20
    return np.clip(8.0 * ((db + 100.0) / 100.0) - 4.0, -4.0, 4.0).astype(np.float32)


class Wav2LipAnimator(MouthAnimator):
    name = "wav2lip"
    licence = "user-supplied Wav2Lip weights: non-commercial research licence (not shipped with polydub)"
    non_commercial = True

    def __init__(self, onnx_path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = onnx_path
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
        try:
            self.session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types for bad files
            raise InputMediaError(f"cannot load the lip-sync model {onnx_path.name}: {exc}",
                                  "give a Wav2Lip ONNX export or a .pth checkpoint") from None
        names = {i.name for i in self.session.get_inputs()}
        if names != {"mel", "face"}:
            raise InputMediaError(f"{onnx_path.name} does not look like a Wav2Lip model (inputs {sorted(names)})",
                                  "export the generator with inputs named mel (B,1,80,16) and face (B,6,96,96)")
        self._mel: np.ndarray | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_path(cls, path: str | Path) -> Wav2LipAnimator:
        path = Path(path)
        if not path.is_file():
            raise InputMediaError(f"lip-sync model not found: {path}", "give the path of your wav2lip .onnx or .pth")
        if path.suffix.lower() in (".pth", ".pt", ".ckpt"):
            from polydub.paths import data_dir

            path = convert_checkpoint(path, data_dir() / "wav2lip")
        return cls(path)

    def cache_tag(self) -> str:
        return f"{self.name}-{self.path.stat().st_size}-{self.path.stat().st_mtime_ns}"

    def begin(self, speech: Audio | None) -> None:
        self._mel = mel_frames(speech) if speech is not None else np.full((80, MEL_STEP), -4.0, np.float32)

    def mel_window(self, time: float) -> np.ndarray:
        mel = self._mel if self._mel is not None else np.full((80, MEL_STEP), -4.0, np.float32)
        start = max(0, int(MEL_RATE * time))
        if start + MEL_STEP > mel.shape[1]:
            start = max(0, mel.shape[1] - MEL_STEP)
        window = mel[:, start:start + MEL_STEP]
        if window.shape[1] < MEL_STEP:
            window = np.pad(window, ((0, 0), (0, MEL_STEP - window.shape[1])), constant_values=-4.0)
        return window

    @staticmethod
    def face_box(landmarks: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """Square-ish face box like Wav2Lip's detector gives, padded 10 % of its height below the chin."""
        x0, y0 = landmarks.min(axis=0)
        x1, y1 = landmarks.max(axis=0)
        y1 += 0.1 * (y1 - y0)
        h, w = shape[:2]
        return int(max(0, x0)), int(max(0, y0)), int(min(w, np.ceil(x1))), int(min(h, np.ceil(y1)))

    def render(self, image: np.ndarray, landmarks: np.ndarray, job: FrameJob) -> RenderResult:
        x0, y0, x1, y1 = self.face_box(landmarks, image.shape)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return RenderResult(region=None, image=None, mask=None)
        face = cv2.resize(image[y0:y1, x0:x1], (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
        masked = face.copy()
        masked[FACE_SIZE // 2:] = 0
        stacked = np.concatenate([masked, face], axis=2).transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        mel = self.mel_window(job.time)[None, None]
        with self._lock:
            out = self.session.run(["out"], {"mel": mel, "face": stacked})[0][0]
        generated = (out.transpose(1, 2, 0) * 255.0).clip(0, 255).astype(np.uint8)
        generated = cv2.resize(generated, (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC)
        # Paste back the lower half only, feathered, so the eyes and the rest stay the video's own.
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        mask[int(0.5 * (y1 - y0)):] = 1.0
        feather = max(1.0, 0.04 * (y1 - y0))
        mask = cv2.GaussianBlur(mask, (0, 0), feather) * mask.max()
        mask[: int(0.45 * (y1 - y0))] = 0.0
        weight = float(np.clip(job.pose.weight, 0.0, 1.0))
        return RenderResult(region=(x0, y0, x1, y1), image=generated, mask=mask * weight)
