"""A seeded mutator over every file kind costcli reads, and the commands that read them.

`mutate(kind, seed)` turns a valid base file into a mutant and says, from its own
knowledge of the file format (not by running costcli), whether the mutant is still valid
input. `judge()` runs every command that reads that kind on it, in process, and checks:
valid input gives the command's normal exit code; invalid input gives exit 2, one
`costcli: error:` line per problem each naming the file, nothing written; never a traceback.

    python -m tests.fuzz.mutator          # the corpus the test suite runs, with its counts
"""

from __future__ import annotations

import codecs
import fnmatch
import json
import math
import random
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("providers", "prices", "workload", "results")
# How many mutants of each kind the suite runs (>= 600 in all).
CORPUS = {"providers": 160, "prices": 160, "workload": 160, "results": 160}

RUN_EVERY = 4
Loc = tuple[Any, ...]
# A record's measured times, rates and cost: bounded (1e12) where a results file is read.
RECORD_FIGURES = {
    "scheduled_ms", "ttft_ms", "ttfb_ms", "e2e_ms", "client_delay_ms", "tpot_ms", "itl_ms",
    "decode_tokens_per_s", "queue_ms", "prefill_ms", "decode_ms", "ttfo_ms", "provider_cost_usd",
}  # fmt: skip


# --- base files -------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT = closed_port()
TODAY = date.today()


def base_providers() -> dict[str, Any]:
    return {
        "name": "fz",
        "adapter": "openai",
        "base_url": f"http://127.0.0.1:{PORT}/v1",
        "default_model": "m",
        "models": ["m", "n"],
        "headers": {"X-Trace": "t1"},
        "max_tokens_param": "max_tokens",
        "rate_limits": [
            {
                "tier": "free",
                "model": "m",
                "rpm": 30,
                "tpm": 8000,
                "source": "https://example.test/limits",
                "as_of": TODAY - timedelta(days=10),
            }
        ],
    }


def base_prices() -> dict[str, Any]:
    as_of = TODAY - timedelta(days=10)
    return {
        "models": [
            {
                "provider": "fz",
                "model": "m",
                "input_per_mtok": 0.5,
                "cached_input_per_mtok": 0.25,
                "output_per_mtok": 1.5,
                "batch_discount": 0.5,
                "source": "https://example.test/prices",
                "as_of": as_of,
                "tiers": [
                    {"above_input_tokens": 1000, "input_per_mtok": 1.0, "output_per_mtok": 3.0}
                ],
            }
        ],
        "hardware": [
            {
                "name": "box",
                "hourly_usd": 1.2,
                "watts": 300.0,
                "idle_watts": 100.0,
                "pue": 1.2,
                "electricity_usd_per_kwh": 0.2,
                "source": "https://example.test/box",
                "as_of": as_of,
            }
        ],
    }


def base_workload() -> list[dict[str, Any]]:
    return [
        {"prompt": "hi", "max_tokens": 8, "tags": ["a", "b"]},
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hello"},
            ],
            "response_format": {"type": "json_object", "x": {"y": [1, 2]}},
        },
    ]


def base_results() -> dict[str, Any]:
    doc = json.loads((ROOT / "tests" / "fixtures" / "same-server.json").read_text("utf-8"))
    for t in doc["targets"]:
        t["records"] = (t["records"] or [])[:2]
    return doc


BASES: dict[str, Callable[[], Any]] = {
    "providers": base_providers,
    "prices": base_prices,
    "workload": base_workload,
    "results": base_results,
}
SUFFIX = {"providers": ".toml", "prices": ".toml", "workload": ".jsonl", "results": ".json"}


# --- serialising ------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items())
            + "}"
        )
    raise TypeError(type(value))


def to_toml(doc: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(str(k))} = {toml_value(v)}\n" for k, v in doc.items())


def serialise(kind: str, doc: Any) -> bytes:
    if kind in ("providers", "prices"):
        data = to_toml(doc).encode()
    elif kind == "workload":
        data = "".join(json.dumps(line) + "\n" for line in doc).encode()
    else:
        data = json.dumps(doc, indent=1).encode()
    return DEEP.sub(lambda m: b"[" * int(m[1]) + b"1" + b"]" * int(m[1]), data)


# --- the oracle's knowledge of each format ------------------------------------------------------

# Subtrees whose contents are free-form (any key, any value): a mutation inside keeps the file valid.
FREE = {
    "providers": [],
    "prices": [],
    "workload": ["*.response_format", "*.messages.*.tool_calls"],
    "results": ["meta.load", "meta.host", "targets.*.server_info"],
}
# Dicts that take any key (a mapping, or a model that allows extra keys).
MAPPINGS = {
    "providers": ["headers"],
    "prices": [],
    "workload": ["*.messages.*"],
    "results": ["targets.*.summary.errors"],
}
# Keys that may be left out (everything else is required).
OPTIONAL = {
    "providers": [
        "default_model",
        "models",
        "headers",
        "max_tokens_param",
        "rate_limits",
        "rate_limits.*.rpm",
        "rate_limits.*.tpm",
    ],
    "prices": [
        "models",
        "hardware",
        "models.*.cached_input_per_mtok",
        "models.*.batch_discount",
        "models.*.tiers",
        "hardware.*.idle_watts",
        "hardware.*.pue",
        "hardware.*.electricity_usd_per_kwh",
    ],
    "workload": ["*.max_tokens", "*.tags", "*.response_format"],
    "results": [
        "complete",
        "meta.stopped",
        "targets.*.self_hosted",
        "targets.*.hardware",
        "targets.*.server_info",
        "targets.*.capacity_rps",
        "targets.*.capacity_load",
        "targets.*.sweep",
        "targets.*.stopped",
        "targets.*.records",
        "targets.*.records.*.decode_tokens_per_s",
        "targets.*.summary.goodput",
        "targets.*.summary.server",
        "targets.*.summary.output_check",
        "targets.*.summary.retries",
        "targets.*.summary.cost",
        "targets.*.summary.output_tokens.estimated",
        "targets.*.summary.input_tokens.estimated",
    ],
}
# Required keys of dicts that otherwise take any key.
REQUIRED = {
    "providers": [],
    "prices": [],
    "workload": ["*.messages.*.role", "*.messages.*.content"],
    "results": [],
}
# Never dropped or retyped: the commands need them to find the file's entry at all.
PINNED = {
    "providers": ["name", "base_url"],
    "prices": [],
    "workload": [],
    "results": [],
}


def dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


def matches(loc: Loc, patterns: list[str]) -> bool:
    key = dotted(loc)
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def inside_free(kind: str, loc: Loc) -> bool:
    """Strictly inside a free-form subtree (the subtree itself is typed as a dict)."""
    return any(matches(loc[:n], FREE[kind]) for n in range(1, len(loc)))


def negative_is_valid(kind: str, loc: Loc) -> bool:
    """Where a negative number is still a possible value."""
    if inside_free(kind, loc):
        return True
    if kind != "results":
        return False  # every number of a provider, prices or workload file is >= 0
    key = dotted(loc)
    measured = key.startswith("targets.") and (".summary." in key or ".records." in key)
    if not measured:
        return not matches(
            loc,
            [
                "targets.*.capacity_rps",
                "meta.workload.requests_per_cycle",
                "meta.workload.max_tokens",
            ],
        )
    if ".client_delay_ms" in key and not key.endswith(".count"):
        return True  # a client delay is a difference of clocks, never judged by sign
    return matches(loc, ["targets.*.records.*.status"])


def huge_is_valid(kind: str, loc: Loc) -> bool | None:
    """1e300: valid where unbounded floats live; None where the oracle does not judge."""
    if inside_free(kind, loc):
        return True
    if kind != "results":
        return False  # every bounded figure of the TOML and JSONL kinds
    key = dotted(loc)
    if key.endswith(("error_rate", "attainment", "valid_share")):
        return False
    record = re.fullmatch(r"targets\.\d+\.records\.\d+\.(\w+)(\.\d+)?", key)
    if record and record.group(1) in RECORD_FIGURES:
        return False  # a record's time, rate or cost is at most 1e12: no request measures 1e300
    if key.endswith("_ms") or ".ttft_ms." in key or ".e2e_ms." in key:
        return None if key.endswith(".count") else True
    return None


# --- mutations ----------------------------------------------------------------------------------


@dataclass
class Mutant:
    kind: str
    seed: int
    name: str
    data: bytes
    valid: bool
    notes: list[str] = field(default_factory=list)


def walk(value: Any, loc: Loc = ()) -> list[tuple[Loc, Any]]:
    out = [(loc, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out += walk(v, (*loc, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += walk(v, (*loc, i))
    return out


def get(doc: Any, loc: Loc) -> Any:
    for part in loc:
        doc = doc[part]
    return doc


def put(doc: Any, loc: Loc, value: Any) -> None:
    get(doc, loc[:-1])[loc[-1]] = value


def nested(depth: int) -> Any:
    """A placeholder that `serialise` writes as `depth` nested arrays (no recursion)."""
    return f"__DEEP{depth}__"


DEEP = re.compile(rb'"__DEEP(\d+)__"')


def structural(kind: str, rng: random.Random, doc: Any) -> tuple[str, Any, bool | None]:
    """One change to the parsed document: (description, new doc, valid? or None to retry)."""
    nodes = [
        (loc, v)
        for loc, v in walk(doc)
        if loc and not matches(loc[:1], PINNED[kind]) and not (kind == "workload" and len(loc) == 1)
    ]
    op = rng.choice(
        [
            "wrong_type",
            "wrong_type",
            "unknown_key",
            "drop_key",
            "bad_number",
            "bad_number",
            "deep",
            "special",
        ]
    )
    if op == "special":
        return special(kind, rng, doc)
    if op in ("wrong_type", "deep"):
        loc, value = rng.choice(nodes)
        free = inside_free(kind, loc)
        if op == "deep":
            depth = rng.choice([40, 200, 3000])
            put(doc, loc, nested(depth))
            return f"{dotted(loc)} nested {depth} deep", doc, False
        new = "x" if isinstance(value, dict | list) else [[1]]
        put(doc, loc, new)
        return f"{dotted(loc)} = {new!r}", doc, free
    if op == "unknown_key":
        dicts = [(loc, v) for loc, v in walk(doc) if isinstance(v, dict)]
        loc, value = rng.choice(dicts)
        near = [k for k in value if isinstance(k, str)]
        key = (
            (rng.choice(near) + "x")
            if near and rng.random() < 0.7
            else f"zz_unknown_{rng.randrange(99)}"
        )
        value[key] = next(iter(value.values())) if value else 1  # a sibling's type
        ok = (loc != () or (kind == "workload" and False)) and (
            matches(loc, MAPPINGS[kind]) or matches(loc, FREE[kind]) or inside_free(kind, loc)
        )
        return f"unknown key {dotted((*loc, key))}", doc, bool(ok)
    if op == "drop_key":
        keyed = [(loc, v) for loc, v in nodes if isinstance(get(doc, loc[:-1]), dict)]
        loc, _ = rng.choice(keyed)
        del get(doc, loc[:-1])[loc[-1]]
        ok = (
            matches(loc, OPTIONAL[kind])
            or inside_free(kind, loc)
            or (matches(loc[:-1], MAPPINGS[kind]) and not matches(loc, REQUIRED[kind]))
        )
        return f"drop {dotted(loc)}", doc, bool(ok)
    # bad_number
    numbers = [
        (loc, v) for loc, v in nodes if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    loc, value = rng.choice(numbers)
    how = rng.choice(["nan", "inf", "-inf", "negative", "huge"])
    new_value: Any = {
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "negative": -5,
        "huge": 1e300,
    }[how]
    if how == "negative" and isinstance(value, float):
        new_value = -5.5
    put(doc, loc, new_value)
    if how in ("nan", "inf", "-inf"):
        valid: bool | None = False  # not finite: refused anywhere, free-form parts too
    elif how == "negative":
        valid = negative_is_valid(kind, loc)
    else:
        valid = huge_is_valid(kind, loc)
    return f"{dotted(loc)} = {how}", doc, valid


def special(kind: str, rng: random.Random, doc: Any) -> tuple[str, Any, bool | None]:
    """The hand-picked cases of issue 10, each with its verdict."""
    cases: dict[str, list[tuple[Loc, Any, bool]]] = {
        "providers": [
            (("base_url",), "ftp://127.0.0.1/v1", False),
            (("base_url",), "not a url", False),
            (("base_url",), "127.0.0.1:80/v1", False),
            (("base_url",), "http://[::1", False),
            (("base_url",), "http://127.0.0.1:99999/v1", False),
            (("base_url",), "http:///v1", False),
            (("base_url",), f"http://[::1]:{PORT}/v1", True),
            (("base_url",), f"https://user:pw@127.0.0.1:{PORT}/v1", True),
            (("headers", "X-Trace"), "a\r\nX-Injected: 1", False),
            (("headers", "X-Trace"), "caf\u00e9", False),
            (("headers", "Bad Name"), "v", False),
            (("api_key_env",), "NOT A NAME", False),
            (("api_key_env",), "BAD\u0000NAME", False),
            (("name",), "Upper Case", False),
            (("rate_limits", 0, "rpm"), True, False),
            (("rate_limits", 0, "rpm"), 0, False),
            (("max_tokens_param",), "max_new_tokens", False),
        ],
        "prices": [
            (("models", 0, "input_per_mtok"), math.inf, False),
            (("hardware", 0, "watts"), math.inf, False),
            (("hardware", 0, "hourly_usd"), math.inf, False),
            (("hardware", 0, "idle_watts"), 400.0, False),
            (("hardware", 0, "pue"), 0.5, False),
            (("models", 0, "batch_discount"), 1.5, False),
            (("models", 0, "as_of"), "yesterday", False),
            (("models", 0, "input_per_mtok"), 0, True),
            (("hardware", 0, "capex_usd"), 1000.0, False),
        ],
        "workload": [
            ((0, "tags"), 5, False),
            ((0, "tags"), ["a", 5], False),
            ((0, "max_tokens"), True, False),
            ((0, "max_tokens"), 0, False),
            ((0, "max_tokens"), 2.5, False),
            ((0, "max_tokens"), 10**30, False),
            ((0, "prompt"), 5, False),
            ((1, "messages", 0, "role"), 5, False),
            ((1, "messages", 0, "role"), "wizard", False),
            ((1, "messages"), [], False),
            ((1, "messages", 1, "content"), 5, False),
            ((1, "messages", 1, "content"), [{"type": "text", "text": "hi"}], True),
            ((1, "response_format"), "json", False),
            ((0, "prompt"), "line\u2028separator", True),
        ],
        "results": [
            (("schema_version",), True, False),
            (("schema_version",), 2, False),
            (("targets", 0, "summary", "ttft_ms", "p95"), math.nan, False),
            (("targets", 0, "summary", "ttft_ms", "p95"), -5.0, False),
            (("targets", 0, "summary", "error_rate"), 7, False),
            (("targets", 0, "summary", "requests", "total"), -3, False),
            (("targets", 0, "summary", "requests", "total"), 999, False),
            (("targets", 0, "records"), None, True),
            (("meta", "host", "cpus"), -3, True),
        ],
    }
    loc, value, valid = rng.choice(cases[kind])
    put(doc, loc, value)
    return f"{dotted(loc)} = {value!r} (special)", doc, valid


def byte_level(kind: str, rng: random.Random, data: bytes) -> tuple[str, bytes, bool]:
    op = rng.choice(["truncate", "flip", "binary", "utf16", "utf16le", "bom", "empty", "crlf"])
    if op == "truncate":
        if kind == "workload":
            lines = data.split(b"\n")
            last = max(i for i, line in enumerate(lines) if line.strip())
            cut = rng.randrange(1, len(lines[last]) - 1)
            return "truncated mid-line", b"\n".join([*lines[:last], lines[last][:cut]]), False
        if kind == "results":
            return "truncated", data[: rng.randrange(1, len(data.rstrip()) - 1)], False
        quotes = [i for i, b in enumerate(data) if b == ord('"') and data[i - 2 : i] == b"= "]
        at = rng.choice(quotes)
        return "truncated inside a string", data[: at + 1 + rng.randrange(0, 3)], False
    if op == "flip":
        at = rng.randrange(len(data))
        return f"byte {at} -> 0xff", data[:at] + b"\xff" + data[at + 1 :], False
    if op == "binary":
        blob = bytearray(rng.randbytes(rng.randrange(8, 200)))
        blob.insert(rng.randrange(len(blob)), 0)
        return "binary", bytes(blob), False
    if op == "utf16":
        return "UTF-16 with BOM", data.decode().encode("utf-16"), False
    if op == "utf16le":
        return "UTF-16-LE without BOM", data.decode().encode("utf-16-le"), False
    if op == "bom":
        return "UTF-8 BOM", codecs.BOM_UTF8 + data, True
    if op == "empty":
        return "empty", rng.choice([b"", b"\n", b"   \n\n"]), False
    return "CRLF line ends", data.replace(b"\n", b"\r\n"), True


def mutate(kind: str, seed: int) -> Mutant:
    """The seed-th mutant of `kind`: deterministic for a given seed."""
    rng = random.Random(f"{kind}:{seed}")
    while True:
        if rng.random() < 0.3:
            name, data, valid = byte_level(kind, rng, serialise(kind, BASES[kind]()))
            return Mutant(kind, seed, name, data, valid)
        name, doc, verdict = structural(kind, rng, BASES[kind]())
        if verdict is not None:
            return Mutant(kind, seed, name, serialise(kind, doc), verdict)


# --- running the commands --------------------------------------------------------------------


@dataclass
class Command:
    name: str
    args: Callable[[Path, Path], list[str]]  # (mutant file, output folder) -> argv
    valid_exit: int
    output: str | None = None  # a file the command writes on success


def commands(kind: str, base: dict[str, Path]) -> list[Command]:
    prov, prices, wl = str(base["providers"]), str(base["prices"]), str(base["workload"])

    def run(p: str, pr: str, w: str) -> Callable[[Path, Path], list[str]]:
        def argv(f: Path, out: Path) -> list[str]:
            files = {"providers": p, "prices": pr, "workload": w}
            files[kind] = str(f)
            return [
                "run",
                "-t",
                "fz:m",
                "--providers",
                files["providers"],
                "--prices",
                files["prices"],
                "--workload",
                files["workload"],
                "-n",
                "1",
                "--timeout",
                "5",
                "--no-progress",
                "-q",
                "-o",
                str(out / "run.json"),
            ]

        return argv

    running = Command("run", run(prov, prices, wl), 3, "run.json")  # nothing listens: exit 3
    table: dict[str, list[Command]] = {
        "providers": [
            Command("providers list", lambda f, o: ["providers", "list", "--providers", str(f)], 0),
            Command(
                "providers show", lambda f, o: ["providers", "show", "fz", "--providers", str(f)], 0
            ),
            running,
        ],
        "prices": [
            Command(
                "prices list", lambda f, o: ["prices", "list", "--prices", str(f), "-f", "json"], 0
            ),
            Command("prices check", lambda f, o: ["prices", "check", "--prices", str(f)], 0),
            running,
        ],
        "workload": [
            Command("workloads show", lambda f, o: ["workloads", "show", str(f)], 0),
            running,
        ],
        "results": [
            Command(
                "check",
                lambda f, o: [
                    "check",
                    str(f),
                    "--limit",
                    "error_rate=1",
                    "--junit",
                    str(o / "junit.xml"),
                ],
                0,
                "junit.xml",
            ),
            Command("report", lambda f, o: ["report", str(f), "-f", "markdown"], 0),
        ],
    }
    return table[kind]


@dataclass
class Finding:
    mutant: Mutant
    command: str
    problem: str

    def __str__(self) -> str:
        m = self.mutant
        return f"{m.kind} seed {m.seed} ({m.name}, valid={m.valid}) {self.command}: {self.problem}"


@dataclass
class Counts:
    files: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    valid: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    runs: int = 0
    tracebacks: list[Finding] = field(default_factory=list)
    wrong_exit: list[Finding] = field(default_factory=list)
    other: list[Finding] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def report(self) -> str:
        lines = [f"{k}: {self.files[k]} files ({self.valid[k]} still valid)" for k in KINDS]
        lines.append(
            f"total: {sum(self.files.values())} files, {self.runs} command runs, "
            f"{len(self.tracebacks)} tracebacks, {len(self.wrong_exit)} wrong exit codes, "
            f"{len(self.other)} other problems (message lines, files written)"
        )
        lines += [f"  {f}" for f in [*self.tracebacks, *self.wrong_exit, *self.other][:30]]
        return "\n".join(lines)


def write_bases(folder: Path) -> dict[str, Path]:
    paths = {}
    for kind in KINDS:
        path = folder / f"base-{kind}{SUFFIX[kind]}"
        path.write_bytes(serialise(kind, BASES[kind]()))
        paths[kind] = path
    return paths


def judge(
    mutant: Mutant,
    folder: Path,
    base: dict[str, Path],
    counts: Counts,
    *,
    every_command: bool = False,
) -> None:
    from costcli.cli import app

    path = folder / f"mutant-{mutant.kind}-{mutant.seed}{SUFFIX[mutant.kind]}"
    path.write_bytes(mutant.data)
    out = folder / "out"
    out.mkdir(exist_ok=True)
    runner = CliRunner()
    for cmd in commands(mutant.kind, base):
        if cmd.name == "run" and mutant.seed % RUN_EVERY and not every_command:
            continue  # `run` builds a whole benchmark: every RUN_EVERY-th mutant is enough
        for leftover in out.iterdir():
            leftover.unlink()
        started = time.perf_counter()
        result = runner.invoke(app, cmd.args(path, out), env={"COSTCLI_DEBUG": ""})
        counts.seconds[cmd.name] = counts.seconds.get(cmd.name, 0.0) + time.perf_counter() - started
        counts.runs += 1
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            counts.tracebacks.append(
                Finding(
                    mutant, cmd.name, f"{type(result.exception).__name__}: {result.exception}"[:300]
                )
            )
            continue
        want = cmd.valid_exit if mutant.valid else 2
        if result.exit_code != want:
            counts.wrong_exit.append(
                Finding(
                    mutant,
                    cmd.name,
                    f"exit {result.exit_code}, expected {want}: {result.stderr.strip()[:300]}",
                )
            )
            continue
        if "Traceback" in result.stdout + result.stderr:
            counts.tracebacks.append(Finding(mutant, cmd.name, "a traceback was printed"))
        if mutant.valid:
            continue
        lines = result.stderr.strip().splitlines()
        bad = [ln for ln in lines if not ln.startswith("costcli: error: ") or path.name not in ln]
        if not lines or bad:
            counts.other.append(Finding(mutant, cmd.name, f"message lines {bad or lines}"[:300]))
        if cmd.output and (out / cmd.output).exists():
            counts.other.append(Finding(mutant, cmd.name, f"wrote {cmd.output}"))
    path.unlink()


def run_corpus(corpus: dict[str, int] = CORPUS) -> Counts:
    counts = Counts()
    with tempfile.TemporaryDirectory(prefix="costcli-fuzz-") as tmp:
        folder = Path(tmp)
        base = write_bases(folder)
        for kind, n in corpus.items():
            for seed in range(n):
                mutant = mutate(kind, seed)
                counts.files[kind] += 1
                counts.valid[kind] += mutant.valid
                judge(mutant, folder, base, counts)
    return counts


if __name__ == "__main__":
    counts = run_corpus()
    print(counts.report())
    print("seconds per command:", {k: round(v, 1) for k, v in counts.seconds.items()})
    sys.exit(1 if counts.tracebacks or counts.wrong_exit or counts.other else 0)
