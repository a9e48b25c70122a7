"""An append-only tidy table on disk that a study can be killed over and resumed from.

One CSV row per (sample × units). Rows of one sample are written together by a single
``write`` + ``flush`` + ``fsync``, so after a kill the file holds whole samples plus, at
worst, the torn tail of the last write: a partial line, or a sample with fewer rows
than it should have. :meth:`ResultStore.open` removes both, and the samples already
present in full are never computed again. CSV rather than Parquet because
appending to it is atomic enough with one write and every tool reads it.

A table remembers the settings that made its rows (its *fingerprint*, every setting that
changes a row) in the sidecar ``NAME.meta.json``. Resuming with other settings would
silently mix two experiments in one table, so :meth:`ResultStore.open` refuses it and
names each setting that differs. The sidecar also holds what a study's report wants to
know (its config, time spent); :meth:`ResultStore.update_meta` merges those in.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from parawire.errors import ParawireError

KEY = ("generator", "nodes", "sample")


def meta_path(path: str | Path) -> Path:
    """The sidecar of a table: ``study.csv`` → ``study.meta.json``."""
    return Path(path).with_suffix(".meta.json")


def read_meta(path: str | Path) -> dict:
    """The table's sidecar (``{}`` when there is none)."""
    sidecar = meta_path(path)
    if not sidecar.exists():
        return {}
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParawireError(f"{sidecar}: not readable JSON ({exc}); fix or delete it") from None
    if not isinstance(meta, dict):
        raise ParawireError(f"{sidecar}: not a table's settings record; fix or delete it")
    return meta


def _write_json(path: Path, data: Mapping) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def differences(recorded: Mapping, wanted: Mapping) -> list[str]:
    """``name: recorded → wanted`` for every setting that differs (missing counts)."""
    names = list(dict.fromkeys([*recorded, *wanted]))
    missing = object()
    return [
        f"{name} {recorded.get(name, '(none)')!s} → {wanted.get(name, '(none)')!s}"
        for name in names
        if recorded.get(name, missing) != wanted.get(name, missing)
    ]


def check_settings(path: Path, wanted: Mapping, has_rows: bool) -> None:
    """Refuse (one line) to add rows made with ``wanted`` to the table at ``path`` when its
    rows were made with other settings or with none recorded. Reads only: a dry run
    asks it too."""
    recorded = read_meta(path).get("settings")
    if has_rows and recorded is None:
        raise ParawireError(
            f"{path}: has rows but no record of the settings that made them"
            f" ({meta_path(path).name}); choose another --out or move that table away"
        )
    if has_rows and recorded != dict(wanted):
        raise ParawireError(
            f"{path}: made with other settings ({'; '.join(differences(recorded, wanted))});"
            " resuming would mix two experiments: choose another --out or the same settings"
        )


class ResultStore:
    """Rows keyed by ``(generator, nodes, sample)``; columns fixed by the first writer."""

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = list(columns)
        self.done: set[tuple[str, int, int]] = set()

    @classmethod
    def open(
        cls,
        path: str | Path,
        columns: Sequence[str],
        rows_per_key: int = 1,
        settings: Mapping[str, object] | None = None,
    ) -> ResultStore:
        """Open (creating) the table, drop a torn tail, and read the finished keys.

        A key with fewer than ``rows_per_key`` rows was cut by a kill mid-write: its
        rows are removed so that it is computed again, whole. With ``settings`` (JSON
        values), a table that has rows must have been made with the same ones.
        """
        store = cls(Path(path), columns)
        data = store.path.read_bytes() if store.path.exists() else b""
        if data:  # nothing is touched before the file is known to be this kind of table
            store._check_header(data)
        if settings is not None:
            store._check_settings(dict(settings), has_rows=data.count(b"\n") > 1)
        rows = []
        if data:
            store._truncate_torn_tail()
            with store.path.open(newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        if not rows:
            store.path.parent.mkdir(parents=True, exist_ok=True)
            store.path.write_text(",".join(store.columns) + "\n")
            return store
        counts = Counter(key_of(r) for r in rows)
        cut = {k for k, n in counts.items() if n < rows_per_key}
        if cut:
            store._rewrite([r for r in rows if key_of(r) not in cut])
        store.done = set(counts) - cut
        return store

    def _check_header(self, data: bytes) -> None:
        header = next(csv.reader([data.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")]), [])
        if header != self.columns:
            raise ParawireError(
                f"{self.path}: holds another kind of table (columns {', '.join(header[:6])}"
                f"{', …' if len(header) > 6 else ''}); choose another --out or move that file away"
            )

    def _check_settings(self, wanted: dict, has_rows: bool) -> None:
        """Refuse to add rows made with other settings; record them for a new table."""
        check_settings(self.path, wanted, has_rows)
        if not has_rows:
            self.update_meta(settings=wanted)

    def update_meta(self, **fields: object) -> dict:
        """Merge ``fields`` into the sidecar (written atomically); returns the result."""
        meta = {**read_meta(self.path), **fields}
        meta_path(self.path).parent.mkdir(parents=True, exist_ok=True)
        _write_json(meta_path(self.path), meta)
        return meta

    def _rewrite(self, rows: list[dict]) -> None:
        """Replace the file atomically (write a sibling, then rename over it)."""
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def _truncate_torn_tail(self) -> None:
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            with self.path.open("r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)

    def append(self, rows: Iterable[Mapping[str, object]]) -> None:
        """Write the rows of one or more whole samples at once."""
        rows = list(rows)
        if not rows:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writerows(rows)
        with self.path.open("a", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        self.done.update(key_of(r) for r in rows)


def key_of(row: Mapping[str, object]) -> tuple[str, int, int]:
    return (str(row["generator"]), int(row["nodes"]), int(row["sample"]))


def read_rows(path: str | Path, columns: Sequence[str] = KEY, numeric: Sequence[str] = ()) -> list[dict[str, str]]:
    """All rows, sorted by key and units, so a resumed and an uninterrupted study compare equal.

    A file without the ``columns`` a reader needs, with short rows, or with a value of a
    ``numeric`` column that is not a number is refused in one line naming what is wrong,
    before anyone computes with it.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            rows = list(reader)
    except UnicodeDecodeError:
        raise ParawireError(f"{path}: not a UTF-8 CSV table") from None
    except csv.Error as exc:
        raise ParawireError(f"{path}: not a CSV table ({exc})") from None
    if missing:
        raise ParawireError(f"{path}: not the expected table, it lacks the columns {', '.join(missing)}")
    for line, row in enumerate(rows, start=2):
        if None in row or any(row[c] is None for c in columns):
            raise ParawireError(f"{path}: line {line} has {'more' if None in row else 'fewer'} fields than the header")
        for column in (*KEY[1:], *numeric):
            try:
                float(row[column])
            except (TypeError, ValueError):
                raise ParawireError(f"{path}: line {line}, {column}: got {row[column]!r}; expected a number") from None
    return sorted(rows, key=lambda r: (*key_of(r), int(r.get("units", 0) or 0)))
