"""Write docs/cli.md from the CLI's own --help, so the reference cannot drift.

python scripts/gen_cli_docs.py          # rewrite docs/cli.md
python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is out of date
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def commands(group: object, words: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the app, walked from its command tree (never a hand-kept list)."""
    out = [words]
    children = getattr(group, "commands", None) or {}
    for name in sorted(children):
        out += commands(children[name], (*words, name))
    return out


def render() -> str:
    os.environ["COLUMNS"] = "100"
    os.environ["TERM"] = "dumb"
    os.environ.pop("FORCE_COLOR", None)
    from typer.testing import CliRunner

    from costcli.cli import app

    runner = CliRunner()
    parts = [
        "# costcli command reference",
        "",
        "Generated from `--help` by `scripts/gen_cli_docs.py`; a test fails when it drifts.",
        "",
    ]
    import typer.main

    for words in commands(typer.main.get_command(app)):
        result = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1"})
        if result.exit_code != 0:
            raise SystemExit(f"costcli {' '.join(words)} --help failed: {result.output}")
        title = " ".join(("costcli", *words))
        parts += [f"## `{title}`", "", "```", result.output.rstrip(), "```", ""]
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
