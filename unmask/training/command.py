"""``unmask train images|faces|voice|lip-sync ...``: the CLI face of ``unmask.training`` (needs the ``train`` extra).

``register(sub)`` adds the subcommand to the CLI's subparsers; torch is imported
only when the command runs, so ``unmask --help`` stays fast without the extra.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train", help="train unmask's own models (needs: pip install 'unmask[train]')"
    )
    what = p.add_subparsers(dest="train_what", metavar="MODEL")
    images = what.add_parser(
        "images",
        help="the ai-image generated-picture model: make fakes, train, validate (then export, calibrate)",
        add_help=False,
    )
    images.add_argument("rest", nargs=argparse.REMAINDER)
    images.set_defaults(func=_cmd_images)
    from unmask.training.faces_train import (
        add_arguments,  # argparse only: no torch, no OpenCV
    )

    faces = what.add_parser(
        "faces",
        help="the face-swap model: self-blended images of real faces, checkpoints, --resume (then faces_calibrate)",
        description="Train the face-swap model on Self-Blended Images of real faces (see unmask/models/face-swap.md).",
    )
    add_arguments(faces)
    faces.set_defaults(func=_cmd_faces)
    voice = what.add_parser(
        "voice",
        help="the voice model: real speech + self-made spoofs (DSP, espeak, pretrained HiFi-GAN, Kokoro/hibari/Piper TTS) → log-spectrum LCNN → ONNX",
        description="Make spoofs from ../shared speech, train, calibrate and export the voice model (see unmask/models/voice.md). "
        "Every stage resumes: finished feature files are kept, training continues from <out>/last.pt.",
    )
    voice.add_argument("--shared", default="../shared", help="folder holding data/speech (default: ../shared)")
    voice.add_argument("--out", default="out/voice", help="features and checkpoints (default: out/voice)")
    voice.add_argument("--stage", choices=["all", "spoofs", "hifigan", "tts", "fit"], default="all",
                       help="spoofs: real + DSP/espeak features; hifigan: pretrained-vocoder spoofs; tts: Kokoro-82M, hibari and Piper TTS spoofs; "
                       "fit: train, calibrate, export")
    voice.add_argument("--workers", type=int, default=2, help="processes for the spoof stages")
    voice.add_argument("--minutes", type=float, default=18.0, help="time for the first training run; the fine-tune gets 45 %% of it")
    voice.set_defaults(func=_cmd_voice)
    lips = what.add_parser(
        "lip-sync",
        help="calibrate the lip-sync detector on real talking clips vs shifted/swapped/TTS audio and frozen/smoothed mouths",
        description="Calibrate lip-sync on ../shared talking clips and self-made negatives (see unmask/models/lip-sync.md).",
    )
    lips.add_argument("--data", default="../shared/data", help="folder holding faces/videos and talking/ (default: ../shared/data)")
    lips.add_argument("--cache", default="out/lipsync-cache", help="per-clip mouth signals are cached here")
    lips.add_argument("--out", default=None, help="calibration JSON to write (default: the shipped unmask/detectors/weights/lip-sync.json)")
    lips.add_argument("--report", default="out/lipsync-report.json", help="held-out AUCs and offsets as JSON")
    lips.add_argument("--end-to-end", action="store_true", help="also scan re-encoded held-out clips with the shipped detector (a few minutes)")
    lips.set_defaults(func=_cmd_lip_sync)


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        from unmask.errors import UsageError

        raise UsageError(
            "training needs PyTorch", hint="pip install 'unmask[train]'"
        ) from None


def _cmd_images(args: argparse.Namespace) -> int:
    _require_torch()
    from unmask.training.train_images import main

    return main(list(args.rest))


def _cmd_faces(args: argparse.Namespace) -> int:
    _require_torch()
    from unmask.training.faces_train import run

    return run(args)


def _cmd_voice(args: argparse.Namespace) -> int:
    _require_torch()
    from unmask.training import voice_data, voice_hifigan, voice_train, voice_tts

    common = ["--shared", args.shared, "--out", args.out, "--workers", str(args.workers)]
    if args.stage in ("all", "spoofs"):
        voice_data.main(common)
    if args.stage in ("all", "hifigan"):
        voice_hifigan.main(common)
    if args.stage in ("all", "tts"):
        voice_tts.main(common)
    if args.stage in ("all", "fit"):
        # The recipe of 0.5.0: one log-spectrum network on every spoof family, a run at a constant learning rate, then a
        # fine-tune from its best checkpoint with the rate decayed to zero and crops of 1-4 s (the detector scores
        # windows that short when a recording has little speech), calibrated on the validation clips and their channels.
        # (0.3.0-0.4.0: the mean of two LFCC networks, one without the TTS spoofs; see unmask/models/voice.md.)
        fit = ["--out", args.out, "--shared", args.shared, "--features", "logspec"]
        voice_train.main(fit + ["--run", "spec-base", "--weights-dir", f"{args.out}/spec-base/weights", "--minutes", str(args.minutes)])
        voice_train.main(fit + ["--run", "spec-short", "--minutes", str(round(args.minutes * 0.45, 1)), "--lr", "5e-4", "--cosine",
                                "--min-frames", "100", "--init", f"{args.out}/spec-base/best.pt"])
    return 0


def _cmd_lip_sync(args: argparse.Namespace) -> int:
    # numpy + scikit-learn only: no torch needed
    try:
        import sklearn  # noqa: F401
    except ImportError:
        from unmask.errors import UsageError

        raise UsageError("calibrating lip-sync needs scikit-learn", hint="pip install scikit-learn (or 'unmask[test]')") from None
    from unmask.training.lipsync_calibrate import main

    argv = ["--data", args.data, "--cache", args.cache, "--report", args.report] + (["--out", args.out] if args.out else [])
    return main(argv + (["--end-to-end"] if args.end_to_end else []))
