"""genlib.zoo: the on-disk cache of trained models (tiny models, so every test is fast)."""

from __future__ import annotations

import hashlib
import io
import multiprocessing as mp
import os
import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from genlib import zoo

CONFIG = {"hidden": 8, "steps": 5, "lr": 0.1}


# -- a tiny model and trainer (module level so that spawned processes can use them) ----------

def _build() -> nn.Module:
    return nn.Sequential(nn.Linear(4, CONFIG["hidden"]), nn.ReLU(), nn.Dropout(0.1), nn.Linear(CONFIG["hidden"], 1))


def _train(model: nn.Module) -> None:
    x = torch.randn(32, 4)  # the global RNG: seeded by get_or_train
    y = x.sum(1, keepdim=True)
    opt = torch.optim.SGD(model.parameters(), lr=CONFIG["lr"])
    for _ in range(CONFIG["steps"]):
        loss = (model(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


class Counter:
    """A ``train`` callable that counts its calls and checks that training happens on the CPU."""

    def __init__(self):
        self.calls = 0

    def __call__(self, model: nn.Module) -> None:
        self.calls += 1
        assert all(p.device.type == "cpu" for p in model.parameters())
        assert model.training
        _train(model)


def _get(counter, *, config=CONFIG, version="1", seed=0, **kw) -> nn.Module:
    zoo.VERSIONS["tiny"] = version  # restored by the autouse fixture
    return zoo.get_or_train("tiny", build=_build, train=counter, config=config, seed=seed, **kw)


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _weights_file(cache: Path) -> Path:
    (path,) = cache.glob("tiny-*.pt")
    return path


@pytest.fixture(autouse=True)
def test_entries(monkeypatch):
    """The test entries are registered in VERSIONS for the test only."""
    monkeypatch.setitem(zoo.VERSIONS, "tiny", "1")
    monkeypatch.setitem(zoo.VERSIONS, "other", "1")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("GENLIB_CACHE", str(folder))
    return folder


# -- the cache folder -------------------------------------------------------------------------

def test_cache_dir_from_env(cache):
    assert zoo.cache_dir() == cache


def test_cache_dir_expands_the_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GENLIB_CACHE", "~/models")
    assert zoo.cache_dir() == tmp_path / "models"


@pytest.mark.skipif(os.name != "posix" or __import__("sys").platform == "darwin", reason="XDG layout")
@pytest.mark.parametrize("env", [None, ""])
def test_cache_dir_default_is_the_user_cache_folder(monkeypatch, tmp_path, env):
    """Without (or with an empty) GENLIB_CACHE: <XDG cache>/genlib, never the working folder."""
    if env is None:
        monkeypatch.delenv("GENLIB_CACHE", raising=False)
    else:
        monkeypatch.setenv("GENLIB_CACHE", env)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert zoo.cache_dir() == tmp_path / "xdg" / "genlib"
    assert not (tmp_path / "xdg").exists()  # not created until something is written


# -- get or train -----------------------------------------------------------------------------

def test_same_config_loads_instead_of_retraining(cache):
    counter = Counter()
    first = _get(counter)
    second = _get(counter)
    assert counter.calls == 1
    assert _same_weights(first, second)
    assert not first.training and not second.training
    path = _weights_file(cache)
    sidecar = path.with_name(path.name + ".sha256")
    assert sidecar.read_text().split() == [hashlib.sha256(path.read_bytes()).hexdigest(), path.name]


def test_training_is_deterministic_and_restores_global_rng(cache):
    torch.manual_seed(123), np.random.seed(123), random.seed(123)
    states = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    first = _get(Counter())
    assert torch.equal(torch.get_rng_state(), states[0])
    assert np.array_equal(np.random.get_state()[1], states[1]) and random.getstate() == states[2]
    zoo.clear("tiny")
    torch.manual_seed(999)  # the global seed before the call does not matter
    counter = Counter()
    again = _get(counter)
    assert counter.calls == 1 and _same_weights(first, again)
    before = torch.get_rng_state()
    _get(counter)  # the load path (which builds a fresh model) leaves the RNG alone too
    assert counter.calls == 1 and torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("change", [{"config": {**CONFIG, "lr": 0.05}}, {"version": "2"}, {"seed": 1}])
def test_different_config_version_or_seed_retrains(cache, change):
    counter = Counter()
    _get(counter)
    _get(counter, **change)
    assert counter.calls == 2
    assert len(list(cache.glob("tiny-*.pt"))) == 2


def test_config_key_order_does_not_matter(cache):
    counter = Counter()
    _get(counter, config={"a": 1, "b": [1, 2]})
    _get(counter, config={"b": [1, 2], "a": 1})
    assert counter.calls == 1


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 8] = bytes(b ^ 0xFF for b in data[mid:mid + 8])
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _drop_checksum(path: Path) -> None:
    path.with_name(path.name + ".sha256").unlink()


@pytest.mark.parametrize("damage", [_flip_bytes, _truncate, _drop_checksum])
def test_damaged_file_warns_and_is_retrained(cache, damage):
    counter = Counter()
    original = _get(counter)
    damage(_weights_file(cache))
    with pytest.warns(zoo.CacheWarning, match="retraining"):
        retrained = _get(counter)
    assert counter.calls == 2
    assert _same_weights(original, retrained)
    _get(counter)  # rewritten intact: loads silently
    assert counter.calls == 2


def test_damaged_tensor_data_is_caught_by_the_checksum(cache):
    """A flipped bit inside a weight would load without error; the checksum stops it."""
    counter = Counter()
    original = _get(counter)
    path = _weights_file(cache)
    data = bytearray(path.read_bytes())
    raw = original.state_dict()["0.weight"].numpy().tobytes()
    at = bytes(data).find(raw)
    assert at > 0
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.warns(zoo.CacheWarning, match="SHA-256"):
        retrained = _get(counter)
    assert counter.calls == 2 and _same_weights(original, retrained)


def test_file_of_another_entry_is_not_loaded(cache):
    """A valid file under the wrong key (e.g. copied by hand) fails the metadata check."""
    counter = Counter()
    _get(counter, version="1")
    _get(counter, version="2")
    by_version = {torch.load(p, weights_only=True)["version"]: p for p in cache.glob("tiny-*.pt")}
    old, new = by_version["1"], by_version["2"]
    for suffix in ("", ".sha256"):
        new.with_name(new.name + suffix).write_bytes(old.with_name(old.name + suffix).read_bytes())
    with pytest.warns(zoo.CacheWarning, match="metadata"):
        _get(counter, version="2")
    assert counter.calls == 3


_MARKER = "GENLIB_TEST_ZOO_MARKER"


def _side_effect(path: str) -> str:  # what an unpickled malicious object would run
    Path(path).write_text("pwned")
    return "pwned"


class _Evil:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return _side_effect, (self.marker,)


def test_arbitrary_pickle_is_rejected_not_executed(cache, tmp_path):
    counter = Counter()
    original = _get(counter)
    path = _weights_file(cache)
    payload = torch.load(path, weights_only=True)
    marker = tmp_path / "marker"
    payload["state_dict"]["evil"] = _Evil(str(marker))
    buf = io.BytesIO()
    torch.save(payload, buf)
    path.write_bytes(buf.getvalue())  # with a matching checksum: only weights_only stands in the way
    path.with_name(path.name + ".sha256").write_text(hashlib.sha256(buf.getvalue()).hexdigest() + "\n")
    with pytest.warns(zoo.CacheWarning, match="Unpickling|weights"):
        retrained = _get(counter)
    assert not marker.exists()
    assert counter.calls == 2 and _same_weights(original, retrained)


def test_nothing_written_outside_the_cache(cache, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    counter = Counter()
    _get(counter)
    _flip_bytes(_weights_file(cache))
    with pytest.warns(zoo.CacheWarning):
        _get(counter)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "work"]
    assert list(work.iterdir()) == []
    names = sorted(p.name for p in cache.iterdir())
    assert len(names) == 3 and [n.split(".", 1)[1] for n in names] == ["pt", "pt.lock", "pt.sha256"]


def test_device_argument(cache):
    counter = Counter()
    default = _get(counter)
    assert next(default.parameters()).device.type == "cpu"  # the documented default
    model = _get(counter, device="meta")  # a device other than the default (no GPU needed)
    assert counter.calls == 1 and {p.device.type for p in model.parameters()} == {"meta"}
    assert not model.training


@pytest.mark.parametrize("kwargs, error, match", [
    ({"name": "bad-name"}, ValueError, "name"),
    ({"name": "../escape"}, ValueError, "name"),
    ({"name": "not_registered"}, ValueError, "VERSIONS"),
    ({"config": {"f": object()}}, ValueError, "JSON"),
    ({"config": [1, 2]}, TypeError, "dict"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.0}, TypeError, "seed"),
    ({"seed": True}, TypeError, "seed"),
    ({"train": lambda m: [1.0]}, TypeError, "history"),
    ({"train": lambda m: {"loss": [float("nan")]}}, ValueError, "history"),
])
def test_bad_arguments(cache, kwargs, error, match):
    args = {"name": "tiny", "build": _build, "train": Counter(), "config": CONFIG, **kwargs}
    name = args.pop("name")
    with pytest.raises(error, match=match):
        zoo.get_or_train(name, **args)


def test_unregistered_name_is_refused_before_anything_is_written(cache):
    with pytest.raises(ValueError, match="VERSIONS"):
        zoo.get_or_train("mnist_unlisted", build=_build, train=Counter(), config=CONFIG)
    assert not cache.exists()


def test_build_must_return_a_module(cache):
    with pytest.raises(TypeError, match="nn.Module"):
        zoo.get_or_train("tiny", build=lambda: 3, train=Counter(), config=CONFIG)


def test_numpy_seed_is_accepted(cache):
    a, b = _get(Counter(), seed=np.int64(3)), _get(Counter(), seed=3)
    assert _same_weights(a, b)


# -- the history and the source hash ---------------------------------------------------------

def _train_with_history(model: nn.Module) -> dict:
    _train(model)
    return {"loss": [3.0, 2.0, 1.5], "beta": [1.0, 1.0, 1.0]}


def test_history_is_stored_with_the_weights(cache):
    calls = []

    def train(model):
        calls.append(1)
        return _train_with_history(model)

    first = zoo.get_or_train("tiny", build=_build, train=train, config=CONFIG)
    again = zoo.get_or_train("tiny", build=_build, train=train, config=CONFIG)
    assert len(calls) == 1  # the second call loaded the file
    assert first.history == again.history == {"loss": [3.0, 2.0, 1.5], "beta": [1.0, 1.0, 1.0]}
    assert json_history(_weights_file(cache)) == first.history


def json_history(path: Path):
    import json

    return json.loads(torch.load(path, weights_only=True)["history"])


def test_no_history_is_none(cache):
    assert _get(Counter()).history is None
    assert _get(Counter()).history is None  # loaded


def _train_edited(model: nn.Module) -> None:
    x = torch.randn(32, 4)  # the same loop as _train with a different step count: "edited code"
    y = x.sum(1, keepdim=True)
    opt = torch.optim.SGD(model.parameters(), lr=CONFIG["lr"])
    for _ in range(CONFIG["steps"] + 1):
        loss = (model(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_edited_training_code_never_loads_stale_weights(cache):
    """Same name, config, version and seed; only the train function's source differs."""
    old = zoo.get_or_train("tiny", build=_build, train=_train, config=CONFIG)
    new = zoo.get_or_train("tiny", build=_build, train=_train_edited, config=CONFIG)
    assert not _same_weights(old, new)
    assert len(list(cache.glob("tiny-*.pt"))) == 2
    assert zoo.source_hash(_build, _train) != zoo.source_hash(_build, _train_edited)


def test_edited_genlib_module_changes_the_source_hash(tmp_path, monkeypatch):
    """An edit to genlib's training code (a copy of the package here) changes every key."""
    import shutil

    import genlib

    root = Path(genlib.__file__).resolve().parent
    copy = tmp_path / "genlib"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    monkeypatch.setattr(genlib, "__file__", str(copy / "__init__.py"))
    digests = []
    for edit in (None, "train.py", "models/vae.py", "plot.py"):
        if edit is not None:
            (copy / edit).write_text((copy / edit).read_text() + "\n# an edit\n")
        zoo._genlib_source_digest.cache_clear()
        digests.append(zoo.source_hash(_build, _train))
    zoo._genlib_source_digest.cache_clear()
    assert digests[0] != digests[1] != digests[2]  # train.py and models/ are hashed
    assert digests[3] == digests[2]  # plot.py cannot change a trained model


# -- clear ------------------------------------------------------------------------------------

def test_clear(cache):
    _get(Counter())
    zoo.get_or_train("other", build=_build, train=_train, config=CONFIG)
    keep = cache / "notes.txt"
    keep.write_text("not ours")
    assert zoo.clear("tiny") == 2  # .pt and .sha256; the lock file stays
    assert [p.name.split(".", 1)[1] for p in cache.glob("tiny-*")] == ["pt.lock"]
    assert len(list(cache.glob("other-*"))) == 3
    assert zoo.clear() == 2
    assert sorted(p.name.split("-")[0] for p in cache.iterdir()) == ["notes.txt", "other", "tiny"]
    counter = Counter()
    _get(counter)  # cleared: trained again
    assert counter.calls == 1
    with pytest.raises(ValueError, match="name"):
        zoo.clear("../x")


def test_clear_leaves_an_entry_whose_lock_is_held(cache):
    from filelock import FileLock

    _get(Counter())
    path = _weights_file(cache)
    holder = FileLock(str(path) + ".lock")  # as another process training or loading it would
    with holder:
        with pytest.warns(zoo.CacheWarning, match="in use"):
            assert zoo.clear("tiny") == 0
        assert path.exists() and Path(str(path) + ".lock").exists()
    assert zoo.clear("tiny") == 2 and not path.exists()


def test_clear_without_cache_folder(cache):
    assert zoo.clear() == 0


# -- two processes at once ---------------------------------------------------------------------

_SLOW_CALLS: list[int] = []


def _slow_train(model: nn.Module) -> None:
    _SLOW_CALLS.append(1)
    time.sleep(1.0)  # long enough for the other process to arrive and wait on the lock
    _train(model)


def _worker(cache: str, barrier, queue) -> None:
    os.environ["GENLIB_CACHE"] = cache
    torch.set_num_threads(1)
    zoo.VERSIONS["tiny"] = "1"  # a fresh process: register the test entry
    barrier.wait(timeout=120)
    model = zoo.get_or_train("tiny", build=_build, train=_slow_train, config=CONFIG)
    queue.put((len(_SLOW_CALLS), {k: v.tolist() for k, v in model.state_dict().items()}))


def test_two_processes_at_once(cache):
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(cache), barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(calls for calls, _ in results) == [0, 1]  # one trained, the other loaded
    assert results[0][1] == results[1][1]
    path = _weights_file(cache)
    assert path.with_name(path.name + ".sha256").read_text().split()[0] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not list(cache.glob(".*.tmp"))
    before = len(_SLOW_CALLS)
    zoo.get_or_train("tiny", build=_build, train=_slow_train, config=CONFIG)  # this process loads it
    assert len(_SLOW_CALLS) == before


# -- the named entries (their configs and architectures; training them is the notebooks' job) --

@pytest.mark.parametrize("entry, cls", [("mnist_vae", "VAE"), ("mnist_autoencoder", "Autoencoder")])
@pytest.mark.parametrize("latent_dim", [2, 20])
def test_named_entries(monkeypatch, entry, cls, latent_dim):
    seen = {}

    def fake(name, *, build, train, config, seed, device):
        seen.update(name=name, config=config, seed=seed)
        return build()

    monkeypatch.setattr(zoo, "get_or_train", fake)
    model = getattr(zoo, entry)(latent_dim)
    assert type(model).__name__ == cls and model.latent_dim == latent_dim
    assert seen["name"] == entry and entry in zoo.VERSIONS
    for k in ("latent_dim", "hidden_dims", "epochs", "batch_size", "lr", "seed"):
        assert k in seen["config"]
    assert seen["config"]["latent_dim"] == latent_dim and seen["seed"] == seen["config"]["seed"]


@pytest.mark.parametrize("entry", ["mnist_vae", "mnist_autoencoder"])
@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError),
                                        ("20", TypeError)])
def test_named_entries_reject_bad_latent_dim(entry, bad, error):
    """The same error types as every other genlib check (_checks.positive_int)."""
    with pytest.raises(error, match="latent_dim"):
        getattr(zoo, entry)(bad)


# -- the MNIST GAN (a tiny config trains for real, in well under a second) -------------------

TINY_GAN = {"latent_dim": 4, "g_hidden_dims": [8], "d_hidden_dims": [8], "steps": 3, "batch_size": 8}


@pytest.fixture
def tiny_gan(cache, monkeypatch):
    """mnist_gan with a tiny config, and a count of the train_gan calls it makes."""
    import genlib.train

    monkeypatch.setattr(zoo, "_MNIST_GAN", {**zoo._MNIST_GAN, **TINY_GAN})
    calls = []
    real = genlib.train.train_gan

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(genlib.train, "train_gan", counting)
    return calls


def test_mnist_gan_trains_once_then_loads(tiny_gan):
    from genlib.models import MLPDiscriminator, MLPGenerator

    first = zoo.mnist_gan()
    second = zoo.mnist_gan()
    assert len(tiny_gan) == 1  # the second call loaded the file
    assert _same_weights(first, second)
    for gan in (first, second):
        assert isinstance(gan, zoo.GANPair) and not gan.training
        assert isinstance(gan.generator, MLPGenerator) and isinstance(gan.discriminator, MLPDiscriminator)
        assert gan.latent_dim == TINY_GAN["latent_dim"]
        assert len(gan.history["d_loss"]) == len(gan.history["g_loss"]) == TINY_GAN["steps"]
    assert first.history == second.history
    with torch.no_grad():
        x = second.sample(5, generator=torch.Generator().manual_seed(0))
        logits = second.discriminator(x)
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1  # tanh output
    assert logits.shape == (5,)
    real = tiny_gan[0]
    assert real["steps"] == TINY_GAN["steps"] and real["batch_size"] == TINY_GAN["batch_size"]


def test_mnist_gan_trains_on_data_in_minus_one_one(cache, monkeypatch):
    import genlib.train

    monkeypatch.setattr(zoo, "_MNIST_GAN", {**zoo._MNIST_GAN, **TINY_GAN})
    seen = {}

    def spy(gen, disc, real, **kwargs):
        seen.update(min=real.min().item(), max=real.max().item(), n=len(real))
        return {"d_loss": [0.0], "g_loss": [0.0]}

    monkeypatch.setattr(genlib.train, "train_gan", spy)
    zoo.mnist_gan()
    assert seen == {"min": -1.0, "max": 1.0, "n": 4000}


def test_mnist_gan_is_deterministic_and_seeded(tiny_gan):
    first = zoo.mnist_gan()
    assert zoo.clear("mnist_gan") == 2
    torch.manual_seed(999)  # the caller's global seed does not matter
    again = zoo.mnist_gan()
    assert len(tiny_gan) == 2 and _same_weights(first, again)
    other = zoo.mnist_gan(seed=1)
    assert len(tiny_gan) == 3 and not _same_weights(first, other)
    assert len(list(zoo.cache_dir().glob("mnist_gan-*.pt"))) == 2


def test_mnist_gan_config(monkeypatch):
    """The book's config and architecture (training it is the notebooks' job)."""
    seen = {}

    def fake(name, *, build, train, config, seed, device):
        seen.update(name=name, config=config, seed=seed)
        return build()

    monkeypatch.setattr(zoo, "get_or_train", fake)
    gan = zoo.mnist_gan()
    assert seen["name"] == "mnist_gan" and "mnist_gan" in zoo.VERSIONS
    assert seen["seed"] == seen["config"]["seed"] == 0
    for k in ("latent_dim", "g_hidden_dims", "d_hidden_dims", "steps", "batch_size", "lr_g", "lr_d", "betas",
              "loss"):
        assert k in seen["config"]
    n_g = sum(p.numel() for p in gan.generator.parameters())
    n_d = sum(p.numel() for p in gan.discriminator.parameters())
    assert (n_g, n_d) == (64 * 256 + 256 + 256 * 512 + 512 + 512 * 784 + 784,
                          784 * 512 + 512 + 512 * 256 + 256 + 256 + 1)
    assert isinstance(gan.generator.net[-1], nn.Tanh)
    assert zoo.mnist_gan(seed=3) is not None and seen["seed"] == seen["config"]["seed"] == 3


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("0", TypeError)])
def test_mnist_gan_rejects_a_bad_seed(bad, error):
    with pytest.raises(error, match="seed"):
        zoo.mnist_gan(seed=bad)


def test_gan_pair_rejects_non_modules():
    with pytest.raises(TypeError, match="generator"):
        zoo.GANPair(3, nn.Linear(2, 1))
    with pytest.raises(TypeError, match="discriminator"):
        zoo.GANPair(nn.Linear(2, 1), "D")


def test_mnist_vae_seed_reaches_the_cache_key_and_the_minibatch_order(monkeypatch):
    seen = {}

    def fake(name, *, build, train, config, seed, device):
        seen.update(config=config, seed=seed)
        return build()

    monkeypatch.setattr(zoo, "get_or_train", fake)
    zoo.mnist_vae(20)
    assert seen["seed"] == seen["config"]["seed"] == 0  # the book's VAE
    zoo.mnist_vae(20, seed=2)
    assert seen["seed"] == seen["config"]["seed"] == 2


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1.0, TypeError), (True, TypeError), ("1", TypeError)])
def test_mnist_vae_rejects_a_bad_seed(bad, error):
    with pytest.raises(error, match="seed"):
        zoo.mnist_vae(20, seed=bad)
