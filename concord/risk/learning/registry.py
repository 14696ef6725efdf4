"""Model versions on disk: each version a directory with the model file and its metrics; one is active."""

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from concord.errors import ConcordError, Conflict, NotFound

_VERSION = re.compile(r"^v(\d+)$")


class ModelRegistry:
    """Versions under `root`/versions/vN (model.zip, metrics.json); the activation log is activations.jsonl."""

    def __init__(self, root):
        self.root = Path(root)

    def _dir(self, version: str) -> Path:
        if not _VERSION.match(version or "") or not (self.root / "versions" / version / "model.zip").exists():
            raise NotFound(f"no model version '{version}'; `concord risk models` lists them")
        return self.root / "versions" / version

    def register(self, model: bytes, metrics: dict, *, activate: bool = False) -> str:
        """Store a new version and return its name (v1, v2, ...); the first one is activated."""
        (self.root / "versions").mkdir(parents=True, exist_ok=True)
        n = max([int(m.group(1)) for p in (self.root / "versions").iterdir() if (m := _VERSION.match(p.name))],
                default=0)
        while True:  # mkdir is atomic: two trainings at once get two numbers
            n += 1
            try:
                (self.root / "versions" / f"v{n}").mkdir()
                break
            except FileExistsError:
                continue
        path = self.root / "versions" / f"v{n}"
        _write(path / "model.zip", model)
        _write(path / "metrics.json", json.dumps(metrics, indent=2, default=str).encode())
        if activate or self.active_version(missing_ok=True) is None:
            self.activate(f"v{n}")
        return f"v{n}"

    def versions(self) -> list[dict]:
        """Every version, oldest first, with its metrics and whether it is active."""
        folder = self.root / "versions"
        names = sorted((p.name for p in folder.iterdir() if _VERSION.match(p.name)) if folder.exists() else [],
                       key=lambda v: int(v[1:]))
        active = self.active_version(missing_ok=True)
        return [{"version": v, "active": v == active, **self.metrics(v)} for v in names
                if (folder / v / "model.zip").exists()]

    def metrics(self, version: str) -> dict:
        """The metrics and training info stored with a version."""
        path = self._dir(version) / "metrics.json"
        try:
            return json.loads(path.read_text())
        except (ValueError, OSError) as e:  # edited by hand, or a disk that lost it
            raise ConcordError(f"{path} cannot be read ({e}); restore it, or move version {version} out of "
                               f"{self.root / 'versions'}") from None

    def model_bytes(self, version: str) -> bytes:
        """The serialized model of a version."""
        return (self._dir(version) / "model.zip").read_bytes()

    def _log(self) -> list[dict]:
        path = self.root / "activations.jsonl"
        entries = []
        for n, line in enumerate(path.read_text().splitlines() if path.exists() else [], 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not isinstance(entry, dict) or "version" not in entry:
                # Which model scores live declarations must not be guessed: refused until a person fixes the log.
                raise ConcordError(f"{path} line {n} is not an activation (a JSON object with a version); fix or "
                                   "remove that line")
            entries.append(entry)
        return entries

    def _stack(self) -> list[str]:
        """Replay the activation log: an activation pushes a version, a rollback pops one."""
        stack: list[str] = []
        for entry in self._log():
            if entry.get("action") == "rollback":
                stack.pop()
            else:
                stack.append(entry["version"])
        return stack

    def active_version(self, missing_ok: bool = False) -> str | None:
        """The version scoring live declarations."""
        stack = self._stack()
        if not stack:
            if missing_ok:
                return None
            raise NotFound("no model is active; train one with `concord risk train` or activate a version")
        return stack[-1]

    def _append(self, action: str, version: str, **detail) -> str:
        entry = {"action": action, "version": version, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 **{k: v for k, v in detail.items() if v is not None}}
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "activations.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        return version

    def activate(self, version: str, comparison: dict | None = None) -> str:
        """Make a version the active one; `comparison`, the champion / challenger result it won, is logged."""
        self._dir(version)
        if self.active_version(missing_ok=True) == version:  # logged twice, a rollback would "return" to it
            return version
        return self._append("activate", version, comparison=comparison)

    def rollback(self) -> str:
        """Return to the version that was active before the current activation."""
        stack = self._stack()
        if not stack:
            raise Conflict("no model is active; there is nothing to roll back")
        if len(stack) == 1:
            raise Conflict(f"{stack[0]} is the first version activated; there is nothing to roll back to")
        # the entry names the version that becomes active, for whoever reads the log
        return self._append("rollback", stack[-2])


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # readers never see half a file


def load_model(root, version: str | None = None):
    """Load a RiskModel version (default: the active one) from the registry under `root`."""
    from concord.risk.learning.model import RiskModel  # LightGBM loads (seconds) only when a model is asked for

    registry = ModelRegistry(root)
    version = version or registry.active_version()
    return RiskModel.from_bytes(registry.model_bytes(version), version)


_cache: dict = {}


def active_model(session=None, root=None):
    """The active RiskModel of the registry under root (default {var_dir}/models), or None; cached per version."""
    from concord.config import get_settings

    registry = ModelRegistry(root or get_settings().models_dir())
    version = registry.active_version(missing_ok=True)
    if version is None:
        return None
    from concord.risk.learning.model import RiskModel  # LightGBM loads (seconds) only once a model is active
    key = (str(registry.root.resolve()), version)
    if key not in _cache:
        _cache.clear()  # keep one model in memory: an activation replaces it
        _cache[key] = RiskModel.from_bytes(registry.model_bytes(version), version)
        _cache[key].caught_up = False  # the first reader with a session adds the outcomes recorded since
    return _cache[key]
