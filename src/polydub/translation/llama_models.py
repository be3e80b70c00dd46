"""GGUF language models run in-process by llama-cpp-python, shared by every LLM feature.

One `Llama` per model file per process, loaded on first use (loading costs seconds and the file's
size in RAM); one lock per model, because a `Llama` holds a single KV cache: concurrent jobs in one
process take turns. Translation, "say it shorter" and the adequacy score all go through here.
"""

from __future__ import annotations

import ctypes
import importlib.util
import inspect
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_LOADING = threading.Lock()


def llm_disabled() -> bool:
    """POLYDUB_NO_LLM=1: a machine without the RAM (or a user who wants rule-based output) opts out
    of every in-process language model; the registry then falls back and says so."""
    return os.environ.get("POLYDUB_NO_LLM", "").strip().lower() in ("1", "true", "yes", "on")


def llm_threads() -> int:
    env = os.environ.get("POLYDUB_LLM_THREADS") or os.environ.get("POLYDUB_GEMMA_THREADS")
    return int(env) if env else max(1, min(8, os.cpu_count() or 2))


def chatml(messages: Sequence[dict[str, str]], open_reply: bool = True) -> str:
    """Qwen's chat format. Built here rather than by the GGUF's Jinja template so the very same text
    is used to generate and to score a reply (and the template's default system prompt never sneaks in)."""
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + ("<|im_start|>assistant\n" if open_reply else "")


@dataclass
class LlamaModel:
    """A GGUF file and how to load it; `llm()` returns the process-wide instance."""

    name: str
    path: Callable[[], Path]
    n_ctx: int = 2048
    prepare: Callable[[Path], None] | None = None  # e.g. join split parts once, with a hash check
    lock: threading.RLock = field(default_factory=threading.RLock)
    _llm: Any = None
    # KV cache of prompt prefixes (system prompt + examples), so alternating between a few prompts
    # (translate, score back, score forward) does not re-read the shared part every time.
    _prefixes: OrderedDict[tuple[int, ...], tuple[bytes, int]] = field(default_factory=OrderedDict)
    _masks: dict[str, np.ndarray] = field(default_factory=dict)

    def runtime_installed(self) -> bool:
        return importlib.util.find_spec("llama_cpp") is not None

    def llm(self) -> Any:
        with _LOADING:
            if self._llm is not None:
                return self._llm
            from llama_cpp import Llama

            path = self.path()
            if not path.exists() and self.prepare is not None:
                self.prepare(path)
            # Read, not mapped: llama.cpp repacks most Q4_K weights into a faster layout in memory
            # of its own, and with a mapping the original pages stay resident beside the copy
            # (Qwen 1.5B: 1.86 GB RSS mapped, 1.26 GB read; same output, load 0.8 s slower, then 12 % faster).
            kwargs: dict[str, Any] = {"model_path": str(path), "n_ctx": self.n_ctx, "verbose": False,
                                      "n_threads": llm_threads(), "use_mmap": False}
            # Stock wheels crash in the AMX "extra buffer types" on some Xeons; skip them when possible.
            if "use_extra_bufts" in inspect.signature(Llama.__init__).parameters:
                kwargs["use_extra_bufts"] = False
            self._llm = Llama(**kwargs)
            return self._llm

    def loaded(self) -> bool:
        return self._llm is not None

    def tokens(self, text: str, special: bool = False) -> list[int]:
        return list(self.llm().tokenize(text.encode("utf-8"), add_bos=False, special=special))

    def token_pieces(self, text: str) -> list[bytes]:
        """The bytes of each token of `text` (a piece may hold part of a UTF-8 character)."""
        llm = self.llm()
        return [llm.detokenize([token], special=False) for token in self.tokens(text)]

    def token_masks(self, classes: dict[str, Callable[[bytes], bool]]) -> dict[str, np.ndarray]:
        """Boolean masks over the vocabulary, one per class (tokens whose bytes satisfy its test).
        One pass over the vocabulary, then kept in memory and beside the model file."""
        missing = [name for name in classes if name not in self._masks]
        if missing:
            cache = self.path().with_name(self.path().name + ".masks.npz")
            try:
                with np.load(cache) as saved:
                    self._masks.update({k: saved[k] for k in saved.files})
            except (OSError, ValueError):
                pass
            missing = [name for name in classes if name not in self._masks]
        if missing:
            llm = self.llm()
            pieces = [llm.detokenize([i], special=False) for i in range(llm.n_vocab())]
            for name in missing:
                self._masks[name] = np.array([classes[name](piece) for piece in pieces], dtype=bool)
            try:
                tmp = cache.with_name(cache.name + ".tmp.npz")
                np.savez(tmp, **self._masks)
                os.replace(tmp, cache)
            except OSError:
                pass  # a read-only model folder: recomputed next time
        return {name: self._masks[name] for name in classes}

    def complete(self, prompt: str, max_tokens: int, stop: Sequence[str] = (),
                 prefix: str = "", banned: np.ndarray | None = None) -> tuple[str, bool]:
        """Greedy completion: (text, cut at max_tokens). Prompts that share a prefix with the
        previous call reuse its KV cache; `prefix` (the start of `prompt`: system prompt and
        examples) is also kept aside, so it is evaluated once however the calls alternate."""
        llm = self.llm()
        with self.lock:
            self._restore_prefix(llm, prefix)
            out = llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, top_k=1,
                                        repeat_penalty=1.0, stop=list(stop), echo=False,
                                        logits_processor=None if banned is None else [_ban(banned)])
        choice = out["choices"][0]
        return str(choice["text"]), choice.get("finish_reason") == "length"

    def continuation_logprobs(self, prompt: str, continuation: str, prefix: str = "") -> list[float]:
        """Log-probability of each token of `continuation` after `prompt` (forced decoding, no
        sampling): the basis of the adequacy score. One decode of the new tokens; the prompt's
        shared prefix is reused from the KV cache."""
        llm = self.llm()
        head = self.tokens(prompt, special=True)
        tail = self.tokens(continuation, special=True)
        if not head or not tail:
            return []
        with self.lock:
            self._restore_prefix(llm, prefix)
            return _forced_logprobs(llm, head, tail)

    def _restore_prefix(self, llm: Any, prefix: str, keep: int = 8) -> None:
        """Make the KV cache start with `prefix`, from a saved copy when it was seen before."""
        tokens = self.tokens(prefix, special=True) if prefix else []
        if len(tokens) < 2:
            return
        if llm.n_tokens >= len(tokens) and list(llm.input_ids[:len(tokens)]) == tokens:
            return  # already there
        key = tuple(tokens)
        saved = self._prefixes.get(key)
        llm.reset()
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        if saved is not None and _load_sequence(llm, saved[0]):
            self._prefixes.move_to_end(key)
            llm.input_ids[:len(tokens)] = tokens
            llm.n_tokens = len(tokens)
            return
        llm.eval(tokens)
        self._prefixes[key] = (_save_sequence(llm), len(tokens))
        while len(self._prefixes) > keep:
            self._prefixes.popitem(last=False)


def _ban(mask: np.ndarray) -> Callable[[Any, np.ndarray], np.ndarray]:
    """A logits processor that makes the masked tokens impossible (constrained decoding)."""

    def apply(_ids: Any, scores: np.ndarray) -> np.ndarray:
        scores[mask[: len(scores)]] = -np.inf
        return scores

    return apply


def _save_sequence(llm: Any) -> bytes:
    import llama_cpp

    size = llama_cpp.llama_state_seq_get_size(llm._ctx.ctx, 0)
    buf = (ctypes.c_uint8 * size)()
    used = llama_cpp.llama_state_seq_get_data(llm._ctx.ctx, buf, size, 0)
    return bytes(buf[:used])


def _load_sequence(llm: Any, data: bytes) -> bool:
    import llama_cpp

    buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    return bool(llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, buf, len(data), 0))


def _forced_logprobs(llm: Any, head: list[int], tail: list[int]) -> list[float]:
    # Reuse the cached prefix (minus one token: the last prompt token's logits predict tail[0]).
    cached = list(llm.input_ids[: llm.n_tokens])
    keep = 0
    for a, b in zip(cached, head[:-1], strict=False):
        if a != b:
            break
        keep += 1
    if keep == 0 or not llm._ctx.kv_cache_seq_rm(-1, keep, -1):
        llm.reset()
        llm._ctx.kv_cache_clear()
        keep = 0
    llm.n_tokens = keep
    if head[keep:-1]:
        llm.eval(head[keep:-1])
    scored = [head[-1]] + tail
    targets = np.asarray(tail)
    n_batch, n_vocab = llm.n_batch, llm.n_vocab()
    picked: list[float] = []
    # Each decode is at most n_batch tokens; logits are asked only for the scored span. Row i
    # predicts tail[i]; the last row predicts past the continuation and is not needed.
    for start in range(0, len(scored), n_batch):
        chunk = scored[start:start + n_batch]
        n_past = llm.n_tokens
        llm._batch.set_batch(batch=chunk, n_past=n_past, logits_all=True)
        llm._ctx.decode(llm._batch)
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(chunk), n_vocab))  # llama.cpp's buffer
        picked += _picked_logprobs(logits, targets[start:start + len(chunk)])
        llm.input_ids[n_past:n_past + len(chunk)] = chunk
        llm.n_tokens += len(chunk)
    llm._requires_eval = True  # the next generate() recomputes its logits instead of trusting ours
    return picked


def _picked_logprobs(logits: np.ndarray, targets: np.ndarray, rows: int = 8) -> list[float]:
    """log_softmax(logits)[i, targets[i]] for the rows that have a target, a few rows at a time:
    a whole span at once costs several copies of span x 152k floats (130 MB for a long line)."""
    out: list[float] = []
    for first in range(0, min(len(logits), len(targets)), rows):
        block = logits[first:first + min(rows, len(targets) - first)]
        peak = block.max(axis=1, keepdims=True)
        shifted = block - peak
        np.exp(shifted, out=shifted)
        log_norm = np.log(shifted.sum(axis=1)) + peak[:, 0]
        chosen = block[np.arange(len(block)), targets[first:first + len(block)]]
        out += [float(v) for v in chosen - log_norm]
    return out
