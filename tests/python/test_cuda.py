"""tapegrad.cuda and CUDA tensors from Python. Without a GPU the device tests skip with the reason;
the settings and the errors are tested everywhere."""
import numpy as np
import pytest

import tapegrad as tg

needs_gpu = pytest.mark.skipif(not tg.cuda.is_available(),
                               reason="no CUDA device: " + tg.cuda.unavailable_reason())


def test_discovery_is_consistent():
    n = tg.cuda.device_count()
    assert tg.cuda.is_available() == (n > 0)
    assert (tg.cuda.unavailable_reason() == "") == (n > 0)
    assert tg.cuda.current_device() == 0


def test_without_a_gpu_every_entry_point_says_why():
    if tg.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="(?i)cuda"):
        tg.cuda.synchronize()
    with pytest.raises(RuntimeError, match="(?i)cuda"):
        tg.zeros(3, device="cuda")
    assert tg.cuda.memory_allocated() == 0
    assert tg.cuda.memory_reserved() == 0
    assert tg.cuda.max_memory_allocated() == 0
    tg.cuda.reset_peak_memory_stats()
    tg.cuda.empty_cache()


def test_kernel_choices_and_tf32_round_trip():
    before = (tg.cuda.matmul_impl(), tg.cuda.softmax_impl(), tg.backends.cuda.matmul.allow_tf32)
    try:
        for name in ("ours", "cublas", "auto"):
            tg.cuda.set_matmul_impl(name)
            assert tg.cuda.matmul_impl() == name
        for name in ("ours", "cudnn", "auto"):
            tg.cuda.set_softmax_impl(name)
            assert tg.cuda.softmax_impl() == name
        with pytest.raises(ValueError, match="set_matmul_impl.*fast"):
            tg.cuda.set_matmul_impl("fast")
        with pytest.raises(ValueError, match="set_softmax_impl"):
            tg.cuda.set_softmax_impl("cublas")
        tg.backends.cuda.matmul.allow_tf32 = True
        assert tg.backends.cuda.matmul.allow_tf32 is True
        tg.backends.cuda.matmul.allow_tf32 = False
        assert tg.backends.cuda.matmul.allow_tf32 is False
    finally:
        tg.cuda.set_matmul_impl(before[0])
        tg.cuda.set_softmax_impl(before[1])
        tg.backends.cuda.matmul.allow_tf32 = before[2]


@needs_gpu
def test_tensors_move_and_compute_on_the_gpu():
    rs = np.random.RandomState(0)
    a, b = rs.randn(33, 70).astype(np.float32), rs.randn(70, 9).astype(np.float32)
    ga, gb = tg.tensor(a).cuda(), tg.tensor(b).to("cuda")
    assert ga.is_cuda and ga.device.type == "cuda"
    out = (ga @ gb).relu().sum(1)
    np.testing.assert_allclose(out.cpu().numpy(), np.maximum(a @ b, 0).sum(1), rtol=1e-4, atol=1e-4)
    with pytest.raises(RuntimeError, match="same device"):
        ga + tg.tensor(a)
    s = tg.softmax(ga, dim=1)
    np.testing.assert_allclose(s.cpu().numpy().sum(1), np.ones(33), rtol=1e-5)
    tg.cuda.synchronize()


@needs_gpu
def test_a_training_step_on_the_gpu_matches_the_cpu():
    losses = {}
    for device in ("cpu", "cuda"):
        tg.manual_seed(0)
        model = tg.nn.Sequential(tg.nn.Linear(8, 16), tg.nn.ReLU(), tg.nn.Linear(16, 3)).to(device)
        opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        tg.manual_seed(1)
        x, y = tg.randn(32, 8).to(device), tg.randint(0, 3, (32,)).to(device)
        run = []
        for _ in range(10):
            opt.zero_grad()
            loss = tg.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses[device] = run
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-4)


@needs_gpu
def test_memory_statistics_follow_tensors():
    tg.cuda.synchronize()
    base = tg.cuda.memory_allocated()
    tg.cuda.reset_peak_memory_stats()
    x = tg.zeros(1 << 20, device="cuda")
    assert tg.cuda.memory_allocated() - base >= 4 << 20
    assert tg.cuda.memory_reserved() >= tg.cuda.memory_allocated()
    del x
    assert tg.cuda.memory_allocated() == base
    assert tg.cuda.max_memory_allocated() - base >= 4 << 20
    assert tg.cuda.memory_stats()["num_system_allocations"] >= 1
    tg.cuda.empty_cache()
    assert tg.cuda.memory_reserved() == tg.cuda.memory_allocated()
