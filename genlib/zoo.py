"""Trained models shared between chapters, trained once and cached on disk.

Several chapters need the same trained model (a VAE on MNIST, say). The first chapter that
asks trains it deterministically on the CPU and writes the weights to the cache; the next
one loads them in a fraction of a second. The cache lives in ``$GENLIB_CACHE`` if that is
set, else in the user's cache folder (``platformdirs.user_cache_dir("genlib")``).

How an entry is stored (see :func:`get_or_train`):

- ``<cache>/<name>-<key>.pt``: ``torch.save`` of a dict with the ``state_dict`` and metadata;
  ``<key>`` hashes the config, the entry's version, genlib's version and torch's major.minor,
  so changing any of them trains a new model instead of loading a stale one.
- ``<cache>/<name>-<key>.pt.sha256``: the SHA-256 of the ``.pt`` file (``sha256sum`` format).
- ``<cache>/<name>-<key>.pt.lock``: the lock that serialises processes asking at once.

Both files are written atomically (a temporary file in the cache folder, then ``os.replace``).
On load the checksum is verified and the file is read with ``torch.load(weights_only=True)``;
a file that is corrupted, truncated, or not a plain weights file triggers a warning and is
retrained and rewritten, never loaded.

**Versioning rule.** Each named entry has a version string in :data:`VERSIONS`. Bump it
whenever the code that builds or trains that model changes (architecture, training loop,
data, defaults of :func:`genlib.train.train_vae` …) so caches made by older code are not
reused. Changing a hyper-parameter needs no bump: it is part of the config, hence the key.

Example:
    >>> vae = mnist_vae(20)          # trains (~10-20 s on 2 CPU cores) or loads from the cache
    >>> vae.sample(4).shape
    torch.Size([4, 1, 28, 28])
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

import genlib
from genlib._io import write_atomically

__all__ = ["cache_dir", "get_or_train", "clear", "mnist_vae", "mnist_autoencoder", "VERSIONS",
           "CacheWarning"]

#: Version of each named entry's training code; bump it when that code changes.
VERSIONS: dict[str, str] = {"mnist_vae": "1", "mnist_autoencoder": "1"}

_FORMAT = 1  # layout of the stored dict
_NAME = re.compile(r"[a-z0-9_]+")  # no "-" so that "<name>-<key>" splits unambiguously
_KEY_CHARS = 16
_LOCK_TIMEOUT_S = 1800.0  # a waiting process gives up after half an hour


class CacheWarning(UserWarning):
    """A cached model could not be used (corrupted, truncated, unsafe or stale) and is retrained."""


def cache_dir() -> Path:
    """The folder of the model cache: ``$GENLIB_CACHE`` if set, else the user cache dir.

    The folder is not created here; :func:`get_or_train` creates it when it first writes.
    """
    env = os.environ.get("GENLIB_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("genlib"))


def _check_name(name) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"expected a name of lowercase letters, digits and '_', got {name!r}")
    return name


def _torch_minor() -> str:
    return ".".join(torch.__version__.split("+")[0].split(".")[:2])


def _canonical_config(config) -> str:
    if not isinstance(config, dict):
        raise TypeError(f"expected config to be a dict, got {type(config).__name__}")
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"expected a JSON-serialisable config of str keys and plain values, "
                         f"got {config!r} ({err})") from None


def _key(name: str, config_json: str, version: str, seed: int) -> str:
    blob = json.dumps({"name": name, "config": config_json, "version": version, "seed": seed,
                       "genlib": genlib.__version__, "torch": _torch_minor(), "format": _FORMAT},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:_KEY_CHARS]


@contextlib.contextmanager
def _isolated_rng(seed: int) -> Iterator[None]:
    """Seed Python, NumPy and torch's CPU RNG for the block, then restore their previous states.

    CUDA generators are not touched: zoo models are built and trained on the CPU.
    """
    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.default_generator.manual_seed(seed)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)


def _build(build: Callable[[], nn.Module]) -> nn.Module:
    model = build()
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected build() to return an nn.Module, got {type(model).__name__}")
    return model.to("cpu")


def _try_load(path: Path, build, seed: int, meta: dict[str, Any]) -> nn.Module | None:
    """The cached model, or ``None`` (with a :class:`CacheWarning`) if it cannot be trusted."""
    sidecar = path.with_name(path.name + ".sha256")
    if not path.exists():
        return None
    try:
        data = path.read_bytes()
        recorded = sidecar.read_text().split()[0] if sidecar.exists() else None
        if recorded is None:
            raise ValueError("its checksum file is missing")
        digest = hashlib.sha256(data).hexdigest()
        if digest != recorded:
            raise ValueError(f"its SHA-256 is {digest}, expected {recorded}")
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("state_dict"), dict):
            raise ValueError(f"expected a dict with a state_dict, got {type(payload).__name__}")
        stored = {k: payload.get(k) for k in meta}
        if stored != meta:
            raise ValueError(f"its metadata {stored} do not match {meta}")
        with _isolated_rng(seed):  # the throw-away initial weights must not consume the caller's RNG
            model = _build(build)
        model.load_state_dict(payload["state_dict"])
        return model
    except Exception as err:  # any failure means "do not use this file"
        warnings.warn(f"genlib.zoo: the cached model {path} cannot be used ({type(err).__name__}: {err}); "
                      "retraining it", CacheWarning, stacklevel=3)
        return None


def get_or_train(name: str, *, build: Callable[[], nn.Module], train: Callable[[nn.Module], None],
                 config: dict[str, Any], version: str, seed: int = 0,
                 device: torch.device | str | None = None) -> nn.Module:
    """Load the model ``name`` trained with ``config`` from the cache, or train and cache it.

    The cache key is ``name`` plus a hash of (``config`` as canonical JSON, ``version``,
    ``seed``, ``genlib.__version__``, torch's major.minor). Training happens on the CPU with
    Python, NumPy and torch's CPU RNG seeded with ``seed`` (``build`` draws the initial
    weights from them), so the weights do not depend on the device a chapter uses; the RNG
    states are restored afterwards, so a chapter's own random stream is left as it was.
    A file lock (``<file>.lock``) makes a second process that asks at the same time wait and
    then load what the first one wrote.

    Args:
        name: the entry's name: lowercase letters, digits and ``_``.
        build: returns a fresh, untrained model (called on every load too).
        train: trains the model it is given in place, on the CPU; its return value is ignored.
        config: every hyper-parameter of ``build`` and ``train`` (JSON-serialisable).
        version: the version of the build/train code; bump it when that code changes.
        seed: the seed of the global RNGs during ``build`` and ``train``.
        device: where the returned model goes (default: the CPU, like :func:`genlib.data.mnist`).

    Returns:
        The trained model on ``device``, in eval mode.

    Raises:
        ValueError: for a bad name or a config that is not JSON-serialisable.
        TypeError: for a wrong argument type.

    Warns:
        CacheWarning: when a cached file is corrupted, truncated, unsafe or inconsistent; it is
            then retrained and rewritten.
    """
    from filelock import FileLock

    _check_name(name)
    if not callable(build) or not callable(train):
        raise TypeError("expected build and train to be callables")
    if not isinstance(version, str) or not version:
        raise TypeError(f"expected version to be a non-empty str, got {version!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"expected a non-negative int seed, got {seed!r}")
    device = torch.device("cpu" if device is None else device)
    config_json = _canonical_config(config)
    key = _key(name, config_json, version, seed)
    meta = {"format": _FORMAT, "name": name, "key": key, "config": config_json, "version": version, "seed": seed}

    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{key}.pt"
    with FileLock(str(path) + ".lock", timeout=_LOCK_TIMEOUT_S):
        model = _try_load(path, build, seed, meta)
        if model is None:
            with _isolated_rng(seed):  # initial weights and training draw from one seeded stream
                model = _build(build).train()
                train(model)
            model.zero_grad(set_to_none=True)
            state = {k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()}
            buf = io.BytesIO()  # saved to memory: the bytes do not depend on a file name
            torch.save({**meta, "genlib_version": genlib.__version__, "torch_version": str(torch.__version__),
                        "state_dict": state}, buf)
            data = buf.getvalue()
            write_atomically(path, data)
            write_atomically(path.with_name(path.name + ".sha256"),
                              f"{hashlib.sha256(data).hexdigest()}  {path.name}\n".encode())
    return model.to(device).eval()


def clear(name: str | None = None) -> int:
    """Delete cached models (all entries of ``name``, or every genlib entry) from :func:`cache_dir`.

    Only files that follow the cache's naming scheme are removed (weights, checksums, locks,
    leftover temporary files); nothing outside the cache folder is touched. Do not call it
    while another process is training an entry.

    Returns:
        The number of files removed.
    """
    if name is not None:
        _check_name(name)
    folder = cache_dir()
    if not folder.is_dir():
        return 0
    stem = re.escape(name) if name is not None else _NAME.pattern
    pattern = re.compile(rf"\.?{stem}-[0-9a-f]{{{_KEY_CHARS}}}\.pt(\.sha256|\.lock|\.[^/]*\.tmp)?")
    removed = 0
    for path in folder.iterdir():
        if path.is_file() and pattern.fullmatch(path.name):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


# -- named entries used by the chapters ------------------------------------------------------

_MNIST_MLP = {"data": "mnist_train_4000", "binarize": False, "hidden_dims": [400], "epochs": 30,
              "batch_size": 128, "lr": 1e-3, "seed": 0}


def _check_latent(latent_dim) -> int:
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim <= 0:
        raise ValueError(f"expected a positive int latent_dim, got {latent_dim!r}")
    return latent_dim


def mnist_vae(latent_dim: int = 20, *, device: torch.device | str | None = None):
    """The book's MNIST VAE: ``VAE((1, 28, 28), hidden_dims=(400,), latent_dim=latent_dim)``.

    Bernoulli likelihood, trained with :func:`genlib.train.train_vae` (Adam, lr 1e-3, batch 128,
    30 epochs, β = 1, seed 0) on the 4,000 training images of :func:`genlib.data.mnist`
    (grey levels in [0, 1], not binarised). Cached by :func:`get_or_train`.

    Args:
        latent_dim: size of z (the chapters use 2 and 20).
        device: where the model goes (default CPU).

    Returns:
        A :class:`genlib.models.VAE` in eval mode.
    """
    from genlib.data import mnist
    from genlib.models import VAE
    from genlib.train import train_vae

    cfg = {**_MNIST_MLP, "model": "VAE", "likelihood": "bernoulli", "latent_dim": _check_latent(latent_dim)}

    def build() -> nn.Module:
        return VAE((1, 28, 28), hidden_dims=tuple(cfg["hidden_dims"]), latent_dim=cfg["latent_dim"],
                   likelihood=cfg["likelihood"])

    def train(model: nn.Module) -> None:
        x, _ = mnist("train", binarize=cfg["binarize"])
        train_vae(model, x, epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                  generator=torch.Generator().manual_seed(cfg["seed"]))

    return get_or_train("mnist_vae", build=build, train=train, config=cfg, version=VERSIONS["mnist_vae"],
                        seed=cfg["seed"], device=device)


def mnist_autoencoder(latent_dim: int = 20, *, device: torch.device | str | None = None):
    """The deterministic autoencoder with the layout of :func:`mnist_vae` (for Q16).

    ``Autoencoder((1, 28, 28), hidden_dims=(400,), latent_dim=latent_dim)`` trained with
    :func:`genlib.train.train_autoencoder` (Bernoulli NLL, Adam, lr 1e-3, batch 128, 30 epochs,
    seed 0) on the same 4,000 training images. Cached by :func:`get_or_train`.

    Returns:
        A :class:`genlib.models.Autoencoder` in eval mode.
    """
    from genlib.data import mnist
    from genlib.models import Autoencoder
    from genlib.train import train_autoencoder

    cfg = {**_MNIST_MLP, "model": "Autoencoder", "latent_dim": _check_latent(latent_dim)}

    def build() -> nn.Module:
        return Autoencoder((1, 28, 28), hidden_dims=tuple(cfg["hidden_dims"]), latent_dim=cfg["latent_dim"])

    def train(model: nn.Module) -> None:
        x, _ = mnist("train", binarize=cfg["binarize"])
        train_autoencoder(model, x, epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                          generator=torch.Generator().manual_seed(cfg["seed"]))

    return get_or_train("mnist_autoencoder", build=build, train=train, config=cfg,
                        version=VERSIONS["mnist_autoencoder"], seed=cfg["seed"], device=device)
