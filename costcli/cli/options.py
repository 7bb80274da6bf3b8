"""Option parsing shared by several commands (SLOs, observers, formats), and commands built
from options dataclasses, their help grouped in panels."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import sys
import typing
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from typer.core import TyperCommand

from costcli.files.errors import BadInputError

if TYPE_CHECKING:
    from rich.console import Console

    from costcli.results.metrics import SLO

SLO_KEYS = {"ttft": "ttft_ms", "tpot": "tpot_ms", "e2e": "e2e_ms"}


def parse_slo(values: list[str]) -> SLO | None:
    """`--slo ttft=500 --slo tpot=50,e2e=4000` (milliseconds) -> SLO; `ttft_p95=500,
    tpot_p95=50` bounds that percentile of each figure instead (one percentile for all)."""
    from costcli.results.metrics import SLO

    if not values:
        return None
    found: dict[str, float] = {}
    quantiles: set[int] = set()
    plain = False  # a limit without a percentile
    for value in values:
        for part in filter(None, value.split(",")):
            key, sep, num = part.partition("=")
            key = key.strip().removesuffix("_ms")
            key, _, q = key.partition("_p")
            if q:
                if q not in ("50", "90", "95", "99"):
                    raise BadInputError(
                        f"--slo {part}: the percentile is p50, p90, p95 or p99 (ttft_p95=500)"
                    )
                quantiles.add(int(q))
            else:
                plain = True
            if not sep or key not in SLO_KEYS:
                raise BadInputError(
                    f"--slo {part}: use ttft=MS, tpot=MS or e2e=MS (or ttft_p95=MS ...)"
                )
            try:
                found[SLO_KEYS[key]] = float(num.removesuffix("ms"))
            except ValueError:
                raise BadInputError(
                    f"--slo {part}: '{num}' is not a number of milliseconds"
                ) from None
    if len(quantiles) > 1 or (quantiles and plain):
        raise BadInputError(
            f"--slo {','.join(values)}: give one percentile for every limit "
            "(ttft_p95=500,tpot_p95=50) or none (ttft=500,tpot=50)"
        )
    return SLO(**found, percentile=quantiles.pop() if quantiles else None)


def live_display_allowed(no_progress: bool) -> bool:
    return not no_progress and sys.stdout.isatty() and not os.environ.get("CI")


def stderr_console() -> Console:
    from rich.console import Console

    return Console(
        stderr=True, no_color=bool(os.environ.get("NO_COLOR")), emoji=False, markup=False
    )


# --- commands from options dataclasses ----------------------------------------------------


LIST_METAVAR = re.compile(r"<list\[(\w+)\]>")


def _one_of_many(argument: bool) -> Callable[[re.Match[str]], str]:
    many = "" if argument else "..."  # an argument's name says it already: `results...`
    return lambda found: f"<{found[1].lower()}>{many}"


class PanelledCommand(TyperCommand):
    """Plain help (no Rich) with each option under its `rich_help_panel` heading, in the
    order the panels first appear; options without one stand under "Options". A repeatable
    option reads `<str>...`, not Typer's `<list[str]>` (which looks like one comma list)."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                panel = "Arguments"
            else:
                panel = getattr(param, "rich_help_panel", None) or "Options"
            names, help_text = record
            names = LIST_METAVAR.sub(_one_of_many(panel == "Arguments"), names)
            groups.setdefault(panel, []).append((names, help_text))
        for panel, rows in groups.items():
            with formatter.section(panel):
                formatter.write_dl(rows)


Options = TypeVar("Options")

# The options the user gave (command line, environment or prompt), by field name, while a
# command built by `command_of` runs; None when the body is called from Python.
GIVEN: ContextVar[frozenset[str] | None] = ContextVar("costcli_given_options", default=None)
GIVEN_SOURCES = {"COMMANDLINE", "ENVIRONMENT", "PROMPT"}
CONTEXT = "costcli_context"


def command_of(options: type[Options], body: Callable[[Options], None]) -> Callable[..., None]:
    """A Typer command whose parameters are the fields of the `options` dataclass (each
    declared once: name, type, `typer.Option(...)` with its help and panel), calling
    `body(options(**given))`. A new option is one field."""
    hints = typing.get_type_hints(options)
    fields = dataclasses.fields(options)  # type: ignore[arg-type]
    params = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                          annotation=hints[f.name])
        for f in fields
    ]  # fmt: skip
    # Typer hands a parameter annotated `typer.Context` the running context; its parameter
    # sources tell a flag given at its default from one left out.
    context = inspect.Parameter(CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

    def command(**given: Any) -> None:
        ctx = given.pop(CONTEXT)
        sources = {name: ctx.get_parameter_source(name) for name in given}
        named = frozenset(
            n for n, src in sources.items() if getattr(src, "name", None) in GIVEN_SOURCES
        )
        token = GIVEN.set(named)
        try:
            body(options(**given))
        finally:
            GIVEN.reset(token)

    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(command, name, getattr(body, name))
    command.__signature__ = inspect.Signature([*params, context])  # type: ignore[attr-defined]
    command.__annotations__ = {f.name: hints[f.name] for f in fields} | {CONTEXT: typer.Context}
    return command


def plan_values(
    options: Any,
    known: typing.Collection[str],
    names: typing.Mapping[str, str],
    parse: typing.Mapping[str, Callable[[Any], Any]],
    presentation: typing.Collection[str],
) -> dict[str, Any]:
    """An options dataclass's values by plan field: each field under its own name (`names`
    where the flag is spelled otherwise), converted by `parse`; a field whose name is not
    in `known` must be declared `presentation` (output, display), and is left out."""
    values = {}
    for f in dataclasses.fields(options):
        name = names.get(f.name, f.name)
        if name in known:
            value = getattr(options, f.name)
            values[name] = parse[f.name](value) if f.name in parse else value
        else:
            assert f.name in presentation, f"{f.name}: not a plan field nor presentation"
    return values
