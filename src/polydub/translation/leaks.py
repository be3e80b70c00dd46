"""Is a translation really in the target language? Script and leaked-source-word checks.

Small LLMs leave source words in their output ("спросите помощь early", "в truth", "Кlimатическая",
"für unsere Landwirtschaft and the world"). Names and brands legitimately stay as they are, so a
word counts as leaked only when the source used it as an ordinary word.
"""

from __future__ import annotations

import re
import unicodedata

from polydub.languages import language_name


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SCRIPTS = {"ru": "CYRILLIC", "uk": "CYRILLIC", "bg": "CYRILLIC", "mk": "CYRILLIC", "sr": "CYRILLIC",
            "ja": "CJK", "zh": "CJK", "ko": "HANGUL", "ar": "ARABIC", "hi": "DEVANAGARI", "el": "GREEK",
            "he": "HEBREW"}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?…。！？]\s*$")

# Frequent words of a source language that are not words of the usual target languages: when one
# shows up unchanged in the output, it was left untranslated. Words that are also common in a
# target language are listed per target in _ALSO_WORDS_IN and not counted there.
_COMMON: dict[str, frozenset[str]] = {
    "en": _words("""
        the and with for from that this these those there their they them then than what when where
        which while who whom whose why how about above after again against because before being
        below between both but could did does doing down during each few further have having here
        into itself just more most other our ours out over own same should some such through too
        under until very was were would your yours you she her his him its
        early late truth really people thing things think
        thought know knew want wanted need needed help world country future better best good great
        little small big large new old young life work working job money family friend friends day
        days week year years time times today tomorrow yesterday always never often sometimes
        everyone everybody everything something nothing anything someone somebody maybe actually
        already still also only even again almost enough together without within around across
        because though although however instead every many much less least several important
        different same next last first second right left wrong true false happy sad beautiful
        wonderful amazing awesome difficult easy hard simple whole half full empty open close closed
        start started stop stopped make made take took come came go went going get got give gave
        look looked see saw say said tell told ask asked try tried feel felt keep kept leave left
        call called find found show showed move moved live lived believe believed bring brought
        happen happened change changed climate weather water food house home city town street school
        children child kids mother father brother sister husband wife woman women man men boy girl
        morning evening night week month market blog channel video videos weakness weaknesses
        community government business company health love hope fear dream dreams story stories
        question questions answer answers problem problems idea ideas reason way ways place places
        just fair more endeavoring towards toward forward backward yet"""),
    "de": _words("""
        und oder aber nicht auch noch schon sehr mehr viel viele wir ihr sie ich du er es uns euch
        ihnen mich mir dich dir sich der das dem den des ein eine einen einem einer eines kein keine
        mit für von vom zum zur bei nach aus über unter zwischen durch gegen ohne um weil dass ob
        wenn wie wo was wer warum heute morgen gestern immer nie oft jetzt hier dort ist sind war
        waren wird werden wurde haben hat hatte habe kann können muss müssen soll sollen will
        wollen möchte gibt geht gehen kommt kommen macht machen sagen sagt unsere unser unseren
        meine mein meinen deine dein ihre ihren diese dieser dieses diesen jede jeder jedes alle
        allem gut besser neue neuen alten leben zeit jahr jahre"""),
    "fr": _words("""
        et ou mais pas plus aussi encore très beaucoup nous vous ils elles je tu il elle on le la
        les un une des du de au aux avec pour sans chez dans sur sous entre vers parce que qui quoi
        quand comment où pourquoi aujourd'hui demain hier toujours jamais souvent maintenant ici là
        est sont était étaient sera seront avoir avons avez ont avait être suis sommes êtes fait
        faire peut peuvent doit doivent veut veulent notre nos votre vos leur leurs mon ma mes ton
        ta tes son sa ses ce cette ces chaque tous toutes tout bien mieux nouveau nouvelle vie temps
        année ans"""),
    "es": _words("""
        y o pero no más también todavía muy mucho muchos nosotros vosotros ellos ellas yo tú él
        ella el la los las un una unos unas del al con para por sin en sobre entre hacia porque
        que quien qué cuando cómo dónde por qué hoy mañana ayer siempre nunca ahora aquí allí es
        son era eran será fue fueron tener tenemos tiene tienen hay hacer hace puede pueden debe
        quiere nuestro nuestra nuestros su sus mi mis tu tus este esta estos estas cada todos todo
        bien mejor nuevo nueva vida tiempo año años"""),
    "ru": frozenset(),  # a Cyrillic source is caught by its script
}
_ALSO_WORDS_IN: dict[str, frozenset[str]] = {
    "de": _words("""in an so was will also bin war hat die man fast hand arm name bald warm wild
        still best real normal global digital modern total super online live cool okay fair
        ring wind finger problem system idea alt"""),
    "fr": _words("""on a plus but me place face long point fin pour date table simple possible
        important question moment nature information message culture future chance change age
        ensemble sans tout sort"""),
    "es": _words("""a no me he come fin once son sin real final general social animal hospital
        idea simple total normal"""),
    "pt": _words("""a no me come fim real final geral social animal hospital idea simples
        total normal"""),
    "it": _words("""a no come me fine idea simple total normale"""),
    "en": _words("""in an so was will also man hand arm name bald warm wild still best real
        normal global digital modern total fair ring wind finger problem system idea on a plus
        but me place face long point fin date table simple possible important question moment
        nature information message culture future chance change age no he come once son sin
        final general social animal hospital die hat"""),
}


def script_of(language: str) -> str:
    return _SCRIPTS.get(language, "LATIN")


def _letter_script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if name.startswith(("CJK", "HIRAGANA", "KATAKANA")):
        return "CJK"
    return name.split(" ")[0] if name else ""


def _scripts(word: str) -> set[str]:
    return {_letter_script(c) for c in word if c.isalpha()}


def _name_like(word: str, position: int, sentence_start: bool) -> bool:
    """Capitalised away from a sentence start, all caps, or mixed case (iPhone): a name or brand."""
    if len(word) > 1 and word.isupper():
        return True
    if any(c.isupper() for c in word[1:]):
        return True
    return word[:1].isupper() and not (position == 0 or sentence_start)


def source_words(text: str) -> tuple[set[str], set[str]]:
    """(names, ordinary words) of a source line, lowercased."""
    names: set[str] = set()
    ordinary: set[str] = set()
    previous_end = 0
    for i, match in enumerate(_WORD.finditer(text)):
        word = match.group(0)
        starts_sentence = bool(_SENTENCE_END.search(text[previous_end:match.start()])) if i else True
        previous_end = match.end()
        (names if _name_like(word, i, starts_sentence) else ordinary).add(word.lower())
    return names, ordinary - names


def leaked_words(source_text: str, output: str, source: str, target: str) -> list[str]:
    """Words of `output` that belong to the source language, not the target, in output order."""
    target_script = script_of(target)
    names, ordinary = source_words(source_text)
    found: list[str] = []
    for match in _WORD.finditer(output):
        word = match.group(0)
        scripts = _scripts(word)
        lower = word.lower()
        if len(scripts) > 1 and "LATIN" in scripts:
            found.append(word)  # "Кlimатическая": one word in two alphabets
        elif scripts - {target_script, "LATIN"}:
            found.append(word)  # another alphabet (Cyrillic left in English, Chinese in Russian…)
        elif target_script != "LATIN" and scripts == {"LATIN"}:
            # Latin letters in a Cyrillic/CJK line: only names and brands may stay.
            if len(word) > 1 and (lower in ordinary or (lower not in names and not _name_like(word, 1, False))):
                found.append(word)
        elif target_script == "LATIN" and lower in ordinary and lower in _COMMON.get(source, frozenset()) \
                and lower not in _ALSO_WORDS_IN.get(target, frozenset()):
            found.append(word)  # also capitalised: "in Truth" in German output
        elif target == "de" and source == "en" and lower in ordinary and word[:1].islower() and \
                len(word) > 3 and lower not in _ALSO_WORDS_IN["de"]:
            # German writes nouns capitalised and shares few lowercase words with English.
            found.append(word)
    return list(dict.fromkeys(found))


def leak_problem(source_text: str, output: str, source: str, target: str) -> str | None:
    """Why `output` is not a usable translation of `source_text` into `target`, or None."""
    if not source_text.strip() or source == target:
        return None
    if not output.strip():
        return "empty translation"
    if output.strip().casefold() == source_text.strip().casefold() and len(source_text.split()) >= 3:
        return "the source was copied, not translated"
    leaked = leaked_words(source_text, output, source, target)
    if leaked:
        return f"{language_name(source)} words left in the {language_name(target)} output: {', '.join(leaked)}"
    return None
