"""Each dataset layout, on a tiny dataset written in that layout (readers never open the media)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from unmask.errors import UsageError
from unmask.eval.layouts import EvalItem, detect_layout, iter_items

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00")
    return path


def _items(root: Path) -> list[EvalItem]:
    return list(iter_items(root))


def test_folder_layout_nested_methods(tmp_path: Path) -> None:
    _touch(tmp_path / "real" / "a.jpg")
    _touch(tmp_path / "real" / "sub" / "b.png")
    _touch(tmp_path / "Fake" / "stylegan" / "x" / "c.png")
    _touch(tmp_path / "Fake" / "sdxl" / "d.webp")
    _touch(tmp_path / "Fake" / "loose.jpg")
    _touch(tmp_path / "Fake" / "sdxl" / "notes.txt")  # not media: ignored
    assert detect_layout(tmp_path) == "folder"
    items = _items(tmp_path)
    got = {(i.path.name, i.label, i.method) for i in items}
    assert got == {("a.jpg", 0, "real"), ("b.png", 0, "sub"), ("c.png", 1, "stylegan"), ("d.webp", 1, "sdxl"), ("loose.jpg", 1, "fake")}


def test_labels_csv_layout(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text(
        'path,label,method,source\nimg/1.png,fake,"GAN, big",x\nimg/2.png,real,,y\nimg/3.png,1,sd,z\nimg/4.png,bonafide,cam,w\n',
        encoding="utf-8",
    )
    _touch(tmp_path / "real" / "ignored.png")  # labels.csv wins over real/ + fake/
    assert detect_layout(tmp_path) == "labels-csv"
    items = _items(tmp_path)
    assert [(i.path, i.label, i.method) for i in items] == [
        (tmp_path / "img/1.png", 1, "GAN, big"),
        (tmp_path / "img/2.png", 0, "real"),
        (tmp_path / "img/3.png", 1, "sd"),
        (tmp_path / "img/4.png", 0, "cam"),
    ]
    # A CSV path works as the root too.
    assert detect_layout(tmp_path / "labels.csv") == "labels-csv"
    assert len(list(iter_items(tmp_path / "labels.csv"))) == 4


def test_labels_csv_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("path,label\na.png,maybe\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"labels.csv:2: unknown label 'maybe'"):
        _items(tmp_path)
    (tmp_path / "labels.csv").write_text("file_name,y\na.png,1\n", encoding="utf-8")
    with pytest.raises(UsageError, match="file_name, y"):
        _items(tmp_path)


def test_ffpp_layout_uses_c23_and_the_official_split(tmp_path: Path) -> None:
    for comp in ("c23", "c40"):
        _touch(tmp_path / "original_sequences/youtube" / comp / "videos/000.mp4")
        _touch(tmp_path / "original_sequences/youtube" / comp / "videos/001.mp4")
        _touch(tmp_path / "original_sequences/youtube" / comp / "videos/005.mp4")
        for method in ("Deepfakes", "FaceSwap"):
            _touch(tmp_path / "manipulated_sequences" / method / comp / "videos/000_001.mp4")
            _touch(tmp_path / "manipulated_sequences" / method / comp / "videos/005_007.mp4")
    assert detect_layout(tmp_path) == "ffpp"
    items = _items(tmp_path)
    assert all("/c23/" in str(i.path) for i in items)
    assert len(items) == 3 + 4
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "test.json").write_text(json.dumps([["000", "001"]]), encoding="utf-8")
    items = _items(tmp_path)
    assert sorted((i.path.stem, i.label, i.method) for i in items) == [
        ("000", 0, "original (youtube)"),
        ("000_001", 1, "Deepfakes"),
        ("000_001", 1, "FaceSwap"),
        ("001", 0, "original (youtube)"),
    ]


def test_celebdf_layout_reads_one_as_real(tmp_path: Path) -> None:
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00170.mp4\n1 Celeb-real/id0_0001.mp4\n0 Celeb-synthesis/id0_id1_0001.mp4\n", encoding="utf-8"
    )
    assert detect_layout(tmp_path) == "celebdf"
    items = _items(tmp_path)
    assert [(i.path.name, i.label, i.method) for i in items] == [
        ("00170.mp4", 0, "YouTube-real"),
        ("id0_0001.mp4", 0, "Celeb-real"),
        ("id0_id1_0001.mp4", 1, "Celeb-synthesis"),
    ]


def test_dfdc_layout_groups_fakes_with_their_original(tmp_path: Path) -> None:
    part = tmp_path / "dfdc_train_part_0"
    part.mkdir()
    (part / "metadata.json").write_text(
        json.dumps(
            {
                "aaa.mp4": {"label": "FAKE", "split": "train", "original": "bbb.mp4"},
                "bbb.mp4": {"label": "REAL", "split": "train", "original": None},
            }
        ),
        encoding="utf-8",
    )
    assert detect_layout(tmp_path) == "dfdc"
    items = _items(tmp_path)
    assert [(i.path, i.label, i.group) for i in items] == [(part / "aaa.mp4", 1, "bbb.mp4"), (part / "bbb.mp4", 0, "bbb.mp4")]


def test_asvspoof_2019_prefers_the_eval_protocol(tmp_path: Path) -> None:
    proto = tmp_path / "ASVspoof2019_LA_cm_protocols"
    proto.mkdir()
    (proto / "ASVspoof2019.LA.cm.eval.trl.txt").write_text(
        "LA_0039 LA_E_2834763 - A11 spoof\nLA_0014 LA_E_8877452 - - bonafide\nLA_0001 LA_E_0000000 - A07 spoof\n", encoding="utf-8"
    )
    (proto / "ASVspoof2019.LA.cm.train.trn.txt").write_text("LA_0079 LA_T_1138215 - - bonafide\n", encoding="utf-8")
    _touch(tmp_path / "ASVspoof2019_LA_eval/flac/LA_E_2834763.flac")
    _touch(tmp_path / "ASVspoof2019_LA_eval/flac/LA_E_8877452.flac")
    _touch(tmp_path / "ASVspoof2019_LA_train/flac/LA_T_1138215.flac")
    assert detect_layout(tmp_path) == "asvspoof"
    items = _items(tmp_path)  # LA_E_0000000 has no audio: skipped; train protocol not used
    assert [(i.path.name, i.label, i.method, i.group) for i in items] == [
        ("LA_E_2834763.flac", 1, "A11", "LA_0039"),
        ("LA_E_8877452.flac", 0, "bonafide", "LA_0014"),
    ]


def test_asvspoof_2021_trial_metadata(tmp_path: Path) -> None:
    keys = tmp_path / "keys" / "DF" / "CM"
    keys.mkdir(parents=True)
    (keys / "trial_metadata.txt").write_text(
        "LA_0043 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -\n"
        "LA_0013 DF_E_2000013 mp3m4a vcc2020 bonafide bonafide notrim eval - - - - -\n",
        encoding="utf-8",
    )
    _touch(tmp_path / "ASVspoof2021_DF_eval/flac/DF_E_2000011.flac")
    _touch(tmp_path / "ASVspoof2021_DF_eval/flac/DF_E_2000013.flac")
    assert detect_layout(tmp_path) == "asvspoof"
    assert [(i.label, i.method) for i in _items(tmp_path)] == [(1, "A14"), (0, "bonafide")]


def test_in_the_wild_layout(tmp_path: Path) -> None:
    base = tmp_path / "release_in_the_wild"
    base.mkdir()
    (base / "meta.csv").write_text("file,speaker,label\n0.wav,Alec Guinness,spoof\n1.wav,Alec Guinness,bona-fide\n", encoding="utf-8")
    assert detect_layout(tmp_path) == "in-the-wild"
    assert [(i.path, i.label, i.group) for i in _items(tmp_path)] == [(base / "0.wav", 1, "Alec Guinness"), (base / "1.wav", 0, "Alec Guinness")]


def test_unknown_layout_says_what_to_do(tmp_path: Path) -> None:
    _touch(tmp_path / "x.png")
    with pytest.raises(UsageError) as err:
        detect_layout(tmp_path)
    assert "labels.csv" in (err.value.hint or "")
    with pytest.raises(UsageError, match="no such dataset folder"):
        detect_layout(tmp_path / "missing")


def test_readers_are_lazy(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("path,label\n" + "".join(f"{i}.png,real\n" for i in range(1000)) + "bad.png,??\n", encoding="utf-8")
    it = iter_items(tmp_path)
    assert next(it).path.name == "0.png"  # the bad last line has not been read yet


@pytest.mark.parametrize("name", ["audio", "faces", "genimg"])
def test_dev_sets_read_as_labels_csv(name: str) -> None:
    root = SHARED / "data" / "dev" / name
    if not (root / "labels.csv").is_file():
        pytest.skip(f"{root} is not available")
    assert detect_layout(root) == "labels-csv"
    items = _items(root)
    labels = Counter(i.label for i in items)
    assert labels[0] > 0 and labels[1] > 0
    assert all(i.path.is_file() for i in items)
    assert len({i.method for i in items if i.label == 1}) >= 2
