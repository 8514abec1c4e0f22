"""The message catalogues: ``web/locales/<locale>.json`` (the core's words) and one file per
feature, ``web/locales/<feature>/<locale>.json``, read as data and merged.

One file per feature keeps a feature's words beside each other and lets features land side by
side without editing one shared file. A key defined in two files is a mistake, refused here
rather than one silently winning. A variant (``VARIANTS``: ``zh-Hant-HK``) is an overlay:
its files hold only the entries whose wording differs from its base, and each must exist there
(``tests/unit/test_catalogue_variants.py``). The pages (``web/pages.py``), the e-mail composer
(``workers/mail/compose.py``) and the tests all read the catalogues through this module.
"""

from __future__ import annotations

import functools
import importlib.resources
from importlib.resources.abc import Traversable

import orjson

#: The languages, the default (繁體中文) first: a missing translation shows it. These are what
#: an admin offers (the settings page's ``languages``) and what stored texts are keyed by.
LOCALES = ("zh-Hant", "en")
DEFAULT_LOCALE = LOCALES[0]

#: Regional wordings of a language: an overlay catalogue (``zh-Hant-HK.json``, beside the base's
#: files) holding only the entries that differ, over the base (``zh-Hant``, Taiwan wording:
#: 聊天室, 棟, 樓). A copy of the whole catalogue would drift from the base with every feature.
VARIANTS: dict[str, str] = {"zh-Hant-HK": "zh-Hant"}

#: Every catalogue a page can be rendered from: the languages and their variants.
WORDINGS = (*LOCALES, *VARIANTS)

#: The ``lang`` attribute of a page in each wording (BCP 47), so a screen reader picks a voice
#: for the region: Mandarin for Taiwan, Cantonese for Hong Kong.
HTML_LANG: dict[str, str] = {"zh-Hant": "zh-Hant-TW", "zh-Hant-HK": "zh-Hant-HK", "en": "en"}


def language_of(wording: str) -> str:
    """The language (one of ``LOCALES``) a wording belongs to."""
    return VARIANTS.get(wording, wording)


def _folder() -> Traversable:
    return importlib.resources.files("web") / "locales"


def catalogue_files(locale: str) -> list[Traversable]:
    """The files that make up ``locale``'s catalogue: the core's, then each feature's by name."""
    folder = _folder()
    features = sorted(
        (entry for entry in folder.iterdir() if entry.is_dir()), key=lambda entry: entry.name
    )
    found = [folder / f"{locale}.json"]
    found.extend(f / f"{locale}.json" for f in features if (f / f"{locale}.json").is_file())
    return found


@functools.cache
def own_messages(locale: str) -> dict[str, str]:
    """``locale``'s own entries, without the default locale filling gaps."""
    messages: dict[str, str] = {}
    for path in catalogue_files(locale):
        entries: dict[str, str] = orjson.loads(path.read_bytes())
        twice = messages.keys() & entries.keys()
        if twice:
            raise ValueError(f"{path}: keys already defined elsewhere: {sorted(twice)[:5]}")
        messages.update(entries)
    return messages


@functools.cache
def messages_of(locale: str) -> dict[str, str]:
    """The catalogue of ``locale`` (a language or a variant), with the default locale's entries
    filling any gap; a variant is its base's catalogue with its own entries over it."""
    if locale in VARIANTS:
        return {**messages_of(VARIANTS[locale]), **own_messages(locale)}
    messages = own_messages(locale)
    if locale != DEFAULT_LOCALE:
        messages = {**own_messages(DEFAULT_LOCALE), **messages}
    return messages
