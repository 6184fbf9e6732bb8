"""genlib.text: the synthetic grammar, its checker and exact probabilities, ids, text metrics, Gumbel-softmax."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genlib import text

GRAMMATICAL = [
    "the cat sleeps",
    "two big dogs chase a red fox quickly",
    "every child near the old horses sings today",
    "some teachers behind a robot follow the happy birds often",
    "the children with every quiet teacher wait",
    "a fox under two cats sees some horses again",
]
UNGRAMMATICAL = {
    "the cat sleep": "verb agreement",
    "the cat near the dogs sleep": "agreement with the PP's noun (attraction)",
    "a dogs run": "determiner agreement",
    "every cats run": "determiner agreement",
    "cat sleeps": "no determiner",
    "the cat sees": "transitive verb without object",
    "the cat sleeps the dog": "intransitive verb with an object",
    "the big red cat sleeps": "two adjectives",
    "the cat near the dog near the bird sleeps": "a PP inside a PP",
    "the cat sees the dog near the bird": "a PP on the object",
    "the cat sleeps quickly today": "two adverbs",
    "the cat quickly sleeps": "adverb before the verb",
    "the cat sleeps <eos>": "a special token",
    "the cat sleeps sleeps": "trailing word",
    "": "empty",
}


@pytest.mark.parametrize("sentence", GRAMMATICAL)
def test_hand_made_grammatical_sentences_are_accepted(sentence):
    assert text.is_grammatical(sentence)
    assert text.is_grammatical(sentence.split())
    assert math.isfinite(text.log_prob(sentence)) and text.log_prob(sentence) < 0


@pytest.mark.parametrize("sentence", list(UNGRAMMATICAL))
def test_hand_made_ungrammatical_sentences_are_rejected(sentence):
    assert not text.is_grammatical(sentence), UNGRAMMATICAL[sentence]
    assert text.log_prob(sentence) == -math.inf


def test_samples_are_grammatical_seeded_and_varied():
    a = text.sample_sentences(3000, generator=torch.Generator().manual_seed(0))
    b = text.sample_sentences(3000, generator=torch.Generator().manual_seed(0))
    c = text.sample_sentences(3000, generator=torch.Generator().manual_seed(1))
    assert a == b and a != c
    assert text.grammaticality(a) == 1.0
    assert 3 <= min(map(len, a)) and max(map(len, a)) <= text.MAX_LEN
    assert all(w in text.VOCAB[3:] for s in a for w in s)
    assert len(set(a)) > 0.8 * len(a)  # a large language: few repeats in 3,000 draws


def test_log_prob_is_exact_the_three_word_sentences_sum_to_their_probability():
    # every sentence DET NOUN VI: no PP, no adjective, intransitive, no adverb
    expected = (1 - text.P_PP) * (1 - text.P_ADJ) * (1 - text.P_TRANSITIVE) * (1 - text.P_ADV)
    total = 0.0
    for num in ("sg", "pl"):
        for det, noun, verb in itertools.product(text._DET[num], text._NOUN[num], text._VI[num]):
            total += math.exp(text.log_prob([det, noun, verb]))
    assert total == pytest.approx(expected, rel=1e-12)
    # ... and the sampler produces them at that rate (binomial sd ~ 0.002 at n = 30,000)
    s = text.sample_sentences(30_000, generator=torch.Generator().manual_seed(2))
    freq = sum(len(w) == 3 for w in s) / len(s)
    assert abs(freq - expected) < 0.01, (freq, expected)


def test_log_prob_matches_the_sampler_on_the_mean():
    # E[-log p(s)] is the language's entropy; the plug-in estimate from samples equals the mean
    # of -log_prob over them, and for a well-specified sampler the two frequencies agree:
    # the most common structure (DET NOUN VT DET NOUN) has probability computed by hand
    s = text.sample_sentences(30_000, generator=torch.Generator().manual_seed(3))
    p_structure = (1 - text.P_PP) * (1 - text.P_ADJ) ** 2 * text.P_TRANSITIVE * (1 - text.P_ADV)
    freq = sum(len(w) == 5 and w[2] in text._VT["sg"] + text._VT["pl"] for w in s) / len(s)
    assert abs(freq - p_structure) < 0.01, (freq, p_structure)


def test_encode_decode_round_trip_and_bad_input():
    s = text.sample_sentences(50, generator=torch.Generator().manual_seed(4))
    ids = text.encode(s)
    assert ids.shape == (50, text.MAX_LEN + 2) and ids.dtype == torch.int64
    assert (ids[:, 0] == text.BOS).all()
    assert text.decode(ids) == s
    assert text.VOCAB[text.PAD] == "<pad>" and text.VOCAB[text.EOS] == "<eos>"
    assert len(set(text.VOCAB)) == len(text.VOCAB)
    with pytest.raises(ValueError, match="VOCAB"):
        text.encode(["the zebra sleeps"])
    with pytest.raises(ValueError, match="at most"):
        text.encode(["the cat sleeps"], length=4)
    with pytest.raises(TypeError):
        text.encode("the cat sleeps")  # a bare string, not a list of sentences
    with pytest.raises(TypeError, match="integer"):
        text.decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="ids in"):
        text.decode(torch.tensor([[1, 999]]))
    with pytest.raises(ValueError):
        text.decode(torch.tensor([1, 2, 3]))


def test_decode_keeps_an_inner_special_token_so_the_checker_rejects_it():
    row = torch.tensor([[text.BOS, text.VOCAB.index("the"), text.BOS, text.VOCAB.index("cat"), text.EOS]])
    assert text.decode(row) == [("the", "<bos>", "cat")]
    assert text.grammaticality(text.decode(row)) == 0.0


def test_metrics():
    assert text.distinct_n(["the cat sleeps", "the cat sleeps"], n=1) == 0.5
    assert text.distinct_n(["a b c d"], n=2) == 1.0
    assert text.novelty(["the cat sleeps"], reference=[("the", "cat", "sleeps")]) == 0.0
    assert text.grammaticality(GRAMMATICAL + list(UNGRAMMATICAL)) == pytest.approx(
        len(GRAMMATICAL) / (len(GRAMMATICAL) + len(UNGRAMMATICAL)))
    with pytest.raises(ValueError):
        text.distinct_n(["the cat"], n=3)
    with pytest.raises(ValueError):
        text.grammaticality([])
    with pytest.raises(TypeError):
        text.novelty("the cat sleeps", reference=[])
    with pytest.raises(TypeError):
        text.is_grammatical(42)
    with pytest.raises(ValueError):
        text.sample_sentences(0)
    with pytest.raises(TypeError):
        text.sample_sentences(3, generator=0)


def test_gumbel_softmax_samples_the_categorical_and_is_seeded():
    logits = torch.log(torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64))
    n = 40_000
    y = text.gumbel_softmax(logits.expand(n, 3), hard=True, generator=torch.Generator().manual_seed(0))
    freq = y.mean(0)
    assert torch.allclose(freq, logits.exp(), atol=0.01), freq  # binomial sd <= 0.0025
    again = text.gumbel_softmax(logits.expand(n, 3), hard=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, again)
    soft = text.gumbel_softmax(logits.expand(5, 3), tau=0.5, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(soft.sum(-1), torch.ones(5, dtype=torch.float64))
    assert (soft > 0).all() and (soft < 1).all()


def test_gumbel_softmax_hard_is_straight_through():
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    w = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    hard = text.gumbel_softmax(logits, tau=0.7, hard=True, generator=torch.Generator().manual_seed(2))
    (g_hard,) = torch.autograd.grad((hard * w).sum(), logits)
    soft = text.gumbel_softmax(logits, tau=0.7, generator=torch.Generator().manual_seed(2))
    (g_soft,) = torch.autograd.grad((soft * w).sum(), logits)
    assert torch.equal(hard.detach().argmax(-1), soft.detach().argmax(-1))
    assert set(hard.detach().flatten().tolist()) == {0.0, 1.0}
    assert torch.allclose(g_hard, g_soft, atol=1e-6)  # forward one-hot, backward the relaxation
    assert g_soft.abs().sum() > 0


def test_gumbel_softmax_bad_input():
    with pytest.raises(ValueError):
        text.gumbel_softmax(torch.zeros(3), tau=0.0)
    with pytest.raises(TypeError):
        text.gumbel_softmax([0.0, 1.0])
    with pytest.raises(TypeError):
        text.gumbel_softmax(torch.zeros(3), generator="seed")


def _lm(seed=0, **kw):
    torch.manual_seed(seed)
    return text.GRULanguageModel(**kw)


def test_lm_log_prob_is_the_sum_of_next_token_log_softmax_and_ignores_padding():
    lm = _lm()
    ids = text.encode(["the cat sleeps", "two big dogs chase a red fox quickly"])
    logits = lm(ids)
    manual = []
    for r in range(2):
        n = (ids[r] != text.PAD).sum().item()  # <bos> ... <eos>
        lp = torch.log_softmax(logits[r], -1)
        manual.append(sum(lp[t, ids[r, t + 1]] for t in range(n - 1)))
    # implementation check
    assert torch.allclose(lm.log_prob(ids), torch.stack(manual), atol=1e-5)
    longer = text.encode(["the cat sleeps", "two big dogs chase a red fox quickly"], length=20)
    assert torch.allclose(lm.log_prob(longer), lm.log_prob(ids), atol=1e-5)
    assert lm.loss(ids)["loss"].item() == pytest.approx(-lm.log_prob(ids).mean().item(), rel=1e-6)


def test_lm_sampling_is_seeded_well_formed_and_follows_the_model():
    lm = _lm()
    a = lm.sample(4000, generator=torch.Generator().manual_seed(0))
    b = lm.sample(4000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (4000, text.MAX_LEN + 2)
    assert (a[:, 0] == text.BOS).all()
    ended = (a == text.EOS).cumsum(1) > 0
    after = ended & (a != text.EOS)
    assert (a[after] == text.PAD).all()  # everything after <eos> is padding
    # the first token's frequencies are the model's next-token probabilities after <bos>
    with torch.no_grad():
        p = torch.softmax(lm(torch.tensor([[text.BOS, text.PAD]]))[0, 0], -1)
    freq = torch.bincount(a[:, 1], minlength=len(text.VOCAB)).double() / len(a)
    assert (freq - p.double()).abs().max() < 0.02  # binomial sd < 0.008 at n = 4,000


def test_lm_initial_state_conditions_the_output():
    lm = _lm()
    ids = text.encode(["the cat sleeps"])
    h0 = torch.randn(1, 1, lm.hidden_dim, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(lm(ids), lm(ids, h0))


def test_lm_learns_the_grammar_quickly():
    train = text.encode(text.sample_sentences(2000, generator=torch.Generator().manual_seed(0)))
    lm = _lm(1)
    before = text.grammaticality(text.decode(lm.sample(500, generator=torch.Generator().manual_seed(2))))
    opt = torch.optim.Adam(lm.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(400):
        loss = lm.loss(train[torch.randint(len(train), (64,), generator=g)])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = text.grammaticality(text.decode(lm.sample(500, generator=torch.Generator().manual_seed(2))))
    assert before < 0.05 and after > 0.8, (before, after)  # seeds 1-3: 0.0 before, 0.91-0.92 after


def test_lm_bad_input():
    lm = _lm()
    with pytest.raises(TypeError, match="integer"):
        lm(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="ids in"):
        lm(torch.tensor([[1, 500]]))
    with pytest.raises(ValueError):
        lm(torch.tensor([[1]]))
    with pytest.raises(ValueError):
        text.GRULanguageModel(10, pad=10)
    with pytest.raises(ValueError):
        lm.sample(0)


# --- SentenceVAE ---------------------------------------------------------------------------------

def _ids(n=6, seed=0):
    return text.encode(text.sample_sentences(n, generator=torch.Generator().manual_seed(seed)))


def test_sentence_vae_shapes_with_and_without_members():
    ids = _ids()
    one = text.SentenceVAE(latent_dim=5, hidden_dim=16, embed_dim=8, seeds=[0])
    mu, logvar = one.encode(ids)
    assert mu.shape == logvar.shape == (6, 5)
    parts = one.loss(ids, generator=torch.Generator().manual_seed(0))
    assert all(v.shape == () for v in parts.values())
    assert one.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, text.MAX_LEN + 2)
    assert one.reconstruct(ids).shape == (6, text.MAX_LEN + 2)
    three = text.SentenceVAE(latent_dim=5, hidden_dim=16, embed_dim=8, members=3, seeds=[0, 1, 2])
    assert three.encode(ids)[0].shape == (3, 6, 5)
    assert three.encode(ids.expand(3, -1, -1))[0].shape == (3, 6, 5)
    assert three.loss(ids)["kl"].shape == (3,)
    z = torch.zeros(3, 4, 5)
    assert three.generate(z, greedy=True).shape == (3, 4, text.MAX_LEN + 2)
    assert three.log_likelihood(ids, torch.zeros(6, 5)).shape == (3, 6)


def test_sentence_vae_kl_is_the_gaussian_kl_and_nonnegative():
    ids = _ids(20)
    vae = text.SentenceVAE(latent_dim=4, hidden_dim=16, seeds=[3])
    with torch.no_grad():
        vae.stats_b.add_(torch.randn(vae.stats_b.shape, generator=torch.Generator().manual_seed(0)))
    parts = vae.loss(ids, beta=0.3, generator=torch.Generator().manual_seed(1))
    mu, logvar = vae.encode(ids)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    # implementation check: the KL against torch.distributions, the loss = recon + beta * kl
    assert torch.allclose(parts["kl"], torch.distributions.kl_divergence(q, p).sum(-1).mean(), atol=1e-5)
    assert torch.allclose(parts["loss"], parts["recon"] + 0.3 * parts["kl"])
    assert parts["kl"] >= 0 and parts["recon"] > 0  # theorem: a KL and a -log of probabilities


def test_sentence_vae_gru_and_decoder_match_torch_gru_and_the_language_model():
    ids = _ids(8)
    vae = text.SentenceVAE(latent_dim=3, hidden_dim=12, embed_dim=6, seeds=[4])
    lm = text.GRULanguageModel(embed_dim=6, hidden_dim=12)
    with torch.no_grad():
        lm.embed.weight.copy_(vae.dec_embed[0])
        lm.gru.weight_ih_l0.copy_(vae.dec_w_ih[0].T)
        lm.gru.weight_hh_l0.copy_(vae.dec_w_hh[0].T)
        lm.gru.bias_ih_l0.copy_(vae.dec_b_ih[0])
        lm.gru.bias_hh_l0.copy_(vae.dec_b_hh[0])
        lm.out.weight.copy_(vae.out_w[0].T)
        lm.out.bias.copy_(vae.out_b[0])
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    h0 = vae.initial_state(z)[None]  # (1, N, H), as nn.GRU wants it
    # implementation check: the hand-written batched GRU decoder is nn.GRU's language model
    assert torch.allclose(vae.log_likelihood(ids, z), lm.log_prob(ids, h0), atol=1e-5)
    # ... and the encoder's GRU too, read at each row's <eos>
    gru = torch.nn.GRU(6, 12, batch_first=True)
    with torch.no_grad():
        for name, mine in (("weight_ih_l0", vae.enc_w_ih[0].T), ("weight_hh_l0", vae.enc_w_hh[0].T),
                           ("bias_ih_l0", vae.enc_b_ih[0]), ("bias_hh_l0", vae.enc_b_hh[0])):
            getattr(gru, name).copy_(mine)
        h, _ = gru(torch.nn.functional.embedding(ids, vae.enc_embed[0]))
        last = h[torch.arange(8), (ids != text.PAD).sum(1) - 1]
        mu = last @ vae.stats_w[0, :, :3] + vae.stats_b[0, :3]
    assert torch.allclose(vae.encode(ids)[0], mu, atol=1e-5)


def test_sentence_vae_word_dropout_rate():
    ids = _ids(30)
    vae = text.SentenceVAE(latent_dim=4, hidden_dim=16, seeds=[5])
    z = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))

    def ll(rate, seed=1):
        return vae.log_likelihood(ids, z, word_dropout=rate, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(ll(0.0), vae.log_likelihood(ids, z))  # rate 0: the words are read
    # rate 1: the decoder reads <bos> and <pad> only, whatever the words were
    words = (ids != text.PAD) & (ids != text.BOS) & (ids != text.EOS)
    blind = torch.where(words, torch.full_like(ids, text.PAD), ids)
    logits = vae._logits(blind[None, :, :-1], torch.tanh(z @ vae.h0_w[0] + vae.h0_b[0])[None])[0]
    manual = (torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0] * (ids[:, 1:] != text.PAD)).sum(1)
    assert torch.allclose(ll(1.0), manual, atol=1e-5)  # implementation check
    half = ll(0.5)
    assert not torch.allclose(half, ll(0.0)) and not torch.allclose(half, ll(1.0))
    assert torch.equal(half, ll(0.5)) and not torch.equal(half, ll(0.5, seed=2))
    # the rate is the fraction of words dropped: count rows whose likelihood changed at rate 0.05
    # (a row changes iff one of its words was dropped: P = 1 - 0.95^words)
    ids_many = _ids(4000, seed=3)
    z_many = torch.zeros(4000, 4)
    base = vae.log_likelihood(ids_many, z_many)
    low = vae.log_likelihood(ids_many, z_many, word_dropout=0.05, generator=torch.Generator().manual_seed(0))
    n_words = ((ids_many != text.PAD) & (ids_many != text.BOS) & (ids_many != text.EOS)).sum(1)
    # the last word is input to the <eos> prediction only, so it counts too (words = inputs)
    expected = (1 - 0.95 ** n_words.double()).mean().item()
    changed = (~torch.isclose(low, base, atol=1e-6)).double().mean().item()
    assert abs(changed - expected) < 0.03, (changed, expected)  # binomial sd ~0.007


def test_sentence_vae_is_seeded_and_members_equal_solo_models():
    ids = _ids(10)
    a = text.SentenceVAE(latent_dim=4, hidden_dim=16, members=3, seeds=[7, 8, 9])
    b = text.SentenceVAE(latent_dim=4, hidden_dim=16, members=3, seeds=[7, 8, 9])
    solo = text.SentenceVAE(latent_dim=4, hidden_dim=16, seeds=[8])
    for (name, pa), pb, ps in zip(a.named_parameters(), b.parameters(), solo.parameters()):
        assert torch.equal(pa, pb) and torch.equal(pa[1], ps[0]), name
    la = a.loss(ids, word_dropout=0.3, generator=torch.Generator().manual_seed(0))["loss"]
    lb = b.loss(ids, word_dropout=0.3, generator=torch.Generator().manual_seed(0))["loss"]
    assert torch.equal(la, lb)
    z = torch.randn(10, 4, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(a.log_likelihood(ids, z)[1], solo.log_likelihood(ids, z), atol=1e-5)
    sa = a.sample(50, generator=torch.Generator().manual_seed(2))
    assert torch.equal(sa, b.sample(50, generator=torch.Generator().manual_seed(2)))
    assert not torch.equal(sa, a.sample(50, generator=torch.Generator().manual_seed(3)))
    assert not torch.equal(a.enc_w_ih[0], a.enc_w_ih[1])  # members differ
    ended = (sa == text.EOS).cumsum(-1) > 0
    assert (sa[ended & (sa != text.EOS)] == text.PAD).all()  # <pad> after <eos>


@pytest.mark.parametrize("call, error", [
    (lambda v: v.encode(torch.zeros(2, 5)), TypeError),
    (lambda v: v.encode(torch.tensor([[1, 999]])), ValueError),
    (lambda v: v.encode(torch.ones(2, 2, 5, dtype=torch.int64)), ValueError),  # 2 members, model has 3
    (lambda v: v.loss(_ids(), beta=-1.0), ValueError),
    (lambda v: v.loss(_ids(), beta="1"), TypeError),
    (lambda v: v.loss(_ids(), word_dropout=1.5), ValueError),
    (lambda v: v.loss(_ids(), word_dropout=None), TypeError),
    (lambda v: v.loss(_ids(), generator=0), TypeError),
    (lambda v: v.generate(torch.zeros(4, 7)), ValueError),
    (lambda v: v.generate(torch.zeros(4, 4), temperature=0.0), ValueError),
    (lambda v: v.sample(0), ValueError),
    (lambda v: text.SentenceVAE(members=3, seeds=[1, 2]), ValueError),
    (lambda v: text.SentenceVAE(seeds=3), TypeError),
    (lambda v: text.SentenceVAE(latent_dim=0), ValueError),
])
def test_sentence_vae_bad_input(call, error):
    vae = text.SentenceVAE(latent_dim=4, hidden_dim=8, members=3, seeds=[0, 1, 2])
    with pytest.raises(error):
        call(vae)
