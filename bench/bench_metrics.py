"""Benchmarks for genlib.metrics (run by hand, not in CI).

    python bench/bench_metrics.py [--device cuda] [--skip-pr] [--check-cuda]

1. Fréchet distance: genlib's eigh path vs the classic ``scipy.linalg.sqrtm`` path at
   d = 64, 512, 2048 (best-of-3 time, ratio, relative difference of the distance).
2. ``precision_recall`` on 10k × 10k 64-D features: time and peak memory, in a fresh
   subprocess. Peak resident memory is sampled from /proc/self/statm every few ms (torch's
   CPU allocator is invisible to tracemalloc); on CUDA, ``torch.cuda.max_memory_allocated``.
3. ``--check-cuda``: every metric and the HMM on CUDA tensors agree with the CPU results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genlib.metrics import frechet_distance, precision_recall  # noqa: E402


def frechet_sqrtm(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def best_of(fn, repeats: int = 3, sync: bool = False):
    """(result, min wall time over repeats): the minimum is robust on a shared machine."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return out, min(times)


def bench_frechet(device: str) -> None:
    print("Fréchet distance: eigh path vs scipy.linalg.sqrtm path (n = 2d samples per set, best of 3; of 2 at d = 2048)")
    print(f"{'d':>6} {'eigh s':>9} {'sqrtm s':>9} {'sqrtm/eigh':>11} {'rel diff':>10}")
    rng = np.random.default_rng(0)
    for d in (64, 512, 2048):
        a = rng.standard_normal((2 * d, d))
        b = rng.standard_normal((2 * d, d)) @ (np.eye(d) + 0.1 * rng.standard_normal((d, d))) + 0.1
        mu1, mu2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        args = [torch.from_numpy(v).to(device) for v in (mu1, s1, mu2, s2)]
        frechet_distance(*args)  # warm-up
        reps = 3 if d <= 512 else 2
        ours, t_ours = best_of(lambda: frechet_distance(*args), reps, sync=device == "cuda")
        ref, t_ref = best_of(lambda: frechet_sqrtm(mu1, s1, mu2, s2), reps)
        print(f"{d:>6} {t_ours:>9.3f} {t_ref:>9.3f} {t_ref / t_ours:>11.1f} {abs(ours - ref) / ref:>10.2e}")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def pr_worker(device: str) -> dict:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(10_000, 64, generator=g).to(device)
    fake = (torch.randn(10_000, 64, generator=g) * 1.1 + 0.05).to(device)
    rss0, peak, done = _rss_mb(), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    t0 = time.perf_counter()
    p, r = precision_recall(real, fake, k=3)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    out = {"precision": p, "recall": r, "seconds": seconds, "peak_rss_increase_mb": peak[0] - rss0}
    if device == "cuda":
        out["cuda_peak_mb"] = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    return out


def bench_pr(device: str) -> None:
    out = subprocess.run([sys.executable, __file__, "--pr-worker", "--device", device],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print("precision_recall, 10k x 10k, d = 64, k = 3 (float64, blocked matmul)")
    print(f"  precision={res['precision']:.4f} recall={res['recall']:.4f}  time {res['seconds']:.1f} s  "
          f"peak RSS increase {res['peak_rss_increase_mb']:.0f} MiB"
          + (f"  CUDA peak {res['cuda_peak_mb']:.0f} MiB" if "cuda_peak_mb" in res else ""))
    print(f"  (one full 10k x 10k float64 distance matrix would be {10_000 ** 2 * 8 / 2 ** 20:.0f} MiB)")


def check_cuda() -> None:
    """Each metric (and the HMM) gives the same answer on CUDA tensors as on the CPU."""
    from genlib import metrics
    from genlib.models.hmm import HMM

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 16, generator=g), torch.randn(250, 16, generator=g) * 1.2 + 0.1
    p = torch.softmax(torch.randn(200, 10, generator=g), 1)
    x = torch.rand(4, 3, 28, 28, generator=g)
    y = (x + 0.1 * torch.randn(4, 3, 28, 28, generator=g)).clamp(0, 1)
    ring = torch.randn(500, 2, generator=g)
    h = HMM.random(3, 5, generator=torch.Generator().manual_seed(1))
    obs, _ = h.sample(20, 30, generator=torch.Generator().manual_seed(2))
    cases = {
        "fid": lambda t: metrics.fid(t(a), t(b)),
        "kid": lambda t: metrics.kid(t(a), t(b), subsets=5, subset_size=100, generator=torch.Generator().manual_seed(3)),
        "inception_score": lambda t: metrics.inception_score(t(p), splits=4),
        "precision_recall": lambda t: metrics.precision_recall(t(a), t(b), k=3),
        "psnr": lambda t: metrics.psnr(t(x), t(y)),
        "ssim": lambda t: metrics.ssim(t(x), t(y)),
        "mode_coverage": lambda t: metrics.mode_coverage(t(ring), t(ring[:8]), std=0.3).counts,
        "active_units": lambda t: metrics.active_units(t(a) * torch.linspace(0, 0.2, 16, device=t(a).device)),
        "hmm.log_likelihood": lambda t: HMM(t(h.start), t(h.trans), t(h.emit)).log_likelihood(t(obs)).sum().item(),
        "hmm.fit": lambda t: HMM(t(h.start), t(h.trans), t(h.emit)).fit(t(obs), iters=5)[-1],
        "hmm.sample": lambda t: HMM(t(h.start), t(h.trans), t(h.emit)).sample(
            50, 10, generator=torch.Generator().manual_seed(4))[0].sum().item(),
    }
    print("CPU vs CUDA")
    for name, fn in cases.items():
        cpu, cuda = fn(lambda v: v), fn(lambda v: v.cuda())
        diff = np.max(np.abs(np.subtract(cpu, cuda) / np.maximum(np.abs(cpu), 1e-12)))
        print(f"  {name:<20} max rel diff {diff:.2e}  {'OK' if diff < 1e-6 else 'MISMATCH'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-pr", action="store_true")
    parser.add_argument("--check-cuda", action="store_true")
    parser.add_argument("--pr-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pr_worker:
        print(json.dumps(pr_worker(args.device)))
        return
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    if args.check_cuda:
        check_cuda()
    bench_frechet(args.device)
    if not args.skip_pr:
        bench_pr(args.device)


if __name__ == "__main__":
    main()
