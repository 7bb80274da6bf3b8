"""Ray is an extra: the core install does not pull it, nothing imports it unless a run asks
for `--engine ray`, and without it that run is one line of bad input naming the extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def project() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data["project"]  # type: ignore[no-any-return]


def test_ray_is_only_in_its_extra_and_the_ci_command_installs_it() -> None:
    meta = project()
    core = [str(d).lower() for d in meta["dependencies"]]  # type: ignore[attr-defined]
    assert not [d for d in core if d.startswith("ray")]
    extras = meta["optional-dependencies"]
    assert [d for d in extras["ray"] if d.startswith("ray")]  # type: ignore[index]
    assert 'setup "dev,report,ray"' in (ROOT / "scripts" / "dev.sh").read_text(encoding="utf-8")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
        cwd=ROOT,
    )  # fmt: skip


def test_nothing_imports_ray_until_a_run_asks_for_it() -> None:
    done = run_python(
        "import sys, costcli, costcli.cli, costcli.api, costcli.engines.ray, costcli.engines.processes\n"
        "print('ray' in sys.modules)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_without_ray_the_engine_is_one_line_of_bad_input_naming_the_extra(
    tmp_path: Path,
) -> None:
    provider = tmp_path / "m.toml"
    provider.write_text(
        'name = "m"\nadapter = "openai"\nbase_url = "http://127.0.0.1:9/v1"\ndefault_model = "x"\n',
        encoding="utf-8",
    )
    done = run_python(
        "import sys\nsys.modules['ray'] = None  # as if not installed\n"
        "from costcli.cli import main\n"
        f"sys.argv = ['costcli', 'run', '-t', 'm', '--providers', {str(provider)!r}, '-n', '2',"
        " '-c', '2', '--engine', 'ray', '--workers', '2']\n"
        "main()"
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'costcli[ray]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_died_task_is_a_warning_in_every_output_and_exit_3() -> None:
    from costcli.adapters.catalog import Target
    from costcli.cli.run import incomplete_exit
    from costcli.load.measure import Measurement
    from costcli.render import renderer
    from costcli.render.rows import worker_lines
    from costcli.results.document import WorkerState
    from tests.builders import result_of

    target = Target("m", "mock-model", "openai", "http://127.0.0.1:9/v1", None)
    done = Measurement(index=0, scheduled_ns=0, sent_ns=1, first_byte_ns=5, first_token_ns=6)
    done.end_ns, done.output_tokens = 9, 4
    result = result_of([(target, [done])], complete=False)
    assert incomplete_exit(result) == 130  # interrupted, no task lost
    died = WorkerState(shard="2/2", state="died", records=3, not_sent=17, error="killed")
    kept = WorkerState(shard="1/2", state="finished", records=20, not_sent=0)
    result.meta.workers = [kept, died]
    assert incomplete_exit(result) == 3
    line = "worker 2/2 died (killed): 3 records kept; 17 of its requests not sent; the run is incomplete"
    assert worker_lines(result) == [line]
    for fmt in ("table", "markdown"):  # the table may wrap it
        assert line in " ".join(renderer(fmt)(result).split()), fmt


def test_a_ray_address_where_nothing_answers_is_exit_3_at_once(tmp_path: Path) -> None:
    """Not Ray's minutes of retries: one TCP connect, then one line naming the option."""
    pytest.importorskip("ray", reason="the ray extra is not installed")
    import socket

    from typer.testing import CliRunner

    from costcli.cli import app

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = tmp_path / "m.toml"
    provider.write_text(
        'name = "m"\nadapter = "openai"\nbase_url = "http://127.0.0.1:9/v1"\ndefault_model = "x"\n',
        encoding="utf-8",
    )
    for address, code, words in (
        (f"127.0.0.1:{port}", 3, f"nothing answers at 127.0.0.1:{port}"),
        (f"ray://127.0.0.1:{port}", 3, "is the cluster up"),
        ("head-without-port", 2, "expected host:port"),
    ):
        done = CliRunner().invoke(
            app,
            ["run", "-t", "m", "--providers", str(provider), "-n", "2", "-c", "2",
             "--engine", "ray", "--workers", "2", "--ray-address", address],
        )  # fmt: skip
        assert done.exit_code == code, done.output
        assert words in done.output
        assert "Traceback" not in done.output
