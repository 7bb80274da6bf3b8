"""`costcli providers list|show`: the catalogue as costcli sees it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

app = typer.Typer(help="The provider catalogue (providers/*.toml).", no_args_is_help=True)


@app.command("list")
def list_providers(
    providers: list[Path] = typer.Option([], "--providers", help="Extra provider file or folder."),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json"),
) -> None:
    """Every provider found on the search path, and whether its key is set."""
    from costcli.adapters.catalog import load_catalog
    from costcli.adapters.registry import available, dialect
    from costcli.files.redact import without_url_credentials

    catalog = load_catalog(providers)
    adapters = available()
    rows = []
    for name in catalog.names():
        p = catalog.providers[name]
        key = (
            "n/a" if not p.api_key_env else ("set" if os.environ.get(p.api_key_env) else "missing")
        )
        rows.append(
            {
                "name": name,
                "adapter": p.adapter + ("" if p.adapter in adapters else " (not installed)"),
                "dialect": dialect(p.adapter),
                "default_model": p.default_model,
                "base_url": without_url_credentials(p.base_url) if p.base_url else "(managed)",
                "api_key_env": p.api_key_env,
                "key": key,
                "file": str(catalog.files[name]),
            }
        )
    if fmt == "json":
        typer.echo(json.dumps({"providers": rows}, indent=2))
        return
    for r in rows:
        env = f"{r['api_key_env']} ({r['key']})" if r["api_key_env"] else "no key"
        typer.echo(
            f"{r['name']:16} {r['adapter']:16} {r['dialect']:34} {r['default_model'] or '-':28} "
            f"{env:28} {r['base_url']}"
        )


@app.command("show")
def show_provider(
    name: str = typer.Argument(...),
    providers: list[Path] = typer.Option([], "--providers"),
) -> None:
    """One provider's settings (never the key itself)."""
    from costcli.adapters.catalog import load_catalog
    from costcli.adapters.registry import dialect
    from costcli.files.redact import masked_settings

    catalog = load_catalog(providers)
    target = catalog.resolve(name, require_key=False, require_model=False)
    assert target.settings is not None
    data = masked_settings(target.settings.model_dump(mode="json"))
    data["dialect"] = dialect(target.adapter)
    data["file"] = str(target.source_file)
    typer.echo(json.dumps(data, indent=2))
