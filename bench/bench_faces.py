"""Face detection quality on ../shared, and face-swap scan speed on a 720p H.264 video.

    python bench/bench_faces.py detect                 # recall per source + detections on photos
    python bench/bench_faces.py detect --sheet out.png # also a contact sheet of every photo detection
    python bench/bench_faces.py speed                  # 720p scan vs decode-only, x real time
    python bench/bench_faces.py speed --seconds 10 --repeats 3

**Detection.** ``../shared/data/faces/faces.jsonl``: every image holds one annotated
face (crops of AFW, Helen, YouTube Faces with iBUG 68-point landmarks, and webmorph
portraits with psychomorph templates). A 68-point face counts as **found** when one
detection's five points lie within a mean error of 0.25 inter-ocular distances of
the five points derived from the annotation (``five_from_68``: eye centres, nose tip,
mouth corners); the table also gives the looser "box" criterion (IoU >= 0.4 between a
detection box and the box of the 68 points). Webmorph faces (other templates) count
as found when a detection box contains the centroid of the annotated points;
``webmorph-smiling_front`` has no points and counts when anything is detected.
Other detections in a face crop are not counted: crops may hold other people.
``../shared/data/photos``: real scenes (BSDS500, Kodak, ImageNet sample); the figure
is detections per image -- look at the sheet to tell real faces (there are people in
these photos) from false ones.

**Speed.** A 720p H.264 clip (30 fps, CRF 23, a real face from ../shared pasted in when
present) is scanned by the ``face-swap`` detector at the default sampling, and decoded
alone (every frame to RGB, as ``bench_scan.py`` does); both in this process, medians of
``--repeats`` runs. x real time = clip length / scan time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _machine() -> str:
    import onnxruntime

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}"


def _nme(points: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(points - truth, axis=1).mean() / max(np.linalg.norm(truth[0] - truth[1]), 1e-6))


def _iou(a, b) -> float:
    from unmask.faces import box_iou

    return box_iou(tuple(a), tuple(b))


def bench_detect(shared: Path, sheet: Path | None, limit: int | None) -> int:
    from PIL import Image

    from unmask.faces import detect_faces, five_from_68

    base = shared / "data" / "faces"
    recs = [json.loads(line) for line in open(base / "faces.jsonl")]
    if limit:
        recs = recs[::max(1, len(recs) // limit)]
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    misses: list[str] = []
    t0 = time.perf_counter()
    for rec in recs:
        rgb = np.asarray(Image.open(base / rec["file"]).convert("RGB"))
        dets = detect_faces(rgb)
        s = stats[rec["source"]]
        s["faces"] += 1
        s["detections"] += len(dets)
        lm = np.asarray(rec["landmarks"], float) if rec.get("landmarks") else None
        if rec.get("landmark_scheme") == "68pt":
            truth = five_from_68(lm)
            gt_box = (*lm.min(0), *lm.max(0))
            pts_ok = any(_nme(d.points, truth) < 0.25 for d in dets)
            box_ok = any(_iou(d.box, gt_box) >= 0.4 for d in dets)
            s["found"] += pts_ok
            s["found_box"] += box_ok
            if not pts_ok:
                misses.append(f"{rec['file']} ({'box only' if box_ok else 'missed'})")
        elif lm is not None:
            cx, cy = lm.mean(0)
            ok = any(d.box[0] <= cx <= d.box[2] and d.box[1] <= cy <= d.box[3] for d in dets)
            s["found"] += ok
            s["found_box"] += ok
        else:
            s["found"] += bool(dets)
            s["found_box"] += bool(dets)
    dt = time.perf_counter() - t0
    print(f"# face detection on ../shared/data/faces ({_machine()}; {len(recs)} images, {dt / len(recs) * 1000:.0f} ms per image)\n")
    print("| source | faces | found (5 points, NME < 0.25) | found (box IoU >= 0.4) | detections per image |")
    print("|---|---|---|---|---|")
    tot = defaultdict(int)
    for src in sorted(stats):
        s = stats[src]
        for k, v in s.items():
            tot[k] += v
        print(f"| {src} | {s['faces']} | {s['found'] / s['faces']:.1%} | {s['found_box'] / s['faces']:.1%} | {s['detections'] / s['faces']:.2f} |")
    print(f"| **all** | {tot['faces']} | **{tot['found'] / tot['faces']:.1%}** | {tot['found_box'] / tot['faces']:.1%} | {tot['detections'] / tot['faces']:.2f} |")
    ann = {k: v for k, v in stats.items() if k in ("afw", "helen", "ytf")}
    n68 = sum(s["faces"] for s in ann.values())
    if n68:
        print(f"\n68-point faces (afw, helen, ytf): {sum(s['found'] for s in ann.values())}/{n68} found by points = {sum(s['found'] for s in ann.values()) / n68:.2%}")
    print("misses:", ", ".join(misses[:40]) + (" ..." if len(misses) > 40 else ""))

    photos = sorted(p for p in (shared / "data" / "photos").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    per_folder: dict[str, list[int]] = defaultdict(list)
    crops = []
    for p in photos:
        rgb = np.asarray(Image.open(p).convert("RGB"))
        dets = detect_faces(rgb)
        per_folder[p.parent.name].append(len(dets))
        for d in dets:
            x0, y0, x1, y1 = (int(round(v)) for v in d.box)
            pad = int(0.3 * (x1 - x0))
            crop = Image.fromarray(rgb).crop((x0 - pad, y0 - pad, x1 + pad, y1 + pad)).resize((96, 96))
            crops.append((f"{p.parent.name}/{p.name} {d.score:.2f} {x1 - x0}px", crop))
    print(f"\n# detections on ../shared/data/photos ({len(photos)} real scene photos)\n")
    print("| folder | photos | detections | per photo | photos with any |")
    print("|---|---|---|---|---|")
    for folder, counts in sorted(per_folder.items()):
        print(f"| {folder} | {len(counts)} | {sum(counts)} | {sum(counts) / len(counts):.3f} | {sum(c > 0 for c in counts)} |")
    allc = [c for v in per_folder.values() for c in v]
    print(f"| **all** | {len(allc)} | {sum(allc)} | {sum(allc) / max(len(allc), 1):.3f} | {sum(c > 0 for c in allc)} |")
    for label, _ in crops:
        print("  detection:", label)
    if sheet and crops:
        from PIL import ImageDraw

        cols = 8
        rows = (len(crops) + cols - 1) // cols
        canvas = Image.new("RGB", (cols * 100, rows * 116), "white")
        d = ImageDraw.Draw(canvas)
        for i, (label, crop) in enumerate(crops):
            x, y = (i % cols) * 100, (i // cols) * 116
            canvas.paste(crop, (x + 2, y + 2))
            d.text((x + 2, y + 100), f"{i}", fill="black")
        canvas.save(sheet)
        print(f"contact sheet: {sheet} (numbered in the order listed above)")
    return 0


def bench_speed(shared: Path | None, seconds: float, repeats: int, weights: Path | None = None) -> int:
    import av

    from unmask.config import ScanOptions
    from unmask.detectors._registry import create
    from unmask.media import open_media
    from unmask.testing.faces import make_face_video, shared_faces

    face = next(shared_faces(), None) if shared else None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "face720.mp4"
        make_face_video(path, face.rgb if face else None, size=(1280, 720), seconds=seconds, fps=30, face_px=300)

        def decode() -> None:
            with av.open(str(path)) as c:
                s = c.streams.video[0]
                s.thread_type = "AUTO"
                for frame in c.decode(s):
                    frame.to_ndarray(format="rgb24")

        options = ScanOptions()
        det = create("face-swap", options)
        if weights is not None:  # a model under development, same contract as the shipped one
            from unmask.detectors.face_swap import FaceSwapModel

            det._model = FaceSwapModel(weights)
        item = open_media(path)
        det.analyze(item)  # load the models once, as a scan of many files does

        def scan():
            return det.analyze(open_media(path))

        # Decode and scan alternate, so that a change in the machine's load hits both alike.
        runs: dict[str, list[tuple[float, float]]] = {"decode": [], "scan": []}
        for _ in range(repeats):
            for name, fn in (("decode", decode), ("scan", scan)):
                t, c = time.perf_counter(), time.process_time()
                fn()
                runs[name].append((time.perf_counter() - t, time.process_time() - c))

        def med(name: str) -> tuple[float, float]:
            return statistics.median(w for w, _ in runs[name]), statistics.median(c for _, c in runs[name])

        (t_dec, c_dec), (t_scan, c_scan) = med("decode"), med("scan")
        finding = scan()
        load = os.getloadavg()[0]
    print(f"# face-swap on a {seconds:g} s 720p30 H.264 clip ({_machine()}; face: {'../shared ' + face.path.name if face else 'none'})\n")
    print("| pass | wall s | x real time | CPU s (all threads) |")
    print("|---|---|---|---|")
    print(f"| decode only (every frame to RGB) | {t_dec:.2f} | {seconds / t_dec:.1f} | {c_dec:.2f} |")
    print(
        f"| face-swap scan at {options.video_sample_fps:g} fps sampling (open + probe + decode + detect + track + model + report images) "
        f"| {t_scan:.2f} | **{seconds / t_scan:.1f}** | {c_scan:.2f} |"
    )
    print(f"\nscan / decode-only = {t_scan / t_dec:.2f} (wall), {c_scan / c_dec:.2f} (CPU); 1-min load average during the run {load:.1f}")
    print(f"finding: {finding.status.value}, p={finding.probability_fake}, timings_ms={finding.timings_ms}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("detect", "speed"))
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--sheet", type=Path, help="detect: write a contact sheet of photo detections here")
    ap.add_argument("--limit", type=int, help="detect: only about this many face images (evenly spread)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--weights", type=Path, help="speed: folder with another face-swap.onnx + face-swap.json (default: the shipped model)")
    args = ap.parse_args(argv)
    shared = args.shared if (args.shared / "data" / "faces" / "faces.jsonl").is_file() else None
    if args.what == "detect":
        if shared is None:
            print(f"no face data at {args.shared}/data/faces: nothing to measure", file=sys.stderr)
            return 2
        return bench_detect(shared, args.sheet, args.limit)
    return bench_speed(shared, args.seconds, args.repeats, args.weights)


if __name__ == "__main__":
    raise SystemExit(main())
