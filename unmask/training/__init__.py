"""Training code for unmask's own models (the ``train`` extra: PyTorch).

Nothing in ``unmask`` outside this package imports it, and a scan never needs
torch: each trainer writes a plain checkpoint and ``export`` turns it into the
ONNX file that ships in ``unmask/detectors/weights/`` together with its card.

- ``images_data``   real photos → paired real / generated crops through one random degradation chain
- ``images_model``  the residual CNN behind the ``ai-image`` detector
- ``train_images``  ``python -m unmask.training.train_images``: build data, train, validate, calibrate
- ``export``        checkpoint → ONNX, checked against torch, with its sha256
- ``calibrate_images``  Platt scaling + default threshold from held-out real photos → ``weights/ai-image.json``
- ``command``       ``unmask train images|faces|voice|lip-sync ...`` (registered by the CLI when present)
- ``voice_*``       the voice model's trainer (see those modules)
- ``faces_data``    Self-Blended Images (full face and mouth/jaw) from real aligned faces, one degradation chain for both classes
- ``faces_model``   ImageNet MobileNetV2 + face logit + blending-boundary head behind the ``face-swap`` detector
- ``faces_train``   ``unmask train faces``: identity-split training with per-epoch checkpoints and ``--resume``
- ``faces_calibrate``  export + Platt scaling + threshold at a stated FPR on held-out identities → ``weights/face-swap.json``
- ``faces_dev``     score the exported graph on a labelled dev set (per method, videos as videos); measurement only
"""
