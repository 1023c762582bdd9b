"""The `unmask` command end to end, in subprocesses, on media the tests make."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from unmask.core import MediaKind

HEAVY = ("av", "onnxruntime", "c2pa", "scipy", "rich", "PIL")


def run(*args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unmask", *args], input=stdin, capture_output=True, timeout=timeout)


@pytest.fixture()
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def test_help_lists_exit_codes_and_loads_no_heavy_module():
    out = run("--help")
    assert out.returncode == 0
    text = out.stdout.decode()
    assert "exit codes:" in text and "3   at least one input could not be read" in text
    code = "import sys, unmask.cli as c; c._build_parser(); print(','.join(m for m in %r if m in sys.modules))" % (HEAVY,)
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"CLI start-up imported heavy modules: {loaded}"


def test_detectors_lists_every_registered_detector_without_heavy_imports():
    from unmask import list_detectors

    out = run("detectors", "--json")
    assert out.returncode == 0
    listed = json.loads(out.stdout)
    assert [d["name"] for d in listed] == [c.name for c in list_detectors()]
    assert all(d["version"] and d["summary"] and d["kinds"] for d in listed)
    code = "import sys; from unmask.cli import main; main(['detectors']); print(','.join(m for m in %r if m in sys.modules), file=sys.stderr)" % (HEAVY,)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stderr.strip() == ""


def test_import_unmask_is_lazy():
    code = "import sys, unmask; print(','.join(m for m in ('numpy',) + %r if m in sys.modules))" % (HEAVY,)
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == ""


def test_scan_one_file_json_is_one_object(photo):
    out = run("scan", str(photo), "--json")
    assert out.returncode in (0, 1), out.stderr
    report = json.loads(out.stdout)
    assert isinstance(report, dict) and report["source"] == str(photo)
    assert report["media"]["kind"] == "image" and report["media"]["width_px"] == 320
    assert report["verdict"] in ("likely_manipulated", "likely_authentic", "uncertain")


def test_scan_several_files_json_is_a_list_and_html_report(tmp_path, photo):
    second = tmp_path / "second.png"
    Image.open(photo).save(second)
    html = tmp_path / "out.html"
    out = run("scan", str(photo), str(second), "--json", "--report", str(html))
    assert out.returncode in (0, 1), out.stderr
    reports = json.loads(out.stdout)
    assert [r["source"] for r in reports] == [str(photo), str(second)]
    page = html.read_text()
    assert page.startswith("<!doctype html>") and str(second) in page and "http" not in page.split("<footer>")[0].replace("http://www.w3.org/2000/svg", "")


def test_folder_is_walked_and_non_media_skipped(tmp_path, photo):
    (tmp_path / "notes.txt").write_text("not media")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    Image.open(photo).save(nested / "deep.webp")
    out = run("scan", str(tmp_path), "--json")
    sources = [r["source"] for r in json.loads(out.stdout)]
    assert sorted(sources) == sorted([str(nested / "deep.webp"), str(photo)])


def test_stdin_is_read_as_one_file(photo):
    out = run("scan", "-", "--json", stdin=photo.read_bytes())
    assert out.returncode in (0, 1), out.stderr
    assert json.loads(out.stdout)["source"] == "<stdin>"


def test_usage_errors_exit_2_with_a_message(photo):
    out = run("scan", str(photo), "--detectors", "c2pz")
    assert out.returncode == 2
    err = out.stderr.decode()
    assert "unknown detector 'c2pz'" in err and "did you mean 'c2pa'" in err and "Traceback" not in err
    assert run("scan", str(photo), "--workers", "0").returncode == 2
    assert run("frobnicate").returncode == 2


def test_unreadable_input_exits_3_but_good_files_are_reported(tmp_path, photo):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 10)
    out = run("scan", str(photo), str(bad), str(tmp_path / "missing.png"))
    assert out.returncode == 3
    text = out.stdout.decode()
    assert "COULD NOT" not in text  # the console uses the verdict label
    assert str(photo) in text and "broken" in text and "no such file" in text and "Traceback" not in text + out.stderr.decode()


def test_workers_give_the_same_reports_as_one_process(tmp_path):
    rng = np.random.default_rng(1)
    paths = []
    for i in range(4):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    one = json.loads(run("scan", *paths, "--json").stdout)
    two = json.loads(run("scan", *paths, "--json", "--workers", "2").stdout)
    strip = lambda rs: [(r["source"], r["verdict"], r["probability"], [f["summary"] for f in r["findings"]]) for r in rs]
    assert strip(one) == strip(two)


def test_cold_start_of_help_is_fast():
    t0 = time.perf_counter()
    assert run("--help").returncode == 0
    # A generous bound for a loaded CI machine; bench/ measures the real figure.
    assert time.perf_counter() - t0 < 5.0


def test_experimental_detectors_run_only_when_named(photo):
    from unmask.detectors import default_detectors, list_detectors

    experimental = [c.name for c in list_detectors() if c.experimental]
    if not experimental:
        pytest.skip("no experimental detector registered")
    assert not set(experimental) & {c.name for c in default_detectors()}
    plain = json.loads(run("scan", str(photo), "--json").stdout)
    assert not set(experimental) & {f["detector"] for f in plain["findings"]}
    named = json.loads(run("scan", str(photo), "--json", "--detectors", experimental[0]).stdout)
    assert [f["detector"] for f in named["findings"]] == [experimental[0]]
    assert "experimental" in run("detectors").stdout.decode()


def test_plus_names_add_experimental_detectors_to_the_defaults(photo):
    from unmask.detectors import default_detectors, list_detectors

    experimental = [c.name for c in list_detectors() if c.experimental and c.accepts(MediaKind.IMAGE)]
    if not experimental:
        pytest.skip("no experimental image detector registered")
    added = json.loads(run("scan", str(photo), "--json", "--detectors", f"+{experimental[0]}").stdout)
    ran = {f["detector"] for f in added["findings"]}
    assert ran == {c.name for c in default_detectors() if c.accepts(MediaKind.IMAGE)} | {experimental[0]}
    mixed = run("scan", str(photo), "--detectors", f"c2pa,+{experimental[0]}")
    assert mixed.returncode == 2 and b"Traceback" not in mixed.stderr
