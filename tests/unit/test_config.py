"""Settings: parsed from the environment with clear errors, and documented everywhere they are
listed (the README and docs/operations.md tables cannot drift from the code)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from linli.config import SETTINGS_DOC, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented() -> None:
    names = {f.name for f in fields(Settings)} - {"extra"}
    assert set(SETTINGS_DOC) == names
    operations = (ROOT / "docs" / "operations.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in names:
        assert f"LINLI_{name.upper()}" in operations, name
        assert f"LINLI_{name.upper()}" in readme, name


def test_parsing() -> None:
    settings = load_settings(
        {
            "LINLI_REDIS_URL": "redis://127.0.0.1:6379/0",
            "LINLI_PORT": "9000",
            "LINLI_PUBLISH_RATE": "2.5",
            "LINLI_RUN_WORKERS": "yes",
            "LINLI_ALLOWED_ORIGINS": "https://a.example/, https://b.example",
            "LINLI_DATABASE_URL": "postgresql://postgres@127.0.0.1/test",
        }
    )
    assert settings.port == 9000 and settings.publish_rate == 2.5
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert not settings.embedded and settings.postgres and settings.workers_in_process
    assert not settings.migrate_at_start
    embedded = load_settings({"LINLI_REDIS_URL": ""})
    assert embedded.embedded and embedded.workers_in_process and embedded.migrate_at_start
    with pytest.raises(ValueError, match="LINLI_PORT"):
        load_settings({"LINLI_PORT": "eighty"})
    with pytest.raises(ValueError, match="LINLI_RUN_WORKERS"):
        load_settings({"LINLI_RUN_WORKERS": "maybe"})


def test_time_zone() -> None:
    assert load_settings({}).time_zone == "Asia/Taipei"
    assert str(load_settings({}).zone) == "Asia/Taipei"
    assert str(load_settings({"LINLI_TIME_ZONE": "Europe/London"}).zone) == "Europe/London"
    for unknown in ("Mars/Olympus", "", "../etc/passwd", "/etc/localtime"):
        with pytest.raises(ValueError, match=r"LINLI_TIME_ZONE: unknown time zone .*Asia/Taipei"):
            load_settings({"LINLI_TIME_ZONE": unknown})


def test_working_days() -> None:
    assert load_settings({}).working_weekdays == frozenset(range(5))
    assert load_settings({"LINLI_REQUEST_WORKING_DAYS": "Mon, sat"}).working_weekdays == {0, 5}
    for bad in ("", "mon,funday", " , "):
        with pytest.raises(ValueError, match="LINLI_REQUEST_WORKING_DAYS"):
            load_settings({"LINLI_REQUEST_WORKING_DAYS": bad})
