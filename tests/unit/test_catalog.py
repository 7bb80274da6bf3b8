"""The provider catalogue: bundled files, the search path, targets and one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from costcli.adapters.catalog import load_catalog
from costcli.files.errors import BadInputError


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user config, no ./providers and no COSTCLI_PROVIDERS from the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("COSTCLI_PROVIDERS", raising=False)


def test_the_bundled_providers_load() -> None:
    catalog = load_catalog()
    assert {"openai", "groq", "mock"} <= set(catalog.names())
    groq = catalog.providers["groq"]
    assert (groq.adapter, groq.api_key_env) == ("groq", "GROQ_API_KEY")
    assert groq.base_url == "https://api.groq.com/openai/v1"
    assert catalog.providers["openai"].api_key_env == "OPENAI_API_KEY"
    assert catalog.providers["mock"].api_key_env is None


def test_a_target_is_provider_and_optional_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-fake")
    catalog = load_catalog()
    default = catalog.resolve("groq")
    assert (default.provider, default.model, default.adapter) == (
        "groq",
        "openai/gpt-oss-20b",
        "groq",
    )
    # the model may itself hold a colon: only the first one splits
    tagged = catalog.resolve("groq:qwen/qwen3-32b:free")
    assert tagged.model == "qwen/qwen3-32b:free"
    assert tagged.label == "groq:qwen/qwen3-32b:free"
    assert tagged.api_key() == "gsk-fake"


def test_the_key_is_read_from_the_environment_and_never_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    target = load_catalog().resolve("openai")
    assert "sk-secret-value" not in repr(target)
    assert target.api_key() == "sk-secret-value"


def test_a_missing_key_variable_names_the_file_the_key_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(BadInputError) as info:
        load_catalog().resolve("openai")
    message = info.value.message
    assert "openai.toml" in message
    assert "api_key_env" in message
    assert "export OPENAI_API_KEY=" in message
    assert load_catalog().resolve("openai", require_key=False).provider == "openai"


def test_an_unknown_provider_suggests_close_names() -> None:
    with pytest.raises(BadInputError, match="unknown provider 'grok'; did you mean groq"):
        load_catalog().resolve("grok")
    with pytest.raises(BadInputError, match=r"available: .*mock"):
        load_catalog().resolve("zzzz")


def test_a_flag_file_overrides_the_bundled_provider(provider_file: Callable[..., Path]) -> None:
    path = provider_file("mock", base_url="http://127.0.0.1:9999/v1", default_model="other")
    catalog = load_catalog([path])
    assert catalog.providers["mock"].base_url == "http://127.0.0.1:9999/v1"
    assert catalog.files["mock"] == path
    assert catalog.resolve("mock").model == "other"


def test_providers_come_from_a_folder_and_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider_file: Callable[..., Path]
) -> None:
    provider_file("alpha", base_url="http://a/v1")
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / "beta.toml").write_text(
        'name = "beta"\nadapter = "openai"\nbase_url = "http://b/v1"\ndefault_model = "m"\n'
    )
    monkeypatch.setenv("COSTCLI_PROVIDERS", str(env_dir))
    names = load_catalog([tmp_path]).names()
    assert {"alpha", "beta", "mock"} <= set(names)


def test_the_current_directory_providers_folder_is_searched(tmp_path: Path) -> None:
    local = tmp_path / "providers"
    local.mkdir()
    (local / "mock.toml").write_text(
        'name = "mock"\nadapter = "openai"\nbase_url = "http://here/v1"\ndefault_model = "m"\n'
    )
    assert load_catalog().providers["mock"].base_url == "http://here/v1"


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        ({"api_kye_env": "X"}, "unknown key 'api_kye_env'; did you mean 'api_key_env'?"),
        ({"colour": "X"}, "unknown key 'colour'; remove it (known keys: adapter, api_key_env"),
        ({"adapter": None}, "missing key 'adapter'; add it"),
        ({"self_hosted": "maybe"}, "key 'self_hosted'"),
    ],
)
def test_a_bad_provider_file_is_one_line_naming_file_and_key(
    provider_file: Callable[..., Path], keys: dict[str, object], words: str
) -> None:
    present = {k: v for k, v in keys.items() if v is not None}
    path = provider_file("broken", base_url="http://x/v1", **present)
    if any(v is None for v in keys.values()):
        text = path.read_text().splitlines()
        drop = [k for k, v in keys.items() if v is None]
        path.write_text("\n".join(li for li in text if li.split(" ")[0] not in drop) + "\n")
    with pytest.raises(BadInputError) as info:
        load_catalog([path])
    message = info.value.message
    assert message.startswith(str(path))
    assert words in message
    assert "\n" not in message


def test_invalid_toml_and_a_missing_flag_path_are_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(BadInputError, match="not valid TOML"):
        load_catalog([bad])
    with pytest.raises(BadInputError, match="no such file or folder"):
        load_catalog([tmp_path / "nope.toml"])
