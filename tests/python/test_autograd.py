import numpy as np
import pytest

import tapegrad as tg
from conftest import close


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (float64), element by element."""
    base = x.detach().numpy().copy()
    g = np.zeros_like(base)
    for i in np.ndindex(base.shape):
        hi, lo = base.copy(), base.copy()
        hi[i] += eps
        lo[i] -= eps
        g[i] = (f(tg.tensor(hi, dtype=tg.float64)).item() - f(tg.tensor(lo, dtype=tg.float64)).item()) / (2 * eps)
    return g


@pytest.mark.parametrize("f", [
    lambda x: (x * x).sum(),
    lambda x: (x.exp() / (1 + x.abs())).mean(),
    lambda x: x.softmax(1)[:, 0].sum(),
    lambda x: (x @ x.T).tanh().sum(),
    lambda x: x.max(dim=1).values.sum() + x.logsumexp(0).sum(),
    lambda x: tg.where(x > 0, x, x * 0.1).pow(2).sum(),
    lambda x: x[:, [0, 2]].sigmoid().sum() + x.var(),
])
def test_gradients_match_finite_differences(f):
    x = tg.tensor(np.random.RandomState(3).randn(3, 4), dtype=tg.float64, requires_grad=True)
    f(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), numeric_grad(f, x), rtol=1e-5, atol=1e-7)


def test_gradcheck_wrapper():
    x = tg.randn(3, dtype=tg.float64, requires_grad=True)
    assert tg.autograd.gradcheck(lambda t: (t * t.sin()).sum(), [x])


def test_accumulation_broadcast_and_reuse():
    w = tg.ones(3, requires_grad=True)
    x = tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    (x * w).sum().backward()
    (w * w).sum().backward()  # accumulates
    assert w.grad.tolist() == [7.0, 9.0, 11.0]


def test_backward_with_gradient_and_retain_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.backward(tg.tensor([1.0, 10.0]), retain_graph=True)
    y.backward(tg.tensor([1.0, 1.0]))
    assert x.grad.tolist() == [6.0, 33.0]
    with pytest.raises(RuntimeError):
        y.backward(tg.tensor([1.0, 1.0]))  # the graph was freed


def test_backward_misuse_errors():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar|grad can be implicitly"):
        (x * 2).backward()
    with pytest.raises(RuntimeError):
        tg.tensor([1.0]).sum().backward()  # nothing requires grad
    y = x * 1
    s = (y * y).sum()
    with tg.no_grad():
        y.add_(1)
    with pytest.raises(RuntimeError, match="modified|in place|version"):
        s.backward()


def test_no_grad_context_and_decorator():
    x = tg.ones(2, requires_grad=True)
    with tg.no_grad():
        assert not (x * 2).requires_grad
        with tg.enable_grad():
            assert (x * 2).requires_grad
    assert (x * 2).requires_grad

    @tg.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad
    assert tg.is_grad_enabled()
    with tg.set_grad_enabled(False):
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()


def test_autograd_grad_and_create_graph():
    x = tg.tensor([2.0], requires_grad=True)
    y = x ** 3
    (g,) = tg.autograd.grad(y.sum(), x, create_graph=True)
    assert g.tolist() == [12.0]
    (gg,) = tg.autograd.grad(g.sum(), x)
    assert gg.tolist() == [12.0]
    assert x.grad is None


def test_detach_leaf_and_grad_fn():
    x = tg.ones(2, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.grad_fn is not None and x.grad_fn is None
    assert "Mul" in y.grad_fn.name()
    assert not y.detach().requires_grad
    x.grad = tg.zeros(2)
    assert x.grad.tolist() == [0.0, 0.0]
    x.grad = None
    assert x.grad is None


def test_training_loop_memory_is_flat():
    w = tg.randn(16, 16, requires_grad=True)
    x = tg.randn(8, 16)
    for _ in range(50):
        loss = (x @ w).tanh().pow(2).mean()
        loss.backward()
        with tg.no_grad():
            w -= 0.01 * w.grad
        w.grad = None
    before = tg._C.memory_stats()["allocated_bytes"]
    for _ in range(500):
        loss = (x @ w).tanh().pow(2).mean()
        loss.backward()
        with tg.no_grad():
            w -= 0.01 * w.grad
        w.grad = None
    after = tg._C.memory_stats()["allocated_bytes"]
    assert after <= before + 4096
    close(loss, loss)  # still a value
