"""A discrete-emission hidden Markov model: forward algorithm, forward–backward, Baum–Welch.

Everything is computed in log space in float64, batched over sequences of different lengths
(padded internally), on the device of the parameters.
"""

from __future__ import annotations

import torch

from genlib import _checks
from genlib._random import rand

__all__ = ["HMM"]

_TOL = 1e-6  # how far a row of probabilities may sum from 1


def _log_matmul_exp(log_v: torch.Tensor, mat: torch.Tensor) -> torch.Tensor:
    """log(exp(log_v) @ mat) for log_v (N, K) and a probability matrix (K, J), stably.

    Shifting each row by its max makes the exponentials lie in [0, 1], so one matrix product
    replaces a logsumexp over a (N, K, J) tensor (many times faster for small K). A row that
    is all -inf (probability 0) stays -inf.
    """
    m = log_v.amax(1, keepdim=True).nan_to_num(neginf=0.0)  # (N, 1)
    return torch.log((log_v - m).exp() @ mat) + m


def _stochastic(p, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    p = _checks.tensor(p, name, ndim=len(shape))
    if tuple(p.shape) != shape:
        raise ValueError(f"expected {name} of shape {shape}, got {tuple(p.shape)}")
    _checks.finite(p, name)
    p = p.double()
    if (p < 0).any():
        raise ValueError(f"expected {name} to be non-negative, got min={p.min().item():.3g}")
    err = (p.sum(-1) - 1).abs().max().item()
    if err > _TOL:
        raise ValueError(f"expected the rows of {name} to sum to 1, got a row off by {err:.3g}")
    return p / p.sum(-1, keepdim=True)


class HMM:
    r"""Hidden Markov model with K states and M discrete symbols.

    .. math:: p(x_{1:T}, z_{1:T}) = \pi_{z_1} B_{z_1 x_1} \prod_{t=2}^T A_{z_{t-1} z_t} B_{z_t x_t}

    Args:
        start: (K,) initial state probabilities :math:`\pi`.
        trans: (K, K) transition matrix :math:`A_{ij} = p(z_t = j \mid z_{t-1} = i)`.
        emit: (K, M) emission matrix :math:`B_{km} = p(x_t = m \mid z_t = k)`.

    Raises:
        TypeError: for non-floating tensors.
        ValueError: for wrong shapes, negative entries or rows not summing to 1.

    Example:
        >>> hmm = HMM.random(2, 3, generator=torch.Generator().manual_seed(0))
        >>> obs, states = hmm.sample(4, 10, generator=torch.Generator().manual_seed(1))
        >>> hmm.log_likelihood(obs).shape
        torch.Size([4])
    """

    def __init__(self, start: torch.Tensor, trans: torch.Tensor, emit: torch.Tensor):
        k = _checks.tensor(start, "start", ndim=1).shape[0]
        m = _checks.tensor(emit, "emit", ndim=2).shape[1]
        self.start = _stochastic(start, "start", (k,))
        self.trans = _stochastic(trans, "trans", (k, k)).to(self.start.device)
        self.emit = _stochastic(emit, "emit", (k, m)).to(self.start.device)

    @property
    def n_states(self) -> int:
        return self.start.shape[0]

    @property
    def n_symbols(self) -> int:
        return self.emit.shape[1]

    def __repr__(self) -> str:
        return f"HMM(n_states={self.n_states}, n_symbols={self.n_symbols})"

    @classmethod
    def random(cls, n_states: int, n_symbols: int, *, generator: torch.Generator | None = None) -> "HMM":
        """An HMM whose rows are drawn uniformly from the simplex (Dirichlet(1, …, 1)).

        Args:
            n_states: K ≥ 1.
            n_symbols: M ≥ 1.
            generator: source of randomness.

        Returns:
            A new :class:`HMM` with float64 CPU parameters.

        Raises:
            TypeError, ValueError: for non-positive sizes or a bad generator.
        """
        _checks.positive_int(n_states, "n_states")
        _checks.positive_int(n_symbols, "n_symbols")
        _checks.generator_arg(generator)

        def rows(r, c):
            e = -torch.log1p(-rand(r, c, generator=generator, dtype=torch.float64))  # Exp(1)
            return e / e.sum(1, keepdim=True)

        return cls(rows(1, n_states)[0], rows(n_states, n_states), rows(n_states, n_symbols))

    # ---------------------------------------------------------------- sequences -> padded batch
    def _batch(self, sequences) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, T) int64 symbols (padded with 0) and (N,) lengths on the parameters' device."""
        dev = self.start.device
        if isinstance(sequences, torch.Tensor):
            if sequences.dtype != torch.int64:
                raise TypeError(f"expected int64 sequences, got dtype {sequences.dtype}")
            if sequences.ndim not in (1, 2) or sequences.numel() == 0:
                raise ValueError(f"expected a non-empty (N, T) or (T,) tensor, got shape {tuple(sequences.shape)}")
            obs = sequences.reshape(-1, sequences.shape[-1]).to(dev)
            lengths = torch.full((obs.shape[0],), obs.shape[1], device=dev)
            self._check_symbols(obs, "sequences")
            return obs, lengths
        if not isinstance(sequences, (list, tuple)):
            raise TypeError(f"expected a LongTensor (N, T) or a list of 1-D LongTensors, "
                            f"got {type(sequences).__name__}")
        if not sequences:
            raise ValueError("expected at least one sequence, got none")
        for i, s in enumerate(sequences):
            if not isinstance(s, torch.Tensor) or s.dtype != torch.int64 or s.ndim != 1:
                got = f"{s.dtype} of shape {tuple(s.shape)}" if isinstance(s, torch.Tensor) else type(s).__name__
                raise TypeError(f"expected sequence {i} to be a 1-D int64 tensor, got {got}")
            if len(s) == 0:
                raise ValueError(f"expected non-empty sequences, sequence {i} is empty")
        lengths = torch.tensor([len(s) for s in sequences], device=dev)
        obs = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.int64, device=dev)
        for i, s in enumerate(sequences):
            obs[i, :len(s)] = s.to(dev)
        self._check_symbols(obs, "sequences")
        return obs, lengths

    def _check_symbols(self, obs: torch.Tensor, name: str) -> None:
        lo, hi = obs.min().item(), obs.max().item()
        if lo < 0 or hi >= self.n_symbols:
            raise ValueError(f"expected {name} with symbols in [0, {self.n_symbols}), got min={lo}, max={hi}")

    # ---------------------------------------------------------------- inference
    def _forward_backward(self, obs, lengths, *, backward: bool):
        """log alpha (N, T, K), log beta (N, T, K) or None, log-likelihood (N,)."""
        n, t_max = obs.shape
        emis = self.emit.log().T[obs]  # (N, T, K): log B[k, x_t]
        alpha = torch.empty(n, t_max, self.n_states, dtype=torch.float64, device=obs.device)
        alpha[:, 0] = self.start.log() + emis[:, 0]
        for t in range(1, t_max):  # log alpha_t(j) = log sum_i alpha_{t-1}(i) A_ij + log B_j(x_t)
            alpha[:, t] = _log_matmul_exp(alpha[:, t - 1], self.trans) + emis[:, t]
        last = alpha[torch.arange(n, device=obs.device), lengths - 1]  # (N, K)
        ones = torch.ones(self.n_states, 1, dtype=torch.float64, device=obs.device)
        ll = _log_matmul_exp(last, ones)[:, 0]  # logsumexp over states
        if not backward:
            return alpha, None, ll
        beta = torch.zeros_like(alpha)  # log beta_t = 0 at and after each sequence's last step
        inside = (torch.arange(t_max, device=obs.device) < lengths[:, None] - 1)[..., None]  # (N, T, 1)
        zero = beta.new_zeros(())
        for t in range(t_max - 2, -1, -1):
            nxt = _log_matmul_exp(emis[:, t + 1] + beta[:, t + 1], self.trans.T)
            beta[:, t] = torch.where(inside[:, t], nxt, zero)
        return alpha, beta, ll

    def log_likelihood(self, sequences) -> torch.Tensor:
        r"""log p(x_{1:T}) of each sequence by the forward algorithm in log space.

        .. math:: \log\alpha_t(j) = \log B_{j x_t} + \operatorname{logsumexp}_i
                  \big(\log\alpha_{t-1}(i) + \log A_{ij}\big), \qquad
                  \log p(x_{1:T}) = \operatorname{logsumexp}_j \log\alpha_T(j)

        Args:
            sequences: an int64 tensor (N, T), a 1-D tensor (one sequence), or a list of 1-D
                int64 tensors of possibly different lengths ≥ 1.

        Returns:
            (N,) float64 tensor.

        Raises:
            TypeError, ValueError: for non-integer, empty or out-of-range sequences.
        """
        obs, lengths = self._batch(sequences)
        return self._forward_backward(obs, lengths, backward=False)[2]

    def forward_log_alpha(self, seq: torch.Tensor) -> torch.Tensor:
        r"""Forward messages :math:`\log\alpha_t(k) = \log p(x_{1:t}, z_t = k)` of one sequence.

        Args:
            seq: 1-D int64 tensor of T ≥ 1 symbols.

        Returns:
            (T, K) float64 tensor; ``logsumexp`` of its last row is log p(x_{1:T}).
        """
        obs, lengths = self._batch([seq])
        return self._forward_backward(obs, lengths, backward=False)[0][0]

    def posteriors(self, seq: torch.Tensor) -> torch.Tensor:
        r"""State marginals by forward–backward:
        :math:`p(z_t = k \mid x_{1:T}) = \alpha_t(k)\beta_t(k) / p(x_{1:T})`.

        Args:
            seq: 1-D int64 tensor of T ≥ 1 symbols.

        Returns:
            (T, K) float64 tensor whose rows sum to 1.
        """
        obs, lengths = self._batch([seq])
        alpha, beta, ll = self._forward_backward(obs, lengths, backward=True)
        return (alpha[0] + beta[0] - ll[0]).exp()

    def sample(self, n: int, length: int, *, generator: torch.Generator | None = None):
        """Draw sequences by ancestral sampling.

        Args:
            n: number of sequences.
            length: steps per sequence.
            generator: source of randomness (a CPU generator gives the same draws on any device).

        Returns:
            ``(obs, states)``, both (n, length) int64 tensors.
        """
        _checks.positive_int(n, "n")
        _checks.positive_int(length, "length")
        _checks.generator_arg(generator)
        dev = self.start.device
        u = rand(n, length, 2, generator=generator, device=dev, dtype=torch.float64)

        def draw(probs, v):  # probs (n, C), v (n,) -> inverse-CDF categorical draw
            idx = (probs.cumsum(1) < v[:, None]).sum(1)
            return idx.clamp_max(probs.shape[1] - 1)

        states = torch.empty(n, length, dtype=torch.int64, device=dev)
        obs = torch.empty_like(states)
        states[:, 0] = draw(self.start.expand(n, -1), u[:, 0, 0])
        for t in range(length):
            if t > 0:
                states[:, t] = draw(self.trans[states[:, t - 1]], u[:, t, 0])
            obs[:, t] = draw(self.emit[states[:, t]], u[:, t, 1])
        return obs, states

    # ---------------------------------------------------------------- learning
    def _expected_counts(self, obs, lengths):
        alpha, beta, ll = self._forward_backward(obs, lengths, backward=True)
        if torch.isinf(ll).any():
            bad = int(torch.isinf(ll).nonzero()[0, 0])
            raise ValueError(f"expected sequences with non-zero probability, sequence {bad} has p = 0")
        n, t_max = obs.shape
        valid = torch.arange(t_max, device=obs.device) < lengths[:, None]  # (N, T)
        gamma = (alpha + beta - ll[:, None, None]).exp() * valid[..., None]  # (N, T, K)
        log_a, emis = self.trans.log(), self.emit.log().T[obs]
        pair = (torch.arange(t_max - 1, device=obs.device) < lengths[:, None] - 1)[..., None, None]
        log_xi = (alpha[:, :-1, :, None] + log_a + (emis[:, 1:] + beta[:, 1:])[:, :, None, :]
                  - ll[:, None, None, None])  # (N, T-1, K, K): log p(z_t = i, z_t+1 = j | x)
        xi = torch.where(pair, log_xi.exp(), 0.0).sum((0, 1))  # (K, K)
        emit_counts = torch.zeros_like(self.emit)
        emit_counts.index_add_(1, obs[valid], gamma[valid].T)  # (K, M)
        return gamma[:, 0].sum(0), xi, emit_counts, ll.sum().item()

    def fit(self, sequences, *, iters: int = 50, tol: float = 1e-6) -> list[float]:
        r"""Maximum-likelihood parameters by Baum–Welch (EM), updating the model in place.

        E-step: state marginals :math:`\gamma_t(k)` and pair marginals :math:`\xi_t(i, j)` by
        forward–backward. M-step: :math:`\pi \propto \sum_n \gamma_1`,
        :math:`A_{ij} \propto \sum_{n,t} \xi_t(i,j)`,
        :math:`B_{km} \propto \sum_{n,t} \gamma_t(k)[x_t = m]` (a row with no expected counts
        is left unchanged). EM never decreases the likelihood.

        Args:
            sequences: as :meth:`log_likelihood`.
            iters: maximum number of EM updates.
            tol: stop when an update raises the total log-likelihood by less than ``tol``.

        Returns:
            Total log-likelihood before the first update and after each update
            (``history[-1]`` is that of the fitted model).

        Raises:
            TypeError, ValueError: for bad sequences, iters or tol.
        """
        obs, lengths = self._batch(sequences)
        _checks.positive_int(iters, "iters")
        _checks.positive_float(tol, "tol")
        stats = self._expected_counts(obs, lengths)
        history = [stats[3]]
        for _ in range(iters):
            start, trans, emit, _ll = stats
            self.start = start / start.sum()
            self.trans = self._normalise(trans, self.trans)
            self.emit = self._normalise(emit, self.emit)
            stats = self._expected_counts(obs, lengths)
            history.append(stats[3])
            if history[-1] - history[-2] < tol:
                break
        return history

    @staticmethod
    def _normalise(counts: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        total = counts.sum(1, keepdim=True)
        return torch.where(total > 0, counts / total.clamp_min(1e-300), old)
