"""docs/distributed.md's Kubernetes recipe, run as written: each pod's command with its
JOB_COMPLETION_INDEX (the env values scaled down), then the merge Job's command, against
a local mock server; the merged document holds every request of the plan once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mockserver_fixture import start_mock_server

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

yaml = pytest.importorskip("yaml")
DOC = Path(__file__).resolve().parents[2] / "docs" / "distributed.md"


def manifests() -> dict[str, dict[str, Any]]:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return {m["metadata"]["name"]: m for m in yaml.safe_load_all(block)}


def container(job: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    (spec,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: str(e.get("value", "from-a-secret")) for e in spec["env"]}
    return [*spec["command"], *spec["args"]], env


def test_the_indexed_job_runs_one_shard_a_pod_and_the_merge_job_joins_them(
    tmp_path: Path,
) -> None:
    docs = manifests()
    shards, merge = docs["costcli-shards"], docs["costcli-merge"]
    assert shards["spec"]["completionMode"] == "Indexed"
    assert shards["spec"]["backoffLimit"] == 0
    command, env = container(shards)
    count = int(env["SHARDS"])
    assert shards["spec"]["completions"] == shards["spec"]["parallelism"] == count
    provider = tomllib.loads(docs["costcli-providers"]["data"]["bench.toml"])
    assert provider["api_key_env"] in env  # the key comes from the pod's env (a Secret)
    results = tmp_path / "results"
    results.mkdir()
    folder = tmp_path / "etc"
    folder.mkdir()
    scaled = {"REQUESTS": "12", "CONCURRENCY": "4", "WARMUP": "4"}
    path = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with start_mock_server("--ttft-ms", "10", "--itl-ms", "1", "--output-tokens", "4") as (url, _):
        provider["base_url"] = url
        (folder / "bench.toml").write_text(
            "\n".join(f"{k} = {json.dumps(v)}" for k, v in provider.items()) + "\n", "utf-8"
        )
        pod_env = {**os.environ, **env, **scaled, **path}
        pod_env |= {"RESULTS_DIR": str(results), "COSTCLI_PROVIDERS": str(folder)}
        for index in range(count):
            done = subprocess.run(
                command, env={**pod_env, "JOB_COMPLETION_INDEX": str(index)},
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
    # each pod leaves its results and, beside them, its journal
    assert sorted(p.name for p in results.iterdir()) == sorted(
        name
        for i in range(1, count + 1)
        for name in (f"shard-{i}.json", f"shard-{i}.journal.jsonl")
    )
    merge_command, merge_env = container(merge)
    done = subprocess.run(
        merge_command, env={**os.environ, **merge_env, **path, "RESULTS_DIR": str(results)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    merged = json.loads((results / "merged.json").read_text(encoding="utf-8"))
    assert merged["complete"] is True
    assert merged["meta"]["processes"] == count
    (target,) = merged["targets"]
    # request numbers count on from the warm-up's (4 of them, one shard's each)
    assert sorted(r["index"] for r in target["records"]) == list(range(4, 16))
