"""genlib.models.hmm.HMM against brute-force enumeration and hmmlearn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hmmlearn.hmm import CategoricalHMM

from genlib.models.hmm import HMM


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _brute_force(h: HMM, seq: torch.Tensor) -> tuple[float, np.ndarray]:
    """log p(x) and state marginals by summing over all K^T state paths."""
    k, t = h.n_states, len(seq)
    total, marg = 0.0, np.zeros((t, k))
    for path in itertools.product(range(k), repeat=t):
        p = h.start[path[0]] * h.emit[path[0], seq[0]]
        for s in range(1, t):
            p = p * h.trans[path[s - 1], path[s]] * h.emit[path[s], seq[s]]
        total += p.item()
        for s, z in enumerate(path):
            marg[s, z] += p.item()
    return float(np.log(total)), marg / total


def _hmmlearn(h: HMM) -> CategoricalHMM:
    m = CategoricalHMM(n_components=h.n_states, n_features=h.n_symbols, init_params="")
    m.startprob_, m.transmat_, m.emissionprob_ = h.start.numpy(), h.trans.numpy(), h.emit.numpy()
    return m


def test_forward_matches_brute_force_enumeration():
    h = HMM.random(3, 4, generator=gen(0))
    obs, _ = h.sample(4, 5, generator=gen(1))
    ll = h.log_likelihood(obs)
    for i in range(4):
        ref_ll, ref_marg = _brute_force(h, obs[i])
        assert ll[i].item() == pytest.approx(ref_ll, rel=1e-12)
        assert h.forward_log_alpha(obs[i])[-1].logsumexp(0).item() == pytest.approx(ref_ll, rel=1e-12)
        np.testing.assert_allclose(h.posteriors(obs[i]).numpy(), ref_marg, atol=1e-12)


def test_log_likelihood_matches_hmmlearn_with_ragged_lengths():
    h = HMM.random(4, 6, generator=gen(2))
    obs, _ = h.sample(5, 40, generator=gen(3))
    seqs = [obs[i, :n] for i, n in enumerate([40, 1, 17, 33, 8])]
    ll = h.log_likelihood(seqs)
    assert ll.dtype == torch.float64 and ll.shape == (5,)
    m = _hmmlearn(h)
    for s, v in zip(seqs, ll):
        assert v.item() == pytest.approx(m.score(s.numpy().reshape(-1, 1)), rel=1e-10)
    assert ll[0].item() == pytest.approx(h.log_likelihood(obs[:1])[0].item(), rel=1e-12)


def test_zero_probabilities_are_handled_in_log_space():
    start = torch.tensor([1.0, 0.0])
    trans = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # deterministic alternation
    emit = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    h = HMM(start, trans, emit)
    assert h.log_likelihood(torch.tensor([[0, 1, 0, 1]])).item() == pytest.approx(0.0)
    assert h.log_likelihood(torch.tensor([[0, 0]])).item() == float("-inf")


def test_sample_frequencies():
    h = HMM.random(2, 3, generator=gen(4))
    obs, states = h.sample(4000, 2, generator=gen(5))
    assert obs.shape == states.shape == (4000, 2) and obs.dtype == torch.int64
    first = torch.bincount(states[:, 0], minlength=2).double() / 4000
    assert torch.allclose(first, h.start, atol=0.03)
    emitted = torch.bincount(obs[:, 0], minlength=3).double() / 4000
    assert torch.allclose(emitted, h.start @ h.emit, atol=0.03)
    again, _ = h.sample(4000, 2, generator=gen(5))
    assert torch.equal(obs, again)


def test_em_is_monotone_and_matches_hmmlearn_step():
    truth = HMM.random(3, 5, generator=gen(6))
    obs, _ = truth.sample(20, 25, generator=gen(7))
    seqs = [obs[i, :20 + i % 6] for i in range(20)]
    init = HMM.random(3, 5, generator=gen(8))

    # One EM step equals hmmlearn's (its default Dirichlet(1) priors are flat: ML updates).
    one = HMM(init.start, init.trans, init.emit)
    one.fit(seqs, iters=1)
    m = _hmmlearn(init)
    m.n_iter, m.tol = 1, -np.inf
    m.fit(torch.cat(seqs).numpy().reshape(-1, 1), [len(s) for s in seqs])
    np.testing.assert_allclose(one.start.numpy(), m.startprob_, atol=1e-10)
    np.testing.assert_allclose(one.trans.numpy(), m.transmat_, atol=1e-10)
    np.testing.assert_allclose(one.emit.numpy(), m.emissionprob_, atol=1e-10)

    history = init.fit(seqs, iters=15, tol=1e-9)
    assert len(history) >= 2
    assert all(b >= a - 1e-9 * abs(a) for a, b in zip(history, history[1:]))
    assert history[-1] > history[0]
    assert history[-1] == pytest.approx(init.log_likelihood(seqs).sum().item(), rel=1e-12)
    assert torch.allclose(init.trans.sum(1), torch.ones(3, dtype=torch.float64))
