"""Reading the files costcli is given: bytes -> text -> parsed data -> validated model.

Every file kind (provider TOML, prices.toml, workload JSONL, results JSON) is read through
these steps, so a wrong file fails the same way under every command: a `BadInputError`
with one line per problem, each naming the file, the line or key, and the fix, all the
problems of the file at once (unknown keys first, with the closest known key). Decoding
(non-UTF-8 bytes, UTF-16, NUL bytes), syntax, nesting depth, types, ranges and
non-finite numbers are all problems of the file, never a traceback.

A UTF-8 byte-order mark is harmless and is skipped.
"""

from __future__ import annotations

import codecs
import difflib
import json
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from costcli.files.errors import BadInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Deeper than any real costcli file; far below what recursive code (Python's JSON encoder,
# pydantic, the TOML parser) can take.
MAX_DEPTH = 32
# A file with thousands of bad lines says so in this many lines, then counts the rest.
MAX_PROBLEMS = 20


def read_text(path: Path, what: str) -> str:
    """The file as text. `what` names the kind for the fix ("a provider TOML file")."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadInputError(
            f"{path}: cannot be read ({exc.strerror or exc}); check the path"
        ) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise BadInputError(f"{path}: is UTF-16 text; save it as UTF-8 ({what})")
    data = data.removeprefix(codecs.BOM_UTF8)
    if not data.strip():
        raise BadInputError(f"{path}: is empty; pass {what}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        raise BadInputError(
            f"{path}:{line}: byte 0x{byte:02x} is not UTF-8 (a binary file, or another "
            f"encoding); save it as UTF-8 ({what})"
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise BadInputError(f"{path}:{line}: holds a NUL byte (a binary file?); pass {what}")
    return text


UNION_TAGS = frozenset({"priced", "unpriced"})  # tagged unions' branch names (metrics.py)


def key_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """The key as the file spells it: a tagged union's branch name is not part of it."""
    return ".".join(str(p) for p in loc if p not in UNION_TAGS) or "(top level)"


def _deepest(value: Any) -> tuple[int, tuple[Any, ...]]:
    """How deep `value` nests (iteratively: no recursion on hostile input) and where."""
    best: tuple[int, tuple[Any, ...]] = (0, ())
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 0, ())]
    while stack:
        item, depth, loc = stack.pop()
        if depth > best[0]:
            best = (depth, loc)
        if depth > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((v, depth + 1, (*loc, k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, depth + 1, (*loc, i)) for i, v in enumerate(item))
    return best


def _leaves(value: Any) -> Iterator[tuple[tuple[Any, ...], Any]]:
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, loc = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, (*loc, k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, (*loc, i)) for i, v in enumerate(item))
        else:
            yield loc, item


def depth_problem(where: str, data: Any) -> None:
    """Refuse data nested deeper than MAX_DEPTH before anything recursive walks it."""
    depth, loc = _deepest(data)
    if depth > MAX_DEPTH:
        raise BadInputError(
            f"{where}: key '{key_of(loc[:MAX_DEPTH])}' nests more than {MAX_DEPTH} levels "
            "deep; flatten it"
        )


def value_problems(where: str, data: Any) -> dict[str, str]:
    """Numbers that are not finite and strings holding a NUL, anywhere: key -> line."""
    problems = {}
    for loc, leaf in sorted(_leaves(data), key=lambda kv: [str(p) for p in kv[0]]):
        key = key_of(loc)
        if isinstance(leaf, float) and not math.isfinite(leaf):
            problems[key] = f"{where}: key '{key}' is {leaf}; give a finite number"
        elif isinstance(leaf, str) and "\x00" in leaf:
            problems[key] = f"{where}: key '{key}' holds a NUL character; remove it"
    return problems


def parse_toml(path: Path, text: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    except RecursionError:
        raise BadInputError(
            f"{path}: nests more than {MAX_DEPTH} levels deep; flatten it"
        ) from None
    depth_problem(str(path), data)
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(where: str, text: str, fix: str) -> Any:
    """One JSON document; `where` is the file (and line, for JSONL)."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise BadInputError(
            f"{where}: nests more than {MAX_DEPTH} levels deep; flatten it"
        ) from None
    except ValueError as exc:
        raise BadInputError(f"{where}: not valid JSON ({exc}); {fix}") from None
    depth_problem(where, data)
    return data


# --- pydantic errors -> one line each -------------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the model allows at `loc` (list indexes skipped)."""
    current = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        inner = _models_in(field.annotation) if field is not None else []
        if not inner:
            return []
        current = inner[0]
    return list(current.model_fields)


def closest_hint(wanted: str, known: list[str]) -> str:
    close = difflib.get_close_matches(wanted, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if known:
        return "remove it (known keys: " + ", ".join(sorted(known)) + ")"
    return "remove it"


_ORDER = {"extra_forbidden": 0, "missing": 1}


def validation_problems(
    where: str,
    exc: ValidationError | None,
    model: type[BaseModel],
    values: dict[str, str] | None = None,
) -> list[str]:
    """Every problem pydantic found, unknown keys first (with the closest known key), then
    missing keys, then wrong values; one line each naming `where` and the key. `values`
    (from `value_problems`) replace pydantic's line for the same key."""
    values = values or {}
    lines: list[str] = []
    errors = sorted(
        exc.errors() if exc else [], key=lambda e: (_ORDER.get(e["type"], 2), key_of(e["loc"]))
    )
    for err in errors:
        if key_of(err["loc"]) in values:
            continue
        loc = tuple(err["loc"])
        key = key_of(loc)
        kind = err["type"]
        if not loc:  # a rule over several keys (a model validator): its message says it all
            line = f"{where}: {err['msg'].removeprefix('Value error, ')}"
        elif kind == "extra_forbidden":
            hint = closest_hint(str(loc[-1]), known_keys(model, loc[:-1]))
            line = f"{where}: unknown key '{key}'; {hint}"
        elif kind == "missing":
            line = f"{where}: missing key '{key}'; add it"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            shown = "" if isinstance(err.get("input"), dict | list) else _shown(err.get("input"))
            fix = "" if "; " in msg else "; fix the value"
            line = f"{where}: key '{key}'{shown}: {msg}{fix}"
        if line not in lines:
            lines.append(line)
    first_other = next(
        (
            i
            for i, line in enumerate(lines)
            if "unknown key" not in line and "missing key" not in line
        ),
        len(lines),
    )
    lines[first_other:first_other] = list(values.values())
    return lines


def _shown(value: Any) -> str:
    if value is None:
        return ""
    text = repr(value)
    return f" = {text}" if len(text) <= 40 else f" = {text[:37]}..."


def validate(model: type[BaseModel], data: Any, where: str) -> Any:
    """`model.model_validate(data)`, every problem as one line of a BadInputError (numbers
    that are not finite are problems in free-form parts too)."""
    values = value_problems(where, data)
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise BadInputError.of(validation_problems(where, exc, model, values)) from None
    except RecursionError:  # pragma: no cover - depth_problem stops deep input first
        raise BadInputError(f"{where}: nests too deep; flatten it") from None
    if values:
        raise BadInputError.of(list(values.values()))
    return parsed


def capped(path: Path, problems: list[str]) -> list[str]:
    """At most MAX_PROBLEMS lines, then one that counts the rest."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], f"{path}: {rest} more problems not shown; fix these first"]


def collect(path: Path, checks: list[Callable[[], Any]]) -> list[Any]:
    """Run every check, gathering the problems of all of them before failing."""
    problems: list[str] = []
    out: list[Any] = []
    for check in checks:
        try:
            out.append(check())
        except BadInputError as exc:
            problems += exc.problems
    if problems:
        raise BadInputError.of(capped(path, problems))
    return out
