"""Crash-safe JSONL result store (one JSON object per line) with a Parquet export.

Each append is a single ``write`` of one complete line followed by flush + fsync, so a
``kill -9`` can at worst leave one torn *last* line; :meth:`ResultStore.load` ignores it (and,
with ``repair=True``, truncates it away). Only one writer at a time: :meth:`ResultStore.lock`
takes an exclusive ``flock`` on ``<store>.lock`` (released automatically if the process dies; the
file is removed again when nothing was stored).

Record schema (shared with ``spdnas.analysis.population.load_sweep_records``)::

    space, model_id (int), config (JSON string), params, flops (multiply-adds), error (percent),
    seed (sweep seed), model_seed, epochs, dataset, train_time (s), curve (per-epoch train
    loss), sweep (id of space+dataset+seed+recipe), recipe (JSON string), test_loss, diverged
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import warnings
from pathlib import Path

from spdnas.analysis.population import COLUMNS as REQUIRED_FIELDS  # one population schema
from spdnas.analysis.population import check_record
from spdnas.core.io import atomic_write_bytes

try:  # POSIX only; elsewhere the lock is a no-op
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


class ResultStore:
    """Append-only JSONL file of sweep records."""

    def __init__(self, path: str | os.PathLike):
        if path is None or str(path) == "":
            raise ValueError("store path must be given")
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise ValueError(f"store path {self.path} is a directory, expected a .jsonl file")
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @property
    def parquet_path(self) -> Path:
        return self.path.with_suffix(".parquet")

    @contextlib.contextmanager
    def lock(self):
        """Exclusive writer lock; ValueError if another live process holds it, FileNotFoundError if
        the store's folder does not exist (it is not created). When the store file still does not
        exist at the end (nothing was stored), the lock file is removed too."""
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"store folder not found: {self.path.parent}")
        while True:
            fh = open(self.lock_path, "a+")
            if fcntl is None:
                break
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                fh.close()
                raise ValueError(f"another process is writing to the store {self.path}") from e
            try:  # still the file at lock_path, not one its last holder removed meanwhile?
                if os.path.samestat(os.fstat(fh.fileno()), os.stat(self.lock_path)):
                    break
            except FileNotFoundError:
                pass
            fh.close()
        try:
            yield self
        finally:
            if not self.path.exists():  # removed while held, so no other writer can hold it
                with contextlib.suppress(OSError):
                    self.lock_path.unlink()
            if fcntl is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()

    def load(self, repair: bool = False) -> list[dict]:
        """All complete records, in file order. A torn last line is ignored (and truncated away
        with ``repair=True``); a corrupt line elsewhere raises ValueError naming file and line."""
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        records = []
        for no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ValueError(f"corrupt record at {self.path}:{no}: {e}") from e
            if not isinstance(rec, dict):
                raise ValueError(f"corrupt record at {self.path}:{no}: not a JSON object")
            records.append(rec)
        if tail.strip():
            try:
                rec = json.loads(tail)
                ok = isinstance(rec, dict)
            except (json.JSONDecodeError, UnicodeDecodeError):
                ok = False
            if ok:  # complete object whose newline was lost: keep it
                records.append(rec)
                if repair:
                    with open(self.path, "ab") as fh:
                        fh.write(b"\n")
                        fh.flush()
                        os.fsync(fh.fileno())
            else:
                warnings.warn(f"ignoring torn last line of {self.path} ({len(tail)} bytes)", stacklevel=2)
                if repair:
                    with open(self.path, "r+b") as fh:
                        fh.truncate(len(raw) - len(tail))
                        fh.flush()
                        os.fsync(fh.fileno())
        return records

    def append(self, record: dict) -> None:
        """Append one record as a single flushed + fsync'd line."""
        check_record(record)
        line = json.dumps(_clean(record), sort_keys=True, allow_nan=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            data = line.encode("utf-8")
            written = os.write(fd, data)
            while written < len(data):  # partial writes are rare but legal
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)

    def export_parquet(self, path: str | os.PathLike | None = None, records=None) -> Path:
        """Write all records to Parquet atomically (default ``<store>.parquet``)."""
        import pandas as pd

        records = self.load() if records is None else records
        df = pd.DataFrame.from_records(records)
        if "curve" in df:
            df["curve"] = df["curve"].map(lambda c: None if c is None else json.dumps(c))
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return atomic_write_bytes(path or self.parquet_path, buf.getvalue())


def load_records(path: str | os.PathLike) -> list[dict]:
    """Records of a store, de-duplicated on (sweep, model_id) keeping the first."""
    store = ResultStore(path)
    if not store.path.exists():
        raise FileNotFoundError(f"result store not found: {store.path}")
    seen, out = set(), []
    for r in store.load():
        key = (r.get("sweep"), r.get("space"), r.get("model_id"))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
