import math

import numpy as np
import pytest

import tapegrad as tg
from conftest import close, need_torch


def test_tensor_infers_dtype_and_shape():
    assert tg.tensor([1, 2, 3]).dtype == tg.int64
    assert tg.tensor([1, 2.5]).dtype == tg.float32
    assert tg.tensor([True, False]).dtype == tg.bool
    assert tg.tensor([[1.0, 2.0], [3.0, 4.0]]).shape == (2, 2)
    assert tg.tensor(3.5).dim() == 0 and tg.tensor(3.5).item() == 3.5
    assert tg.tensor([]).shape == (0,)
    big = 2**62 + 1
    assert tg.tensor([big]).item() == big  # int64 values are exact, not rounded through double
    assert tg.tensor([1, 2], dtype=tg.float64).dtype == tg.float64


def test_tensor_rejects_ragged_and_bad_elements():
    with pytest.raises(ValueError, match="ragged"):
        tg.tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="str"):
        tg.tensor(["a"])


def test_factories():
    assert tg.zeros(2, 3).shape == (2, 3) and tg.zeros((2, 3)).sum().item() == 0
    assert tg.ones(4).sum().item() == 4
    assert tg.full((2,), 7).dtype == tg.int64 and tg.full((2,), 7.0).tolist() == [7.0, 7.0]
    assert tg.arange(5).tolist() == [0, 1, 2, 3, 4] and tg.arange(5).dtype == tg.int64
    assert tg.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    close(tg.linspace(0, 1, 5), np.linspace(0, 1, 5))
    close(tg.eye(3), np.eye(3))
    assert tg.randint(0, 10, (100,)).max().item() < 10
    assert sorted(tg.randperm(10).tolist()) == list(range(10))
    x = tg.randn(3, 2, dtype=tg.float64)
    assert tg.zeros_like(x).dtype == tg.float64 and tg.ones_like(x).shape == (3, 2)
    assert x.new_zeros((4,)).dtype == tg.float64
    r = tg.rand(1000)
    assert 0 <= r.min().item() and r.max().item() < 1


def test_manual_seed_reproduces_streams():
    tg.manual_seed(123)
    a = tg.randn(5).tolist()
    tg.manual_seed(123)
    assert tg.randn(5).tolist() == a


def test_repr_and_size():
    assert repr(tg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(tg.zeros(2, 3).shape) == "tapegrad.Size([2, 3])"
    assert repr(tg.float32) == "tapegrad.float32"
    assert repr(tg.device("cpu")) == "device(type='cpu')"
    assert tg.device("cpu") == "cpu"


def test_arithmetic_matches_numpy():
    a = np.random.RandomState(0).randn(3, 4).astype(np.float32)
    b = np.random.RandomState(1).randn(4).astype(np.float32)
    ta, tb = tg.tensor(a), tg.tensor(b)
    close(ta + tb, a + b)
    close(ta - tb, a - b)
    close(ta * tb, a * b)
    close(ta / (tb.abs() + 1), a / (np.abs(b) + 1))
    close(2 - ta, 2 - a)
    close(1 / (ta.abs() + 1), 1 / (np.abs(a) + 1))
    close(ta ** 2, a ** 2)
    close(2 ** ta, 2 ** a, rtol=1e-5)
    close(-ta, -a)
    close(ta @ tb, a @ b, rtol=1e-5)
    close(ta.exp(), np.exp(a), rtol=1e-5)
    close(ta.abs().sqrt(), np.sqrt(np.abs(a)))
    close(ta.clamp(-0.5, 0.5), np.clip(a, -0.5, 0.5))
    close(tg.where(ta > 0, ta, 0.0), np.where(a > 0, a, 0))
    assert (ta > 0).dtype == tg.bool
    close(tg.maximum(ta, tb), np.maximum(a, b))


def test_scalar_promotion_as_pytorch():
    i = tg.tensor([1, 2, 3])
    assert (i + 1).dtype == tg.int64
    assert (i + 0.5).dtype == tg.float32 and (i + 0.5).tolist() == [1.5, 2.5, 3.5]
    assert (i / 2).dtype == tg.float32 and (i / 2).tolist() == [0.5, 1.0, 1.5]
    d = tg.tensor([1.0], dtype=tg.float64)
    assert (d * 2.0).dtype == tg.float64
    assert (tg.tensor([True]) + 1).dtype == tg.int64


def test_inplace_operators():
    x = tg.zeros(3)
    x += 1
    x *= tg.tensor([1.0, 2.0, 3.0])
    x -= 0.5
    x /= 2
    assert x.tolist() == [0.25, 0.75, 1.25]
    y = tg.ones(2)
    y.add_(tg.ones(2), alpha=3)
    assert y.tolist() == [4.0, 4.0]


def test_reductions_match_numpy():
    a = np.random.RandomState(2).randn(2, 3, 4)
    t = tg.tensor(a, dtype=tg.float64)
    close(t.sum(), a.sum())
    close(t.sum(dim=1), a.sum(1))
    close(t.sum((0, 2), keepdim=True), a.sum((0, 2), keepdims=True))
    close(t.mean(-1), a.mean(-1))
    close(t.var(1), a.var(1, ddof=1))
    close(t.var(1, unbiased=False), a.var(1))
    close(t.std(), a.std(ddof=1))
    v, i = t.max(dim=2)
    close(v, a.max(2))
    assert i.tolist() == a.argmax(2).tolist()
    assert t.max(1).indices.tolist() == a.argmax(1).tolist()
    close(t.amin(dim=(0, 1)), a.min((0, 1)))
    assert t.argmax().item() == a.argmax()
    close(t.logsumexp(2), np.log(np.exp(a).sum(2)))
    close(t.softmax(-1), np.exp(a) / np.exp(a).sum(-1, keepdims=True))


def test_views_and_shapes():
    t = tg.arange(24).reshape(2, 3, 4)
    assert t.view(6, 4).shape == (6, 4)
    assert t.view(-1).shape == (24,)
    assert t.permute(2, 0, 1).shape == (4, 2, 3)
    assert t.transpose(0, 2).shape == (4, 3, 2)
    assert t.T.shape == (4, 3, 2)
    assert t.unsqueeze(1).shape == (2, 1, 3, 4) and t.unsqueeze(1).squeeze(1).shape == (2, 3, 4)
    assert t.flatten(1).shape == (2, 12)
    assert tg.tensor([1, 2]).repeat(2, 2).tolist() == [[1, 2, 1, 2], [1, 2, 1, 2]]
    assert [c.shape for c in t.chunk(3, dim=1)] == [(2, 1, 4)] * 3
    assert [s.shape[2] for s in t.split([1, 3], dim=2)] == [1, 3]
    assert tg.cat([t, t], dim=0).shape == (4, 3, 4)
    assert tg.stack([t, t], dim=1).shape == (2, 2, 3, 4)
    assert len(t.unbind(1)) == 3
    assert t.expand(5, 2, 3, 4).shape == (5, 2, 3, 4)


def test_getitem_matches_numpy():
    a = np.arange(60).reshape(3, 4, 5)
    t = tg.tensor(a)
    for index in [1, -1, (1, 2), (slice(None), 1), (slice(0, 3, 2),), (Ellipsis, 2),
                  (None, 1), (1, None, slice(1, 4)), (slice(None, None, 3), Ellipsis, None),
                  ([0, 2],), (slice(None), [3, 0, 1]), ([0, 2], [1, 3]), ([0, 2], slice(None), [1, 3]),
                  (a > 30,), (1, a[1] % 2 == 0), (slice(10, 20),)]:
        parts = index if isinstance(index, tuple) else (index,)
        ti = tuple(tg.tensor(i) if isinstance(i, np.ndarray) else i for i in parts)
        np.testing.assert_array_equal(t[ti].numpy(), a[index], err_msg=str(index))
    np.testing.assert_array_equal(t[tg.tensor([[0, 1], [2, 0]])].numpy(), a[np.array([[0, 1], [2, 0]])])
    np.testing.assert_array_equal(t[tg.tensor([-1])].numpy(), a[[-1]])


def test_getitem_errors():
    t = tg.zeros(3, 4)
    with pytest.raises(IndexError, match="out of bounds for dimension 0 with size 3"):
        t[3]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0]
    with pytest.raises(IndexError, match="out of bounds"):
        t[tg.tensor([0, 5])]
    with pytest.raises(ValueError, match="step must be positive"):
        t[::-1]
    with pytest.raises(IndexError, match="only integers"):
        t["a"]


def test_setitem_matches_numpy():
    a = np.zeros((3, 4))
    t = tg.zeros(3, 4, dtype=tg.float64)
    a[1] = 5
    t[1] = 5
    a[:, 2] = np.array([1.0, 2.0, 3.0])
    t[:, 2] = tg.tensor([1.0, 2.0, 3.0])
    a[a > 2] = -1
    t[t > 2] = -1
    a[[0, 2], [1, 3]] = np.array([7.0, 8.0])
    t[[0, 2], [1, 3]] = tg.tensor([7.0, 8.0])
    np.testing.assert_array_equal(t.numpy(), a)


def test_setitem_duplicate_indices_with_tensor_values_is_an_error():
    t = tg.zeros(3)
    with pytest.raises(IndexError, match="more than once"):
        t[[0, 0]] = tg.tensor([1.0, 2.0])


def test_indexing_is_differentiable():
    x = tg.arange(6.0).reshape(2, 3).requires_grad_()
    (x[1, [0, 2]] * tg.tensor([2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0, 0.0], [2.0, 0.0, 3.0]]


def test_numpy_shares_memory_both_ways():
    t = tg.zeros(3)
    a = t.numpy()
    a[0] = 5
    assert t[0].item() == 5
    b = np.arange(6, dtype=np.float32).reshape(2, 3)
    u = tg.from_numpy(b)
    b[1, 1] = 100
    assert u[1, 1].item() == 100
    u[0, 0] = -1
    assert b[0, 0] == -1
    tr = tg.from_numpy(b.T)  # strided view, no copy
    assert tr.shape == (3, 2) and tr[1, 1].item() == 100
    del b
    assert u.sum().item() == sum([-1, 1, 2, 3, 100, 5])  # the tensor keeps the array alive
    np.testing.assert_array_equal(np.asarray(tg.tensor([[1, 2]])), [[1, 2]])


def test_numpy_errors():
    with pytest.raises(TypeError, match="int32"):
        tg.from_numpy(np.zeros(2, dtype=np.int32))
    with pytest.raises(ValueError, match="negative strides"):
        tg.from_numpy(np.arange(4.0)[::-1])
    ro = np.zeros(2)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        tg.from_numpy(ro)
    with pytest.raises(RuntimeError, match="requires grad"):
        tg.zeros(2, requires_grad=True).numpy()
    assert tg.tensor(np.zeros(2, dtype=np.int32)).dtype == tg.int64  # a copy converts


def test_dlpack_with_numpy():
    t = tg.arange(6.0).reshape(2, 3)
    a = np.from_dlpack(t[:, 1:])  # NumPy 1.x makes it read-only: check sharing from our side
    np.testing.assert_array_equal(a, [[1.0, 2.0], [4.0, 5.0]])
    t[0, 1] = 42
    assert a[0, 0] == 42
    back = tg.from_dlpack(np.arange(4.0))
    assert back.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert t.__dlpack_device__() == (1, 0)


def test_dlpack_with_torch():
    torch = need_torch()
    t = tg.arange(6.0).reshape(2, 3)[:, 1:]
    pt = torch.utils.dlpack.from_dlpack(t.__dlpack__())
    assert pt.tolist() == t.tolist()
    pt[0, 0] = -7
    assert t[0, 0].item() == -7
    src = torch.arange(8, dtype=torch.int64).reshape(2, 4)
    back = tg.from_dlpack(torch.utils.dlpack.to_dlpack(src))
    src[1, 3] = 99
    assert back[1, 3].item() == 99 and back.dtype == tg.int64


def test_errors_have_the_right_type_and_message():
    with pytest.raises(ValueError, match=r"matmul: shapes \[2, 3\] and \[4, 5\] cannot be multiplied"):
        tg.zeros(2, 3) @ tg.zeros(4, 5)
    with pytest.raises(ValueError, match="broadcast"):
        tg.zeros(2, 3) + tg.zeros(4)
    with pytest.raises(IndexError):
        tg.zeros(2).sum(dim=3)
    with pytest.raises(TypeError):
        tg.zeros(2) + "a"
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(tg.zeros(2))
    with pytest.raises(ValueError, match="item"):
        tg.zeros(2).item()
    with pytest.raises(ValueError):
        tg.device("tpu")


def test_item_tolist_and_python_conversions():
    assert tg.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert isinstance(tg.tensor(2).item(), int) and isinstance(tg.tensor(2.0).item(), float)
    assert float(tg.tensor(1.5)) == 1.5 and int(tg.tensor(3)) == 3
    assert [3, 4, 5][tg.tensor(1)] == 4
    assert len(tg.zeros(4, 2)) == 4
    assert [r.tolist() for r in tg.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]
    assert math.isclose(tg.tensor([0.1]).item(), 0.1, rel_tol=1e-6)


def test_tensor_identity_is_preserved():
    w = tg.nn.Parameter(tg.zeros(2))
    opt = tg.optim.SGD([w], lr=0.1)
    assert opt.param_groups[0]["params"][0] is w
    assert {w: 1}[opt.param_groups[0]["params"][0]] == 1


def test_ops_against_torch():
    torch = need_torch()
    rs = np.random.RandomState(5)
    a = rs.randn(4, 5)
    ta, pa = tg.tensor(a), torch.tensor(a, dtype=torch.float32)
    for name in ["exp", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "log1p", "expm1"]:
        close(getattr(ta, name)(), getattr(pa, name)(), rtol=1e-5, atol=1e-6)
    close(ta.log_softmax(1), pa.log_softmax(1), atol=1e-6)
    close(tg.softplus(ta, beta=2.0), torch.nn.functional.softplus(pa, beta=2.0), atol=1e-6)
    close(tg.nn.functional.gelu(ta), torch.nn.functional.gelu(pa), atol=1e-6)
    close(ta.var(0), pa.var(0), atol=1e-6)


def test_rounding_modulo_and_composites_match_numpy():
    rs = np.random.RandomState(11)
    a = np.round(rs.randn(3, 4) * 4, 1)
    t = tg.tensor(a, dtype=tg.float64)
    for name in ["floor", "ceil", "trunc"]:
        np.testing.assert_array_equal(getattr(t, name)().numpy(), getattr(np, name)(a))
    np.testing.assert_array_equal(t.round().numpy(), np.round(a))  # both half to even
    np.testing.assert_allclose(t.round(decimals=1).numpy(), np.round(a, 1))
    with np.errstate(divide="ignore", invalid="ignore"):  # a holds zeros: inf and nan expected
        np.testing.assert_allclose(t.reciprocal().numpy(), 1 / a)
        np.testing.assert_allclose((7.0 % t).numpy(), np.mod(7.0, a))
    np.testing.assert_allclose((t % 1.5).numpy(), np.mod(a, 1.5))
    np.testing.assert_allclose((t % -1.5).numpy(), np.mod(a, -1.5))
    np.testing.assert_allclose(tg.fmod(t, 1.5).numpy(), np.fmod(a, 1.5))
    np.testing.assert_allclose((t // 1.5).numpy(), np.floor_divide(a, 1.5))
    ints = np.array([7, -7, 9, -9, 0])
    ti = tg.tensor(ints)
    assert (ti % 4).dtype == tg.int64 and (ti % 4).tolist() == list(ints % 4)
    assert (ti // -4).tolist() == list(ints // -4) and (ti // 4).dtype == tg.int64
    assert (100 // tg.tensor([7, -7])).tolist() == [100 // 7, 100 // -7]
    with pytest.raises(ValueError, match="integer division by zero"):
        ti // 0
    m = rs.randn(4, 4)
    tm = tg.tensor(m, dtype=tg.float64)
    np.testing.assert_array_equal(tm.tril(-1).numpy(), np.tril(m, -1))
    np.testing.assert_array_equal(tg.triu(tm, 2).numpy(), np.triu(m, 2))
    np.testing.assert_array_equal(tm.flip([0, 1]).numpy(), np.flip(m, (0, 1)))
    np.testing.assert_array_equal(tm.roll(3).numpy(), np.roll(m, 3))
    np.testing.assert_array_equal(tm.roll((1, -1), (0, 1)).numpy(), np.roll(m, (1, -1), (0, 1)))
    np.testing.assert_allclose(tm[0].dot(tm[1]).item(), m[0] @ m[1])
    np.testing.assert_allclose(tg.outer(tm[0], tm[1]).numpy(), np.outer(m[0], m[1]))
    np.testing.assert_allclose(tm.norm().item(), np.linalg.norm(m))
    np.testing.assert_allclose(tm.norm(dim=1).numpy(), np.linalg.norm(m, axis=1))
    np.testing.assert_allclose(tm.norm(p=1, dim=0, keepdim=True).numpy(), np.abs(m).sum(0, keepdims=True))
    np.testing.assert_allclose(tm.norm(p=float("inf")).item(), np.abs(m).max())
    np.testing.assert_allclose(tm.norm(p=3, dim=1).numpy(), np.linalg.norm(m, ord=3, axis=1))
    np.testing.assert_array_equal(tm.masked_select(tm > 0).numpy(), m[m > 0])
    np.testing.assert_array_equal(tg.isclose(tm, tm + 1e-9).numpy(), np.isclose(m, m + 1e-9, rtol=1e-5, atol=1e-8))
    np.testing.assert_allclose(tm.lerp(tm * 3, 0.5).numpy(), m * 2)
    np.testing.assert_allclose(tm.addcmul(tm, tm, value=2).numpy(), m + 2 * m * m)
    assert tg.broadcast_to(tg.tensor([1, 2]), (3, 2)).tolist() == [[1, 2]] * 3
    np.testing.assert_allclose(tg.erf(tg.tensor([0.0, 0.5, -2.0], dtype=tg.float64)).numpy(),
                               [0.0, 0.5204998778130465, -0.9953222650189527])


def test_new_ops_gradcheck():
    rs = np.random.RandomState(3)
    x = tg.tensor(rs.rand(3, 4) + 0.5, dtype=tg.float64, requires_grad=True)
    y = tg.tensor(rs.rand(3, 4) + 1.2, dtype=tg.float64, requires_grad=True)
    for fn in [lambda a, b: a.reciprocal() * b.erf(), lambda a, b: (a + 3) % b, lambda a, b: tg.fmod(-a - 3, b),
               lambda a, b: a.lerp(b, 0.3), lambda a, b: a.addcdiv(a, b, value=2), lambda a, b: (a.tril() * b).norm(),
               lambda a, b: a.flip([1]).roll(1, 0) * b, lambda a, b: a.norm(dim=1, keepdim=True) * b]:
        assert tg.autograd.gradcheck(fn, (x, y))


def test_random_fills_in_place():
    tg.manual_seed(0)
    w = tg.empty(20000).normal_(2.0, 0.5)
    assert abs(w.mean().item() - 2.0) < 0.02 and abs(w.std().item() - 0.5) < 0.02
    u = tg.zeros(20000).uniform_(-1, 3)
    assert u.min().item() >= -1 and u.max().item() < 3 and abs(u.mean().item() - 1.0) < 0.05
    p = tg.nn.Parameter(tg.zeros(3))
    with pytest.raises(RuntimeError, match="requires grad can't be filled in place"):
        p.normal_()
    with tg.no_grad():
        p.normal_()
    p.data.uniform_()
