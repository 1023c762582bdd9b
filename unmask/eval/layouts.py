"""Labelled dataset layouts: find out how a folder is organised and stream its items.

Every reader is read-only and lazy: it yields ``EvalItem`` objects one at a time
and never copies or opens the media themselves. Labels are 1 = fake
(manipulated, synthetic, spoof) and 0 = real (pristine, bona fide).

Layouts (``detect_layout`` tries them in this order):

``labels-csv``   ``labels.csv`` with ``path,label[,method[,group]]`` (extra columns ignored)
``ffpp``         FaceForensics++: ``original_sequences/…/videos``, ``manipulated_sequences/<method>/<compression>/videos``
``celebdf``      Celeb-DF v2: ``List_of_testing_videos.txt`` (or the Celeb-real / YouTube-real / Celeb-synthesis folders)
``dfdc``         DFDC: ``metadata.json`` (in the root or in ``dfdc_train_part_*`` folders)
``asvspoof``     ASVspoof 2019 LA/PA and 2021 LA/DF: CM protocol / ``trial_metadata.txt`` files
``in-the-wild``  In-the-Wild (Müller et al. 2022): ``meta.csv`` with ``file,speaker,label``
``folder``       ``real/`` and ``fake/`` (nested folders allowed; method = first subfolder name)
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from unmask.errors import UsageError

MEDIA_SUFFIXES = frozenset(
    {
        ".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".avif",
        ".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi",
        ".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac",
    }
)  # fmt: skip

_FAKE_WORDS = frozenset({"1", "fake", "spoof", "synthetic", "manipulated", "generated", "deepfake", "ai"})
_REAL_WORDS = frozenset({"0", "real", "bonafide", "bona-fide", "bona fide", "genuine", "pristine", "original", "authentic"})
UNSPECIFIED = "unspecified"


@dataclass(frozen=True, slots=True)
class EvalItem:
    """One labelled file of a dataset.

    Attributes
    ----------
    path : Path
        The media file (absolute, or relative to the working directory).
    label : int
        1 = fake, 0 = real.
    method : str
        Manipulation method or generator for fakes ("Deepfakes", "A07", ...), the
        source for reals; breakdown tables group by it.
    group : str or None
        What the item belongs to when several items come from one source
        (video id, speaker); video-level metrics average scores per group.
    """

    path: Path
    label: int
    method: str = UNSPECIFIED
    group: str | None = None

    def __post_init__(self) -> None:
        if self.label not in (0, 1):
            raise ValueError(f"label must be 0 (real) or 1 (fake), got {self.label!r} for {self.path}")


def parse_label(text: str) -> int:
    """'fake'/'spoof'/'1' → 1, 'real'/'bonafide'/'0' → 0 (case-insensitive)."""
    t = text.strip().lower()
    if t in _FAKE_WORDS:
        return 1
    if t in _REAL_WORDS:
        return 0
    raise ValueError(f"unknown label {text!r}: use real/fake, bonafide/spoof or 0/1")


def _walk_media(folder: Path) -> Iterator[Path]:
    # os.walk with sorted names: deterministic order without listing the whole tree first.
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in sorted(filenames):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in MEDIA_SUFFIXES:
                yield Path(dirpath) / name


def _child(root: Path, name: str) -> Path | None:
    """``root/name`` matched case-insensitively, or None."""
    exact = root / name
    if exact.is_dir():
        return exact
    try:
        for entry in os.scandir(root):
            if entry.is_dir() and entry.name.lower() == name.lower():
                return Path(entry.path)
    except OSError:
        return None
    return None


# -- folder --------------------------------------------------------------------------------------
def read_folder(root: Path) -> Iterator[EvalItem]:
    """``real/`` and ``fake/``; the first subfolder below either names the method."""
    for label, name in ((0, "real"), (1, "fake")):
        top = _child(root, name)
        if top is None:
            continue
        for path in _walk_media(top):
            parts = path.relative_to(top).parts
            method = parts[0] if len(parts) > 1 else name
            yield EvalItem(path, label, method)


# -- labels.csv ----------------------------------------------------------------------------------
def read_labels_csv(csv_path: Path) -> Iterator[EvalItem]:
    """``path,label[,method[,group]]``; paths are relative to the CSV's folder.

    Accepts ``filename``/``file`` for ``path`` (the DFDC test set's CSV) and any
    extra columns (the dev sets add ``source``).
    """
    base = csv_path.parent
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = {f.strip().lower(): f for f in reader.fieldnames or ()}
        path_col = next((fields[k] for k in ("path", "filename", "file") if k in fields), None)
        label_col = fields.get("label")
        if path_col is None or label_col is None:
            raise UsageError(
                f"{csv_path} has columns {', '.join(reader.fieldnames or ()) or '(none)'}",
                hint="a labels.csv needs a header with at least 'path' and 'label' (real/fake or 0/1)",
            )
        method_col = fields.get("method")
        group_col = fields.get("group")
        for line, row in enumerate(reader, start=2):
            raw = (row.get(path_col) or "").strip()
            if not raw:
                continue
            try:
                label = parse_label(row.get(label_col) or "")
            except ValueError as exc:
                raise UsageError(f"{csv_path}:{line}: {exc}") from None
            method = (row.get(method_col) or "").strip() if method_col else ""
            group = (row.get(group_col) or "").strip() if group_col else ""
            p = Path(raw)
            yield EvalItem(p if p.is_absolute() else base / p, label, method or ("fake" if label else "real"), group or None)


# -- FaceForensics++ -----------------------------------------------------------------------------
FFPP_SPLIT_NAMES = ("test.json", "val.json", "train.json")


def _ffpp_split_ids(root: Path, split: str) -> set[str] | None:
    for candidate in (root / "splits" / f"{split}.json", root / f"{split}.json", root / "dataset" / "splits" / f"{split}.json"):
        if candidate.is_file():
            pairs = json.loads(candidate.read_text(encoding="utf-8"))
            ids: set[str] = set()
            for a, b in pairs:
                # Originals are named by id; manipulations by "target_source" in both orders.
                ids.update({a, b, f"{a}_{b}", f"{b}_{a}"})
            return ids
    return None


def read_ffpp(root: Path, *, compression: str | None = None, split: str = "test") -> Iterator[EvalItem]:
    """FaceForensics++ videos at one compression level.

    ``compression`` defaults to ``c23`` (the level most papers report) when it
    exists, else the first one found. When an official split JSON
    (``splits/test.json``) is present, only that split's videos are read; the
    group of every video is its own name (frame-level sets use labels.csv).
    """
    originals = root / "original_sequences"
    manipulated = root / "manipulated_sequences"
    levels = sorted({p.name for p in originals.glob("*/*") if p.is_dir()} | {p.name for p in manipulated.glob("*/*") if p.is_dir()})
    if compression is None:
        compression = "c23" if "c23" in levels else (levels[0] if levels else "c23")
    keep = _ffpp_split_ids(root, split)

    def wanted(path: Path) -> bool:
        return keep is None or path.stem in keep

    for source_dir in sorted(p for p in originals.iterdir() if p.is_dir()) if originals.is_dir() else ():
        for path in _walk_media(source_dir / compression / "videos"):
            if wanted(path):
                yield EvalItem(path, 0, f"original ({source_dir.name})", path.stem)
    for method_dir in sorted(p for p in manipulated.iterdir() if p.is_dir()) if manipulated.is_dir() else ():
        for path in _walk_media(method_dir / compression / "videos"):
            if wanted(path):
                yield EvalItem(path, 1, method_dir.name, path.stem)


# -- Celeb-DF v2 ---------------------------------------------------------------------------------
_CELEBDF_FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}


def read_celebdf(root: Path) -> Iterator[EvalItem]:
    """Celeb-DF (v2): the official test list, where **1 means real** and 0 means synthesised.

    Without ``List_of_testing_videos.txt`` every video in the three folders is read.
    """
    listing = root / "List_of_testing_videos.txt"
    if listing.is_file():
        with listing.open(encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) != 2:
                    continue
                flag, rel = parts
                label = 0 if flag == "1" else 1
                folder = rel.split("/", 1)[0]
                yield EvalItem(root / rel, label, folder, Path(rel).stem)
        return
    for folder, label in _CELEBDF_FOLDERS.items():
        if (root / folder).is_dir():
            for path in _walk_media(root / folder):
                yield EvalItem(path, label, folder, path.stem)


# -- DFDC ----------------------------------------------------------------------------------------
def _dfdc_metadata_files(root: Path) -> list[Path]:
    found = [root / "metadata.json"] if (root / "metadata.json").is_file() else []
    found += sorted(p for p in root.glob("*/metadata.json"))
    return found


def read_dfdc(root: Path) -> Iterator[EvalItem]:
    """DFDC ``metadata.json`` files: ``{"x.mp4": {"label": "FAKE", "original": "y.mp4", ...}}``.

    A fake's group is the original it was made from, so video-level metrics and
    any split by group keep a source and its fakes together.
    """
    for meta in _dfdc_metadata_files(root):
        entries = json.loads(meta.read_text(encoding="utf-8"))
        for name, info in sorted(entries.items()):
            label = parse_label(str(info.get("label", "")))
            original = info.get("original") or None
            yield EvalItem(meta.parent / name, label, "DFDC" if label else "real", original or name)


# -- ASVspoof ------------------------------------------------------------------------------------
_ATTACK = re.compile(r"^A\d\d$")


def _asvspoof_protocols(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d.lower() not in ("flac", "wav")]  # audio folders are huge
        for name in filenames:
            low = name.lower()
            if low.endswith(".txt") and (".cm." in low or low == "trial_metadata.txt"):
                found.append(Path(dirpath) / name)
    # Evaluate on the evaluation partition when it is there: train/dev scores are optimistic.
    for part in ("eval", "dev", "train"):
        chosen = [p for p in found if part in p.name.lower() or (p.name.lower() == "trial_metadata.txt" and part == "eval")]
        if chosen:
            return sorted(chosen)
    return sorted(found)


def read_asvspoof(root: Path) -> Iterator[EvalItem]:
    """ASVspoof 2019 (``ASVspoof2019.LA.cm.eval.trl.txt``) and 2021 (``keys/*/CM/trial_metadata.txt``).

    Each protocol line names a speaker, an utterance id, an attack (``A07``…, or
    ``-`` for bona fide) and ``bonafide``/``spoof``; the audio is found by utterance
    id anywhere below the root (``*.flac`` or ``*.wav``). Method = attack id; group = speaker.
    """
    audio: dict[str, Path] = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            stem, ext = os.path.splitext(name)
            if ext.lower() in (".flac", ".wav"):
                audio.setdefault(stem, Path(dirpath) / name)
    for protocol in _asvspoof_protocols(root):
        with protocol.open(encoding="utf-8") as fh:
            for line in fh:
                tokens = line.split()
                key = next((t for t in tokens if t in ("bonafide", "spoof")), None)
                if key is None or len(tokens) < 2:
                    continue
                utt = tokens[1]
                path = audio.get(utt)
                if path is None:
                    continue  # partial downloads are common; score what is there
                attack = next((t for t in tokens if _ATTACK.match(t)), None)
                label = parse_label(key)
                method = attack or ("bonafide" if label == 0 else "spoof")
                yield EvalItem(path, label, method, tokens[0])


# -- In-the-Wild ---------------------------------------------------------------------------------
def read_in_the_wild(root: Path) -> Iterator[EvalItem]:
    """In-the-Wild ``meta.csv``: ``file,speaker,label`` with label ``spoof``/``bona-fide``; group = speaker."""
    meta = next(p for p in (root / "meta.csv", *sorted(root.glob("*/meta.csv"))) if p.is_file())
    with meta.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            label = parse_label(row["label"])
            yield EvalItem(meta.parent / row["file"], label, "in-the-wild spoof" if label else "bona-fide", row.get("speaker") or None)


# -- detection -----------------------------------------------------------------------------------
def _is_ffpp(root: Path) -> bool:
    return (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir()


def _is_celebdf(root: Path) -> bool:
    return (root / "List_of_testing_videos.txt").is_file() or (root / "Celeb-synthesis").is_dir()


def _is_dfdc(root: Path) -> bool:
    for meta in _dfdc_metadata_files(root)[:1]:
        try:
            with meta.open(encoding="utf-8") as fh:
                head = fh.read(4096)
        except OSError:
            return False
        return '"label"' in head
    return False


def _is_asvspoof(root: Path) -> bool:
    return bool(_asvspoof_protocols(root))


def _is_in_the_wild(root: Path) -> bool:
    for meta in (root / "meta.csv", *sorted(root.glob("*/meta.csv"))):
        if meta.is_file():
            with meta.open(encoding="utf-8") as fh:
                header = fh.readline().lower()
            return "file" in header and "label" in header
    return False


def _is_folder(root: Path) -> bool:
    return _child(root, "real") is not None or _child(root, "fake") is not None


LAYOUTS: dict[str, tuple[Callable[[Path], bool], Callable[[Path], Iterator[EvalItem]]]] = {
    "labels-csv": (lambda r: (r / "labels.csv").is_file(), lambda r: read_labels_csv(r / "labels.csv")),
    "ffpp": (_is_ffpp, read_ffpp),
    "celebdf": (_is_celebdf, read_celebdf),
    "dfdc": (_is_dfdc, read_dfdc),
    "asvspoof": (_is_asvspoof, read_asvspoof),
    "in-the-wild": (_is_in_the_wild, read_in_the_wild),
    "folder": (_is_folder, read_folder),
}


def detect_layout(root: str | os.PathLike[str]) -> str:
    """Name of the layout of ``root`` (a folder, or a labels CSV file); raises ``UsageError`` if none fits."""
    r = Path(root)
    if r.is_file() and r.suffix.lower() == ".csv":
        return "labels-csv"
    if not r.is_dir():
        raise UsageError(f"{root}: no such dataset folder")
    for name, (test, _) in LAYOUTS.items():
        if test(r):
            return name
    raise UsageError(
        f"{root}: not a dataset layout unmask knows",
        hint="use real/ and fake/ subfolders or a labels.csv with 'path,label[,method]' (see `unmask eval --help` for the public sets read as-is)",
    )


def iter_items(root: str | os.PathLike[str], layout: str | None = None) -> Iterator[EvalItem]:
    """Stream the labelled items of ``root`` in a stable order; ``layout`` defaults to ``detect_layout(root)``."""
    r = Path(root)
    name = layout or detect_layout(r)
    if r.is_file():
        return read_labels_csv(r)
    if name not in LAYOUTS:
        raise UsageError(f"unknown dataset layout {name!r}", hint=f"choose one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name][1](r)
