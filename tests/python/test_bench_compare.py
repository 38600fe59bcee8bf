"""bench/compare_models.py in its quickest form: every model's correctness check against PyTorch
must pass and the script must finish (the timings themselves are not checked)."""
import os
import pathlib
import re
import subprocess
import sys

import tapegrad
from conftest import need_torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = ("mlp", "cnn", "lstm_lm", "transformer_lm")


def test_compare_models_tiny_run():
    need_torch()  # the script needs both libraries in this interpreter
    env = dict(os.environ)
    # The child imports the tapegrad this test imported (its package folder may be a folder of
    # symlinks, as build/pydev is: take the path as imported, not resolved).
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(pathlib.Path(tapegrad.__file__).parent.parent), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compare_models.py"), "--steps", "2", "--reps", "1", "--warmup", "1"],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for model in MODELS:
        assert re.search(rf"^correctness {model}: .*: ok$", proc.stdout, re.M), f"{model}: no passing check\n{out}"
        assert re.search(rf"^\| {model} \| [0-9.]+ \| [0-9.]+ \| \*\*[0-9.]+\*\* \|$", proc.stdout, re.M), out
