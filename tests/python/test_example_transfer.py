"""examples/transfer.py end to end: tapegrad-train (C++) saves an MLP to safetensors, the script
loads it in Python with the same test accuracy, and its fine-tuned head beats training from scratch."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FASHION = "/usr/share/datasets/fashion-mnist"
# The C++ trainer: TG_TRAIN_BIN, else the one tests/run.sh builds into build/.
TRAIN_BIN = os.environ.get("TG_TRAIN_BIN") or os.path.join(ROOT, "build", "examples", "tapegrad-train")


def test_transfer_loads_cpp_weights_and_fine_tuning_beats_scratch(tmp_path):
    if not os.path.exists(f"{FASHION}/train-images-idx3-ubyte.gz"):
        pytest.skip("Fashion-MNIST is not installed (apt install dataset-fashion-mnist)")
    if not os.access(TRAIN_BIN, os.X_OK):
        pytest.skip(f"no tapegrad-train binary at {TRAIN_BIN} (build the project or set TG_TRAIN_BIN)")
    weights = tmp_path / "mlp.safetensors"
    # A short run (500 of the 938 batches of one epoch); any N >= 10 still tests on all 10,000
    # images, as the script does, so the two accuracies are comparable.
    cpp = subprocess.run([TRAIN_BIN, "--model", "mlp", "--device", "cpu", "--epochs", "1",
                          "--limit-batches", "500", "--data", FASHION, "--save", str(weights)],
                         capture_output=True, text=True, timeout=120)
    assert cpp.returncode == 0, cpp.stdout + cpp.stderr
    cpp_accuracy = re.findall(r"epoch 1/1 .*test accuracy ([\d.]+)%", cpp.stdout)
    assert len(cpp_accuracy) == 1 and weights.exists(), cpp.stdout

    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "transfer.py"), str(weights),
                          "--data", FASHION, "--steps", "100", "--expect", cpp_accuracy[0]],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    # The weights carried over exactly: the same 10-class test accuracy, to the image.
    py_accuracy = re.findall(r"10-class test accuracy of the C\+\+-trained MLP in Python: ([\d.]+)%",
                             out.stdout)
    assert py_accuracy == cpp_accuracy, out.stdout
    assert "the frozen body's weights are bit-for-bit what the file holds" in out.stdout
    transfer = float(re.search(r"fine-tuned head .*test accuracy ([\d.]+)%", out.stdout).group(1))
    scratch = float(re.search(r"from scratch: .*test accuracy ([\d.]+)%", out.stdout).group(1))
    assert transfer > scratch + 1.0 and transfer >= 92.0, out.stdout
