"""The Python examples run as a user runs them and reach what the README says they reach."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FASHION = "/usr/share/datasets/fashion-mnist"


def test_train_cnn_reaches_91_percent():
    if not os.path.exists(f"{FASHION}/train-images-idx3-ubyte.gz"):
        pytest.skip("Fashion-MNIST is not installed (apt install dataset-fashion-mnist)")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_cnn.py"), FASHION, "4"],
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr
    accuracies = [float(a) for a in re.findall(r"test accuracy ([\d.]+)%", out.stdout)]
    assert len(accuracies) == 4, out.stdout
    assert accuracies[-1] >= 91.0, out.stdout


def test_char_lstm_lm_learns_in_a_short_run():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "char_lstm_lm.py"),
                          "/usr/share/common-licenses/Apache-2.0", "120"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'sample: "Licensed under' in out.stdout
