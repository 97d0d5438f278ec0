"""Settings: defaults that work, TOML and environment overrides, actionable errors."""

from pathlib import Path

import pytest

from shared.errors import SettingsError
from shared.settings import KVPreset, load_cloud_settings, load_settings


def test_defaults_work_on_a_fresh_machine() -> None:
    settings = load_settings()
    assert settings.engine.kv_preset is KVPreset.Q8Q4
    assert settings.engine.model_path is None
    assert settings.engine.n_threads >= 1


def test_toml_file_then_environment_then_keywords(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[engine]\nkv_preset = "q4"\nmax_suggestion_tokens = 8\n')
    monkeypatch.setenv("HYBRIDRAG_CONFIG", str(config))
    assert load_settings().engine.kv_preset is KVPreset.Q4

    monkeypatch.setenv("HYBRIDRAG_ENGINE__KV_PRESET", "f16")
    settings = load_settings()
    assert settings.engine.kv_preset is KVPreset.F16
    assert settings.engine.max_suggestion_tokens == 8  # the file's other values survive

    assert load_settings(engine={"kv_preset": "q8"}).engine.kv_preset is KVPreset.Q8


def test_unknown_preset_names_the_setting_and_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRIDRAG_ENGINE__KV_PRESET", "q3")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "HYBRIDRAG_ENGINE__KV_PRESET" in message
    assert "'q8q4'" in message


def test_malformed_toml_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[engine\nkv_preset = ")
    monkeypatch.setenv("HYBRIDRAG_CONFIG", str(config))
    with pytest.raises(SettingsError, match="config.toml"):
        load_settings()


def test_a_cloud_process_never_reads_the_clients_login_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[cloud]\nport = 9123\n")
    monkeypatch.setenv("HYBRIDRAG_CONFIG", str(config))
    (tmp_path / "login.json").write_text('{"client": {"cloud_url": "http://127.0.0.1:1", "token": "hrt_secret"}}')
    client_side = load_settings()
    assert client_side.client.token is not None and client_side.client.token.get_secret_value() == "hrt_secret"
    cloud_side = load_cloud_settings()
    assert cloud_side.client.token is None and cloud_side.client.cloud_url is None
    assert cloud_side.cloud.port == 9123  # the settings file and the environment still count
    (tmp_path / "login.json").write_text("{ not json")
    with pytest.raises(SettingsError, match="login file"):
        load_settings()
    assert load_cloud_settings().cloud.port == 9123
