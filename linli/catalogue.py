"""The message catalogues: ``web/locales/<locale>.json`` (the core's words) and one file per
feature, ``web/locales/<feature>/<locale>.json``, read as data and merged.

One file per feature keeps a feature's words beside each other and lets features land side by
side without editing one shared file. A key defined in two files is a mistake, refused here
rather than one silently winning. The pages (``web/pages.py``), the e-mail composer
(``workers/mail/compose.py``) and the tests all read the catalogues through this module.
"""

from __future__ import annotations

import functools
import importlib.resources
from importlib.resources.abc import Traversable

import orjson

#: The languages, the default (繁體中文) first: a missing translation shows it.
LOCALES = ("zh-Hant", "en")
DEFAULT_LOCALE = LOCALES[0]


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
    """The catalogue of ``locale``, with the default locale's entries filling any gap."""
    messages = own_messages(locale)
    if locale != DEFAULT_LOCALE:
        messages = {**own_messages(DEFAULT_LOCALE), **messages}
    return messages
