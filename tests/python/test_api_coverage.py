"""Every public name exercised: the functions and methods the other files do not reach, checked
against NumPy (or PyTorch where present), and a guard that fails when a new public name has no
test anywhere in tests/python."""
import glob
import os
import re

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from conftest import close, need_torch
from test_nn import copy_from_torch

rs = np.random.RandomState(5)
A = rs.randn(3, 4)
B = rs.randn(3, 4)


def t64(a):
    return tg.tensor(a, dtype=tg.float64)


ELEMENTWISE = [  # (expression on tapegrad tensors, the same on NumPy arrays)
    (lambda a, b: tg.neg(a), lambda a, b: -a),
    (lambda a, b: a.neg(), lambda a, b: -a),
    (lambda a, b: tg.rsqrt(a.abs()), lambda a, b: 1 / np.sqrt(np.abs(a))),
    (lambda a, b: a.abs().rsqrt(), lambda a, b: 1 / np.sqrt(np.abs(a))),
    (lambda a, b: tg.square(a), lambda a, b: a * a),
    (lambda a, b: a.square(), lambda a, b: a * a),
    (lambda a, b: tg.sign(a), lambda a, b: np.sign(a)),
    (lambda a, b: a.sign(), lambda a, b: np.sign(a)),
    (lambda a, b: tg.mul(a, b), lambda a, b: a * b),
    (lambda a, b: tg.multiply(a, b), lambda a, b: a * b),
    (lambda a, b: a.mul(b), lambda a, b: a * b),
    (lambda a, b: tg.div(a, b), lambda a, b: a / b),
    (lambda a, b: a.div(b), lambda a, b: a / b),
    (lambda a, b: tg.subtract(a, b), lambda a, b: a - b),
    (lambda a, b: tg.minimum(a, b), np.minimum),
    (lambda a, b: a.minimum(b), np.minimum),
    (lambda a, b: tg.remainder(a, b), np.mod),
    (lambda a, b: a.remainder(b), np.mod),
    (lambda a, b: tg.eq(a, a), lambda a, b: a == a),
    (lambda a, b: a.eq(b), lambda a, b: a == b),
    (lambda a, b: tg.ne(a, b), np.not_equal),
    (lambda a, b: a.ne(b), np.not_equal),
    (lambda a, b: tg.lt(a, b), np.less),
    (lambda a, b: a.lt(b), np.less),
    (lambda a, b: tg.le(a, b), np.less_equal),
    (lambda a, b: a.le(b), np.less_equal),
    (lambda a, b: tg.gt(a, b), np.greater),
    (lambda a, b: a.gt(b), np.greater),
    (lambda a, b: tg.ge(a, b), np.greater_equal),
    (lambda a, b: a.ge(b), np.greater_equal),
    (lambda a, b: tg.greater(a, b), np.greater),
    (lambda a, b: tg.less(a, b), np.less),
    (lambda a, b: tg.logical_and(a > 0, b > 0), lambda a, b: (a > 0) & (b > 0)),
    (lambda a, b: (a > 0).logical_and(b > 0), lambda a, b: (a > 0) & (b > 0)),
    (lambda a, b: tg.logical_or(a > 0, b > 0), lambda a, b: (a > 0) | (b > 0)),
    (lambda a, b: (a > 0).logical_or(b > 0), lambda a, b: (a > 0) | (b > 0)),
    (lambda a, b: tg.logical_not(a > 0), lambda a, b: ~(a > 0)),
    (lambda a, b: (a > 0).logical_not(), lambda a, b: ~(a > 0)),
    (lambda a, b: tg.amax(a, 1), lambda a, b: a.max(1)),
    (lambda a, b: a.amax(0), lambda a, b: a.max(0)),
    (lambda a, b: tg.argmin(a, 1), lambda a, b: a.argmin(1)),
    (lambda a, b: a.argmin(), lambda a, b: a.argmin()),
    (lambda a, b: tg.any(a > 1, 1), lambda a, b: (a > 1).any(1)),
    (lambda a, b: (a > 1).any(), lambda a, b: (a > 1).any()),
    (lambda a, b: a.long(), lambda a, b: a.astype(np.int64)),
    (lambda a, b: tg.clone(a), lambda a, b: a),
    (lambda a, b: a.clone(), lambda a, b: a),
    (lambda a, b: tg.narrow(a, 1, 1, 2), lambda a, b: a[:, 1:3]),
    (lambda a, b: a.narrow(0, 1, 2), lambda a, b: a[1:3]),
    (lambda a, b: tg.select(a, 1, 2), lambda a, b: a[:, 2]),
    (lambda a, b: a.select(0, -1), lambda a, b: a[-1]),
    (lambda a, b: tg.concat([a, b], 1), lambda a, b: np.concatenate([a, b], 1)),
    (lambda a, b: tg.masked_fill(a, a > 0, 7.0), lambda a, b: np.where(a > 0, 7.0, a)),
    (lambda a, b: a.masked_fill(a < 0, -1.0), lambda a, b: np.where(a < 0, -1.0, a)),
    (lambda a, b: a.mT, lambda a, b: a.T),
    (lambda a, b: a.t().contiguous(), lambda a, b: a.T),
    (lambda a, b: a.expand_as(tg.zeros(2, 3, 4)), lambda a, b: np.broadcast_to(a, (2, 3, 4))),
    (lambda a, b: a.reshape_as(tg.zeros(4, 3)), lambda a, b: a.reshape(4, 3)),
    (lambda a, b: a.view_as(tg.zeros(12)), lambda a, b: a.reshape(12)),
    (lambda a, b: tg.mm(a, b.t()), lambda a, b: a @ b.T),
    (lambda a, b: a.mm(b.t()), lambda a, b: a @ b.T),
    (lambda a, b: tg.bmm(a.unsqueeze(0), b.t().unsqueeze(0)), lambda a, b: (a @ b.T)[None]),
    (lambda a, b: a.unsqueeze(0).bmm(b.t().unsqueeze(0)), lambda a, b: (a @ b.T)[None]),
    (lambda a, b: tg.addmm(a[:, :3], a, b.t()[:, :3]), lambda a, b: a[:, :3] + a @ b.T[:, :3]),
]


@pytest.mark.parametrize("ours, ref", ELEMENTWISE)
def test_function_and_method_match_numpy(ours, ref):
    out = ours(t64(A), t64(B))
    expected = ref(A, B)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert out.shape == tuple(np.shape(expected))


def test_index_ops_match_numpy():
    a = t64(A)
    idx = np.array([[0, 3], [1, 1], [2, 0]])
    np.testing.assert_array_equal(tg.gather(a, 1, tg.tensor(idx)).numpy(), np.take_along_axis(A, idx, 1))
    np.testing.assert_array_equal(a.gather(1, tg.tensor(idx)).numpy(), np.take_along_axis(A, idx, 1))
    np.testing.assert_array_equal(tg.index_select(a, 1, tg.tensor([3, 0])).numpy(), A[:, [3, 0]])
    np.testing.assert_array_equal(a.index_select(0, tg.tensor([2, 2])).numpy(), A[[2, 2]])
    expected = np.zeros((3, 4))
    np.add.at(expected, (np.arange(3)[:, None], idx), A[:, :2])
    src = t64(A[:, :2].copy())
    np.testing.assert_allclose(tg.scatter_add(tg.zeros(3, 4, dtype=tg.float64), 1, tg.tensor(idx), src).numpy(), expected)
    np.testing.assert_allclose(tg.zeros(3, 4, dtype=tg.float64).scatter_add(1, tg.tensor(idx), src).numpy(), expected)
    z = tg.zeros(3, 4, dtype=tg.float64)
    assert z.scatter_add_(1, tg.tensor(idx), src) is z
    np.testing.assert_allclose(z.numpy(), expected)
    m = A > 0
    np.testing.assert_array_equal(tg.nonzero(tg.tensor(m)).numpy(), np.argwhere(m))
    np.testing.assert_array_equal(tg.tensor(m).nonzero().numpy(), np.argwhere(m))


def test_in_place_methods_return_self_and_match_numpy():
    x = t64(A)
    for op, ref in [(lambda t: t.mul_(2.0), A * 2), (lambda t: t.sub_(1.0), A * 2 - 1),
                    (lambda t: t.div_(4.0), (A * 2 - 1) / 4), (lambda t: t.clamp_(-0.5, 0.5), np.clip((A * 2 - 1) / 4, -0.5, 0.5)),
                    (lambda t: t.masked_fill_(t > 0.25, 9.0), None), (lambda t: t.fill_(3.0), np.full((3, 4), 3.0)),
                    (lambda t: t.copy_(t64(B)), B), (lambda t: t.zero_(), np.zeros((3, 4)))]:
        before = x.numpy().copy()
        assert op(x) is x
        expected = np.where(before > 0.25, 9.0, before) if ref is None else ref
        np.testing.assert_allclose(x.numpy(), expected)


def test_tensor_properties():
    x = t64(A)
    assert x.ndim == 2 and x.ndimension() == 2 and x.nelement() == 12 and x.numel() == 12
    assert tg.numel(x) == 12 and x.element_size() == 8 and tg.zeros(2).element_size() == 4
    assert x.is_contiguous() and not x.t().is_contiguous() and x.t().contiguous().is_contiguous()
    assert x.is_floating_point() and tg.is_floating_point(x) and not tg.tensor([1]).is_floating_point()
    assert x[1].storage_offset() == 4 and x.storage_offset() == 0
    assert x[1].data_ptr() == x.data_ptr() + 4 * 8
    assert x.numpy().ctypes.data == x.data_ptr()
    assert not x.is_cuda
    assert tg.is_tensor(x) and not tg.is_tensor(A)
    assert tg.tensor([1, 2]).type_as(x).dtype == tg.float64
    y = tg.ones(2, requires_grad=True)
    assert y.detach_() is y and not y.requires_grad and y.grad_fn is None


def test_nan_inf_and_allclose():
    v = np.array([1.0, np.nan, np.inf, -np.inf, 0.0])
    t = t64(v)
    assert tg.isnan(t).tolist() == list(np.isnan(v)) and t.isnan().tolist() == list(np.isnan(v))
    assert tg.isinf(t).tolist() == list(np.isinf(v)) and t.isinf().tolist() == list(np.isinf(v))
    assert tg.allclose(t64(A), t64(A + 1e-9)) and not tg.allclose(t64(A), t64(A + 1e-3))
    assert t64(A).allclose(t64(A) * (1 + 1e-7), rtol=1e-6)
    assert not t.allclose(t) and t.allclose(t, equal_nan=True)


def test_creation_like_and_new():
    x = t64(A)
    for make in [tg.empty_like, tg.rand_like, tg.randn_like]:
        y = make(x)
        assert y.shape == (3, 4) and y.dtype == tg.float64
    assert tg.full_like(x, 2.5).tolist() == [[2.5] * 4] * 3
    tg.manual_seed(3)
    r = tg.rand_like(tg.zeros(10000))
    assert 0 <= r.min().item() and r.max().item() < 1 and abs(r.mean().item() - 0.5) < 0.02
    n = tg.randn_like(tg.zeros(10000))
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05
    state = tg.get_rng_state()
    first = tg.randn(5).tolist()
    tg.set_rng_state(state)
    assert tg.randn(5).tolist() == first
    s = tg.scalar_tensor(3.5)
    assert s.shape == () and s.item() == 3.5 and s.dtype == tg.float32
    arr = np.arange(6.0)
    shared = tg.as_tensor(arr)
    arr[0] = 42.0  # as_tensor shares NumPy's memory where it can, like from_numpy
    assert shared[0].item() == 42.0 and shared.dtype == tg.float64
    assert tg.as_tensor([1, 2]).dtype == tg.int64
    assert x.new_ones(2).dtype == tg.float64 and x.new_ones(2).tolist() == [1.0, 1.0]
    assert x.new_full((2,), 7).tolist() == [7.0, 7.0] and x.new_empty((3, 2)).shape == (3, 2)
    assert x.new_tensor([1, 2]).dtype == tg.float64 and x.new_tensor([1, 2]).tolist() == [1.0, 2.0]


def test_threads_and_inference_mode():
    old = tg.get_num_threads()
    tg.set_num_threads(1)
    assert tg.get_num_threads() == 1
    tg.set_num_threads(old)
    assert tg.get_num_threads() == old
    w = tg.ones(2, requires_grad=True)
    with tg.inference_mode():
        assert not (w * 2).requires_grad
    assert (w * 2).requires_grad

    @tg.inference_mode()
    def f(v):
        return v * 2
    assert not f(w).requires_grad


def test_more_layers_against_torch():
    torch = need_torch()
    tnn = torch.nn
    rs2 = np.random.RandomState(7)
    cases = [
        (nn.BatchNorm1d(4), tnn.BatchNorm1d(4), (5, 4)),
        (nn.Identity(), tnn.Identity(), (2, 3)),
        (nn.LeakyReLU(0.2), tnn.LeakyReLU(0.2), (3, 4)),
        (nn.ReLU(), tnn.ReLU(), (3, 4)),
        (nn.Sigmoid(), tnn.Sigmoid(), (3, 4)),
        (nn.Softmax(1), tnn.Softmax(1), (3, 4)),
        (nn.LogSoftmax(1), tnn.LogSoftmax(1), (3, 4)),
    ]
    for ours, theirs, shape in cases:
        copy_from_torch(ours, theirs)
        x = rs2.randn(*shape).astype(np.float32)
        tx, px = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, py = ours(tx), theirs(px)
        close(y, py, rtol=1e-5, atol=1e-6)
        (y * y).sum().backward()
        (py * py).sum().backward()
        close(tx.grad, px.grad, rtol=1e-4, atol=1e-5)
        assert repr(ours) == repr(theirs)
    x = rs2.randn(3, 4).astype(np.float32)
    h = rs2.randn(3, 5).astype(np.float32)
    c = rs2.randn(3, 5).astype(np.float32)
    for ours, theirs, state in [(nn.RNNCell(4, 5), tnn.RNNCell(4, 5), (h,)), (nn.GRUCell(4, 5), tnn.GRUCell(4, 5), (h,)),
                                (nn.LSTMCell(4, 5), tnn.LSTMCell(4, 5), ((h, c),))]:
        copy_from_torch(ours, theirs)
        to_tg = [tuple(tg.tensor(s) for s in st) if isinstance(st, tuple) else tg.tensor(st) for st in state]
        to_pt = [tuple(torch.tensor(s) for s in st) if isinstance(st, tuple) else torch.tensor(st) for st in state]
        out, pout = ours(tg.tensor(x), *to_tg), theirs(torch.tensor(x), *to_pt)
        for o, p in zip(out if isinstance(out, tuple) else (out,), pout if isinstance(pout, tuple) else (pout,)):
            close(o, p, rtol=1e-5, atol=1e-6)
    probs = 1 / (1 + np.exp(-x))
    target = (rs2.rand(3, 4) > 0.5).astype(np.float32)
    close(nn.BCELoss()(tg.tensor(probs), tg.tensor(target)), tnn.BCELoss()(torch.tensor(probs), torch.tensor(target)))
    labels = np.array([0, 3, 1])
    close(nn.NLLLoss()(tg.tensor(x).log_softmax(1), tg.tensor(labels)),
          tnn.NLLLoss()(torch.tensor(x).log_softmax(1), torch.tensor(labels)))


def test_transformer_stack_against_torch():
    torch = need_torch()
    tnn = torch.nn
    rs2 = np.random.RandomState(8)
    src = rs2.randn(2, 5, 8).astype(np.float32)
    tgt = rs2.randn(2, 3, 8).astype(np.float32)
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=16,
              dropout=0.0, batch_first=True)
    ours, theirs = nn.Transformer(**kw), tnn.Transformer(**kw)
    copy_from_torch(ours, theirs)
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    pmask = tnn.Transformer.generate_square_subsequent_mask(3)
    close(ours(tg.tensor(src), tg.tensor(tgt), tgt_mask=mask),
          theirs(torch.tensor(src), torch.tensor(tgt), tgt_mask=pmask), rtol=1e-4, atol=1e-5)
    layer = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    player = tnn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    dec, pdec = nn.TransformerDecoder(layer, 2), tnn.TransformerDecoder(player, 2)
    copy_from_torch(dec, pdec)
    close(dec(tg.tensor(tgt), tg.tensor(src)), pdec(torch.tensor(tgt), torch.tensor(src)), rtol=1e-4, atol=1e-5)
    elayer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    pelayer = tnn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    enc, penc = nn.TransformerEncoder(elayer, 2), tnn.TransformerEncoder(pelayer, 2, enable_nested_tensor=False)
    copy_from_torch(enc, penc)
    close(enc(tg.tensor(src)), penc(torch.tensor(src)), rtol=1e-4, atol=1e-5)


def test_containers_register_their_members():
    layers = nn.ModuleList([nn.Linear(2, 3), nn.Linear(3, 1)])
    layers.append(nn.ReLU())
    assert len(layers) == 3 and isinstance(layers[2], nn.ReLU)
    blocks = nn.ModuleDict({"enc": nn.Linear(2, 2)})
    blocks["dec"] = nn.Linear(2, 4)
    assert list(blocks.keys()) == ["enc", "dec"] and blocks["dec"].out_features == 4
    extra = nn.ParameterList([nn.Parameter(tg.ones(2)), nn.Parameter(tg.zeros(3))])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers, self.blocks, self.extra = layers, blocks, extra

    names = [n for n, _ in Net().named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                     "blocks.enc.weight", "blocks.enc.bias", "blocks.dec.weight", "blocks.dec.bias",
                     "extra.0", "extra.1"]


def test_functional_against_torch():
    torch = need_torch()
    tF = torch.nn.functional
    rs2 = np.random.RandomState(9)
    x = rs2.randn(2, 3, 6, 6).astype(np.float32)
    w = rs2.randn(4, 3, 3, 3).astype(np.float32)
    b = rs2.randn(4).astype(np.float32)
    T, P = tg.tensor, torch.tensor
    close(F.conv2d(T(x), T(w), T(b), stride=2, padding=1), tF.conv2d(P(x), P(w), P(b), stride=2, padding=1), atol=1e-5)
    x1, w1 = rs2.randn(2, 3, 9).astype(np.float32), rs2.randn(4, 3, 3).astype(np.float32)
    close(F.conv1d(T(x1), T(w1), padding=1), tF.conv1d(P(x1), P(w1), padding=1), atol=1e-5)
    wt = rs2.randn(3, 2, 3, 3).astype(np.float32)
    close(F.conv_transpose2d(T(x), T(wt), stride=2), tF.conv_transpose2d(P(x), P(wt), stride=2), atol=1e-5)
    close(F.max_pool2d(T(x), 2), tF.max_pool2d(P(x), 2))
    close(F.avg_pool2d(T(x), 3, stride=1, padding=1), tF.avg_pool2d(P(x), 3, stride=1, padding=1), atol=1e-6)
    close(F.adaptive_avg_pool2d(T(x), (2, 3)), tF.adaptive_avg_pool2d(P(x), (2, 3)), atol=1e-6)
    mean, var = rs2.randn(3).astype(np.float32), rs2.rand(3).astype(np.float32) + 0.5
    close(F.batch_norm(T(x), T(mean), T(var), training=False), tF.batch_norm(P(x), P(mean), P(var), training=False), atol=1e-5)
    close(F.layer_norm(T(x), (6,)), tF.layer_norm(P(x), (6,)), atol=1e-5)
    m = rs2.randn(4, 5).astype(np.float32)
    tgt = (rs2.rand(4, 5) > 0.5).astype(np.float32)
    close(F.leaky_relu(T(m), 0.1), tF.leaky_relu(P(m), 0.1))
    close(F.silu(T(m)), tF.silu(P(m)), atol=1e-6)
    close(F.mish(T(m)), tF.mish(P(m)), atol=1e-6)
    close(F.normalize(T(m), dim=1), tF.normalize(P(m), dim=1), atol=1e-6)
    close(F.l1_loss(T(m), T(tgt)), tF.l1_loss(P(m), P(tgt)))
    close(F.smooth_l1_loss(T(m), T(tgt), beta=0.5), tF.smooth_l1_loss(P(m), P(tgt), beta=0.5))
    close(F.binary_cross_entropy_with_logits(T(m), T(tgt)), tF.binary_cross_entropy_with_logits(P(m), P(tgt)), atol=1e-6)
    table = rs2.randn(10, 3).astype(np.float32)
    close(F.embedding(tg.tensor([[1, 9], [0, 0]]), T(table)), tF.embedding(torch.tensor([[1, 9], [0, 0]]), P(table)))
    q = rs2.randn(2, 4, 8).astype(np.float32)
    close(F.scaled_dot_product_attention(T(q), T(q), T(q), is_causal=True),
          tF.scaled_dot_product_attention(P(q), P(q), P(q), is_causal=True)
          if hasattr(tF, "scaled_dot_product_attention") else
          torch.softmax((P(q) @ P(q).transpose(1, 2) / 8 ** 0.5).masked_fill(torch.ones(4, 4, dtype=torch.bool).triu(1), float("-inf")), -1) @ P(q),
          atol=1e-5)


def test_masked_softmax_matches_a_softmax_over_the_kept_entries():
    x = rs.randn(3, 5)
    keep = rs.rand(3, 5) > 0.3
    keep[:, 0] = True
    out = F.masked_softmax(t64(x), tg.tensor(keep), 1).numpy()  # True marks what is kept
    e = np.where(keep, np.exp(x - x.max(1, keepdims=True)), 0)
    np.testing.assert_allclose(out, e / e.sum(1, keepdims=True), rtol=1e-12)


def test_init_functions():
    tg.manual_seed(0)
    w = tg.empty(200, 300)
    nn.init.kaiming_uniform_(w, nonlinearity="relu")
    bound = (2 ** 0.5) * (3 / 300) ** 0.5
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.95 * bound
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.std().item() - (2 / 300) ** 0.5) < 0.005
    nn.init.xavier_normal_(w)
    assert abs(w.std().item() - (2 / 500) ** 0.5) < 0.003
    q = tg.empty(5, 3)
    nn.init.orthogonal_(q)
    np.testing.assert_allclose(q.numpy().T @ q.numpy(), np.eye(3), atol=1e-5)
    e = tg.empty(3, 4)
    nn.init.eye_(e)
    np.testing.assert_array_equal(e.numpy(), np.eye(3, 4))
    nn.init.ones_(e)
    assert e.sum().item() == 12
    nn.init.zeros_(e)
    assert e.abs().sum().item() == 0


def test_base_classes_are_the_ones_subclasses_derive_from():
    opt = tg.optim.SGD([nn.Parameter(tg.ones(1))], lr=0.1)
    assert isinstance(opt, tg.optim.Optimizer)
    sched = tg.optim.lr_scheduler.StepLR(opt, 1)
    assert isinstance(sched, tg.optim.lr_scheduler.LRScheduler)


def _public_names():
    import inspect
    mods = {"tg": tg, "nn": nn, "F": F, "nn.init": nn.init, "optim": tg.optim,
            "lr_scheduler": tg.optim.lr_scheduler, "utils.data": tg.utils.data, "autograd": tg.autograd,
            "cuda": tg.cuda}
    for label, mod in mods.items():
        for name in dir(mod):
            if not name.startswith("_") and not inspect.ismodule(getattr(mod, name)):
                yield f"{label}.{name}", name
    for name in dir(tg.Tensor):
        if not name.startswith("_"):
            yield f"Tensor.{name}", name


def test_every_public_name_appears_in_a_test():
    here = os.path.dirname(__file__)
    text = "".join(open(f).read() for f in glob.glob(os.path.join(here, "*.py")))
    missing = sorted(label for label, name in _public_names()
                     if not re.search(r"\b" + re.escape(name) + r"\b", text))
    assert not missing, "public names no test in tests/python uses: " + ", ".join(missing)
