"""Train the digit classifier behind genlib's domain metrics and write its weights.

    .venv/bin/python scripts/train_mnist_classifier.py            # writes genlib/metrics/mnist_classifier_v1.pt

Deterministic: a fixed seed, the CPU, one thread and ``torch.use_deterministic_algorithms``;
the same torch version on the same kind of CPU reproduces the file byte for byte. It trains
:class:`genlib.metrics.features.DigitClassifier` on the 4,000 training images of
:func:`genlib.data.mnist` with random shifts of up to ±2 pixels (pad + crop, drawn from a
seeded generator), prints the accuracy on the 1,000 test images and the file's SHA-256.

The weights define the book's domain FID. Replacing them is a new classifier version: bump
``CLASSIFIER_VERSION`` in ``genlib/metrics/features.py`` (the file name follows it), paste the
printed SHA-256 into ``WEIGHTS_SHA256`` there, and rerun the notebooks.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genlib.data import batches, mnist  # noqa: E402
from genlib.metrics import features  # noqa: E402
from genlib._io import write_atomically  # noqa: E402

SEED = 0
EPOCHS = 20
BATCH_SIZE = 64
LR = 2e-3
WEIGHT_DECAY = 1e-4
MAX_SHIFT = 2


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift every image by its own (dy, dx) in [-max_shift, max_shift]², filling with zeros."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)                                          # (N, 1, H+2s, W+2s)
    off = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    rows = off[0][:, None] + torch.arange(h)                                     # (N, H)
    cols = off[1][:, None] + torch.arange(w)                                     # (N, W)
    out = padded[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]]  # (N, H, W)
    return out.unsqueeze(1)


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    pred = torch.cat([model(xb).argmax(1) for xb in x.split(1000)])
    model.train()
    return (pred == y).float().mean().item()


def train(*, epochs: int = EPOCHS, seed: int = SEED, verbose: bool = True) -> torch.nn.Module:
    torch.manual_seed(seed)  # the initial weights
    generator = torch.Generator().manual_seed(seed)  # minibatch order and shifts (dropout: global RNG)
    x_train, y_train = mnist("train")
    model = features.DigitClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps = epochs * -(-len(x_train) // BATCH_SIZE)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=0.15)
    model.train()
    for epoch in range(epochs):
        total = 0.0
        for xb, yb in batches(x_train, y_train, batch_size=BATCH_SIZE, generator=generator):
            xb = random_shift(xb, MAX_SHIFT, generator)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(xb)
        if verbose:  # training loss only: the test split is looked at once, at the end
            print(f"epoch {epoch + 1:2d}/{epochs}  train loss {total / len(x_train):.4f}", flush=True)
    return model.eval()


def serialize(model: torch.nn.Module) -> bytes:
    """The state dict as ``torch.save`` bytes (saved to memory, so the archive name is fixed)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=features._WEIGHTS_PATH,
                        help="where to write the weights (default: the package's file)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    start = time.perf_counter()
    model = train(epochs=args.epochs, seed=args.seed)
    data = serialize(model)
    write_atomically(args.out, data)
    x_test, y_test = mnist("test")
    print(f"trained in {time.perf_counter() - start:.0f} s")
    print(f"test accuracy (1,000 images): {accuracy(model, x_test, y_test):.4f}")
    print(f"wrote {args.out} ({len(data):,} bytes)")
    print(f"SHA-256: {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
