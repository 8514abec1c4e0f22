"""The pages' language choice, the guide's Markdown subset, and the catalogues: the same keys in
both languages, and every key the templates and scripts ask for present."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from linli.catalogue import LOCALES, catalogue_files
from web.pages import (
    WEB_DIR,
    catalogue,
    guide_contents,
    guide_files,
    markdown_subset,
    negotiate_locale,
    negotiate_wording,
)


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, None, "zh-Hant"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "zh-HK,zh;q=0.9,en;q=0.8", "zh-Hant"),  # the Hong Kong wording of 繁體中文
        ("zh-Hant-HK", "en", "zh-Hant"),
        (None, "zh-CN", "zh-Hant"),  # the only Chinese catalogue
        (None, "fr-FR, en;q=0.5, zh;q=0.7", "zh-Hant"),  # by q, not by position
        (None, "fr-FR, de;q=0.5", "zh-Hant"),
        ("en", "zh-HK", "en"),  # the switch wins
        ("xx", "en", "en"),  # an unknown cookie is ignored
    ],
)
def test_negotiate_locale(cookie: str | None, accept: str | None, expected: str) -> None:
    assert negotiate_locale(cookie, accept) == expected


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, None, "zh-Hant"),
        (None, "zh-TW,zh;q=0.9", "zh-Hant"),  # Taiwan: the base wording
        (None, "zh-HK,zh;q=0.9,en;q=0.8", "zh-Hant-HK"),
        (None, "zh-MO", "zh-Hant-HK"),
        (None, "zh-Hant-HK", "zh-Hant-HK"),
        (None, "yue-Hant", "zh-Hant-HK"),
        (None, "zh-CN", "zh-Hant"),
        (None, "en-GB, zh-HK;q=0.5", "en"),
        (None, "fr, zh-hk;q=0.4, zh-tw;q=0.6", "zh-Hant"),  # by q
        ("zh-Hant-HK", "zh-TW", "zh-Hant-HK"),  # the switch wins
        ("zh-Hant", "zh-HK", "zh-Hant"),
        ("en", "zh-HK", "en"),
        ("zh-Hant-XX", "zh-HK", "zh-Hant-HK"),  # an unknown cookie is ignored
    ],
)
def test_negotiate_wording(cookie: str | None, accept: str | None, expected: str) -> None:
    assert negotiate_wording(cookie, accept) == expected
    # The wording's language is the one negotiate_locale gives.
    assert negotiate_locale(cookie, accept) == ("zh-Hant" if expected != "en" else "en")


def test_markdown_subset_escapes_and_links_only_inside_the_app() -> None:
    html = markdown_subset(
        "# Title {#top}\n\nA <b>tag</b> and **bold** and `code`.\n\n"
        "1. one\n2. two\n   - sub\n3. three\n\n[in](/help) [out](https://example.com)\n"
    )
    assert '<h1 id="top">Title</h1>' in html
    assert "A &lt;b&gt;tag&lt;/b&gt; and <strong>bold</strong> and <code>code</code>." in html
    lists = '<ol>\n<li>one</li>\n<li>two</li>\n</ol>\n<ul>\n<li>sub</li>\n</ul>\n<ol start="3">'
    assert lists in html
    assert '<a href="/help">in</a>' in html
    assert "https://example.com" in html and 'href="https' not in html


def test_catalogues_have_the_same_keys() -> None:
    """File by file (the core's, each feature's): every key in both languages."""
    files = {
        # Only the file name names the locale ("events" holds "en").
        locale: {
            str(p.relative_to(WEB_DIR).with_name(p.name.replace(locale, "*"))): p for p in paths
        }
        for locale in LOCALES
        for paths in [[Path(str(f)) for f in catalogue_files(locale)]]
    }
    assert files["zh-Hant"].keys() == files["en"].keys()
    for name, zh in files["zh-Hant"].items():
        en = files["en"][name]
        assert set(json.loads(zh.read_text())) == set(json.loads(en.read_text())), name


def test_a_key_in_two_catalogue_files_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    from linli import catalogue as module

    (tmp_path / "polls").mkdir()
    (tmp_path / "zh-Hant.json").write_text('{"a": "1", "b": "2"}')
    (tmp_path / "polls" / "zh-Hant.json").write_text('{"b": "3"}')
    monkeypatch.setattr(module, "_folder", lambda: tmp_path)
    module.own_messages.cache_clear()
    try:
        with pytest.raises(ValueError, match="already defined"):
            module.own_messages("zh-Hant")
    finally:
        module.own_messages.cache_clear()


def _used_keys() -> set[str]:
    used: set[str] = set()
    # The e-mail templates (workers/mail/templates/) take their words from the same catalogues.
    mail = WEB_DIR.parent / "workers" / "mail" / "templates"
    for path in [
        *(WEB_DIR / "templates").rglob("*.html"),
        *(WEB_DIR / "static/js").rglob("*.js"),
        *mail.glob("*.html"),
        *mail.glob("*.txt"),
    ]:
        text = path.read_text()
        used |= set(re.findall(r"\bt\(\s*[\"']([a-z_.]+)[\"']", text))
    # register.html builds its field keys from the field names.
    fields = ("invite_code", "username", "display_name", "password", "unit")
    used |= {f"register.{name}" for name in fields}
    used |= {f"register.{name}_hint" for name in fields if name != "invite_code"}
    return {key for key in used if not key.endswith(".")}


def test_every_key_used_is_in_the_catalogue() -> None:
    used = _used_keys()
    assert len(used) > 50  # the scan found the calls
    for locale in LOCALES:
        missing = used - set(catalogue(locale))
        assert not missing, f"{locale} lacks {sorted(missing)}"


def test_the_guide_exists_in_both_languages() -> None:
    guide = Path(WEB_DIR).parent / "docs" / "guide"
    for locale in LOCALES:
        text = (guide / f"{locale}.md").read_text()
        for anchor in (
            "register",
            "login",
            "chat",
            "reconnecting",
            "groups",
            "polls",
            "moderators",
            "notifications",
            "notifications-phone",
            "quiet-hours",
            "notifications-staff",
        ):
            assert f"{{#{anchor}}}" in text, (locale, anchor)


def test_every_guide_chapter_is_in_both_languages_with_the_same_anchors() -> None:
    """A feature's chapter (``docs/guide/<locale>/NN-<feature>.md``) exists in each language,
    and both give the same ``{#anchors}`` (the pages link to them)."""
    chapters = {locale: {p.name: p for p in guide_files(locale)[1:]} for locale in LOCALES}
    assert chapters["zh-Hant"].keys() == chapters["en"].keys()
    for name, zh in chapters["zh-Hant"].items():
        anchors = [
            set(re.findall(r"\{#([a-z0-9-]+)\}", p.read_text())) for p in (zh, chapters["en"][name])
        ]
        assert anchors[0] == anchors[1], name


def test_screenshot_lines_become_sized_images_and_nothing_else_does() -> None:
    html = markdown_subset(
        '![A "phone"](/help/screenshots/chat-phone-zh.png) '
        "![Desk](/help/screenshots/chat-desktop-zh.png)\n\n"
        "![outside](https://example.com/x.png)\n\n![up](/help/screenshots/../x.png)\n"
    )
    assert html.startswith('<p class="guide-shots"><img class="shot-phone"')
    assert 'alt="A &quot;phone&quot;"' in html and 'class="shot-desktop"' in html
    assert 'width="360" height="740"' in html  # read from the PNG
    assert html.count("<img") == 2  # no foreign or climbing address becomes an image


def test_the_guide_has_contents_and_every_picture_in_both_languages() -> None:
    shots = Path(WEB_DIR).parent / "docs" / "screenshots" / "guide"
    used: dict[str, set[str]] = {}
    for locale in LOCALES:
        contents = dict(guide_contents(locale))
        assert {"chat", "notices", "forum", "events", "meetings", "elder-mode"} <= contents.keys()
        text = "\n".join(p.read_text() for p in guide_files(locale))
        used[locale] = set(re.findall(r"/help/screenshots/([a-z0-9-]+)-(?:zh|en)\.png", text))
        for name in re.findall(r"/help/screenshots/([a-z0-9-]+\.png)", text):
            path = shots / name
            assert path.is_file(), name
            # Small: the repository carries them (take_screenshots.py quantises them).
            assert path.stat().st_size < 150_000, (name, path.stat().st_size)
    assert used["zh-Hant"] == used["en"] and len(used["en"]) == 18
