"""A synthetic language for the text chapters: a probabilistic grammar, its checker, text metrics, a GRU LM, a sentence VAE.

Real text needs a download; this language does not, and it has what real text lacks: an exact
answer. Every sentence has exactly one derivation, so :func:`is_grammatical` decides
membership without doubt and :func:`log_prob` gives the true probability of any sentence,
which the chapters use to score models against the data distribution itself.

The grammar (probabilities in brackets; choices within a word class are uniform)::

    S       -> SUBJ VP
    SUBJ    -> NP[n] [PP]           PP with probability 0.3; n = sg or pl (0.5 each)
    NP[n]   -> DET[n] [ADJ] NOUN[n]  ADJ with probability 0.4
    PP      -> PREP NP[m]           m drawn afresh (0.5 / 0.5); a PP holds no further PP
    VP[n]   -> VI[n] [ADV]          (0.5)   intransitive verb, agreeing with the subject
             | VT[n] NP[m] [ADV]     (0.5)   transitive verb and an object; ADV with probability 0.3

Agreement is what makes the language a test of a sequence model: the verb agrees with the
*head* noun of the subject, not with the noun of an intervening PP ("the cat near the dogs
sleeps", never "... sleep"), and determiners agree with their noun ("a" and "every" take a
singular, "some" and "two" a plural, "the" either). Sentences have 3 to :data:`MAX_LEN` tokens.

Example:
    >>> import torch
    >>> s = sample_sentences(2, generator=torch.Generator().manual_seed(0))
    >>> all(is_grammatical(t) for t in s)
    True
    >>> is_grammatical("the cat near the dogs sleeps"), is_grammatical("the cat near the dogs sleep")
    (True, False)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from torch import nn

from genlib import _checks
from genlib._random import rand, randn
from genlib.losses import gaussian_kl

__all__ = ["VOCAB", "PAD", "BOS", "EOS", "MAX_LEN", "sample_sentences", "is_grammatical", "log_prob",
           "encode", "decode", "grammaticality", "distinct_n", "novelty", "gumbel_softmax",
           "GRULanguageModel", "SentenceVAE"]

_DET = {"sg": ("a", "every", "the"), "pl": ("some", "two", "the")}
_NOUN = {"sg": ("cat", "dog", "bird", "fox", "child", "teacher", "robot", "horse"),
         "pl": ("cats", "dogs", "birds", "foxes", "children", "teachers", "robots", "horses")}
_ADJ = ("small", "big", "red", "old", "quiet", "happy")
_PREP = ("near", "behind", "with", "under")
_VI = {"sg": ("sleeps", "runs", "sings", "waits", "falls"), "pl": ("sleep", "run", "sing", "wait", "fall")}
_VT = {"sg": ("sees", "follows", "likes", "chases", "helps"), "pl": ("see", "follow", "like", "chase", "help")}
_ADV = ("quickly", "often", "today", "again")

P_PLURAL, P_PP, P_ADJ, P_TRANSITIVE, P_ADV = 0.5, 0.3, 0.4, 0.5, 0.3

_SPECIALS = ("<pad>", "<bos>", "<eos>")
_WORDS = tuple(dict.fromkeys(  # every word once, in a fixed order
    [*_DET["sg"], *_DET["pl"], *_NOUN["sg"], *_NOUN["pl"], *_ADJ, *_PREP, *_VI["sg"], *_VI["pl"],
     *_VT["sg"], *_VT["pl"], *_ADV]))

#: The token list: the three special tokens (ids 0, 1, 2), then the grammar's 55 words.
VOCAB: tuple[str, ...] = _SPECIALS + _WORDS
#: Id of the padding token ``<pad>`` in :data:`VOCAB`.
PAD = 0
#: Id of the begin-of-sentence token ``<bos>``.
BOS = 1
#: Id of the end-of-sentence token ``<eos>``.
EOS = 2
#: The longest sentence of the language, in words: DET ADJ NOUN PREP DET ADJ NOUN VT DET ADJ NOUN ADV.
MAX_LEN = 12

_ID = {w: i for i, w in enumerate(VOCAB)}
_NUMBERS = ("sg", "pl")


def _tokens(sentence, name: str = "sentence") -> tuple[str, ...]:
    """A sentence given as a string of space-separated words or a sequence of words, as a tuple."""
    if isinstance(sentence, str):
        return tuple(sentence.split())
    if isinstance(sentence, Sequence) and all(isinstance(w, str) for w in sentence):
        return tuple(sentence)
    raise TypeError(f"expected {name} to be a str or a sequence of str, got {type(sentence).__name__}")


def _sentences(sentences, name: str = "sentences") -> list[tuple[str, ...]]:
    if isinstance(sentences, str) or not isinstance(sentences, Iterable):
        raise TypeError(f"expected {name} to be a list of sentences (str or lists of str), "
                        f"got {type(sentences).__name__}")
    return [_tokens(s, f"each of {name}") for s in sentences]


# --- sampling -------------------------------------------------------------------------------

def sample_sentences(n: int, *, generator: torch.Generator | None = None) -> list[tuple[str, ...]]:
    """``n`` independent sentences from the grammar (see the module docstring).

    Args:
        n: number of sentences.
        generator: source of randomness (all draws are made at once, so the result depends
            only on the generator's state and ``n``).

    Returns:
        A list of ``n`` tuples of words.

    Example:
        >>> import torch
        >>> len(sample_sentences(5, generator=torch.Generator().manual_seed(1)))
        5
    """
    _checks.positive_int(n, "n")
    _checks.generator_arg(generator)
    u = rand(n, 21, generator=generator, dtype=torch.float64).tolist()

    def pick(options, v):
        return options[min(int(v * len(options)), len(options) - 1)]

    def noun_phrase(row, k):  # uses row[k : k + 5]: number, determiner, adjective?, adjective, noun
        num = "pl" if row[k] < P_PLURAL else "sg"
        words = [pick(_DET[num], row[k + 1])]
        if row[k + 2] < P_ADJ:
            words.append(pick(_ADJ, row[k + 3]))
        return num, [*words, pick(_NOUN[num], row[k + 4])]

    out = []
    for row in u:
        num, words = noun_phrase(row, 0)
        if row[5] < P_PP:
            words += [pick(_PREP, row[6]), *noun_phrase(row, 7)[1]]
        if row[12] < P_TRANSITIVE:
            words += [pick(_VT[num], row[13]), *noun_phrase(row, 14)[1]]
        else:
            words.append(pick(_VI[num], row[13]))
        if row[19] < P_ADV:
            words.append(pick(_ADV, row[20]))
        out.append(tuple(words))
    return out


# --- the checker and the exact probability --------------------------------------------------

def _parse_np(words: tuple[str, ...], i: int) -> tuple[int, str, float] | None:
    """Parse NP at position i: (next position, number, log-probability of the NP's choices)."""
    if i >= len(words):
        return None
    for num in _NUMBERS:
        if words[i] not in _DET[num]:
            continue
        j, lp = i + 1, math.log(0.5) - math.log(len(_DET[num]))
        if j < len(words) and words[j] in _ADJ:
            j, lp = j + 1, lp + math.log(P_ADJ) - math.log(len(_ADJ))
        else:
            lp += math.log(1 - P_ADJ)
        if j < len(words) and words[j] in _NOUN[num]:
            return j + 1, num, lp - math.log(len(_NOUN[num]))
    return None


def _parse(words: tuple[str, ...]) -> float | None:
    """The log-probability of the unique derivation of ``words``, or None if there is none."""
    subject = _parse_np(words, 0)
    if subject is None:
        return None
    i, num, lp = subject
    if i < len(words) and words[i] in _PREP:
        inner = _parse_np(words, i + 1)
        if inner is None:
            return None
        i, lp = inner[0], lp + math.log(P_PP) - math.log(len(_PREP)) + inner[2]
    else:
        lp += math.log(1 - P_PP)
    if i >= len(words):
        return None
    if words[i] in _VI[num]:
        i, lp = i + 1, lp + math.log(1 - P_TRANSITIVE) - math.log(len(_VI[num]))
    elif words[i] in _VT[num]:
        obj = _parse_np(words, i + 1)
        if obj is None:
            return None
        i, lp = obj[0], lp + math.log(P_TRANSITIVE) - math.log(len(_VT[num])) + obj[2]
    else:
        return None
    if i < len(words) and words[i] in _ADV:
        i, lp = i + 1, lp + math.log(P_ADV) - math.log(len(_ADV))
    else:
        lp += math.log(1 - P_ADV)
    return lp if i == len(words) else None


def is_grammatical(sentence: str | Sequence[str]) -> bool:
    """Whether ``sentence`` (a string of space-separated words, or a sequence of words) is in the language.

    Example:
        >>> is_grammatical("two big dogs chase a red fox quickly")
        True
        >>> is_grammatical("a dogs chase the fox")  # "a" takes a singular noun
        False
    """
    return _parse(_tokens(sentence)) is not None


def log_prob(sentence: str | Sequence[str]) -> float:
    """The grammar's exact log-probability (nats) of ``sentence``; ``-inf`` if it is not grammatical.

    Every sentence has one derivation, so this is the sum of the log-probabilities of the
    choices along it (number, determiner, optional adjective, noun, ...).

    Example:
        >>> round(log_prob("the cat sleeps"), 4)
        -7.398
        >>> log_prob("the cat sleep")
        -inf
    """
    lp = _parse(_tokens(sentence))
    return -math.inf if lp is None else lp


# --- token ids ------------------------------------------------------------------------------

def encode(sentences, *, length: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Sentences as ids: ``<bos> w1 ... wn <eos>`` then ``<pad>`` up to ``length``.

    Args:
        sentences: a list of sentences (strings or sequences of words of :data:`VOCAB`).
        length: columns of the result; default ``MAX_LEN + 2`` (room for the longest sentence).
        device: where the tensor goes (default CPU).

    Returns:
        An int64 tensor ``(len(sentences), length)``.

    Raises:
        ValueError: for a word outside :data:`VOCAB` or a sentence longer than ``length - 2``.

    Example:
        >>> encode(["the cat sleeps"], length=6).tolist() == [[BOS, VOCAB.index("the"),
        ...     VOCAB.index("cat"), VOCAB.index("sleeps"), EOS, PAD]]
        True
    """
    rows = _sentences(sentences)
    length = MAX_LEN + 2 if length is None else _checks.positive_int(length, "length")
    out = torch.full((len(rows), length), PAD, dtype=torch.int64)
    for r, words in enumerate(rows):
        if len(words) > length - 2:
            raise ValueError(f"expected sentences of at most length - 2 = {length - 2} words, "
                             f"got {len(words)}: {' '.join(words)!r}")
        unknown = [w for w in words if w not in _ID]
        if unknown:
            raise ValueError(f"expected words of VOCAB, got {unknown[0]!r}")
        out[r, : len(words) + 2] = torch.tensor([BOS, *(_ID[w] for w in words), EOS])
    return out.to(device) if device is not None else out


def _special_ids(vocab_size: int, **ids: int) -> tuple[int, ...]:
    """The ids ``pad``, ``bos``, ``eos`` (keyword order), each an int in [0, vocab_size)."""
    for name, v in ids.items():
        if not 0 <= _checks.nonnegative_int(v, name) < vocab_size:
            raise ValueError(f"expected {name} in [0, {vocab_size - 1}], got {v}")
    return tuple(ids.values())


def _check_ids(ids, vocab_size: int, *, min_length: int) -> torch.Tensor:
    """``ids`` checked: an integer tensor (N, length >= min_length) with values in [0, vocab_size)."""
    _checks.tensor(ids, "ids", floating=False)
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"expected ids to be an integer tensor, got dtype {ids.dtype}")
    if ids.ndim != 2 or ids.shape[1] < min_length:
        raise ValueError(f"expected ids of shape (N, length >= {min_length}), got {tuple(ids.shape)}")
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"expected ids in [0, {vocab_size - 1}], got values in "
                         f"[{ids.min().item()}, {ids.max().item()}]")
    return ids


def decode(ids: torch.Tensor) -> list[tuple[str, ...]]:
    """Rows of ids back to sentences: a leading ``<bos>`` is dropped, a row ends at its first
    ``<eos>`` or ``<pad>``; any other special token inside is kept (so the checker rejects it).

    Example:
        >>> decode(encode(["the cat sleeps", "two dogs run"]))
        [('the', 'cat', 'sleeps'), ('two', 'dogs', 'run')]
    """
    ids = _check_ids(ids, len(VOCAB), min_length=0)
    out = []
    for row in ids.tolist():
        if row and row[0] == BOS:
            row = row[1:]
        words = []
        for t in row:
            if t in (EOS, PAD):
                break
            words.append(VOCAB[t])
        out.append(tuple(words))
    return out


# --- metrics --------------------------------------------------------------------------------

def grammaticality(sentences) -> float:
    """The fraction of ``sentences`` that the grammar accepts (:func:`is_grammatical`).

    Example:
        >>> grammaticality(["the cat sleeps", "the cat sleep"])
        0.5
    """
    rows = _sentences(sentences)
    if not rows:
        raise ValueError("expected at least one sentence, got none")
    return sum(_parse(w) is not None for w in rows) / len(rows)


def distinct_n(sentences, n: int = 2) -> float:
    """Distinct-n (Li et al. 2016): distinct n-grams / all n-grams over the sentences.

    1.0 means no n-gram repeats anywhere; a model that says the same thing every time scores
    near 0. It rewards variety only: ungrammatical noise scores high too, so read it beside
    :func:`grammaticality`.

    Example:
        >>> distinct_n(["the cat sleeps", "the cat runs"], n=2)  # (the cat) twice, 3 distinct of 4
        0.75
    """
    rows = _sentences(sentences)
    n = _checks.positive_int(n, "n")
    grams = [w[i: i + n] for w in rows for i in range(len(w) - n + 1)]
    if not grams:
        raise ValueError(f"expected sentences with at least {n} words, got none that long")
    return len(set(grams)) / len(grams)


def novelty(sentences, reference) -> float:
    """The fraction of ``sentences`` that do not occur in ``reference`` (usually the training set).

    A model that copies its training sentences scores 0; one that generates new grammatical
    sentences scores high on both this and :func:`grammaticality`.

    Example:
        >>> novelty(["the cat sleeps", "a dog runs"], reference=["the cat sleeps"])
        0.5
    """
    rows = _sentences(sentences)
    if not rows:
        raise ValueError("expected at least one sentence, got none")
    seen = set(_sentences(reference, "reference"))
    return sum(w not in seen for w in rows) / len(rows)


# --- differentiable sampling ----------------------------------------------------------------

def gumbel_softmax(logits: torch.Tensor, *, tau: float = 1.0, hard: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A relaxed one-hot sample over the last dimension (Jang et al. 2017; Maddison et al. 2017).

    ``y = softmax((logits + g) / tau)`` with ``g = -log(-log u)``, ``u ~ U(0, 1)``: the argmax
    of ``logits + g`` is an exact sample of ``Categorical(softmax(logits))`` and ``y`` is its
    differentiable relaxation (``tau -> 0``: one-hot, ``tau`` large: uniform). With ``hard``,
    the forward value is that exact one-hot sample and the gradient is the relaxed one's
    (the straight-through estimator). Unlike ``torch.nn.functional.gumbel_softmax``, the noise
    comes from ``generator``, so a seeded run is reproducible.

    Args:
        logits: unnormalised log-probabilities, ``(..., K)``.
        tau: temperature, > 0.
        hard: return one-hot values with the relaxed gradient.
        generator: source of the Gumbel noise.

    Returns:
        A tensor of the shape of ``logits`` whose last dimension sums to 1.

    Example:
        >>> import torch
        >>> y = gumbel_softmax(torch.zeros(4, 3), hard=True, generator=torch.Generator().manual_seed(0))
        >>> y.sum(-1).tolist(), sorted(set(y.flatten().tolist()))
        ([1.0, 1.0, 1.0, 1.0], [0.0, 1.0])
    """
    logits = _checks.tensor(logits, "logits", min_ndim=1)
    tau = _checks.positive_float(tau, "tau")
    _checks.generator_arg(generator)
    u = rand(*logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    tiny = torch.finfo(logits.dtype).tiny
    e = -torch.log(u.clamp(min=tiny))  # Exponential(1) draws
    g = -torch.log(e.clamp(min=tiny))  # Gumbel(0, 1) draws
    y = torch.softmax((logits + g) / tau, dim=-1)
    if not hard:
        return y
    one_hot = torch.zeros_like(y).scatter_(-1, y.argmax(-1, keepdim=True), 1.0)
    return one_hot + (y - y.detach())  # the value is exactly one-hot, the gradient is y's


# --- a maximum-likelihood baseline -----------------------------------------------------------

class GRULanguageModel(nn.Module):
    """Embedding -> GRU -> linear logits over the vocabulary, trained by maximum likelihood.

    Args:
        vocab_size: number of token ids (default ``len(VOCAB)``).
        embed_dim, hidden_dim: sizes of the embedding and of the GRU state.
        pad, bos, eos: the special ids (defaults :data:`PAD`, :data:`BOS`, :data:`EOS`).

    ``forward(ids, h0=None)`` returns next-token logits ``(N, L - 1, vocab_size)`` for inputs
    ``ids[:, :-1]``; ``h0`` (``(1, N, hidden_dim)``) lets a sentence VAE condition the decoder
    on a latent code through the initial state.

    Example:
        >>> import torch
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> lm = GRULanguageModel()
        >>> ids = encode(["the cat sleeps", "two dogs run"])
        >>> lm.log_prob(ids).shape, lm.sample(3, generator=torch.Generator().manual_seed(0)).shape
        (torch.Size([2]), torch.Size([3, 14]))
    """

    def __init__(self, vocab_size: int = len(VOCAB), *, embed_dim: int = 32, hidden_dim: int = 64,
                 pad: int = PAD, bos: int = BOS, eos: int = EOS):
        super().__init__()
        self.vocab_size = _checks.positive_int(vocab_size, "vocab_size")
        self.pad, self.bos, self.eos = _special_ids(vocab_size, pad=pad, bos=bos, eos=eos)
        self.hidden_dim = _checks.positive_int(hidden_dim, "hidden_dim")
        self.embed = nn.Embedding(vocab_size, _checks.positive_int(embed_dim, "embed_dim"))
        self.gru = nn.GRU(embed_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, vocab_size)

    def forward(self, ids: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        ids = _check_ids(ids, self.vocab_size, min_length=2)
        h, _ = self.gru(self.embed(ids[:, :-1]), h0)
        return self.out(h)

    def token_log_probs(self, ids: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, L - 1)``: log p(ids[:, t+1] | ids[:, :t+1]), zero at padding positions."""
        logits = self(ids, h0)
        lp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        return lp * (ids[:, 1:] != self.pad)

    def log_prob(self, ids: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """``(N,)``: each sentence's log-likelihood in nats (``<eos>`` included, padding excluded)."""
        return self.token_log_probs(ids, h0).sum(1)

    def loss(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss": mean negative log-likelihood per sentence}``."""
        return {"loss": -self.log_prob(ids).mean()}

    @torch.no_grad()
    def sample(self, n: int, *, max_len: int = MAX_LEN + 1, temperature: float = 1.0, h0: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` sentences by ancestral sampling: ids ``(n, max_len + 1)`` starting with ``<bos>``;
        after a row's ``<eos>`` the rest is ``<pad>``. ``temperature`` < 1 sharpens each
        next-token distribution (not an exact sample of the model then)."""
        _checks.positive_int(n, "n")
        _checks.positive_int(max_len, "max_len")
        _checks.positive_float(temperature, "temperature")
        _checks.generator_arg(generator)
        device = self.out.weight.device
        tok = torch.full((n, 1), self.bos, dtype=torch.int64, device=device)
        out, done, h = [tok], torch.zeros(n, dtype=torch.bool, device=device), h0
        for _ in range(max_len):
            y, h = self.gru(self.embed(tok), h)
            probs = torch.softmax(self.out(y[:, -1]) / temperature, dim=-1)
            # inverse-CDF sampling with the caller's generator, on any device
            u = rand(n, 1, generator=generator, device=device, dtype=probs.dtype)
            tok = (probs.cumsum(-1) < u).sum(-1, keepdim=True).clamp(max=self.vocab_size - 1)
            tok = torch.where(done[:, None], torch.full_like(tok, self.pad), tok)
            out.append(tok)
            done |= tok[:, 0] == self.eos
        return torch.cat(out, dim=1)



# --- a sentence VAE ---------------------------------------------------------------------------

def _gru(x: torch.Tensor, h: torch.Tensor, w_ih, w_hh, b_ih, b_hh) -> torch.Tensor:
    """A GRU layer for M members at once (the equations and gate order of ``torch.nn.GRU``).

    x (M, N, L, E), h (M, N, H), w_ih (M, E, 3H), w_hh (M, H, 3H), b_ih, b_hh (M, 3H);
    returns the states (M, N, L, H).
    """
    m, n, length, _ = x.shape
    gi = torch.baddbmm(b_ih[:, None], x.reshape(m, n * length, -1), w_ih).reshape(m, n, length, -1)  # all steps
    out = []
    # unbind, not gi[:, :, t]: the backward of L slices would fill L full-size zero tensors
    for i_r, i_z, i_n in zip(*(g.unbind(2) for g in gi.chunk(3, -1))):
        gh = torch.baddbmm(b_hh[:, None], h, w_hh)  # (M, N, 3H)
        h_r, h_z, h_n = gh.chunk(3, -1)
        r, u = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = n + u * (h - n)  # (1 - u) * n + u * h
        out.append(h)
    return torch.stack(out, dim=2)


class SentenceVAE(nn.Module):
    r"""A sentence VAE (Bowman et al. 2016): GRU encoder -> (mu, logvar) -> z -> GRU language model.

    The encoder reads ``<bos> w1 ... wn <eos>`` and maps its state at ``<eos>`` to the mean and
    log-variance of :math:`q(z\mid x)`; the decoder is a GRU language model (embedding -> GRU
    -> logits, as :class:`GRULanguageModel`) whose initial state is :math:`h_0 = \tanh(W z + b)`.
    :meth:`loss` is the negative ELBO with a KL weight and word dropout, the two knobs that
    fight posterior collapse:

    .. math::
        \mathcal L = \mathbb E_{q(z\mid x)}\Big[-\sum_t \log p(w_t \mid \tilde w_{<t}, z)\Big]
        + \beta\,\mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal N(0, I)\big),

    where :math:`\tilde w` is the decoder's input with each word replaced by ``<pad>`` with
    probability ``word_dropout`` (the decoder never reads ``<pad>`` otherwise, so it plays
    Bowman's ``<unk>``); the targets are always the true words and ``<bos>`` is never dropped.
    With ``beta=1`` and ``word_dropout=0`` the loss is the negative ELBO (one z per sentence).

    **Members.** ``members=M`` holds M independent VAEs (e.g. seeds) trained at once by batched
    matrix products: every result gains a leading axis M, ids may be ``(N, L)`` (the same
    sentences for every member) or ``(M, N, L)``, and :meth:`loss` returns each member's batch
    means, shape ``(M,)``: sum them before ``backward()``. With ``members=1`` (the default)
    there is no member axis anywhere. ``seeds`` (one int per member) makes member i's initial
    weights those of ``torch.Generator().manual_seed(seeds[i])``, so two models built with the
    same seeds start identical; without it the global torch RNG is used.

    Args:
        vocab_size: number of token ids (default ``len(VOCAB)``).
        latent_dim: size of z.
        embed_dim, hidden_dim: sizes of the embeddings and GRU states (encoder and decoder).
        members: number of independent VAEs held.
        seeds: optional, one seed per member for the initial weights.
        pad, bos, eos: the special ids (defaults :data:`PAD`, :data:`BOS`, :data:`EOS`).

    Example:
        >>> import torch
        >>> vae = SentenceVAE(latent_dim=8, seeds=[0])
        >>> ids = encode(["the cat sleeps", "two dogs run"])
        >>> parts = vae.loss(ids, beta=0.5, word_dropout=0.25, generator=torch.Generator().manual_seed(0))
        >>> sorted(parts), parts["kl"].item() >= 0
        (['kl', 'loss', 'recon'], True)
        >>> vae.sample(3, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([3, 14])
        >>> three = SentenceVAE(latent_dim=8, members=3, seeds=[0, 1, 2])
        >>> three.loss(ids)["loss"].shape, three.encode(ids)[0].shape
        (torch.Size([3]), torch.Size([3, 2, 8]))
    """

    def __init__(self, vocab_size: int = len(VOCAB), *, latent_dim: int = 16, embed_dim: int = 32,
                 hidden_dim: int = 64, members: int = 1, seeds: Sequence[int] | None = None,
                 pad: int = PAD, bos: int = BOS, eos: int = EOS):
        super().__init__()
        self.vocab_size = _checks.positive_int(vocab_size, "vocab_size")
        self.pad, self.bos, self.eos = _special_ids(vocab_size, pad=pad, bos=bos, eos=eos)
        self.latent_dim = _checks.positive_int(latent_dim, "latent_dim")
        self.hidden_dim = h = _checks.positive_int(hidden_dim, "hidden_dim")
        e = _checks.positive_int(embed_dim, "embed_dim")
        self.members = m = _checks.positive_int(members, "members")
        if seeds is not None:
            if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
                raise TypeError(f"expected seeds to be a sequence of ints, got {type(seeds).__name__}")
            seeds = [_checks.nonnegative_int(s, "each seed") for s in seeds]
            if len(seeds) != m:
                raise ValueError(f"expected {m} seeds (one per member), got {len(seeds)}")
        shapes = {  # name: (shape per member, init: "normal" or the uniform bound 1/sqrt(fan))
            "enc_embed": ((vocab_size, e), "normal"), "dec_embed": ((vocab_size, e), "normal"),
            "enc_w_ih": ((e, 3 * h), h), "enc_w_hh": ((h, 3 * h), h),
            "enc_b_ih": ((3 * h,), h), "enc_b_hh": ((3 * h,), h),
            "dec_w_ih": ((e, 3 * h), h), "dec_w_hh": ((h, 3 * h), h),
            "dec_b_ih": ((3 * h,), h), "dec_b_hh": ((3 * h,), h),
            "stats_w": ((h, 2 * latent_dim), h), "stats_b": ((2 * latent_dim,), h),
            "h0_w": ((latent_dim, h), latent_dim), "h0_b": ((h,), latent_dim),
            "out_w": ((h, vocab_size), h), "out_b": ((vocab_size,), h),
        }  # the initialisations of nn.Embedding, nn.GRU and nn.Linear
        gens = [torch.Generator().manual_seed(s) for s in seeds] if seeds is not None else [None] * m
        values = {k: [] for k in shapes}
        for g in gens:  # member by member, so member i depends on seeds[i] only
            for k, (shape, init) in shapes.items():
                v = randn(*shape, generator=g) if init == "normal" else \
                    (2 * rand(*shape, generator=g) - 1) / math.sqrt(init)
                values[k].append(v)
        for k in shapes:
            setattr(self, k, nn.Parameter(torch.stack(values[k])))

    # -- shapes ---------------------------------------------------------------------------------
    def _ids(self, ids) -> torch.Tensor:
        """ids (N, L) or (M, N, L) checked, as (M, N, L)."""
        _checks.tensor(ids, "ids", floating=False)
        if ids.ndim == 3 and ids.shape[0] != self.members:
            raise ValueError(f"expected ids of shape (N, L) or ({self.members}, N, L), got {tuple(ids.shape)}")
        if ids.ndim not in (2, 3):
            raise ValueError(f"expected ids of shape (N, L) or ({self.members}, N, L), got {tuple(ids.shape)}")
        _check_ids(ids.reshape(-1, ids.shape[-1]), self.vocab_size, min_length=2)
        # drop trailing all-<pad> columns: the results do not change, the GRU loops get shorter
        used = max(int((ids != self.pad).sum(-1).max()), 2)
        ids = ids[..., :used]
        return ids.expand(self.members, *ids.shape[-2:]) if ids.ndim == 2 else ids

    def _z(self, z) -> torch.Tensor:
        """z (N, D) or (M, N, D) checked, as (M, N, D)."""
        z = _checks.tensor(z, "z", ndim=(2, 3))
        if z.shape[-1] != self.latent_dim or (z.ndim == 3 and z.shape[0] != self.members):
            raise ValueError(f"expected z of shape (N, {self.latent_dim}) or "
                             f"({self.members}, N, {self.latent_dim}), got {tuple(z.shape)}")
        return z.expand(self.members, *z.shape[-2:]) if z.ndim == 2 else z

    def _out(self, t: torch.Tensor) -> torch.Tensor:
        return t[0] if self.members == 1 else t

    def _embed(self, table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        # (M, V, E), (M, N, L) -> (M, N, L, E): member m looks up its own table (one flat lookup)
        offset = torch.arange(self.members, device=ids.device)[:, None, None] * self.vocab_size
        return nn.functional.embedding(ids + offset, table.reshape(-1, table.shape[-1]))

    # -- the model ------------------------------------------------------------------------------
    def encode(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each ``(N, latent_dim)`` (``(M, N, latent_dim)`` with members): q(z|x)
        from the encoder's state at each row's last non-padding token (its ``<eos>``)."""
        ids = self._ids(ids)
        m, n, _ = ids.shape
        h = _gru(self._embed(self.enc_embed, ids), ids.new_zeros((m, n, self.hidden_dim), dtype=self.h0_b.dtype),
                 self.enc_w_ih, self.enc_w_hh, self.enc_b_ih, self.enc_b_hh)  # (M, N, L, H)
        last = ((ids != self.pad).sum(-1).clamp(min=1) - 1)[..., None, None]  # (M, N, 1, 1)
        h = h.gather(2, last.expand(-1, -1, 1, self.hidden_dim))[:, :, 0]  # (M, N, H)
        mu, logvar = (torch.baddbmm(self.stats_b[:, None], h, self.stats_w)).chunk(2, dim=-1)
        return self._out(mu), self._out(logvar)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, *,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        r""":math:`z = \mu + \sigma\odot\varepsilon`, :math:`\varepsilon\sim\mathcal N(0, I)` from ``generator``."""
        eps = randn(*mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def initial_state(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's initial state ``tanh(W z + b)``: ``(N, hidden_dim)`` (``(M, N, hidden_dim)``)."""
        return self._out(torch.tanh(torch.baddbmm(self.h0_b[:, None], self._z(z), self.h0_w)))

    def _logits(self, inputs: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        # inputs (M, N, L), h0 (M, N, H) -> next-token logits (M, N, L, V)
        h = _gru(self._embed(self.dec_embed, inputs), h0, self.dec_w_ih, self.dec_w_hh, self.dec_b_ih,
                 self.dec_b_hh)
        m, n, length, _ = h.shape
        return torch.baddbmm(self.out_b[:, None], h.reshape(m, n * length, -1), self.out_w).reshape(m, n, length, -1)

    def log_likelihood(self, ids: torch.Tensor, z: torch.Tensor, *, word_dropout: float = 0.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """``(N,)`` (``(M, N)``): log p(x | z) in nats (``<eos>`` included, padding excluded), the
        decoder reading its input with word dropout at rate ``word_dropout``. The dropout's
        uniform draws are made whatever the rate (from ``generator``), so runs that differ only
        in the rate consume the same random numbers."""
        ids = self._ids(ids)
        if isinstance(word_dropout, bool) or not isinstance(word_dropout, (int, float)):
            raise TypeError(f"expected word_dropout to be a number, got {type(word_dropout).__name__}")
        if not 0.0 <= word_dropout <= 1.0:
            raise ValueError(f"expected word_dropout in [0, 1], got {word_dropout}")
        _checks.generator_arg(generator)
        words = (ids != self.pad) & (ids != self.bos) & (ids != self.eos)
        drop = rand(*ids.shape, generator=generator, device=ids.device) < word_dropout
        inputs = torch.where(words & drop, torch.full_like(ids, self.pad), ids)
        logits = self._logits(inputs[..., :-1], torch.tanh(torch.baddbmm(self.h0_b[:, None], self._z(z), self.h0_w)))
        lp = torch.log_softmax(logits, dim=-1).gather(-1, ids[..., 1:, None]).squeeze(-1)  # (M, N, L - 1)
        return self._out((lp * (ids[..., 1:] != self.pad)).sum(-1))

    def loss(self, ids: torch.Tensor, *, beta: float = 1.0, word_dropout: float = 0.0,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Batch means ``{"loss": recon + beta * kl, "recon": -log p(x|z), "kl": KL(q(z|x) || p(z))}``
        with one z per sentence (scalars; ``(M,)`` with members). ``generator`` draws z, then
        the word-dropout positions."""
        if isinstance(beta, bool) or not isinstance(beta, (int, float)):
            raise TypeError(f"expected beta to be a number, got {type(beta).__name__}")
        if not beta >= 0:
            raise ValueError(f"expected beta >= 0, got {beta}")
        _checks.generator_arg(generator)
        mu, logvar = self.encode(ids)
        z = self.reparameterize(mu, logvar, generator=generator)
        recon = -self.log_likelihood(ids, z, word_dropout=word_dropout, generator=generator).mean(-1)
        kl = gaussian_kl(mu.reshape(-1, self.latent_dim), logvar.reshape(-1, self.latent_dim),
                         reduction="none").reshape(mu.shape[:-1]).mean(-1)
        return {"loss": recon + beta * kl, "recon": recon, "kl": kl}

    @torch.no_grad()
    def generate(self, z: torch.Tensor, *, greedy: bool = False, temperature: float = 1.0,
                 max_len: int = MAX_LEN + 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sentences decoded from codes ``z`` (``(N, latent_dim)`` or ``(M, N, latent_dim)``): ids
        ``(N, max_len + 1)`` (``(M, N, max_len + 1)``) starting with ``<bos>``, ``<pad>`` after
        ``<eos>``. ``greedy`` takes the most likely word at every step (deterministic); otherwise
        words are sampled (at ``temperature``) from ``generator``."""
        z = self._z(z)
        _checks.positive_int(max_len, "max_len")
        _checks.positive_float(temperature, "temperature")
        _checks.generator_arg(generator)
        m, n, _ = z.shape
        h = torch.tanh(torch.baddbmm(self.h0_b[:, None], z, self.h0_w))  # (M, N, H)
        tok = torch.full((m, n, 1), self.bos, dtype=torch.int64, device=z.device)
        out, done = [tok], torch.zeros(m, n, dtype=torch.bool, device=z.device)
        for _ in range(max_len):
            h = _gru(self._embed(self.dec_embed, tok), h, self.dec_w_ih, self.dec_w_hh, self.dec_b_ih,
                     self.dec_b_hh)[:, :, -1]
            logits = torch.baddbmm(self.out_b[:, None], h, self.out_w)  # (M, N, V)
            if greedy:
                tok = logits.argmax(-1, keepdim=True)
            else:  # inverse-CDF sampling with the caller's generator, on any device
                probs = torch.softmax(logits / temperature, dim=-1)
                u = rand(m, n, 1, generator=generator, device=z.device, dtype=probs.dtype)
                tok = (probs.cumsum(-1) < u).sum(-1, keepdim=True).clamp(max=self.vocab_size - 1)
            tok = torch.where(done[..., None], torch.full_like(tok, self.pad), tok)
            out.append(tok)
            done |= tok[..., 0] == self.eos
        return self._out(torch.cat(out, dim=-1))

    @torch.no_grad()
    def sample(self, n: int, *, greedy: bool = False, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` sentences per member: z ~ N(0, I), then :meth:`generate` (both from ``generator``)."""
        _checks.positive_int(n, "n")
        _checks.generator_arg(generator)
        z = randn(self.members, n, self.latent_dim, generator=generator, device=self.h0_w.device)
        return self.generate(z, greedy=greedy, temperature=temperature, generator=generator)

    @torch.no_grad()
    def reconstruct(self, ids: torch.Tensor, *, greedy: bool = True,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Each sentence encoded to its posterior mean and decoded again (greedy by default)."""
        mu, _ = self.encode(ids)
        return self.generate(mu, greedy=greedy, generator=generator)
