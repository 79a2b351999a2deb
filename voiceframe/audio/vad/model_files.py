"""Find model files that ship inside installed wheels, without importing those packages.

The Silero VAD model (MIT licence, 2.3 MB) ships inside the voiceframe wheel itself, at
``voiceframe/audio/vad/data/silero_vad.onnx`` with ``LICENSE-silero-vad.txt`` next to it, so
``pip install "voiceframe[audio]"`` is enough (docs/install.md says why we ship it). The copies in the
silero-vad and pipecat-ai wheels are fallbacks for an installation whose data folder was removed.

``silero_vad``'s ``__init__`` imports torch and ``pipecat``'s imports half of Pipecat, so we locate the
package directory with ``importlib.util.find_spec`` on the top-level name only (that reads no package
code) and join the file's path inside the wheel.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnxruntime


class ModelFileNotFoundError(FileNotFoundError):
    """No model file was found; the message says what to install."""


class ModelFileError(RuntimeError):
    """A model file exists but cannot be loaded (truncated, corrupt, or a different model)."""


#: (top-level package, path inside it) pairs, first found wins.
SILERO_VAD_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("voiceframe", "audio/vad/data/silero_vad.onnx"),
    ("silero_vad", "data/silero_vad.onnx"),
    ("pipecat", "audio/vad/data/silero_vad.onnx"),
)
SILERO_VAD_INSTALL = (
    "pip install --force-reinstall voiceframe  (its wheel ships the model; "
    "or: pip install --no-deps silero-vad, or: pip install pipecat-ai)"
)

SMART_TURN_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("pipecat", "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"),
)
SMART_TURN_INSTALL = "pip install pipecat-ai"


def package_dirs(package: str) -> list[Path]:
    """Directories of an installed top-level package, found without importing it."""
    if "." in package:
        raise ValueError("only top-level packages: find_spec on a submodule imports its parents")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [Path(p) for p in spec.submodule_search_locations]
    return [Path(spec.origin).parent] if spec.origin else []


def find_model_file(
    what: str,
    candidates: Sequence[tuple[str, str]],
    install_hint: str,
    explicit: str | Path | None = None,
) -> Path:
    """Return the explicit path if given (it must exist), else the first candidate found in a wheel."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ModelFileNotFoundError(f"{what} model file not found at {path}")
        return path
    for package, rel in candidates:
        for base in package_dirs(package):
            path = base / rel
            if path.is_file():
                return path
    searched = ", ".join(f"{p}/{r}" for p, r in candidates)
    raise ModelFileNotFoundError(
        f"{what} model file not found (looked for {searched}); install it with: {install_hint}"
    )


def silero_vad_path(explicit: str | Path | None = None) -> Path:
    """Path of ``silero_vad.onnx``: explicit path, else the silero-vad wheel, else pipecat-ai's copy."""
    return find_model_file("Silero VAD", SILERO_VAD_CANDIDATES, SILERO_VAD_INSTALL, explicit)


def smart_turn_path(explicit: str | Path | None = None) -> Path:
    """Path of ``smart-turn-v3.2-cpu.onnx``: explicit path, else the copy in the pipecat-ai wheel."""
    return find_model_file("Smart Turn v3", SMART_TURN_CANDIDATES, SMART_TURN_INSTALL, explicit)


def load_onnx_session(
    path: Path,
    expected_inputs: Sequence[str],
    install_hint: str,
    intra_op_threads: int = 1,
) -> onnxruntime.InferenceSession:
    """Open an ONNX model on the CPU, turning load failures into a :class:`ModelFileError` naming the file."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types for bad files
        raise ModelFileError(
            f"cannot load ONNX model {path}: {exc}. The file is damaged or not an ONNX model; "
            f"reinstall the wheel that provides it ({install_hint}, with --force-reinstall) "
            "or pass the path of a good copy"
        ) from exc
    names = [i.name for i in session.get_inputs()]
    if list(expected_inputs) != names:
        raise ModelFileError(f"{path} has inputs {names}, expected {list(expected_inputs)}: wrong model file")
    return session


class SharedSessions:
    """One lazily created session per model path per process; creation is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[Path, Any] = {}

    def get(self, path: Path, factory: Any) -> Any:
        """Return the session for ``path``, creating it with ``factory(path)`` the first time."""
        key = path.resolve()
        session = self._sessions.get(key)
        if session is None:
            with self._lock:
                session = self._sessions.get(key)
                if session is None:
                    session = factory(key)
                    self._sessions[key] = session
        return session

    def clear(self) -> None:
        """Forget all sessions (tests)."""
        with self._lock:
            self._sessions.clear()
