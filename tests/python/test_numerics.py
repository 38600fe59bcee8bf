"""isnan/isinf/isfinite/nan_to_num, anomaly mode, and losses that stay finite at +-1e4."""
import threading

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from conftest import need_torch

NAN, INF = float("nan"), float("inf")
VALUES = [1.0, NAN, INF, -INF, -0.0, 3e38]


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
def test_masks_match_numpy(dtype):
    x = tg.tensor(VALUES, dtype=dtype)
    a = np.array(VALUES, dtype=np.float32 if dtype == tg.float32 else np.float64)
    np.testing.assert_array_equal(tg.isnan(x).numpy(), np.isnan(a))
    np.testing.assert_array_equal(x.isinf().numpy(), np.isinf(a))
    np.testing.assert_array_equal(tg.isfinite(x).numpy(), np.isfinite(a))
    np.testing.assert_array_equal(x.isnan().numpy(), np.isnan(a))
    np.testing.assert_array_equal(x.isfinite().numpy(), np.isfinite(a))
    np.testing.assert_array_equal(tg.isinf(x).numpy(), np.isinf(a))
    assert not tg.isnan(tg.tensor([1, 2])).any().item()


def test_nan_to_num_matches_numpy_and_passes_the_gradient_where_finite():
    a = np.array([1.5, NAN, INF, -INF])
    x = tg.tensor(a, requires_grad=True, dtype=tg.float64)
    np.testing.assert_array_equal(tg.nan_to_num(x).detach().numpy(), np.nan_to_num(a))
    y = x.nan_to_num(nan=7.0, posinf=8.0, neginf=-9.0)
    np.testing.assert_array_equal(y.detach().numpy(), [1.5, 7.0, 8.0, -9.0])
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 0.0, 0.0])


def test_anomaly_mode_is_off_by_default_and_restored():
    assert not tg.is_anomaly_enabled()
    with tg.autograd.detect_anomaly():
        assert tg.is_anomaly_enabled() and tg.is_anomaly_check_nan_enabled()
        with tg.autograd.set_detect_anomaly(True, check_nan=False):
            assert not tg.is_anomaly_check_nan_enabled()
        assert tg.is_anomaly_check_nan_enabled()
        seen = []
        t = threading.Thread(target=lambda: seen.append(tg.is_anomaly_enabled()))
        t.start()
        t.join()
        assert seen == [False]  # thread-local
    assert not tg.is_anomaly_enabled()
    tg.autograd.set_detect_anomaly(True)
    assert tg.is_anomaly_enabled()
    tg.autograd.set_detect_anomaly(False)
    assert not tg.is_anomaly_enabled()


def test_anomaly_names_the_forward_that_made_inf():
    x = tg.tensor([1.0, 0.0], requires_grad=True)
    assert tg.isinf(x.log()).any().item()  # silent without anomaly mode
    with tg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"forward of log returned Inf in output 0 \(1 Inf of 2 values"):
            x.log()


def _nan_in_backward(x):
    return (x.sqrt() * tg.tensor([0.0, 1.0], dtype=tg.float64)).sum()  # sqrt'(0) * 0 = NaN


def test_anomaly_names_the_backward_and_the_python_line_of_its_forward():
    x = tg.tensor([0.0, 4.0], dtype=tg.float64, requires_grad=True)
    _nan_in_backward(x).backward()
    assert np.isnan(x.grad.numpy()[0])  # silent without anomaly mode

    @tg.autograd.detect_anomaly()
    def step():
        _nan_in_backward(x).backward()

    with pytest.raises(RuntimeError) as err:
        step()
    msg = str(err.value)
    assert "SqrtBackward (the backward of sqrt) returned NaN in the gradient of input 0" in msg
    assert "The forward of sqrt ran at" in msg
    assert "test_numerics.py" in msg and "_nan_in_backward" in msg


def test_anomaly_mode_trains_a_causal_attention_model_without_false_alarms():
    tg.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    q = tg.randn(2, 5, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(5)  # -inf above the diagonal
    with tg.autograd.detect_anomaly():
        out, _ = mha(q, q, q, attn_mask=mask)
        out.sum().backward()
    assert all(tg.isfinite(p.grad).all().item() for p in mha.parameters())


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
def test_log_softmax_logsumexp_cross_entropy_stay_finite_at_1e4(dtype):
    x = tg.tensor([[1e4, -1e4, 0.0], [1e4, 1e4, -1e4]], dtype=dtype, requires_grad=True)
    ln2 = np.log(2.0)
    np.testing.assert_allclose(F.log_softmax(x, 1).detach().numpy(),
                               [[0, -2e4, -1e4], [-ln2, -ln2, -2e4 - ln2]], rtol=1e-6)
    np.testing.assert_allclose(tg.logsumexp(x, 1).detach().numpy(), [1e4, 1e4 + ln2], rtol=1e-6)
    target = tg.tensor([1, 2])
    with tg.autograd.detect_anomaly():
        loss = F.cross_entropy(x, target, reduction="none")
        np.testing.assert_allclose(loss.detach().numpy(), [2e4, 2e4 + ln2], rtol=1e-6)
        loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1, -1, 0], [0.5, 0.5, -1]], atol=1e-6)


def test_sigmoid_softplus_bce_stay_finite_at_1e4():
    x = tg.tensor([1e4, -1e4, 0.0], requires_grad=True)
    t = tg.tensor([0.0, 1.0, 1.0])
    with tg.autograd.detect_anomaly():
        np.testing.assert_array_equal(tg.sigmoid(x).detach().numpy(), [1.0, 0.0, 0.5])
        np.testing.assert_allclose(F.softplus(x).detach().numpy(), [1e4, 0.0, np.log(2)], rtol=1e-6)
        bce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        np.testing.assert_allclose(bce.detach().numpy(), [1e4, 1e4, np.log(2)], rtol=1e-6)
        bce.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [1.0, -1.0, -0.5], atol=1e-7)
        p = tg.sigmoid(x)
        clamped = F.binary_cross_entropy(p, t, reduction="none")
        np.testing.assert_array_equal(clamped.detach().numpy()[:2], [100.0, 100.0])  # logs clamp at -100


def test_stable_functions_agree_with_pytorch_at_the_extremes():
    torch = need_torch()
    a = np.array([[1e4, -1e4, 3.0], [-1e4, -1e4, 1e4]], dtype=np.float32)
    x, tx = tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ours = [F.log_softmax(x, 1), tg.logsumexp(x, 1), F.softplus(x), tg.sigmoid(x),
            F.binary_cross_entropy_with_logits(x, tg.ones(2, 3), reduction="none")]
    theirs = [torch.log_softmax(tx, 1), torch.logsumexp(tx, 1), torch.nn.functional.softplus(tx),
              torch.sigmoid(tx), torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.ones(2, 3), reduction="none")]
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-6, atol=1e-6)
    sum(o.sum() for o in ours).backward()
    sum(t.sum() for t in theirs).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
