"""The Python examples run as a user runs them and reach what the README says they reach."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FASHION = "/usr/share/datasets/fashion-mnist"
LICENCE = "/usr/share/common-licenses/Apache-2.0"


def run_example(name, *args, timeout=120):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def fashion_accuracies(model, *args):
    if not os.path.exists(f"{FASHION}/train-images-idx3-ubyte.gz"):
        pytest.skip("Fashion-MNIST is not installed (apt install dataset-fashion-mnist)")
    stdout = run_example("fashion_mnist.py", model, "--data", FASHION, *args, timeout=1200)
    return [float(a) for a in re.findall(rf"{model} epoch \d+: .*test accuracy ([\d.]+)%", stdout)]


# The README's targets, with the examples' default epochs (mlp 8, cnn 4).
def test_fashion_mnist_mlp_reaches_88_percent():
    accuracies = fashion_accuracies("mlp")
    assert len(accuracies) == 8 and accuracies[-1] >= 88.0, accuracies


def test_fashion_mnist_train_cnn_reaches_91_percent():
    accuracies = fashion_accuracies("cnn")
    assert len(accuracies) == 4 and accuracies[-1] >= 91.0, accuracies


def test_fashion_mnist_short_mode():
    accuracies = fashion_accuracies("cnn", "--epochs", "1", "--limit-batches", "30")
    assert len(accuracies) == 1 and accuracies[0] > 50, accuracies


def test_char_lstm_lm_learns_in_a_short_run():
    stdout = run_example("char_lstm_lm.py", LICENCE, "120", timeout=600)
    assert 'sample: "Licensed under' in stdout


def test_tiny_transformer_lm_learns_in_a_short_run():
    stdout = run_example("tiny_transformer_lm.py", LICENCE, "150", timeout=600)
    losses = [float(v) for v in re.findall(r"step +\d+  loss ([\d.]+)", stdout)]
    assert losses[-1] < losses[0] - 2.0, stdout  # from ~4.6 nats (uniform over 76) to ~2.2
    assert 'sample: "Licensed under' in stdout


def test_linear_regression_finds_the_line():
    stdout = run_example("linear_regression.py")
    m = re.search(r"learned y = (-?[\d.]+) x \+ (-?[\d.]+)", stdout)
    assert m, stdout
    assert abs(float(m.group(1)) - 2) < 0.01 and abs(float(m.group(2))) < 0.01, stdout


def test_curve_fitting_line_underfits_and_both_fixes_fit():
    stdout = run_example("curve_fitting.py")
    line = re.search(r"a line: +y = (-?[\d.]+) x \+ (-?[\d.]+), mean squared error ([\d.]+)", stdout)
    mlp = re.search(r"tanh network: mean squared error ([\d.]+)", stdout)
    poly = re.search(r"y = (-?[\d.]+) x \+ (-?[\d.]+) x\^2 \+ (-?[\d.]+), mean squared error ([\d.]+)", stdout)
    assert line and mlp and poly, stdout
    assert abs(float(line.group(1))) < 0.01 and abs(float(line.group(2)) - 1.467) < 0.01, stdout
    assert float(line.group(3)) > 0.5 and float(mlp.group(1)) < 0.01 and float(poly.group(4)) < 1e-4, stdout
    assert abs(float(poly.group(2)) - 1) < 0.01, stdout
    assert "as expected: the line underfits, both fixes fit" in stdout


def test_mislabeled_point_is_found():
    stdout = run_example("mislabeled_point.py")
    assert "The point x = 5 is off by -9.0: probably mislabeled." in stdout, stdout
    m = re.search(r"squared error without it: y = (-?[\d.]+) x \+ (-?[\d.]+)", stdout)
    assert m and abs(float(m.group(1)) - 2) < 0.01 and abs(float(m.group(2))) < 0.03, stdout
    assert stdout.rstrip().endswith("as expected"), stdout


def test_xor_learned_by_gradient_descent_and_lbfgs():
    stdout = run_example("xor.py")
    predictions = re.findall(r"(\d) xor (\d) = (\d)   predicted ([\d.]+)", stdout)
    assert len(predictions) == 8, stdout  # four by gradient descent, four by L-BFGS
    for a, b, target, p in predictions:
        assert int(target) == int(a) ^ int(b) and (float(p) > 0.5) == (target == "1"), stdout
    losses = [float(v) for v in re.findall(r"L-BFGS step \d  loss ([\d.]+)", stdout)]
    assert len(losses) == 3 and losses[-1] < 1e-3, stdout
