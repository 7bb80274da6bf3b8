"""`--engine ray`: a plan's shards as Ray tasks on a local cluster (2 CPUs, loopback only)
against the exact-timing mock server: the plan's requests, percentiles computed from the
merged records, a killed task reported, Ctrl-C keeping what arrived, and no key logged."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from costcli.api import execute
from costcli.cli import app
from costcli.engines.base import RunInterrupted
from costcli.files.errors import BadInputError
from costcli.plan import RunPlan
from costcli.results.document import WorkerState
from costcli.results.metrics import RequestRecord, summarize
from tests.integration.test_canary_key import CANARIES, KEY, canary_server, leaked
from tests.mockserver_fixture import start_mock_server

ray = pytest.importorskip("ray", reason="the ray extra: pip install -e '.[ray]'")

pytestmark = pytest.mark.integration
TTFT_MS = 30.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Path]:
    """A local Ray cluster of 2 CPUs on loopback; its folder holds every log it writes.
    Its workers inherit this environment, CANARY_KEY included (a node's own environment)."""
    folder = Path(tempfile.mkdtemp(prefix="costcli-ray-"))  # short: Ray's socket paths
    os.environ["CANARY_KEY"] = KEY
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=str(folder),
        _node_ip_address="127.0.0.1",
        logging_level="WARNING",
    )
    yield folder
    ray.shutdown()
    os.environ.pop("CANARY_KEY", None)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("ray")
    args = ("--ttft-ms", str(TTFT_MS), "--itl-ms", "2", "--output-tokens", "8")
    with start_mock_server(*args) as (url, _):
        path = folder / "m.toml"
        path.write_text(
            f'name = "m"\nadapter = "openai"\nbase_url = "{url}"\ndefault_model = "mock-model"\n',
            encoding="utf-8",
        )
        yield path


def plan(providers: Path, workers: int, **load: Any) -> RunPlan:
    return RunPlan(
        targets=("m",),
        providers=(providers,),
        engine="ray",
        workers=workers,
        **{"requests": 24, "concurrency": 4, "records": True, **load},
    )


class Watcher:
    """Hears each task set up, and each record with the shard it came from."""

    def __init__(self) -> None:
        self.ready: dict[str, WorkerState] = {}
        self.records: list[RequestRecord] = []

    def worker_ready(self, worker: WorkerState) -> None:
        self.ready[worker.shard] = worker.model_copy()

    def target_started(self, label: str, total: int | None) -> None:
        pass

    def request_done(self, label: str, record: RequestRecord) -> None:
        self.records.append(record)

    def target_finished(self, label: str) -> None:
        pass


@pytest.mark.parametrize("workers", [2, 4])
def test_the_shards_send_the_plans_requests_and_merge_to_exact_percentiles(
    cluster: Path, providers: Path, workers: int
) -> None:
    watcher = Watcher()
    result = execute(plan(providers, workers), watcher)
    assert result.complete
    (target,) = result.targets
    records = target.records or []
    assert [r.index for r in records] == list(range(24))
    assert all(r.ok for r in records)
    assert all(r.ttft_ms is not None and r.ttft_ms >= TTFT_MS for r in records)
    expected = summarize(records).model_dump(mode="json", exclude={"cost"})
    assert target.summary.model_dump(mode="json", exclude={"cost"}) == expected
    assert result.meta.engine == "ray"
    assert result.meta.processes == workers
    states = result.meta.workers or []
    assert [w.shard for w in states] == [f"{i}/{workers}" for i in range(1, workers + 1)]
    assert [(w.state, w.records, w.not_sent) for w in states] == [
        ("finished", 24 // workers, 0)
    ] * workers
    assert all(w.pid and w.clock_uncertainty_ms is not None for w in states)
    assert all(w.start_late_ms is not None for w in states)
    # the records streamed back as they came: the observer saw every one of them
    assert sorted(r.index for r in watcher.records) == list(range(24))
    assert sorted(watcher.ready) == [w.shard for w in states]


class Killer(Watcher):
    """Kills shard 2's task (SIGKILL) once two of its records have arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.killed = False

    def request_done(self, label: str, record: RequestRecord) -> None:
        super().request_done(label, record)
        mine = [r for r in self.records if r.index % 2 == 1]
        if len(mine) >= 2 and not self.killed:
            self.killed = True
            pid = self.ready["2/2"].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)


class Logged:
    """The mock server with a log of every request it received."""

    def __init__(self, path: Path, log: Path, process: Any) -> None:
        self.path, self.log, self.process = path, log, process

    def received(self) -> int:
        """How many requests reached the server (it is stopped first: that writes its log)."""
        from tests.mockserver_fixture import _stop

        _stop(self.process)
        return len(self.log.read_text(encoding="utf-8").splitlines()) if self.log.exists() else 0


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[Logged]:
    log = tmp_path / "requests.log"
    args = ("--ttft-ms", str(TTFT_MS), "--itl-ms", "2", "--output-tokens", "8")
    with start_mock_server(*args, "--request-log", str(log)) as (url, process):
        path = tmp_path / "m.toml"
        path.write_text(
            f'name = "m"\nadapter = "openai"\nbase_url = "{url}"\ndefault_model = "mock-model"\n',
            encoding="utf-8",
        )
        yield Logged(path, log, process)


def test_a_killed_task_is_reported_its_requests_counted_and_the_run_incomplete(
    cluster: Path, logged: Logged
) -> None:
    """Shard 2 of 2 (100 requests, one at a time) is killed after two of its records."""
    killer = Killer()
    result = execute(plan(logged.path, 2, requests=200, concurrency=2), killer)
    assert killer.killed
    assert not result.complete
    first, second = result.meta.workers or []
    (target,) = result.targets
    records = target.records or []
    mine = sorted(r.index for r in records if r.index % 2 == 1)
    # what the driver kept of shard 2 is exactly what had streamed back when it died
    assert mine == sorted(r.index for r in killer.records if r.index % 2 == 1)
    assert (first.state, first.records, first.not_sent) == ("finished", 100, 0)
    assert (second.state, second.records, second.not_sent) == ("died", len(mine), 100 - len(mine))
    assert second.error
    assert 2 <= len(mine) < 100
    assert len(records) == 100 + len(mine) == len({r.index for r in records})
    assert target.summary.requests.total == len(records)
    assert target.stopped == "worker_died"


class Interrupter(Watcher):
    """Ctrl-C on the driver once 6 records have arrived."""

    def request_done(self, label: str, record: RequestRecord) -> None:
        super().request_done(label, record)
        if len(self.records) == 6:
            raise KeyboardInterrupt


def test_ctrl_c_on_the_driver_stops_the_tasks_and_keeps_what_arrived(
    cluster: Path, logged: Logged
) -> None:
    interrupter = Interrupter()
    with pytest.raises(RunInterrupted) as stop:
        execute(plan(logged.path, 2, requests=200, concurrency=2), interrupter)
    result = stop.value.result
    assert not result.complete
    states = result.meta.workers or []
    assert [w.state for w in states] == ["interrupted", "interrupted"]
    records = result.targets[0].records or []
    indexes = {r.index for r in records}
    assert len(indexes) == len(records)
    assert {r.index for r in interrupter.records} <= indexes  # all that arrived is kept
    for i, w in enumerate(states):
        kept = sum(1 for r in records if r.index % 2 == i)
        assert (w.records, w.not_sent) == (kept, 100 - kept)
        assert 0 < kept < 100  # stopped part-way
    # each task stops within a request of its last record: at most one in flight apiece
    assert len(records) <= logged.received() <= len(records) + 2


@pytest.fixture
def canary_port() -> Iterator[int]:
    with canary_server() as port:
        yield port


def test_the_key_reaches_the_tasks_only_by_its_name_and_no_log_holds_it(
    cluster: Path, canary_port: int, tmp_path: Path
) -> None:
    """The server echoes the Authorization header the tasks sent (so they had the key,
    from their own environment); nothing the driver or the tasks wrote holds a piece of it."""
    (tmp_path / "echo.toml").write_text(
        f'name = "echo"\nadapter = "openai"\ndefault_model = "m"\n'
        f'base_url = "http://127.0.0.1:{canary_port}/echo/v1"\napi_key_env = "CANARY_KEY"\n',
        encoding="utf-8",
    )
    out = tmp_path / "r.json"
    done = CliRunner().invoke(
        app,
        ["run", "-t", "echo", "--providers", str(tmp_path), "-n", "8", "-c", "2",
         "--engine", "ray", "--workers", "2", "--max-retries", "0", "--records",
         "--no-progress", "-o", str(out), "-f", "json"],
    )  # fmt: skip
    assert done.exit_code == 2, done.output  # every request refused (401): the key's fault
    doc = json.loads(out.read_text(encoding="utf-8"))
    records = doc["targets"][0]["records"]
    assert len(records) == 8
    assert {r["error"] for r in records} == {"client"}
    logs = [p for p in cluster.rglob("*") if p.is_file() and p.suffix in (".out", ".err", ".log")]
    assert any(p.name.startswith("worker-") for p in logs)  # the tasks' own logs are there
    texts = [done.stdout, done.stderr, out.read_text(encoding="utf-8")]
    texts += [p.read_text("utf-8", "replace") for p in logs]
    assert [name for name, text in zip(["stdout", "stderr", "results", *logs], texts, strict=True)
            if leaked(text)] == []  # fmt: skip
    assert leaked(f"Bearer {KEY}") != []  # and the check can see a leak
    assert CANARIES  # the pieces checked are those of test_canary_key


def test_a_node_without_the_key_is_refused_naming_the_variable(
    cluster: Path, providers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver has it; the cluster's nodes (started before it was set) do not."""
    monkeypatch.setenv("ONLY_ON_THE_DRIVER", "sk-driver-only")
    text = providers.read_text(encoding="utf-8") + 'api_key_env = "ONLY_ON_THE_DRIVER"\n'
    (tmp_path / "k.toml").write_text(text.replace('name = "m"', 'name = "k"'), "utf-8")
    bad = RunPlan(
        targets=("k",), providers=(tmp_path / "k.toml",), engine="ray", workers=2,
        requests=4, concurrency=2,
    )  # fmt: skip
    with pytest.raises(BadInputError, match=r"\$ONLY_ON_THE_DRIVER is not set on the Ray node"):
        execute(bad)


def test_a_node_on_another_costcli_is_refused_before_any_request(
    cluster: Path, logged: Logged, monkeypatch: pytest.MonkeyPatch
) -> None:
    import costcli

    monkeypatch.setattr(costcli, "__version__", "0.0.0-driver")
    with pytest.raises(BadInputError, match=r"runs costcli .*, the driver 0\.0\.0-driver"):
        execute(plan(logged.path, 2))
    assert logged.received() == 0


def test_a_secret_written_in_the_provider_file_is_not_shipped_to_the_tasks(
    tmp_path: Path,
) -> None:
    (tmp_path / "h.toml").write_text(
        'name = "h"\nadapter = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'default_model = "m"\nheaders = { api-key = "hdr-secret-1234" }\n',
        encoding="utf-8",
    )
    bad = RunPlan(targets=("h",), providers=(tmp_path / "h.toml",), engine="ray", workers=2,
                  requests=4, concurrency=2)  # fmt: skip
    with pytest.raises(BadInputError, match=r"key 'headers.api-key' holds a secret"):
        execute(bad)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "ray", "workers": 1, "targets": ("m", "n")}, "measures one target"),
        ({"engine": "ray", "workers": 1, "sweep": {"kind": "concurrency", "values": [1, 2]}},
         "--sweep cannot be split"),
        ({"engine": "ray"}, "--engine ray needs --workers N"),
        ({"workers": 2}, "--workers is for --engine ray"),
        ({"engine": "ray", "workers": 2, "processes": 2}, "drop --processes and --shard"),
        ({"engine": "ray", "workers": 3, "concurrency": 2}, "fewer than the 3 parts"),
        ({"engine": "ray", "workers": 2, "sweep": {"kind": "concurrency", "values": [2, 4]}},
         "--sweep cannot be split"),
    ],
)  # fmt: skip
def test_a_plan_the_engine_cannot_run_is_refused_naming_the_option(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadInputError, match=message):
        RunPlan.parse(**{"targets": ("m",), "requests": 4, "concurrency": 2, **options})


def test_a_managed_llama_server_is_refused_before_any_task_starts(tmp_path: Path) -> None:
    done = CliRunner().invoke(
        app, ["run", "-t", "llamacpp", "-n", "4", "-c", "2", "--engine", "ray", "--workers", "2"]
    )
    assert done.exit_code == 2
    assert "managed llama-server" in done.output
    assert "Traceback" not in done.output


def test_sigterm_on_the_driver_keeps_what_arrived_and_exits_143(tmp_path: Path) -> None:
    """A real `costcli run --engine ray` process (Ray's core installs a SIGTERM handler of
    its own, which costcli puts back after joining the cluster)."""
    import subprocess

    from tests.hostile.fixture import REPO_ROOT, hits, hostile_server, provider_files
    from tests.integration.test_run_signals import COSTCLI, wait_for_hits

    with hostile_server() as root:
        provider_files(tmp_path / "providers", root, ("ok",))
        out = tmp_path / "r.json"
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        process = subprocess.Popen(
            [*COSTCLI, "run", "-t", "ok", "--providers",
             str(tmp_path / "providers"), "-n", "100000", "-c", "2", "--engine", "ray",
             "--workers", "2", "--records", "--no-progress", "-q", "-o", str(out), "-f", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
        )  # fmt: skip
        wait_for_hits(root, 20, process)
        assert hits(root) >= 20
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["complete"] is False
    states = doc["meta"]["workers"]
    assert [w["state"] for w in states] == ["interrupted", "interrupted"]
    assert sum(w["records"] for w in states) == len(doc["targets"][0]["records"]) >= 1


def test_each_task_journals_its_part_on_the_driver_and_the_journal_reads_back(
    cluster: Path, providers: Path, tmp_path: Path
) -> None:
    from costcli.api import read_result
    from costcli.engines.journaled import recover

    journal = tmp_path / "run.journal.jsonl"
    result = execute(plan(providers, 2, records=False, journal=journal), Watcher())
    assert result.complete
    assert result.meta.journal == str(journal)
    parts = [tmp_path / f"run.journal.part-{i}.jsonl" for i in (1, 2)]
    held = [
        [json.loads(line)["r"]["index"] for line in p.read_text().splitlines() if '"k":"r"' in line]
        for p in parts
    ]
    assert sorted(held[0] + held[1]) == list(range(24))
    assert all(len(h) == 12 for h in held)  # each shard's own half, in its own part
    assert all(p.read_text().splitlines()[-1].startswith('{"k":"end"') for p in parts)
    recovered, notes = recover([journal])
    assert notes == []
    assert recovered.targets[0].summary.requests.total == 24
    written = tmp_path / "run.json"
    from costcli.results.document import dumps

    written.write_text(dumps(result), encoding="utf-8")
    assert len(read_result(written).targets[0].records or []) == 24  # through the parts


def test_kill_9_of_a_ray_driver_then_recover_and_resume_join_the_parts(tmp_path: Path) -> None:
    """A real `costcli run --engine ray` process (its own local cluster, in its process
    group) killed with SIGKILL once its parts hold 150 records; recover counts what they
    hold, a resume runs the rest: every request journaled once, the summary the plan's."""
    import time

    from tests.integration.test_journal import TAG, costcli, done, journal_indices

    bodies = tmp_path / "requests.log"
    args = (
        "--ttft-ms",
        "20",
        "--itl-ms",
        "2",
        "--output-tokens",
        "8",
        "--request-log",
        str(bodies),
    )
    with start_mock_server(*args) as (url, _):
        folder = tmp_path / "providers"
        folder.mkdir()
        (folder / "mock.toml").write_text(
            f'name = "mock"\nadapter = "openai"\ndefault_model = "m"\nbase_url = "{url}"\n',
            encoding="utf-8",
        )
        run = ["run", "-t", "mock", "-n", "600", "-c", "4", "--unique-prefix", "--no-progress",
               "--engine", "ray", "--workers", "2", "--providers", str(folder), "-o", "run.json"]  # fmt: skip
        first = costcli(*run, cwd=tmp_path)
        journal = tmp_path / "run.journal.jsonl"
        parts = [tmp_path / f"run.journal.part-{i}.jsonl" for i in (1, 2)]
        deadline = time.monotonic() + 180
        while sum(p.read_text().count('"k":"r"') for p in parts if p.exists()) < 150:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the Ray run journaled too little in 180 s"
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate()
        held = sum(len(journal_indices(p)) for p in parts)
        code, _, err = done(costcli("recover", str(journal), "-o", "rec.json", "-f", "json",
                                    cwd=tmp_path))  # fmt: skip
        assert code == 0, err
        recovered = json.loads((tmp_path / "rec.json").read_text())
        assert recovered["complete"] is False
        assert recovered["targets"][0]["summary"]["requests"]["total"] == held >= 150
        code, _, err = done(costcli("run", "--resume", str(journal), "-q", "--no-progress",
                                    "-o", "run.json", "-f", "json", cwd=tmp_path))  # fmt: skip
        assert code == 0, err
        assert "Traceback" not in err
        time.sleep(1.2)  # the mock's log is written after each response
    result = json.loads((tmp_path / "run.json").read_text())
    assert result["meta"]["engine"] == "ray"
    assert result["meta"]["resumed"]
    assert result["targets"][0]["summary"]["requests"]["total"] == 600
    both = [i for p in parts for i in journal_indices(p)]
    assert sorted(both) == list(range(600))  # every request journaled once, none twice
    sent = [m.group(1) for m in map(TAG.search, bodies.read_text().splitlines()) if m]
    assert len(set(sent)) == 600  # none missing
