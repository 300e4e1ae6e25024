"""Language identification for posts whose platform does not tag one.

X tags every tweet; Facebook and the sandbox do not. Short social posts need
only a cheap guess among the languages a contact center staffs for, so this
counts common function words per language (microseconds a post, nothing to
download) and answers "" when no language clearly wins.
"""

from __future__ import annotations

import re

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the a an and or but is are was were be been my your our i you we it this that to of in on for with "
        "not no have has had do does did can can't cannot will would please thanks thank hi hello why how "
        "what when where still again nobody anyone".split()
    ),
    "es": frozenset(
        "el la los las un una y o pero es son está estoy mi mis tu su de del en con por para que qué no "
        "sí hola gracias cómo cuándo dónde llevo tengo alguien ayuda sin todo muy".split()
    ),
    "fr": frozenset(
        "le la les un une et ou mais est sont suis mon ma mes ton votre de du des en avec pour que qui ne "
        "pas oui bonjour merci comment quand où depuis toujours c'est je vous nous".split()
    ),
    "de": frozenset(
        "der die das ein eine und oder aber ist sind bin mein meine dein ihr von zu mit für dass nicht "
        "kein ja hallo danke wie wann wo seit immer noch ich sie wir bitte gibt es".split()
    ),
    "pt": frozenset(
        "o a os as um uma e ou mas é são estou meu minha de do da em com por para que não sim olá obrigado "
        "obrigada como quando onde ainda sem".split()
    ),
    "it": frozenset(
        "il lo la gli le un una e o ma è sono mio mia di del della in con per che non sì ciao grazie come "
        "quando dove ancora senza".split()
    ),
    "nl": frozenset(
        "de het een en of maar is zijn ben mijn jouw van met voor dat niet geen ja hallo bedankt hoe wanneer "
        "waar nog steeds zonder ik jullie".split()
    ),
}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {}
for _language, _words in STOPWORDS.items():
    for _word in _words:
        _LANGUAGES_OF[_word] = (*_LANGUAGES_OF.get(_word, ()), _language)


def detect_language(text: str) -> str:
    """An ISO 639-1 code, or "" when the text gives no clear answer."""
    scores: dict[str, int] = {}
    for word in _WORD.findall(text.lower()):
        for language in _LANGUAGES_OF.get(word, ()):
            scores[language] = scores.get(language, 0) + 1
    if not scores:
        return ""
    ranked = sorted(scores.values(), reverse=True)
    best = max(scores, key=lambda language: scores[language])
    if len(ranked) > 1 and ranked[0] == ranked[1]:
        return ""
    return best
