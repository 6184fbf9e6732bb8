"""genlib.models.batched: one member of a batched model is that seed's network alone."""

import pytest
import torch
import torch.nn.functional as F

from genlib.models import MLPGenerator
from genlib.models.batched import (
    BatchedGenerator,
    BatchedMLP,
    draw_per_seed,
    seeded_generators,
)
from genlib.nn import mlp

SHAPES = [(4, (64, 64), 1, "relu"), (1, (8,), 1, "leaky_relu"), (3, (), 2, "tanh")]


def _alone(in_dim, hidden, out_dim, activation, seed):
    """The reference: genlib.nn.mlp built right after torch.manual_seed(seed)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return mlp(in_dim, hidden, out_dim, activation=activation)


@pytest.mark.parametrize(("in_dim", "hidden", "out_dim", "activation"), SHAPES)
def test_member_init_equals_the_seed_alone(in_dim, hidden, out_dim, activation):
    seeds = [3, 0, 11]
    net = BatchedMLP(in_dim, hidden, out_dim, seeds=seeds, activation=activation)
    for i, seed in enumerate(seeds):
        ref = _alone(in_dim, hidden, out_dim, activation, seed)
        got = net.member(i)
        for a, b in zip(ref.parameters(), got.parameters(), strict=True):
            assert torch.equal(a, b)  # bit-identical initial weights


@pytest.mark.parametrize(("in_dim", "hidden", "out_dim", "activation"), SHAPES)
def test_forward_equals_members(in_dim, hidden, out_dim, activation):
    net = BatchedMLP(in_dim, hidden, out_dim, seeds=[1, 2], activation=activation)
    net = net.double()
    x = torch.randn(2, 7, in_dim, dtype=torch.float64)
    out = net(x)
    assert out.shape == (2, 7, out_dim)
    for i in range(2):
        torch.testing.assert_close(out[i], net.member(i)(x[i]), rtol=0, atol=1e-12)
    shared = net(x[0])  # (B, in): the same inputs for every member
    torch.testing.assert_close(shared[1], net.member(1)(x[0]), rtol=0, atol=1e-12)


def test_adam_on_batched_params_is_independent_adams():
    """Adam over (S, ...) parameters with the per-seed losses summed = S separate Adams."""
    seeds, steps = [0, 1, 2], 25
    net = BatchedMLP(2, (16, 16), 1, seeds=seeds).double()
    alone = [net.member(i) for i in range(3)]
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in alone]
    g = torch.Generator().manual_seed(5)
    for _ in range(steps):
        x = torch.randn(3, 32, 2, generator=g, dtype=torch.float64)
        y = x.pow(2).sum(-1, keepdim=True)
        loss = (net(x) - y).pow(2).mean((1, 2)).sum()  # sum over seeds, mean over batch
        opt.zero_grad()
        loss.backward()
        opt.step()
        for i, (m, o) in enumerate(zip(alone, opts, strict=True)):
            o.zero_grad()
            (m(x[i]) - y[i]).pow(2).mean().backward()
            o.step()
    for i, m in enumerate(alone):
        for a, b in zip(net.member(i).parameters(), m.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_batched_gan_equals_each_seed_trained_alone():
    """A full GAN loop (per-seed streams, D step then G step) matches S separate runs."""
    seeds, steps, batch = [4, 7], 15, 64
    gen = BatchedMLP(4, (32,), 1, seeds=seeds).double()
    disc = BatchedMLP(
        1, (32,), 1, seeds=[100 + s for s in seeds], activation="leaky_relu"
    )
    disc = disc.double()
    opt_g, opt_d = (
        torch.optim.Adam(m.parameters(), 1e-3, betas=(0.5, 0.999)) for m in (gen, disc)
    )
    gens = seeded_generators(seeds)
    for _ in range(steps):
        real = draw_per_seed(
            gens, lambda g: 2 + torch.randn(batch, 1, generator=g, dtype=torch.float64)
        )
        z = draw_per_seed(
            gens, lambda g: torch.randn(batch, 4, generator=g, dtype=torch.float64)
        )
        d_loss = F.softplus(-disc(real)).mean((1, 2)) + F.softplus(
            disc(gen(z).detach())
        ).mean((1, 2))
        opt_d.zero_grad()
        d_loss.sum().backward()
        opt_d.step()
        g_loss = F.softplus(-disc(gen(z))).mean((1, 2))
        opt_g.zero_grad()
        g_loss.sum().backward()
        opt_g.step()
    for i, seed in enumerate(
        seeds
    ):  # the same seed, alone, with ordinary nn.Sequential nets
        g_net = _alone(4, (32,), 1, "relu", seed).double()
        d_net = _alone(1, (32,), 1, "leaky_relu", 100 + seed).double()
        og, od = (
            torch.optim.Adam(m.parameters(), 1e-3, betas=(0.5, 0.999))
            for m in (g_net, d_net)
        )
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            real = 2 + torch.randn(batch, 1, generator=g, dtype=torch.float64)
            z = torch.randn(batch, 4, generator=g, dtype=torch.float64)
            loss = (
                F.softplus(-d_net(real)).mean()
                + F.softplus(d_net(g_net(z).detach())).mean()
            )
            od.zero_grad()
            loss.backward()
            od.step()
            og.zero_grad()
            F.softplus(-d_net(g_net(z))).mean().backward()
            og.step()
        for net, ref in ((gen, g_net), (disc, d_net)):
            for a, b in zip(net.member(i).parameters(), ref.parameters(), strict=True):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


def test_draw_per_seed_and_generators():
    gens = seeded_generators([0, 1])
    out = draw_per_seed(gens, lambda g: torch.rand(3, generator=g))
    assert out.shape == (2, 3)
    assert torch.equal(
        out[1], torch.rand(3, generator=torch.Generator().manual_seed(1))
    )
    with pytest.raises(ValueError, match="at least one"):
        draw_per_seed([], lambda g: torch.rand(1, generator=g))
    with pytest.raises(TypeError, match="Generator"):
        draw_per_seed([0], lambda g: torch.rand(1))
    with pytest.raises(TypeError, match="callable"):
        draw_per_seed(gens, 3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"seeds": []}, ValueError, "at least one seed"),
        ({"seeds": [1, 1]}, ValueError, "distinct"),
        ({"seeds": [-1]}, ValueError, "non-negative"),
        ({"seeds": [0.5]}, ValueError, "non-negative ints"),
        ({"seeds": 3}, TypeError, "sequence"),
        ({"seeds": "01"}, TypeError, "sequence"),
        ({"seeds": [0], "activation": "gelu"}, ValueError, "activation"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        BatchedMLP(2, (4,), 1, **kwargs)


def test_bad_sizes_and_inputs():
    with pytest.raises(ValueError, match="in_dim > 0"):
        BatchedMLP(0, (4,), 1, seeds=[0])
    with pytest.raises(TypeError, match="out_dim to be an int"):
        BatchedMLP(2, (4,), 1.0, seeds=[0])
    with pytest.raises(ValueError, match="hidden_dims"):
        BatchedMLP(2, (4, 0), 1, seeds=[0])
    net = BatchedMLP(2, (4,), 1, seeds=[0, 1])
    with pytest.raises(ValueError, match=r"\(2, B, 2\)"):
        net(torch.zeros(3, 5, 2))  # wrong S
    with pytest.raises(ValueError, match=r"\(2, B, 2\)"):
        net(torch.zeros(5, 3))  # wrong feature size
    with pytest.raises(TypeError, match="floating-point"):
        net(torch.zeros(2, 5, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="floating-point"):
        net([[0.0, 0.0]])
    with pytest.raises(ValueError, match="0 <= i < 2"):
        net.member(2)
    with pytest.raises(TypeError, match="i to be an int"):
        net.member(True)
    assert net.n_seeds == 2 and "seeds=[0, 1]" in repr(net)


def test_member_leaves_the_global_rng_alone():
    net = BatchedMLP(2, (4,), 1, seeds=[0])
    state = torch.random.get_rng_state()
    net.member(0)
    assert torch.equal(state, torch.random.get_rng_state())


# -- spectral norm ---------------------------------------------------------------------------


def _sn_net(seeds=(0, 1, 2)):
    return BatchedMLP(4, (16, 8), 1, seeds=list(seeds), spectral_norm=True).double()


def test_spectral_norm_keeps_the_init_and_draws_u_from_each_members_seed():
    plain = BatchedMLP(4, (16, 8), 1, seeds=[0, 1, 2])
    sn = BatchedMLP(4, (16, 8), 1, seeds=[0, 1, 2], spectral_norm=True)
    alone = BatchedMLP(4, (16, 8), 1, seeds=[1], spectral_norm=True)
    for a, b in zip(plain.parameters(), sn.parameters(), strict=True):
        assert torch.equal(a, b)  # the weights are drawn before any u
    for layer in range(3):
        u = getattr(sn, f"sn_u{layer}")
        assert u.shape == (3, sn.dims[layer + 1])
        torch.testing.assert_close(u.norm(dim=1), torch.ones(3))
        assert torch.equal(u[1], getattr(alone, f"sn_u{layer}")[0])
    assert "spectral_norm=True" in repr(sn)
    with pytest.raises(TypeError, match="spectral_norm to be a bool"):
        BatchedMLP(2, (4,), 1, seeds=[0], spectral_norm=1)


def test_spectral_norm_converges_to_unit_largest_singular_value():
    net = _sn_net()
    x = torch.zeros(3, 1, 4, dtype=torch.float64)
    before = [w.detach() for w in net.effective_weights()]
    for _ in range(200):  # power iterations on fixed weights
        net(x)
    for w, raw, w0 in zip(net.effective_weights(), net.weights, before, strict=True):
        sigma_max = torch.linalg.matrix_norm(raw.detach(), 2)  # (S,), the exact σ(W)
        assert (sigma_max > 1.05).all() or (sigma_max < 0.95).all()  # not trivially 1
        torch.testing.assert_close(
            torch.linalg.matrix_norm(w.detach(), 2),
            torch.ones(3, dtype=torch.float64),
            rtol=0,
            atol=1e-8,
        )
        if min(raw.shape[1:]) > 1:  # for a vector the first estimate is already exact
            assert not torch.allclose(w.detach(), w0)


def test_spectral_norm_updates_u_only_in_training_mode():
    net = _sn_net()
    x = torch.randn(3, 5, 4, dtype=torch.float64)
    u0 = net.sn_u0.clone()
    net.eval()
    out_eval = net(x)
    assert torch.equal(net.sn_u0, u0)  # eval: reuse u, v
    net.train()
    out_train = net(x)  # one power-iteration step
    assert not torch.equal(net.sn_u0, u0)
    assert not torch.allclose(out_eval, out_train)
    net.eval()  # same weights, the stored u and v: the last training forward's output
    torch.testing.assert_close(net(x), out_train, rtol=0, atol=1e-12)


def test_spectral_norm_member_against_torch_parametrization():
    """member(i) is torch's spectral_norm with the member's weights, u and v.

    Eval mode: both compute W / (u^T W v) from the same u, v: the same outputs and
    gradients. Training mode: torch steps u <- Wv/|Wv| then v <- W^T u/|W^T u|, Miyato's
    Algorithm 1 (ours) v first, then u, so sigma differs for one step from one state
    (torch: |W^T u|, ours: |W v|); from the initial state (v = W^T u/|W^T u|) the u
    sequences coincide, and both sigmas converge to the largest singular value."""
    net = _sn_net()
    with torch.no_grad():  # v = W^T u / |W^T u| again, now in float64 (init: float32)
        for layer, w in enumerate(net.weights):
            u = getattr(net, f"sn_u{layer}")
            v = torch.nn.functional.normalize(
                torch.bmm(w, u.unsqueeze(2)).squeeze(2), dim=1
            )
            getattr(net, f"sn_v{layer}").copy_(v)
    x = torch.randn(3, 6, 4, dtype=torch.float64)
    i = 1
    ref = net.member(i)
    net.eval(), ref.eval()
    out = net(x)[i]
    torch.testing.assert_close(out, ref(x[i]), rtol=0, atol=1e-12)
    out.sum().backward()
    ref(x[i]).sum().backward()
    linears = [m for m in ref if isinstance(m, torch.nn.Linear)]
    for w, lin in zip(net.weights, linears, strict=True):
        torch.testing.assert_close(
            w.grad[i].T,
            lin.parametrizations.weight.original.grad,
            rtol=0,
            atol=1e-12,
        )
    net.train(), ref.train()
    for _ in range(5):  # training mode, fixed weights: the same u after every step
        with torch.no_grad():
            net(x), ref(x[i])
        for layer, lin in enumerate(linears):
            torch.testing.assert_close(
                getattr(net, f"sn_u{layer}")[i],
                lin.parametrizations.weight[0]._u,
                rtol=0,
                atol=1e-12,
            )


# -- BatchedGenerator ------------------------------------------------------------------------


def test_batched_generator_members_are_mlp_generators():
    seeds = [3, 0, 5]
    gen = BatchedGenerator(4, (16,), 2, seeds=seeds)
    assert (gen.n_seeds, gen.latent_dim, gen.out_dim, gen.seeds) == (3, 4, 2, seeds)
    for i, seed in enumerate(seeds):  # the init of MLPGenerator after manual_seed
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            ref = MLPGenerator(4, 2, hidden_dims=(16,))
        got = gen.member(i)
        assert isinstance(got, MLPGenerator)
        for a, b in zip(ref.parameters(), got.parameters(), strict=True):
            assert torch.equal(a, b)
    # per-member streams: member s draws what it would draw alone
    x = gen.sample(7, generator=seeded_generators([10, 11, 12]))
    assert x.shape == (3, 7, 2) and x.requires_grad
    for i in range(3):
        alone = gen.member(i).sample(7, generator=torch.Generator().manual_seed(10 + i))
        torch.testing.assert_close(x[i], alone, rtol=0, atol=1e-6)
    # one generator: z of all members at once, (S, n, latent_dim)
    z = torch.randn(3, 7, 4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(
        gen.sample(7, generator=torch.Generator().manual_seed(1)), gen(z)
    )
    assert gen.double().sample(2).dtype == torch.float64


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda g: g.sample(0), ValueError, "n > 0"),
        (lambda g: g.sample(2, generator=seeded_generators([0, 1])), ValueError, "3"),
        (lambda g: g.sample(2, generator=[0, 1, 2]), TypeError, "Generator"),
        (lambda g: g.sample(2, generator=3), TypeError, "generator"),
        (lambda g: g(torch.zeros(2, 5, 4)), ValueError, r"\(3, B, 4\)"),
        (lambda g: g.member(3), ValueError, "0 <= i < 3"),
    ],
)
def test_batched_generator_bad_input(call, error, match):
    gen = BatchedGenerator(4, (8,), 2, seeds=[0, 1, 2])
    with pytest.raises(error, match=match):
        call(gen)
