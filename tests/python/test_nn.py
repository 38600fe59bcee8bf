import collections

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from conftest import close, need_torch


def copy_from_torch(tg_module, torch_module):
    """Loads a PyTorch module's state dict into the tapegrad module (names must agree)."""
    sd = collections.OrderedDict((k, tg.tensor(v.detach().numpy())) for k, v in torch_module.state_dict().items())
    tg_module.load_state_dict(sd)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 8)
        self.out = nn.Linear(8, 1)
        self.scale = nn.Parameter(tg.ones(1))
        self.register_buffer("calls", tg.zeros(1))

    def forward(self, x):
        return self.out(self.hidden(x).tanh()) * self.scale


def test_python_module_registers_attributes():
    m = MLP()
    assert [n for n, _ in m.named_parameters()] == ["scale", "hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert list(m.state_dict()) == ["scale", "calls", "hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert [n for n, _ in m.named_modules()] == ["", "hidden", "out"]
    assert isinstance(m.hidden.weight, nn.Parameter) and m.hidden.weight.requires_grad
    assert "(hidden): Linear(in_features=2, out_features=8, bias=True)" in repr(m)
    m.eval()
    assert not m.training and not m.hidden.training
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        m.nope


def test_python_model_trains_end_to_end_on_xor():
    tg.manual_seed(0)
    x = tg.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = tg.tensor([[0.0], [1.0], [1.0], [0.0]])
    m = MLP()
    opt = tg.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(500):
        opt.zero_grad()
        loss = F.mse_loss(m(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3
    assert ((m(x) > 0.5).float() == y).all().item()


def test_state_dict_roundtrip_and_errors(tmp_path):
    a, b = MLP(), MLP()
    b.load_state_dict(a.state_dict())
    x = tg.randn(5, 2)
    close(a(x), b(x))
    sd = a.state_dict()
    del sd["scale"]
    sd["extra"] = tg.zeros(1)
    with pytest.raises(RuntimeError, match='Missing key.*"scale".*\n.*Unexpected key.*"extra"'):
        b.load_state_dict(sd)
    bad = a.state_dict()
    bad["out.weight"] = tg.zeros(2, 8)
    with pytest.raises(RuntimeError, match=r"size mismatch for out.weight.*\[2, 8\].*\[1, 8\]"):
        b.load_state_dict(bad)
    result = b.load_state_dict({"scale": tg.ones(1) * 3}, strict=False)
    assert b.scale.item() == 3 and "out.weight" in result.missing_keys
    path = str(tmp_path / "m.safetensors")
    tg.save(a.state_dict(), path)
    loaded = tg.load(path)
    assert list(loaded) == list(a.state_dict())
    b.load_state_dict(loaded)
    close(a(x), b(x))


def test_module_to_keeps_parameter_identity():
    m = MLP()
    w = m.hidden.weight
    opt = tg.optim.SGD(m.parameters(), lr=0.1)
    m.double()
    assert m.hidden.weight is w and w.dtype == tg.float64
    assert m.calls.dtype == tg.float64
    assert opt.param_groups[0]["params"][1] is w
    m(tg.randn(3, 2, dtype=tg.float64)).sum().backward()
    opt.step()


def test_weight_tying_through_python_forward():
    emb = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    assert head.weight is emb.weight
    idx = tg.tensor([1, 2, 3])
    head(emb(idx)).sum().backward()
    assert emb.weight.grad is not None and emb.weight.grad.shape == (10, 4)


def test_replacing_a_parameter_of_a_cpp_forward_layer_is_a_clear_error():
    conv = nn.Conv2d(1, 2, 3)
    with pytest.raises(TypeError, match="replacing parameter 'weight' is not supported"):
        conv.weight = nn.Parameter(tg.zeros(2, 1, 3, 3))


def test_layers_against_torch():
    torch = need_torch()
    tnn = torch.nn
    rs = np.random.RandomState(0)
    cases = [
        (nn.Linear(5, 3), tnn.Linear(5, 3), (4, 5)),
        (nn.Conv2d(2, 4, 3, stride=2, padding=1), tnn.Conv2d(2, 4, 3, stride=2, padding=1), (2, 2, 7, 7)),
        (nn.Conv1d(2, 3, 3, padding="same"), tnn.Conv1d(2, 3, 3, padding="same"), (2, 2, 9)),
        (nn.ConvTranspose2d(2, 3, 3, stride=2), tnn.ConvTranspose2d(2, 3, 3, stride=2), (1, 2, 4, 4)),
        (nn.LayerNorm(6), tnn.LayerNorm(6), (3, 6)),
        (nn.BatchNorm2d(3), tnn.BatchNorm2d(3), (4, 3, 5, 5)),
        (nn.MaxPool2d(2), tnn.MaxPool2d(2), (1, 2, 6, 6)),
        (nn.AvgPool2d(3, stride=2, padding=1), tnn.AvgPool2d(3, stride=2, padding=1), (1, 2, 7, 7)),
        (nn.AdaptiveAvgPool2d((2, 3)), tnn.AdaptiveAvgPool2d((2, 3)), (1, 2, 7, 9)),
        (nn.GELU(), tnn.GELU(), (3, 4)),
        (nn.Flatten(), tnn.Flatten(), (2, 3, 4)),
    ]
    for ours, theirs, shape in cases:
        copy_from_torch(ours, theirs)
        x = rs.randn(*shape).astype(np.float32)
        tx = tg.tensor(x, requires_grad=True)
        px = torch.tensor(x, requires_grad=True)
        y, py = ours(tx), theirs(px)
        close(y, py, rtol=1e-4, atol=1e-5)
        y.pow(2).sum().backward()
        py.pow(2).sum().backward()
        close(tx.grad, px.grad, rtol=1e-4, atol=1e-4)
        for (n, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            close(p.grad, q.grad, rtol=1e-4, atol=1e-4)
        assert repr(ours) == repr(theirs), (repr(ours), repr(theirs))
        for k, v in theirs.state_dict().items():  # running statistics too
            close(ours.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_recurrent_and_attention_against_torch():
    torch = need_torch()
    tnn = torch.nn
    rs = np.random.RandomState(1)
    x = rs.randn(5, 2, 4).astype(np.float32)
    for ours, theirs in [(nn.LSTM(4, 3, num_layers=2, bidirectional=True), tnn.LSTM(4, 3, num_layers=2, bidirectional=True)),
                         (nn.GRU(4, 3), tnn.GRU(4, 3)), (nn.RNN(4, 3, nonlinearity="relu"), tnn.RNN(4, 3, nonlinearity="relu"))]:
        copy_from_torch(ours, theirs)
        out, _ = ours(tg.tensor(x))
        pout, _ = theirs(torch.tensor(x))
        close(out, pout, rtol=1e-4, atol=1e-5)
    mha, pmha = nn.MultiheadAttention(4, 2, batch_first=True), tnn.MultiheadAttention(4, 2, batch_first=True)
    copy_from_torch(mha, pmha)
    q = rs.randn(2, 3, 4).astype(np.float32)
    mask = np.triu(np.ones((3, 3), dtype=bool), 1)
    o, w = mha(tg.tensor(q), tg.tensor(q), tg.tensor(q), attn_mask=tg.tensor(mask))
    po, pw = pmha(torch.tensor(q), torch.tensor(q), torch.tensor(q), attn_mask=torch.tensor(mask))
    close(o, po, rtol=1e-4, atol=1e-5)
    close(w, pw, rtol=1e-4, atol=1e-5)
    enc = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True)
    penc = tnn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True)
    copy_from_torch(enc, penc)
    close(enc(tg.tensor(q)), penc(torch.tensor(q)), rtol=1e-4, atol=1e-5)


def test_losses_against_torch():
    torch = need_torch()
    rs = np.random.RandomState(2)
    logits = rs.randn(6, 4).astype(np.float32)
    target = rs.randint(0, 4, 6)
    probs = 1 / (1 + np.exp(-logits))
    binary = (rs.rand(6, 4) > 0.5).astype(np.float32)
    tF = torch.nn.functional
    close(F.cross_entropy(tg.tensor(logits), tg.tensor(target), label_smoothing=0.1),
          tF.cross_entropy(torch.tensor(logits), torch.tensor(target), label_smoothing=0.1), atol=1e-6)
    close(nn.CrossEntropyLoss(ignore_index=1)(tg.tensor(logits), tg.tensor(target)),
          torch.nn.CrossEntropyLoss(ignore_index=1)(torch.tensor(logits), torch.tensor(target)), atol=1e-6)
    close(F.nll_loss(tg.tensor(logits).log_softmax(1), tg.tensor(target), reduction="sum"),
          tF.nll_loss(torch.tensor(logits).log_softmax(1), torch.tensor(target), reduction="sum"), atol=1e-5)
    close(F.binary_cross_entropy(tg.tensor(probs), tg.tensor(binary)),
          tF.binary_cross_entropy(torch.tensor(probs), torch.tensor(binary)), atol=1e-6)
    close(nn.BCEWithLogitsLoss()(tg.tensor(logits), tg.tensor(binary)),
          torch.nn.BCEWithLogitsLoss()(torch.tensor(logits), torch.tensor(binary)), atol=1e-6)
    close(nn.SmoothL1Loss(beta=0.5)(tg.tensor(logits), tg.tensor(binary)),
          torch.nn.SmoothL1Loss(beta=0.5)(torch.tensor(logits), torch.tensor(binary)), atol=1e-6)
    close(nn.L1Loss(reduction="none")(tg.tensor(logits), tg.tensor(binary)),
          torch.nn.L1Loss(reduction="none")(torch.tensor(logits), torch.tensor(binary)), atol=1e-6)


def test_losses_stay_finite_for_large_logits():
    x = tg.tensor([[1e4, -1e4], [-1e4, 1e4]], requires_grad=True)
    loss = F.cross_entropy(x, tg.tensor([1, 1]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()


def test_functional_and_init():
    w = tg.empty(3, 5)
    nn.init.xavier_uniform_(w)
    bound = (6 / 8) ** 0.5
    assert w.abs().max().item() <= bound
    nn.init.constant_(w, 2)
    assert w.sum().item() == 30
    assert nn.init.calculate_gain("relu") == pytest.approx(2 ** 0.5)
    assert F.one_hot(tg.tensor([0, 2]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    x = tg.ones(1000)
    d = F.dropout(x, 0.5, training=True)
    assert set(d.tolist()) <= {0.0, 2.0}
    assert F.dropout(x, 0.5, training=False) is x or F.dropout(x, 0.5, training=False).sum().item() == 1000


def test_layer_argument_errors():
    with pytest.raises(ValueError):
        nn.Dropout(1.5)
    with pytest.raises(ValueError):
        nn.Conv2d(3, 4, 3)(tg.zeros(1, 2, 5, 5))
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
