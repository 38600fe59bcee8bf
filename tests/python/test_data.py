import collections

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.utils.data import (ConcatDataset, DataLoader, Dataset, Generator, Subset, TensorDataset,
                                 default_collate, random_split)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": tg.tensor([float(i), float(i * i)]), "label": i % 3, "name": f"s{i}"}


def test_tensor_dataset_batches_in_order():
    x = tg.arange(10.0).reshape(10, 1)
    y = tg.arange(10)
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    sx, sy = ds[3]
    assert sx.tolist() == [3.0] and sy.item() == 3
    loader = DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 1) and batches[2][0].shape == (2, 1)
    dropped = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [b[1].tolist() for b in dropped] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffle_is_a_permutation_and_seeded():
    ds = TensorDataset(tg.arange(50))

    def epoch(loader):
        return [v for (b,) in loader for v in b.tolist()]

    tg.manual_seed(7)
    a = epoch(DataLoader(ds, batch_size=8, shuffle=True))
    tg.manual_seed(7)
    b = epoch(DataLoader(ds, batch_size=8, shuffle=True))
    assert a == b and sorted(a) == list(range(50)) and a != list(range(50))
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    assert epoch(loader) != epoch(loader)  # a new order each epoch

    g1, g2 = Generator().manual_seed(3), Generator().manual_seed(3)
    x = epoch(DataLoader(ds, batch_size=50, shuffle=True, generator=g1))
    tg.manual_seed(123)  # the global generator does not disturb a private one
    y = epoch(DataLoader(ds, batch_size=50, shuffle=True, generator=g2))
    assert x == y and g1.initial_seed() == 3


def test_map_dataset_collates_dicts_numbers_strings():
    loader = DataLoader(Squares(5), batch_size=2)
    first = next(iter(loader))
    assert first["x"].tolist() == [[0.0, 0.0], [1.0, 1.0]]
    assert first["label"].dtype == tg.int64 and first["label"].tolist() == [0, 1]
    assert first["name"] == ["s0", "s1"]
    assert len(list(loader)) == 3


def test_default_collate_matches_pytorch_rules():
    Point = collections.namedtuple("Point", "x y")
    out = default_collate([Point(1.0, np.float32([1, 2])), Point(2.0, np.float32([3, 4]))])
    assert isinstance(out, Point)
    assert out.x.dtype == tg.float64 and out.x.tolist() == [1.0, 2.0]
    assert out.y.dtype == tg.float32 and out.y.tolist() == [[1, 2], [3, 4]]
    pairs = default_collate([(tg.zeros(2), 1), (tg.ones(2), 0)])
    assert isinstance(pairs, list) and pairs[0].tolist() == [[0, 0], [1, 1]] and pairs[1].tolist() == [1, 0]
    assert default_collate([True, False]).dtype == tg.bool
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (3,)])
    with pytest.raises(TypeError, match="cannot batch samples of type object"):
        default_collate([object(), object()])


def test_collate_fn_and_no_batching():
    loader = DataLoader(Squares(4), batch_size=3, collate_fn=lambda b: [s["label"] for s in b])
    assert list(loader) == [[0, 1, 2], [0]]
    single = DataLoader(TensorDataset(tg.arange(3)), batch_size=None)
    assert len(single) == 3 and [s[0].item() for s in single] == [0, 1, 2]


def test_samplers():
    ds = TensorDataset(tg.arange(6))
    assert [b[0].tolist() for b in DataLoader(ds, batch_size=2, sampler=[5, 4, 3, 2, 1, 0])] == \
        [[5, 4], [3, 2], [1, 0]]
    assert [b[0].tolist() for b in DataLoader(ds, batch_sampler=[[0, 5], [2]])] == [[0, 5], [2]]


def test_random_split_and_subsets():
    ds = TensorDataset(tg.arange(10))
    train, val = random_split(ds, [7, 3], generator=Generator().manual_seed(0))
    assert len(train) == 7 and len(val) == 3
    seen = sorted([train[i][0].item() for i in range(7)] + [val[i][0].item() for i in range(3)])
    assert seen == list(range(10))
    a, b = random_split(ds, [0.5, 0.5], generator=Generator().manual_seed(0))
    assert len(a) == len(b) == 5
    again, _ = random_split(ds, [0.5, 0.5], generator=Generator().manual_seed(0))
    assert [a[i][0].item() for i in range(5)] == [again[i][0].item() for i in range(5)]
    sub = Subset(ds, [9, 0])
    assert [sub[i][0].item() for i in range(2)] == [9, 0]
    both = ConcatDataset([sub, ds])
    assert len(both) == 12 and both[2][0].item() == 0 and both[-1][0].item() == 9
    with pytest.raises(IndexError, match="out of range"):
        both[12]
    with pytest.raises(ValueError, match="do not sum"):
        random_split(ds, [3, 3])


def test_errors():
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(tg.zeros(3), tg.zeros(4))
    with pytest.raises(TypeError, match="expects tensors"):
        TensorDataset(tg.zeros(3), [1, 2, 3])
    ds = TensorDataset(tg.zeros(3))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size should be a positive integer"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(TypeError):
        DataLoader(ds, bogus_option=1)
    with pytest.raises(NotImplementedError, match="must implement __getitem__"):
        Dataset()[0]


def test_training_from_a_loader():
    tg.manual_seed(0)
    x = tg.randn(64, 3)
    y = x @ tg.tensor([[1.0], [-2.0], [0.5]]) + 0.25
    model = tg.nn.Linear(3, 1)
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    for _ in range(60):
        for xb, yb in loader:
            opt.zero_grad()
            tg.nn.functional.mse_loss(model(xb), yb).backward()
            opt.step()
    np.testing.assert_allclose(model.weight.detach().numpy(), [[1.0, -2.0, 0.5]], atol=1e-3)
    np.testing.assert_allclose(model.bias.detach().numpy(), [0.25], atol=1e-3)
