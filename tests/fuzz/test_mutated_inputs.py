"""Hostile input is a fixture: every file kind, mutated, through every command that reads it.

The corpus is seeded (tests/fuzz/mutator.py): the same files every run. Valid mutants must
give the command's normal exit code, invalid ones exit 2 with one line per problem naming
the file and nothing written, and none a traceback. `python -m tests.fuzz.mutator` prints
the counts. Files that broke costcli before issue 10 are kept in tests/fuzz/regressions/.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import mutator
from tests.fuzz.mutator import CORPUS, KINDS, Counts, Mutant, judge, mutate, run_corpus

REGRESSIONS = Path(__file__).parent / "regressions"
MANIFEST = json.loads((REGRESSIONS / "manifest.json").read_text(encoding="utf-8"))


def test_the_corpus_is_at_least_600_files_of_all_four_kinds_valid_and_invalid() -> None:
    assert set(CORPUS) == set(KINDS)
    assert sum(CORPUS.values()) >= 600
    for kind in KINDS:
        mutants = [mutate(kind, seed) for seed in range(CORPUS[kind])]
        assert 0 < sum(m.valid for m in mutants) < len(mutants), kind
        assert mutate(kind, 7).data == mutants[7].data  # seeded: the same file every time


@pytest.mark.parametrize("kind", KINDS)
def test_every_mutant_exits_right_without_a_traceback(kind: str) -> None:
    counts = run_corpus({kind: CORPUS[kind]})
    assert counts.files[kind] == CORPUS[kind]
    assert counts.tracebacks == [], counts.report()
    assert counts.wrong_exit == [], counts.report()
    assert counts.other == [], counts.report()


def test_the_judge_fails_a_mutant_whose_exit_code_is_not_the_oracles(tmp_path: Path) -> None:
    # the check must be able to fail: a valid file claimed invalid is a wrong exit code
    base = mutator.write_bases(tmp_path)
    good = Mutant("providers", 0, "unchanged", base["providers"].read_bytes(), valid=False)
    counts = Counts()
    judge(good, tmp_path, base, counts, every_command=True)
    assert [f.command for f in counts.wrong_exit] == ["providers list", "providers show", "run"]


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_files_that_once_broke_costcli_exit_right(entry: dict[str, object], tmp_path: Path) -> None:
    name = str(entry["file"])
    data = (REGRESSIONS / name).read_bytes()
    data = re.sub(rb"127\.0\.0\.1:PORT", f"127.0.0.1:{mutator.PORT}".encode(), data)
    seed = int(name.split("seed")[1].split(".", maxsplit=1)[0])
    mutant = Mutant(str(entry["kind"]), seed, str(entry["mutation"]), data, bool(entry["valid"]))
    counts = Counts()
    judge(mutant, tmp_path, mutator.write_bases(tmp_path), counts, every_command=True)
    assert counts.tracebacks + counts.wrong_exit + counts.other == [], counts.report()


# --- properties with exact oracles ------------------------------------------------------------

FIGURES = settings(
    max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _exit(kind: str, doc: object, tmp: Path, *args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from costcli.cli import app

    path = tmp / f"f{mutator.SUFFIX[kind]}"
    path.write_bytes(mutator.serialise(kind, doc))
    result = CliRunner().invoke(app, [a.replace("FILE", str(path)) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stderr


@FIGURES
@given(price=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**20), 10**20))
def test_a_price_is_accepted_exactly_when_finite_and_between_0_and_a_million(
    tmp_path_factory: pytest.TempPathFactory, price: float
) -> None:
    doc = mutator.base_prices()
    doc["models"][0]["input_per_mtok"] = price
    code, err = _exit(
        "prices", doc, tmp_path_factory.mktemp("p"), "prices", "list", "--prices", "FILE"
    )
    valid = math.isfinite(price) and 0 <= price <= 1e6
    assert code == (0 if valid else 2), err
    if not valid:
        assert "key 'models.0.input_per_mtok'" in err


@FIGURES
@given(value=st.integers(-(2**40), 2**40) | st.booleans() | st.floats() | st.text(max_size=3))
def test_max_tokens_is_accepted_exactly_when_a_positive_integer(
    tmp_path_factory: pytest.TempPathFactory, value: object
) -> None:
    doc = mutator.base_workload()
    doc[0]["max_tokens"] = value
    code, err = _exit("workload", doc, tmp_path_factory.mktemp("w"), "workloads", "show", "FILE")
    valid = type(value) is int and 1 <= value <= 2**31 - 1
    assert code == (0 if valid else 2), err
    if not valid:
        not_json = isinstance(value, float) and not math.isfinite(value)  # NaN, Infinity
        assert (":1: not valid JSON" if not_json else ":1: key 'max_tokens'") in err


@FIGURES
@given(rate=st.floats(allow_nan=False, allow_infinity=False, min_value=-2, max_value=2))
def test_an_error_rate_is_accepted_exactly_when_a_share(
    tmp_path_factory: pytest.TempPathFactory, rate: float
) -> None:
    doc = mutator.base_results()
    doc["targets"][0]["summary"]["error_rate"] = rate
    args = ("check", "FILE", "--limit", "error_rate=1")
    code, err = _exit("results", doc, tmp_path_factory.mktemp("r"), *args)
    assert code == (0 if 0 <= rate <= 1 else 2), err


@FIGURES
@given(
    scheme=st.sampled_from(["http", "https", "ftp", "", "HTTP"]),
    host=st.sampled_from(["127.0.0.1", "[::1]", "[::1", "", "exa mple", "h\r\nx"]),
    port=st.sampled_from(["", ":0", ":80", ":65535", ":65536", ":99999", ":x"]),
)
def test_a_base_url_is_accepted_exactly_when_http_with_a_host_and_a_port_in_range(
    tmp_path_factory: pytest.TempPathFactory, scheme: str, host: str, port: str
) -> None:
    doc = mutator.base_providers()
    doc["base_url"] = f"{scheme}://{host}{port}/v1" if scheme else f"{host}{port}/v1"
    args = ("providers", "list", "--providers", "FILE")
    code, err = _exit("providers", doc, tmp_path_factory.mktemp("u"), *args)
    valid = (
        scheme.lower() in ("http", "https")
        and host in ("127.0.0.1", "[::1]")
        and port in ("", ":80", ":65535")
    )
    assert code == (0 if valid else 2), err
    if not valid:
        assert "key 'base_url'" in err


# --- a small sample as real processes ----------------------------------------------------------


@pytest.mark.parametrize(("kind", "seed"), [("providers", 1), ("workload", 3), ("results", 5)])
def test_a_sample_of_mutants_as_subprocesses(kind: str, seed: int, tmp_path: Path) -> None:
    mutant = mutate(kind, seed)
    path = tmp_path / f"m{mutator.SUFFIX[kind]}"
    path.write_bytes(mutant.data)
    argv = {
        "providers": ["providers", "list", "--providers", str(path)],
        "workload": ["workloads", "show", str(path)],
        "results": ["check", str(path), "--limit", "error_rate=1"],
    }[kind]
    done = subprocess.run(
        [sys.executable, "-m", "costcli", *argv], capture_output=True, text=True, check=False
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == (0 if mutant.valid else 2), done.stderr
    if not mutant.valid:
        assert all(str(path) in line for line in done.stderr.strip().splitlines())
