from pathlib import Path

import pytest

from paperfeed.config import load_settings
from paperfeed.errors import BadRequest


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for key in ("PAPERFEED_DATABASE_URL", "PAPERFEED_CONFIG", "PAPERFEED_CATEGORIES", "PAPERFEED_BATCH_SIZE"):
        monkeypatch.delenv(key, raising=False)


def test_defaults() -> None:
    s = load_settings()
    assert s.database_url == "sqlite:///var/paperfeed.db"  # i.e. ./var/paperfeed.db
    assert s.categories == ["cs.CV", "cs.CL", "cs.AI", "cs.LG"]
    assert s.request_interval == 3.0
    assert "paperfeed" in s.user_agent


def test_precedence_override_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "site.env"
    config.write_text("PAPERFEED_DATABASE_URL=sqlite:///from-file.db\nPAPERFEED_BATCH_SIZE=77\n")
    assert load_settings(config).database_url == "sqlite:///from-file.db"
    monkeypatch.setenv("PAPERFEED_DATABASE_URL", "sqlite:///from-env.db")
    s = load_settings(config)
    assert (s.database_url, s.batch_size) == ("sqlite:///from-env.db", 77)
    assert load_settings(config, database_url="sqlite:///cli.db").database_url == "sqlite:///cli.db"


def test_default_config_file_and_env_pointer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "paperfeed.env").write_text("PAPERFEED_CATEGORIES=cs.IR, cs.DL\n")
    assert load_settings().categories == ["cs.IR", "cs.DL"]
    other = tmp_path / "other.env"
    other.write_text("PAPERFEED_CATEGORIES=math.AP\n")
    monkeypatch.setenv("PAPERFEED_CONFIG", str(other))
    assert load_settings().categories == ["math.AP"]


def test_bad_settings_name_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERFEED_BATCH_SIZE", "lots")
    with pytest.raises(BadRequest, match="batch_size"):
        load_settings()
    with pytest.raises(BadRequest, match="does not exist"):
        load_settings("/nonexistent/paperfeed.env")


def test_database_follows_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERFEED_DATA_DIR", "/srv/paperfeed")
    assert load_settings().database_url == "sqlite:////srv/paperfeed/paperfeed.db"
