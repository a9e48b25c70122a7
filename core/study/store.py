"""An append-only tidy table on disk that a study can be killed over and resumed from.

One CSV row per (sample × units). Rows of one sample are written together by a single
``write`` + ``flush`` + ``fsync``, so after a kill the file holds whole samples plus, at
worst, the torn tail of the last write: a partial line, or a sample with fewer rows
than it should have. :meth:`ResultStore.open` removes both, and the samples already
present in full are never computed again. CSV rather than Parquet because
appending to it is atomic enough with one write and every tool reads it.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

KEY = ("generator", "nodes", "sample")


class ResultStore:
    """Rows keyed by ``(generator, nodes, sample)``; columns fixed by the first writer."""

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = list(columns)
        self.done: set[tuple[str, int, int]] = set()

    @classmethod
    def open(cls, path: str | Path, columns: Sequence[str], rows_per_key: int = 1) -> ResultStore:
        """Open (creating) the table, drop a torn tail, and read the finished keys.

        A key with fewer than ``rows_per_key`` rows was cut by a kill mid-write: its
        rows are removed so that it is computed again, whole.
        """
        store = cls(Path(path), columns)
        store.path.parent.mkdir(parents=True, exist_ok=True)
        if not store.path.exists() or store.path.stat().st_size == 0:
            store.path.write_text(",".join(store.columns) + "\n")
            return store
        store._truncate_torn_tail()
        with store.path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != store.columns:
                raise ValueError(
                    f"{store.path}: columns {reader.fieldnames} differ from this study's;"
                    " use another --out or delete the file"
                )
            rows = list(reader)
        counts = Counter(key_of(r) for r in rows)
        cut = {k for k, n in counts.items() if n < rows_per_key}
        if cut:
            store._rewrite([r for r in rows if key_of(r) not in cut])
        store.done = set(counts) - cut
        return store

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


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """All rows, sorted by key and units, so a resumed and an uninterrupted study compare equal."""
    with Path(path).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return sorted(rows, key=lambda r: (*key_of(r), int(r.get("units", 0) or 0)))
