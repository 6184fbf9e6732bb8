"""Train (or load) every shared zoo model that the chapters read, one after the other.

``make test`` runs this before it re-executes the chapters side by side. Without it, the first
chapters to ask for a model that is not cached yet would train it inside their own time, and
when two chapters running at once ask for the same one, one of them would wait on the cache's
file lock with a CPU core idle. The unit tests have already trained the extra GAN and cGAN
seeds (``tests/test_zoo_book.py``); this trains what is left. Cached models only load.

Usage: python -m tools.warm_zoo        (prints one line per model with the seconds it took)
"""

from __future__ import annotations

import sys
import time

from genlib import zoo

#: What the chapters ask ``genlib.zoo`` for (grep "zoo.mnist_" book/*.ipynb), in a fixed order.
MODELS = (
    *((f"mnist_vae(latent_dim=20, seed={s})", lambda s=s: zoo.mnist_vae(latent_dim=20, seed=s)) for s in (0, 1, 2)),
    ("mnist_autoencoder(latent_dim=20)", lambda: zoo.mnist_autoencoder(latent_dim=20)),
    *((f"mnist_gan(seed={s})", lambda s=s: zoo.mnist_gan(seed=s)) for s in (0, 1, 2)),
    *((f"mnist_cgan(seed={s})", lambda s=s: zoo.mnist_cgan(seed=s)) for s in (0, 1, 2)),
)


def main() -> int:
    t_all = time.perf_counter()
    for name, load in MODELS:
        t0 = time.perf_counter()
        load()
        print(f"warm_zoo: {name:<34} {time.perf_counter() - t0:6.1f} s", flush=True)
    print(f"warm_zoo: {'all':<34} {time.perf_counter() - t_all:6.1f} s (cache {zoo.cache_dir()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
