"""The regional wordings (``linli/catalogue.py`` VARIANTS): a variant's files are an overlay of
only the entries that differ, each over a key its base has, and each wording says one term per
concept (Taiwan: 聊天室, 棟, 大樓; Hong Kong: 傾談室, 座, 大廈)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from linli.catalogue import HTML_LANG, VARIANTS, WORDINGS, catalogue_files, messages_of


@pytest.mark.parametrize(("variant", "base"), sorted(VARIANTS.items()))
def test_overlay_keys_exist_in_the_base_file_beside_them(variant: str, base: str) -> None:
    overlays = [Path(str(f)) for f in catalogue_files(variant)]
    assert overlays, variant
    for overlay in overlays:
        entries = json.loads(overlay.read_text())
        beside = overlay.with_name(f"{base}.json")
        assert beside.is_file(), f"{overlay}: no {beside.name} beside it"
        base_entries = json.loads(beside.read_text())
        unknown = entries.keys() - base_entries.keys()
        assert not unknown, f"{overlay}: keys not in {beside.name}: {sorted(unknown)}"
        # Only what differs: a copied entry would stop following the base.
        same = [k for k, v in entries.items() if base_entries[k] == v]
        assert not same, f"{overlay}: entries the same as the base's: {same}"
        # The placeholders a page fills are the same in both wordings.
        for key, text in entries.items():
            assert set(re.findall(r"\{(\w+)\}", text)) == set(
                re.findall(r"\{(\w+)\}", base_entries[key])
            ), (overlay, key)


def test_a_variant_is_its_base_with_the_overlay_over_it() -> None:
    tw, hk = messages_of("zh-Hant"), messages_of("zh-Hant-HK")
    assert tw.keys() == hk.keys()
    assert (tw["chat.rooms"], hk["chat.rooms"]) == ("聊天室", "傾談室")
    assert tw["nav.help"] == hk["nav.help"]  # not in the overlay: the base's
    assert set(HTML_LANG) == set(WORDINGS)


#: The terms that belong to one wording only (the other says the first of each pair).
TERMS = {
    "zh-Hant": ("傾談", "大廈", "用戶", "帳戶", "上載", "網絡", "相片", "短訊", "電郵", "屋苑"),
    "zh-Hant-HK": ("聊天", "大樓", "使用者", "帳號", "上傳", "網路", "照片", "簡訊", "電子郵件"),
}
#: Where a word is data, not wording: the CSV import's column names are fixed (棟, 樓, …), and
#: the wording switch's hint names the other wording's terms on purpose.
FIXED = {"admin.import.intro", "admin.import.bad_header", "lang.wording_hint"}


@pytest.mark.parametrize("wording", sorted(TERMS))
def test_one_term_per_concept(wording: str) -> None:
    words = messages_of(wording)
    found = {
        (key, term)
        for key, text in words.items()
        for term in TERMS[wording]
        if term in text and key not in FIXED
    }
    assert not found, sorted(found)[:10]
    seat = "棟" if wording == "zh-Hant-HK" else "座"
    assert not [k for k, v in words.items() if seat in v and k not in FIXED]
