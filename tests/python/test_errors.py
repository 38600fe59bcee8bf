"""The error surface from Python: one case per row of the table in tests/README.md, each raising
the Python exception the table names with a message that names the op and the values; and a guard
that the table, this file and tests/cpp/test_errors.cpp list the same classes."""
import os
import re

import pytest

import tapegrad as tg
import tapegrad.nn as nn

HERE = os.path.dirname(__file__)


def _backward_twice():
    w = tg.ones(3, requires_grad=True)
    y = (w * w).sum()
    y.backward()
    y.backward()


def _backward_inplace():
    w = tg.ones(3, requires_grad=True)
    y = (w * 1).exp()  # saves its output
    y.mul_(2)
    y.sum().backward()


def _linear_state(**changes):
    m = nn.Linear(2, 3)
    sd = dict(m.state_dict())
    for k, v in changes.items():
        if v is None:
            del sd[k]
        else:
            sd[k] = v
    m.load_state_dict(sd)


def _truncated_safetensors(tmp_path):
    path = str(tmp_path / "m.safetensors")
    tg.save({"w": tg.ones(4, 4)}, path)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) - 10])
    tg.load(path)


def _anomaly():
    x = tg.tensor([1.0, 0.0], requires_grad=True)
    with tg.autograd.detect_anomaly():
        x.log()


X = tg.zeros(3, 4)
W = tg.ones(3, requires_grad=True)

# id: (what to run, exception, regex parts the message must all contain)
ERROR_TABLE = {
    "broadcast": (lambda _: X + tg.zeros(5), ValueError, [r"add", r"\[3, 4\]", r"\[5\]", "broadcast"]),
    "matmul": (lambda _: X @ tg.zeros(5, 2), ValueError, ["matmul", r"\[3, 4\]", r"\[5, 2\]", "4 != 5"]),
    "dtype": (lambda _: X.matmul(tg.zeros(4, 2, dtype=tg.int64)), TypeError, ["matmul", "float32", "int64"]),
    "dtype_inplace": (lambda _: tg.zeros(3, dtype=tg.int64).add_(tg.zeros(3)), TypeError, ["add_", "float32", "int64"]),
    "device": (lambda _: X.to("cuda") if not tg.cuda.is_available() else X + X.to("cuda"), RuntimeError,
               ["(?i)cuda"]),
    "dim": (lambda _: X.sum(-3), IndexError, ["sum", "dim -3", "2 dims"]),
    "index": (lambda _: X.index_select(0, tg.tensor([-4])), IndexError, ["index_select", "-4", "size 3"]),
    "index_overflow": (lambda _: X[2 ** 70], IndexError, ["1180591620717411303424", "size 3"]),
    "empty": (lambda _: tg.zeros(0, 3).amax(), IndexError, ["amax", "empty", r"\[0, 3\]"]),
    "zero_size": (lambda _: tg.zeros(0, 3).reshape(-1, 0), ValueError, ["reshape", r"\[-1, 0\]", "size 0"]),
    "bad_shape": (lambda _: tg.zeros(2, -1), ValueError, ["negative dimension -1", r"\[2, -1\]"]),
    "backward_nonscalar": (lambda _: (W * 2).backward(), RuntimeError, ["backward", "scalar", r"\[3\]"]),
    "backward_twice": (lambda _: _backward_twice(), RuntimeError, ["backward", "second time", "retain_graph"]),
    "backward_inplace": (lambda _: _backward_inplace(), RuntimeError,
                         ["backward of exp", "in-place", "version is 1, expected 0"]),
    "backward_no_grad": (lambda _: tg.ones(2).sum().backward(), RuntimeError, ["backward", "does not require grad"]),
    "inplace_leaf": (lambda _: W.add_(1), RuntimeError, ["add_", "leaf", "requires grad"]),
    "optimizer_non_leaf": (lambda _: tg.optim.SGD([W * 2], lr=0.1), ValueError, ["SGD", "parameter 0", "not a leaf"]),
    "state_dict_keys": (lambda _: _linear_state(bias=None, extra=tg.zeros(1)), RuntimeError,
                        ["Linear", 'Missing key.*"bias"', 'Unexpected key.*"extra"']),
    "state_dict_shape": (lambda _: _linear_state(weight=tg.zeros(3, 3)), RuntimeError,
                         ["size mismatch for weight", r"\[3, 3\]", r"\[3, 2\]"]),
    "safetensors_file": (_truncated_safetensors, ValueError, ["m.safetensors", "bytes"]),
    "anomaly": (lambda _: _anomaly(), RuntimeError, ["anomaly detected", "forward of log", "Inf"]),
}


@pytest.mark.parametrize("error_id", sorted(ERROR_TABLE))
def test_error_table(error_id, tmp_path):
    run, exc, parts = ERROR_TABLE[error_id]
    with pytest.raises(exc) as err:
        run(tmp_path)
    msg = str(err.value)
    for p in parts:
        assert re.search(p, msg, re.S), f"{error_id}: {p!r} not in {msg!r}"


def _readme_rows():
    rows = {}
    for line in open(os.path.join(HERE, "..", "README.md")):
        m = re.match(r"\| `(\w+)` \|[^|]*\| (\w+) \| ([^|]+) \|", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3).strip())
    return rows


def test_the_table_in_the_readme_matches_the_tests():
    rows = _readme_rows()
    assert len(rows) >= 20
    python_rows = {k for k, (_, py) in rows.items() if py != "—"}
    assert python_rows == set(ERROR_TABLE), "tests/README.md and ERROR_TABLE list different classes"
    for k, (_, py) in rows.items():
        if k in ERROR_TABLE:
            assert ERROR_TABLE[k][1].__name__ == py, f"{k}: the table says {py}"
    cpp = open(os.path.join(HERE, "..", "cpp", "test_errors.cpp")).read()
    cpp_rows = dict(re.findall(r'\{"(\w+)", Kind::(\w+),', cpp))
    assert cpp_rows == {k: kind for k, (kind, _) in rows.items()}, \
        "tests/README.md and ErrorTable in tests/cpp/test_errors.cpp list different classes or kinds"


def test_ints_past_int64_are_errors_not_crashes():
    with pytest.raises((IndexError, ValueError, TypeError, OverflowError)):
        tg.tensor([2 ** 70])
    with pytest.raises(ValueError, match="sum: 1180591620717411303424 does not fit in int64"):
        X.sum(2 ** 70)
    with pytest.raises(IndexError, match="out of bounds"):
        X[0, -(2 ** 64)]


def test_a_pytorch_checkpoint_is_named_as_such(tmp_path):
    from conftest import need_torch
    torch = need_torch()
    path = str(tmp_path / "model.pt")
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(ValueError, match="zip archive.*torch.save.*safetensors.torch.save_file"):
        tg.load(path)
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="Python pickle"):
        tg.load(path)
