"""Qwen2.5-Coder-1.5B (the real GGUF) as translator, shortener and adequacy scorer. The model is
loaded once per test session (it is a process-wide singleton); every test sends only a few lines."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from polydub.pipeline import DubOptions, stages
from polydub.project import Project, Segment
from polydub.quality.adequacy import AdequacyScorer
from polydub.translation import qwen as qwen_module
from polydub.translation.leaks import leak_problem
from polydub.translation.qwen import QwenTranslator

ISSUE_EN = "everyone here today endeavoring towards a better, more just future for our country and our world"
JFK = "Ask not what your country can do for you, ask what you can do for your country."
# Transcripts of the shared Russian and German clips (../shared/media/MANIFEST.md) and the issue's lines.
RU_CLIP = "Новый магазин «Цветочная лавка». Мы создадим праздничное настроение круглосуточно."
RU_VLOG = "что мы ведем этот прекрасный влог о моей жизни"
DE_CLIP = ("Über unsere Homepage steht Ihnen unser Mandantenportal zur sicheren und rechtsverbindlichen "
           "Kommunikation zur Verfügung.")
JA_ISSUE = "前回の内容ではまだまだ表面までしか触れていませんでした"

qwen = QwenTranslator()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not qwen.is_available(),
                                 reason="Qwen GGUF (scripts/fetch_qwen.sh) or llama-cpp-python not installed")]


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def sane(source: str, output: str, src: str, tgt: str) -> None:
    assert output and leak_problem(source, output, src, tgt) is None, output
    assert 0.4 < len(output) / len(source) < 2.5, output


def test_qwen_translates_key_directions_in_the_target_script() -> None:
    ru = qwen.translate([ISSUE_EN, ""], "en", "ru")
    assert ru[1] == "" and re.search("[а-яё]{4}", ru[0].lower())
    sane(ISSUE_EN, ru[0], "en", "ru")
    assert "стран" in ru[0].lower() and "будущ" in ru[0].lower(), ru[0]
    de = qwen.translate([JFK], "en", "de")[0]
    sane(JFK, de, "en", "de")
    assert words(de) & {"land", "euer", "ihr", "dein", "ihrem"}, de
    assert "landwirtschaft" not in de.lower()
    en = qwen.translate([RU_CLIP, RU_VLOG], "ru", "en")
    for source, out in zip([RU_CLIP, RU_VLOG], en, strict=True):
        sane(source, out, "ru", "en")
    assert words(en[0]) & {"shop", "store"} and words(en[0]) & {"festive", "holiday", "celebratory"}, en[0]
    assert words(en[1]) & {"vlog", "blog"} and "life" in words(en[1]) and "mixture" not in words(en[1]), en[1]
    de_en = qwen.translate([DE_CLIP], "de", "en")[0]
    sane(DE_CLIP, de_en, "de", "en")
    assert words(de_en) & {"portal", "homepage", "website"} and "secure" in words(de_en), de_en


def test_saved_prompt_prefix_scores_like_a_cold_decode() -> None:
    from polydub.translation.llama_models import chatml
    from polydub.translation.qwen import QWEN, Conversation

    back, forward = Conversation("ru", "en"), Conversation("en", "ru")
    line, source = "Мы посадили двести деревьев.", "We planted two hundred trees."
    QWEN.llm().reset()
    cold = QWEN.continuation_logprobs(chatml(back.messages(line)), source, prefix=back.prefix())
    QWEN.continuation_logprobs(chatml(forward.messages(source)), line, prefix=forward.prefix())
    warm = QWEN.continuation_logprobs(chatml(back.messages(line)), source, prefix=back.prefix())
    assert len(cold) == len(warm) and max(abs(a - b) for a, b in zip(cold, warm, strict=True)) < 0.05
    assert sum(cold) / len(cold) > -1.5  # a faithful line is likely under the model


def test_context_keeps_a_name_consistent() -> None:
    # Earlier lines and their translations are chat turns: the robot keeps the Russian name it was given.
    before = [("We call this little robot Blinky.", "Мы называем этого маленького робота Мигалкой.")]
    with_context = qwen.translate_in_context("Blinky never sleeps.", "en", "ru", before)
    assert "мигалк" in with_context.lower(), with_context
    alone = qwen.translate_in_context("Blinky never sleeps.", "en", "ru")
    assert "мигалк" not in alone.lower(), alone  # it was the context, not luck


def test_japanese_transcript_goes_to_qwen_not_whisper() -> None:
    project = Project(input="clip", source_language="ja", target_language="en",
                      segments=[Segment(id=0, start=0.0, end=3.0, text=JA_ISSUE)])
    dubber = SimpleNamespace(options=DubOptions(target_language="en"))  # no audio: Whisper cannot run
    stages.translate(dubber, project)
    seg = project.segments[0]
    assert seg.mt_engine == "qwen" and project.engines["mt"]["name"] == "qwen"
    sane(JA_ISSUE, seg.translation, "ja", "en")
    assert "surface" in words(seg.translation), seg.translation


@pytest.mark.parametrize(("target", "leaky_reply", "leaked", "expected"), [
    ("ru", "Попросите о помощи early.", "early", "помощ"),
    ("de", "Bitte frühzeitig um help bitten.", "help", "hilf"),
])
def test_leaked_words_are_retried_with_the_words_banned(monkeypatch: pytest.MonkeyPatch, target, leaky_reply, leaked,
                                                     expected) -> None:
    real = qwen_module.QWEN.complete
    calls: list[tuple[str, object]] = []

    def first_reply_leaks(prompt: str, max_tokens: int, stop=(), prefix: str = "", banned=None):
        calls.append((prompt, banned))
        if len(calls) == 1:  # what the model sometimes does: an English word left in
            return leaky_reply, False
        return real(prompt, max_tokens, stop, prefix, banned=banned)

    monkeypatch.setattr(qwen_module.QWEN, "complete", first_reply_leaks)
    out = qwen.translate(["Ask for help early."], "en", target)[0]
    assert 2 <= len(calls) <= 1 + qwen_module.RETRIES
    assert all(prompt == calls[0][0] for prompt, _ in calls)  # the same request, not a correction to translate
    assert calls[1][1][qwen_module.QWEN.tokens(" " + leaked)[:1]].all()  # the leaked word cannot start again
    assert leak_problem("Ask for help early.", out, "en", target) is None, out
    assert leaked not in out.lower().split() and expected in out.lower(), out


def test_llm_shortens_a_line_and_it_passes_adequacy() -> None:
    source = "Well, you know, I really think that we should probably leave a little bit earlier tomorrow morning."
    long_ru = "Ну, знаете, я действительно думаю, что нам, наверное, стоит выехать немного раньше завтра утром."
    short = qwen.shorten(source, long_ru, "en", "ru", max_chars=60)
    assert short and len(short) < len(long_ru), short
    assert "завтра" in short.lower() or "утром" in short.lower(), short
    from polydub.quality.shorten import remove_fillers

    verdict = AdequacyScorer().judge(remove_fillers(source, "en"), short, "en", "ru", produced_by="qwen")
    assert not verdict.flagged, (short, verdict.as_dict())


ISSUE_CASES = [
    ("en", "ru", ISSUE_EN, "Всех здесь сегодня, в том числе и для нашей страны и для нашей мировой страны", "gemma"),
    ("en", "de", ISSUE_EN, "alle, die heute hier sind und sich für eine bessere, gerechtere Zukunft für unsere "
                           "Landwirtschaft und unsere Welt einsetzen", "gemma"),
    ("ru", "en", RU_VLOG, "What we are going to carry this wonderful mixture of life.", "gemma"),
    ("ja", "en", JA_ISSUE, "In the previous video, I haven't seen it yet, but I haven't seen it yet.",
     "whisper-translate"),
]


@pytest.mark.parametrize(("src", "tgt", "source", "output", "engine"), ISSUE_CASES,
                         ids=["en-ru-gemma", "en-de-landwirtschaft", "ru-en-mixture", "ja-en-whisper-loop"])
def test_issue_cases_are_flagged_when_a_draft_engine_wrote_them(src, tgt, source, output, engine) -> None:
    verdict = AdequacyScorer().judge(source, output, src, tgt, produced_by=engine)
    print(src, tgt, verdict.as_dict())
    assert verdict.flagged and verdict.reasons, verdict.as_dict()


def test_good_translations_of_the_issue_lines_pass() -> None:
    scorer = AdequacyScorer()
    for src, tgt, source, output in (
            ("en", "de", ISSUE_EN, "alle, die heute hier sind und sich für eine bessere, gerechtere Zukunft für "
                                   "unser Land und unsere Welt einsetzen"),
            ("ja", "en", JA_ISSUE, "In the previous content, I only touched the surface")):
        verdict = scorer.judge(source, output, src, tgt, produced_by="gemma")
        print(src, tgt, verdict.as_dict())
        assert not verdict.flagged, verdict.as_dict()


# Invented clauses in the middle of a line, which the reverse decode and the forward mean let through
# before the forward decode was compared with an empty source (bench/mt/adequacy.tsv).
INVENTED_INSIDE = [
    ("ja", "en", "祖母は九十歳ですが、毎朝散歩をしています。",
     "My grandmother is ninety, but she goes for a walk every morning with her dog in the park.",
     "My grandmother is ninety, but she goes for a walk every morning."),
    ("en", "ru", "We were stuck in traffic for two hours, so we missed the first half of the concert.",
     "Мы два часа простояли в пробке из-за аварии на мосту, поэтому пропустили первую половину концерта.",
     "Мы два часа простояли в пробке, поэтому пропустили первую половину концерта."),
]


@pytest.mark.parametrize(("src", "tgt", "source", "invented", "faithful"), INVENTED_INSIDE,
                         ids=["ja-en-dog-in-the-park", "en-ru-accident-on-the-bridge"])
def test_an_invented_stretch_is_flagged_and_the_faithful_line_is_not(src, tgt, source, invented, faithful) -> None:
    scorer = AdequacyScorer()
    bad = scorer.judge(source, invented, src, tgt, produced_by="gemma")
    good = scorer.judge(source, faithful, src, tgt, produced_by="gemma")
    print(bad.as_dict(), good.as_dict())
    assert bad.flagged and any("owes nothing to the source" in r for r in bad.reasons), bad.as_dict()
    # Only the stretch is asked of the faithful line: the Russian one is one of the labelled set's
    # false flags of the swapped-word test («в пробке», where Qwen would say «в трафике»; README).
    assert not any("owes nothing to the source" in r for r in good.reasons), good.as_dict()
    assert good.scores["forward_pmi_window"] > bad.scores["forward_pmi_window"] + 1.0


def test_a_swapped_noun_is_named_with_the_word_the_source_suggests() -> None:
    """A fluent line with one other noun: only the word-substitution test sees it (bench/mt/adequacy.tsv)."""
    scorer = AdequacyScorer()
    source = "Die Mieten in unserer Stadt sind in den letzten fünf Jahren stark gestiegen."
    swapped = scorer.judge(source, "Taxes in our city have risen sharply over the last five years.", "de", "en",
                           produced_by="gemma")
    faithful = scorer.judge(source, "Rents in our city have risen sharply over the last five years.", "de", "en",
                            produced_by="gemma")
    print(swapped.as_dict(), faithful.as_dict())
    assert swapped.flagged and any(r.startswith("'Taxes' where the source suggests") for r in swapped.reasons)
    assert not faithful.flagged, faithful.as_dict()


def test_the_gguf_is_read_not_mapped() -> None:
    """llama.cpp repacks most weights into memory of its own; a mapping would keep the original pages
    resident beside the copy (0.6 GB more RSS for the same model)."""
    qwen_module.QWEN.llm()
    maps = Path("/proc/self/maps").read_text()
    assert qwen_module.model_path().name not in maps
