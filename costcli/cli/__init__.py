"""The costcli command line: one thin module per command group.

Every command parses options, calls one core function and renders. Errors from the core
(`CostcliError`) become one line on stderr and their exit code; `COSTCLI_DEBUG=1` re-raises.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import typer

from costcli import __version__
from costcli.files.errors import CostcliError


def handled(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a CostcliError from a command into one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            # outside a run's own handling (while reading inputs, after writing): exit as
            # Ctrl-C does (130) rather than click's "Aborted!" and exit 1
            if os.environ.get("COSTCLI_DEBUG"):
                raise
            typer.echo("costcli: interrupted", err=True)
            raise typer.Exit(130) from None
        except CostcliError as exc:
            if os.environ.get("COSTCLI_DEBUG"):
                raise
            for line in exc.message.splitlines() or [""]:
                typer.echo(f"costcli: error: {line}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def _wrap_all(sub: typer.Typer) -> typer.Typer:
    """Every subcommand's errors handled, and its help in panels like the top commands'."""
    from costcli.cli.options import PanelledCommand

    for info in sub.registered_commands:
        if info.callback is not None:
            info.callback = handled(info.callback)
        info.cls = PanelledCommand
    return sub


app = typer.Typer(
    name="costcli",
    help="Which LLM provider should serve this workload, at what latency, at what monthly cost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"costcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Measure LLM providers on one workload and price a month of it."""


def _register() -> None:
    from costcli.cli import (
        check,
        config,
        history,
        merge,
        mock_server,
        prices,
        project,
        providers,
        recover,
        report,
        run,
        trace,
        workloads,
    )
    from costcli.cli.options import PanelledCommand

    app.command("run", cls=PanelledCommand)(handled(run.run_command))
    app.command("merge", cls=PanelledCommand)(handled(merge.merge_command))
    app.command("recover", cls=PanelledCommand)(handled(recover.recover_command))
    app.add_typer(_wrap_all(workloads.app), name="workloads")
    app.add_typer(_wrap_all(providers.app), name="providers")
    app.command("mock-server", cls=PanelledCommand)(handled(mock_server.mock_server_command))
    app.add_typer(_wrap_all(prices.prices_app), name="prices")
    app.command("project", cls=PanelledCommand)(handled(project.project_command))
    app.command("check", cls=PanelledCommand)(handled(check.check_command))
    app.command("report", cls=PanelledCommand)(handled(report.report_command))
    app.add_typer(_wrap_all(trace.app), name="trace")
    app.add_typer(_wrap_all(config.app), name="config")
    app.add_typer(_wrap_all(history.app), name="history")


_register()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)
