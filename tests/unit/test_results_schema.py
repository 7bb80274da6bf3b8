"""The results document: shipped JSON Schema, atomic writes, reading back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from costcli.adapters.catalog import Target
from costcli.files.errors import BadInputError
from costcli.load.measure import Measurement
from costcli.load.schedule import LoadSettings
from costcli.results.document import (
    SCHEMA_FILE,
    SCHEMA_VERSION,
    RunResult,
    check_writable,
    dumps,
    json_schema,
    read_result,
    write_atomic,
)
from costcli.results.metrics import ABSENT_WHEN_NONE, SLO, RequestRecord
from costcli.workloads.sources import load_workload
from tests.builders import frozen, result_of

REPO = Path(__file__).resolve().parents[2]
MS = 1_000_000


def records() -> list[RequestRecord]:
    ok = Measurement(0, 0, sent_ns=0, first_byte_ns=5 * MS, first_token_ns=100 * MS)
    ok.chunk_ns, ok.end_ns = [100 * MS, 110 * MS, 120 * MS], 130 * MS
    ok.input_tokens, ok.output_tokens, ok.finish_reason = 12, 3, "stop"
    ok.queue_ms, ok.prefill_ms, ok.decode_ms = 5.0, 90.0, 20.0
    failed = Measurement(1, 10 * MS, sent_ns=10 * MS, end_ns=12 * MS)
    failed.error, failed.status, failed.error_message = "rate_limited", 429, "HTTP 429"
    return [frozen(ok), frozen(failed)]


def sample_result(with_records: bool = True, complete: bool = True) -> RunResult:
    target = Target("mock", "mock-model", "openai", "http://127.0.0.1:1/v1", None)
    return result_of(
        [(target, records())],
        complete=complete,
        info={"server": "mock"},
        workload=load_workload("chat-short"),
        load=LoadSettings(requests=2),
        slo=SLO(ttft_ms=500),
        with_records=with_records,
    )


def shipped_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def test_the_shipped_schema_matches_the_models() -> None:
    generated = json.loads(json.dumps(json_schema()))
    assert shipped_schema() == generated, "run: python scripts/gen_schema.py"


def test_the_generator_script_reports_no_drift() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/gen_schema.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_shipped_schema_is_a_valid_2020_12_schema() -> None:
    schema = shipped_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("with_records", [True, False])
def test_a_results_document_validates_against_the_shipped_schema(with_records: bool) -> None:
    doc = json.loads(dumps(sample_result(with_records)))
    jsonschema.validate(doc, shipped_schema(), cls=jsonschema.Draft202012Validator)
    assert doc["schema_version"] == SCHEMA_VERSION
    target = doc["targets"][0]
    for key in ("provider", "model", "adapter", "base_url", "summary"):
        assert key in target
    summary = target["summary"]
    assert summary["requests"] == {"total": 2, "ok": 1, "failed": 1}
    assert summary["errors"]["rate_limited"] == 1
    for key in ("ttft_ms", "ttfb_ms", "itl_ms", "tpot_ms", "e2e_ms", "client_delay_ms"):
        assert set(summary[key]) >= {"mean", "min", "max", "std", "p50", "p90", "p95", "p99"}
    assert summary["ttft_ms"]["p50"] == 100.0
    assert summary["goodput"]["attainment"] == 0.5
    assert summary["server"]["queue_ms"]["p50"] == 5.0
    assert set(summary["throughput"]) == {
        "requests_per_s",
        "output_tokens_per_s",
        "total_tokens_per_s",
    }
    assert (target["records"] is not None) is with_records
    meta = doc["meta"]
    assert meta["workload"]["name"] == "chat-short"
    assert len(meta["workload"]["sha256"]) == 64
    assert meta["load"]["requests"] == 2
    assert {"costcli_version", "started_at", "ended_at", "host"} <= set(meta)


def test_the_schema_rejects_a_document_missing_a_required_key() -> None:
    doc = json.loads(dumps(sample_result()))
    del doc["targets"][0]["summary"]["requests"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, shipped_schema())
    doc = json.loads(dumps(sample_result()))
    doc["targets"][0]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, shipped_schema())


def test_an_interrupted_run_is_marked_incomplete() -> None:
    doc = json.loads(dumps(sample_result(complete=False)))
    assert doc["complete"] is False
    assert doc["targets"][0]["stopped"] == "interrupted"
    jsonschema.validate(doc, shipped_schema())


def test_write_atomic_replaces_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "r.json"
    write_atomic(path, "old")
    write_atomic(path, dumps(sample_result()))
    assert read_result(path).targets[0].provider == "mock"
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("previous")
    with pytest.raises(TypeError):
        write_atomic(path, 123)  # type: ignore[arg-type]  # fails mid-write
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_reading_a_bad_results_file_is_one_line_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(BadInputError, match="key 'schema_version' is 99, expected 1"):
        read_result(path)
    path.write_text("{nope")
    with pytest.raises(BadInputError, match="not valid JSON"):
        read_result(path)
    doc = json.loads(dumps(sample_result()))
    del doc["meta"]["workload"]
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInputError, match=r"key 'meta\.workload'"):
        read_result(path)
    with pytest.raises(BadInputError, match="cannot be read"):
        read_result(tmp_path / "missing.json")


def test_the_schema_requires_the_version_scripts_rely_on() -> None:
    doc = json.loads(dumps(sample_result()))
    doc["schema_version"] = 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, shipped_schema())
    del doc["schema_version"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, shipped_schema())


def test_one_record_model_serves_the_scheduler_the_file_and_the_reader() -> None:
    for record in records():
        written = json.loads(record.model_dump_json())
        # cache writes and a provider bill are written only where a server reported them
        unreported = {k for k in ABSENT_WHEN_NONE if getattr(record, k, 0) is None}
        assert set(RequestRecord.model_fields) == set(written) | unreported
        assert RequestRecord.model_validate(written) == record


def test_a_record_carries_the_decode_rate_of_the_request() -> None:
    ok, failed = records()
    # 3 tokens, first at 100 ms, end at 130 ms: (3 - 1) / 0.030 s
    assert ok.decode_tokens_per_s == pytest.approx(2 / 0.030)
    assert ok.tpot_ms == pytest.approx(15.0)  # (130 - 100) / (3 - 1)
    assert ok.scheduled_ms == 0.0
    assert failed.scheduled_ms == 10.0
    assert failed.decode_tokens_per_s is None
    doc = json.loads(dumps(sample_result()))
    assert doc["targets"][0]["records"][0]["decode_tokens_per_s"] == pytest.approx(2 / 0.030)


def test_records_written_before_the_decode_rate_still_read() -> None:
    written = records()[0].model_dump()
    del written["decode_tokens_per_s"], written["scheduled_ms"]
    old = RequestRecord.model_validate(written)
    assert old.decode_tokens_per_s is None
    assert old.scheduled_ms is None


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda r: r.update(e2e_ms="slow"), r"key 'targets\.0\.records\.0\.e2e_ms'"),
        (lambda r: r.update(surprise=1), r"key 'targets\.0\.records\.0\.surprise'"),
        (lambda r: r.pop("ok"), r"key 'targets\.0\.records\.0\.ok'"),
        (lambda r: r.update(itl_ms=["x"]), r"key 'targets\.0\.records\.0\.itl_ms\.0'"),
    ],
)
def test_reading_malformed_records_is_bad_input_naming_the_key(
    tmp_path: Path, change: Any, key: str
) -> None:
    doc = json.loads(dumps(sample_result()))
    change(doc["targets"][0]["records"][0])
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInputError, match=key):
        read_result(path)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, shipped_schema())


def test_reading_records_that_are_not_objects_is_bad_input(tmp_path: Path) -> None:
    doc = json.loads(dumps(sample_result()))
    doc["targets"][0]["records"] = [1, 2]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInputError, match=r"key 'targets\.0\.records\.0'"):
        read_result(path)


def test_check_writable_creates_the_folder_and_refuses_what_cannot_be_a_file(
    tmp_path: Path,
) -> None:
    check_writable(tmp_path / "new" / "deeper" / "out.xml", "--junit")
    assert (tmp_path / "new" / "deeper").is_dir()
    assert not (tmp_path / "new" / "deeper" / "out.xml").exists()
    with pytest.raises(BadInputError, match=r"--junit .*: not a writable file path"):
        check_writable(tmp_path, "--junit")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(BadInputError, match=r"--html .*x\.html: cannot create the folder"):
        check_writable(blocker / "x.html", "--html")
