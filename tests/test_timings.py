"""tools/timings.py: per-chapter times from a JUnit report, and a failing exit over the ceiling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools import timings

ROOT = Path(__file__).resolve().parents[1]


def _report(tmp_path: Path, q01: float, q02: float) -> Path:
    xml = f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
  <testcase classname="book.q01_vae_principle.ipynb" name="Cell 0" time="{q01 / 2}"/>
  <testcase classname="book.q01_vae_principle.ipynb" name="Cell 1" time="{q01 / 2}"/>
  <testcase classname="book.q02_latent_space.ipynb" name="Cell 0" time="{q02}"/>
  <testcase classname="tests.test_losses" file="tests/test_losses.py" name="test_a" time="0.5"/>
  <testcase classname="tests.test_zoo" file="tests/test_zoo.py" name="test_b" time="1.5"/>
</testsuite></testsuites>"""
    path = tmp_path / "junit.xml"
    path.write_text(xml)
    return path


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "timings.py"), *map(str, args)],
                          capture_output=True, text=True)


def test_per_file_sums_cells_per_notebook(tmp_path):
    totals = timings.per_file(str(_report(tmp_path, 50.0, 30.0)))
    assert totals["book.q01_vae_principle.ipynb"] == pytest.approx(50.0)
    assert totals["book.q02_latent_space.ipynb"] == pytest.approx(30.0)
    assert totals["tests"] == pytest.approx(2.0)


def test_under_the_ceiling_passes(tmp_path):
    out = _run(_report(tmp_path, 119.0, 30.0))
    assert out.returncode == 0, out.stderr
    assert "q01_vae_principle.ipynb" in out.stdout and "119.0 s" in out.stdout
    assert "unit tests" in out.stdout and out.stderr == ""


def test_over_the_ceiling_fails_and_names_the_chapter(tmp_path):
    out = _run(_report(tmp_path, 121.0, 30.0))
    assert out.returncode == 1
    assert "q01_vae_principle.ipynb took 121.0 s, over the 120 s" in out.stderr
    assert "q02" not in out.stderr


def test_custom_ceiling_and_usage(tmp_path):
    report = _report(tmp_path, 50.0, 30.0)
    assert _run(report, "--ceiling", 40).returncode == 1
    assert _run(report, "--ceiling", 60).returncode == 0
    assert _run().returncode == 2 and _run(report, "--ceiling").returncode == 2


def test_several_reports_add_up(tmp_path):
    """``make test`` writes one report for the unit tests and one for the chapters."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    out = _run(_report(a, 70.0, 30.0), _report(b, 60.0, 10.0))
    assert out.returncode == 1  # q01: 70 + 60 s in all, over the ceiling; q02: 40 s
    assert "q01_vae_principle.ipynb took 130.0 s" in out.stderr and "q02" not in out.stderr
    assert "unit tests" in out.stdout and "4.0 s" in out.stdout
