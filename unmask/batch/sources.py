"""Batch inputs: folders, file lists and labels.csv, each item with its content hash."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from unmask.errors import UsageError

LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})
HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One file to scan.

    ``path`` is the string reported as the report's ``source`` (exactly what
    ``unmask scan PATH`` would print); ``sha256`` is None when the file cannot be read.
    """

    path: str
    sha256: str | None
    label: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.path, self.sha256 or "")


def file_sha256(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
    except OSError:
        return None  # the scan reports why, as an error record
    return digest.hexdigest()


def _read_list(path: Path) -> Iterator[str]:
    base = path.parent
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line)
        yield str(p if p.is_absolute() else base / p)


def iter_paths(inputs: Iterable[str]) -> Iterator[tuple[str, int | None]]:
    """(path, label) for every input: folders walked like ``unmask scan``, lists and CSVs read."""
    from unmask.cli import expand_paths

    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            for f in expand_paths([raw]):
                yield f, None
        elif p.suffix.lower() == ".csv":
            from unmask.eval.layouts import read_labels_csv

            for item in read_labels_csv(p):
                yield str(item.path), item.label
        elif p.suffix.lower() in LIST_SUFFIXES:
            for f in _read_list(p):
                yield f, None
        elif p.exists():
            yield raw, None
        else:
            raise UsageError(f"{raw}: no such file or folder")


def iter_items(inputs: Iterable[str]) -> Iterator[BatchItem]:
    for path, label in iter_paths(inputs):
        yield BatchItem(path, file_sha256(path), label)
