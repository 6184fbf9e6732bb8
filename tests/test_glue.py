"""genlib.glue: converts values to plain Python numbers and hands them to myst_nb.glue."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genlib


@pytest.fixture
def recorded(monkeypatch):
    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls.append((name, value, display)))
    return calls


@pytest.mark.parametrize("value, expected", [
    (torch.tensor(2.5), 2.5),
    (torch.tensor([3]), 3),
    (np.float32(0.25), 0.25),
    (np.int64(7), 7),
    (1.5, 1.5),
    ("text", "text"),
])
def test_values_become_plain_python(recorded, value, expected):
    genlib.glue("x", value)
    ((name, got, display),) = recorded
    assert name == "x" and got == expected and type(got) is type(expected) and display is False


def test_display_is_passed_on(recorded):
    genlib.glue("shown", 1.0, display=True)
    assert recorded == [("shown", 1.0, True)]


def test_real_myst_nb_glue_outside_a_notebook_does_not_fail(capsys):
    genlib.glue("plain", 0.5)  # no kernel: myst_nb stores nothing and must not raise


@pytest.mark.parametrize("name, value, error, match", [
    ("", 1.0, TypeError, "name"),
    (3, 1.0, TypeError, "name"),
    ("t", torch.zeros(2), ValueError, "one-element"),
])
def test_bad_input(recorded, name, value, error, match):
    with pytest.raises(error, match=match):
        genlib.glue(name, value)
    assert recorded == []
