"""The wheel of genlib (what Colab and `make colab-check` install) ships the digit classifier."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from genlib.metrics import features

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_classifier_weights(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True,
                   timeout=300)
    (wheel,) = tmp_path.glob("genlib-*.whl")
    name = f"genlib/metrics/mnist_classifier_v{features.CLASSIFIER_VERSION}.pt"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert name in names, f"{name} missing from {wheel.name}"
        shipped = hashlib.sha256(z.read(name)).hexdigest()
    committed = (ROOT / name).read_bytes()
    assert shipped == hashlib.sha256(committed).hexdigest() == features.WEIGHTS_SHA256
    assert not [n for n in names if n.startswith(("tests/", "tools/", "book/"))], names
