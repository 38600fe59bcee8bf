"""tapegrad vs PyTorch on the models our examples train, both from Python, in one process.

Same models (tapegrad's initial weights copied into the PyTorch twin), same batches, batch sizes
and hyperparameters:

  mlp             examples/fashion_mnist.py mlp: 784-256-128-10 ReLU, batch 64, Adam 1e-3
  cnn             examples/fashion_mnist.py cnn: conv16-BN-ReLU-pool, conv32-BN-ReLU-pool,
                  1568-128-10, batch 64, Adam 2e-3
  lstm_lm         examples/char_lstm_lm.py: Embedding(vocab, 32), LSTM(32, 128), Linear(128, vocab),
                  batch 32, context 64, Adam 5e-3, clip_grad_norm_ 1.0
  transformer_lm  examples/tiny_transformer_lm.py: d_model 64, 4 heads, ff 256, gelu, pre-norm,
                  2 layers + final LayerNorm, causal mask, batch 32, context 64, AdamW 3e-3, clip 1.0

First correctness: a few identical training steps on both libraries, whose losses must agree.
Then timing: after a warm-up, R repetitions of a timed loop of N full training steps
(zero_grad, forward, loss, backward, clip where used, optimizer step, loss.item()), tapegrad and
PyTorch interleaved repetition by repetition (so load on a shared machine hits both alike); the
table has the median time per step. Data loading is outside the loop: each side cycles through a
pool of batches converted to its tensors up front.

    PYTHONPATH=build/pydev /usr/bin/python3 bench/compare_models.py [--models mlp,cnn]
        [--steps N] [--reps R] [--threads T] [--device cpu|cuda] [--breakdown] [--check-steps K]

Exits 1 when a model's losses disagree (that model is then not timed), 2 on bad usage.
"""
import argparse
import os
import sys

MODELS = ("mlp", "cnn", "lstm_lm", "transformer_lm")
# Steps per timed loop when --steps is not given: about 1 s of work per loop on one core of the
# 2-core VM, so timer resolution and scheduler hiccups stay small against the loop; with the
# default 5 repetitions a full run takes about 50 s there.
DEFAULT_STEPS = {"mlp": 500, "cnn": 40, "lstm_lm": 50, "transformer_lm": 30}
# Relative loss differences allowed in the correctness check (float32). Measured on this machine
# (CPU, 1 and 2 threads): every step of the first 10 agrees to <= 6e-7 relative, the first 5 to
# <= 1.5e-7 (about one float32 ulp of the loss: the libraries sum GEMMs, convolutions and
# reductions in different orders). The differences grow with training (the CNN's reach 2e-4 by
# step 30; the others stay ~1e-7), so the check runs few steps. Step 1 (identical weights and
# batch: only the forward decides it) must agree to 1e-5; every step to 1e-3, which leaves three
# orders of magnitude for other BLAS builds, thread counts and GPUs, and still catches a real
# difference in an update: a 1% larger learning rate on one side moves the 5-step losses by
# 2e-3 to 8e-3 relative.
TOLERANCE_FIRST = 1e-5
TOLERANCE = 1e-3

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--models", default=",".join(MODELS), help="comma list of " + ", ".join(MODELS))
parser.add_argument("--steps", type=int, help="steps per timed loop (default: per model, "
                    + ", ".join(f"{m} {n}" for m, n in DEFAULT_STEPS.items()) + ")")
parser.add_argument("--reps", type=int, default=5, help="timed loops per library (median reported)")
parser.add_argument("--check-steps", type=int, default=5, help="identical steps whose losses must agree")
parser.add_argument("--warmup", type=int, default=3, help="untimed steps per library before timing")
parser.add_argument("--threads", type=int, default=1, help="intra-op threads for both libraries")
parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
parser.add_argument("--breakdown", action="store_true",
                    help="also time the phases of a step (forward + loss, backward, clip, optimizer step)")
parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
parser.add_argument("--text", default="/usr/share/common-licenses/Apache-2.0")
args = parser.parse_args()
models = [m.strip() for m in args.models.split(",") if m.strip()]
unknown = [m for m in models if m not in MODELS]
if unknown or not models:
    parser.error(f"unknown model(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(MODELS)}")
if min(args.threads, args.reps, args.check_steps, 1 if args.steps is None else args.steps) < 1 or args.warmup < 0:
    parser.error("--threads, --reps, --steps and --check-steps must be >= 1 and --warmup >= 0")

# Both libraries' BLAS and OpenMP pools read these when they load: set them before the imports so
# neither starts more threads than the other (set_num_threads below covers what they do not).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import datetime  # noqa: E402
import gzip  # noqa: E402
import inspect  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tapegrad as tg  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:
    sys.exit("compare_models: PyTorch is not importable by this Python (Debian: apt install python3-torch "
             "and run /usr/bin/python3)")

tg.set_num_threads(args.threads)
torch.set_num_threads(args.threads)

if args.device == "cuda":
    missing = []
    if not torch.cuda.is_available():
        missing.append(f"PyTorch {torch.__version__} cannot (torch.cuda.is_available() is False"
                       + (": a CPU-only build)" if torch.version.cuda is None else ")"))
    if not tg.cuda.is_available():
        missing.append(f"tapegrad cannot ({tg.cuda.unavailable_reason()})")
    if missing:
        print("compare_models: skipped: --device cuda needs a GPU both libraries can use; " + "; ".join(missing))
        sys.exit(0)
    # Plain float32 on both sides (TF32 would make the correctness check compare two roundings).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    tg.backends.cuda.matmul.allow_tf32 = False
device = args.device


# ---------------------------------------------------------------------------------------------
# Models: one definition per model, built with either library (`lib` is tapegrad or torch).

def build_mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def build_cnn(lib):
    nn = lib.nn

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(1, 16), *block(16, 32), nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def build_lstm_lm(lib, vocab):
    nn = lib.nn

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, 32)
            self.lstm = nn.LSTM(32, 128, batch_first=True)
            self.head = nn.Linear(128, vocab)

        def forward(self, ids):  # [N, T] -> logits [N * T, vocab]
            out, _ = self.lstm(self.embedding(ids))
            return self.head(out).reshape(-1, vocab)

    return CharLSTM()


def build_transformer_lm(lib, vocab, context=64, d_model=64):
    nn = lib.nn
    # PyTorch 1.13's TransformerEncoder.forward has no is_causal (added in 2.0); the mask alone
    # means the same there, so that side gets the mask only.
    causal_kw = {"is_causal": True}
    if lib is torch and "is_causal" not in inspect.signature(torch.nn.TransformerEncoder.forward).parameters:
        causal_kw = {}

    class TinyTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens = nn.Embedding(vocab, d_model)
            self.positions = nn.Embedding(context, d_model)
            layer = nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=4 * d_model, dropout=0.0,
                                               activation="gelu", batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(d_model))
            self.head = nn.Linear(d_model, vocab)

        def forward(self, ids):  # [N, T] -> logits [N * T, vocab]
            T = ids.shape[1]
            x = self.tokens(ids) + self.positions(lib.arange(T, device=ids.device))
            mask = nn.Transformer.generate_square_subsequent_mask(T, device=ids.device)
            return self.head(self.encoder(x, mask=mask, **causal_kw)).reshape(-1, vocab)

    return TinyTransformer()


# name -> (builder, optimizer class name, lr, clip max norm or None)
SPECS = {
    "mlp": (build_mlp, "Adam", 1e-3, None),
    "cnn": (build_cnn, "Adam", 2e-3, None),
    "lstm_lm": (build_lstm_lm, "Adam", 5e-3, 1.0),
    "transformer_lm": (build_transformer_lm, "AdamW", 3e-3, 1.0),
}
# tapegrad state_dict key -> PyTorch key, where they differ. For these models they all agree
# (checked below against both state_dicts: a mismatch is an error, not a silent skip).
NAME_MAP = {}


def copy_tg_to_torch(tg_model, pt_model):
    """Loads tapegrad's weights and buffers into the PyTorch twin through numpy."""
    ours, theirs = tg_model.state_dict(), pt_model.state_dict()
    mapped = {NAME_MAP.get(k, k): v for k, v in ours.items()}
    if set(mapped) != set(theirs):
        raise SystemExit(f"compare_models: state_dict keys differ: only tapegrad {sorted(set(mapped) - set(theirs))}, "
                         f"only PyTorch {sorted(set(theirs) - set(mapped))}")
    new = {}
    for k, v in mapped.items():
        a = v.detach().cpu().numpy()
        if tuple(a.shape) != tuple(theirs[k].shape):
            raise SystemExit(f"compare_models: {k}: tapegrad shape {tuple(a.shape)}, PyTorch {tuple(theirs[k].shape)}")
        new[k] = torch.from_numpy(np.array(a, dtype=a.dtype, copy=True)).to(theirs[k].dtype)
    pt_model.load_state_dict(new, strict=True)


# ---------------------------------------------------------------------------------------------
# Data: one pool of numpy batches per model, converted once to each library's tensors.

POOL = 16  # distinct batches per model; the timed loops cycle through them


def fashion_batches(rng):
    try:
        images = np.frombuffer(gzip.open(f"{args.data}/train-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
        labels = np.frombuffer(gzip.open(f"{args.data}/train-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
        x = images.reshape(-1, 1, 28, 28).astype(np.float32) / 255
        x = (x - x.mean()) / x.std()  # standardized with the training set's statistics, as the example does
        y = labels.astype(np.int64)
        source = f"Fashion-MNIST train set from {args.data}"
    except OSError as e:
        print(f"note: Fashion-MNIST not readable at {args.data} ({e.strerror or e}); using random data of the "
              "same shape (Debian: apt install dataset-fashion-mnist)")
        x = rng.standard_normal((POOL * 64, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, POOL * 64).astype(np.int64)
        source = "random data (Fashion-MNIST not found)"
    pick = rng.permutation(len(x))[:POOL * 64].reshape(POOL, 64)
    return [(np.ascontiguousarray(x[i]), y[i].copy()) for i in pick], source


def text_batches(rng, encoded, context=64, batch=32):
    out = []
    for _ in range(POOL):
        starts = rng.integers(0, len(encoded) - context - 1, batch)
        windows = np.stack([encoded[s:s + context + 1] for s in starts])  # [batch, context + 1]
        out.append((np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, 1:]).reshape(-1)))
    return out


def to_lib(lib, batches):
    if lib is tg:
        return [(tg.from_numpy(x).to(device), tg.from_numpy(y).to(device)) for x, y in batches]
    return [(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)) for x, y in batches]


# ---------------------------------------------------------------------------------------------
# Training steps and timing.

def make_step(lib, model, opt_name, lr, clip):
    """Returns step(x, y) -> loss, one full training step, and phased(x, y, acc), the same step
    with the time of each phase added to acc (see PHASES; synchronized on the GPU between them)."""
    params = list(model.parameters())
    opt = getattr(lib.optim, opt_name)(params, lr=lr)
    loss_fn = lib.nn.CrossEntropyLoss()
    clip_fn = lib.nn.utils.clip_grad_norm_

    def step(x, y):
        # set_to_none=True on both: tapegrad's default, PyTorch 1.13's is False (2.x: True).
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip is not None:
            clip_fn(model.parameters(), clip)
        opt.step()
        return loss.item()

    def phased(x, y, acc):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        sync(lib)
        t1 = time.perf_counter()
        loss.backward()
        sync(lib)
        t2 = time.perf_counter()
        if clip is not None:
            clip_fn(model.parameters(), clip)
        sync(lib)
        t3 = time.perf_counter()
        opt.step()
        loss.item()
        t4 = time.perf_counter()
        for i, dt in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            acc[i] += dt

    return step, phased


PHASES = ("forward + loss", "backward", "clip", "optimizer step")


def sync(lib):
    if device == "cuda":
        lib.cuda.synchronize()


def timed_loop(lib, step, batches, n):
    sync(lib)
    start = time.perf_counter()
    for i in range(n):
        step(*batches[i % len(batches)])
    sync(lib)
    return (time.perf_counter() - start) / n


def breakdown(phased, batches, n):
    """Median over --reps loops of the mean time per step of each phase (timed one side at a time:
    the phase timers are for finding where a difference comes from, the table is the measurement)."""
    runs = []
    for _ in range(args.reps):
        acc = [0.0] * len(PHASES)
        for i in range(n):
            phased(*batches[i % len(batches)], acc)
        runs.append([a / n for a in acc])
    return [statistics.median(r[i] for r in runs) for i in range(len(PHASES))]


def machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        name = platform.processor() or platform.machine()
    return f"{name}, {os.cpu_count()} logical CPUs"


def load():
    try:
        return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


def main():
    rng = np.random.default_rng(0)
    data, sources = {}, []
    if {"mlp", "cnn"} & set(models):
        fashion, source = fashion_batches(rng)
        sources.append(source)
        data["mlp"] = data["cnn"] = fashion
    vocab = None
    if {"lstm_lm", "transformer_lm"} & set(models):
        text = open(args.text, encoding="utf-8", errors="replace").read()
        alphabet = sorted(set(text))
        index_of = {ch: i for i, ch in enumerate(alphabet)}
        vocab = len(alphabet)
        encoded = np.array([index_of[ch] for ch in text], dtype=np.int64)
        sources.append(f"windows of {args.text} ({len(text)} characters, vocab {vocab})")
        data["lstm_lm"] = data["transformer_lm"] = text_batches(rng, encoded)

    print(f"# tapegrad vs PyTorch: example models, training step from Python ({device})")
    print(f"date {datetime.datetime.now().isoformat(timespec='seconds')}; machine {machine()}; "
          f"{load()} at start")
    print(f"threads {args.threads} (tapegrad {tg.get_num_threads()}, PyTorch {torch.get_num_threads()}); "
          f"tapegrad {tg.__version__}, PyTorch {torch.__version__}, NumPy {np.__version__}, "
          f"Python {platform.python_version()}")
    print("data: " + "; ".join(sources))

    results, failed = [], []
    for name in models:
        build, opt_name, lr, clip = SPECS[name]
        extra = (vocab,) if name.endswith("_lm") else ()
        tg.manual_seed(0)
        torch.manual_seed(0)
        tg_model, pt_model = build(tg, *extra), build(torch, *extra)
        copy_tg_to_torch(tg_model, pt_model)
        tg_model.to(device)
        pt_model.to(device)
        tg_model.train()
        pt_model.train()
        tg_step, tg_phased = make_step(tg, tg_model, opt_name, lr, clip)
        pt_step, pt_phased = make_step(torch, pt_model, opt_name, lr, clip)
        tg_batches, pt_batches = to_lib(tg, data[name]), to_lib(torch, data[name])

        # Correctness: the same steps on the same batches from the same weights.
        ours = [tg_step(*tg_batches[i % POOL]) for i in range(args.check_steps)]
        theirs = [pt_step(*pt_batches[i % POOL]) for i in range(args.check_steps)]
        rel = [abs(a - b) / max(abs(b), 1e-12) for a, b in zip(ours, theirs)]
        worst = max(rel)
        ok = bool(np.isfinite(ours).all() and np.isfinite(theirs).all() and rel[0] <= TOLERANCE_FIRST
                  and worst <= TOLERANCE)
        show = lambda ls: " ".join(f"{v:.6f}" for v in ls) if len(ls) <= 6 else \
            " ".join(f"{v:.6f}" for v in ls[:3]) + " ... " + f"{ls[-1]:.6f}"  # noqa: E731
        print(f"correctness {name}: {args.check_steps} steps, losses tapegrad {show(ours)} / PyTorch {show(theirs)}; "
              f"relative difference step 1 {rel[0]:.2e} (tolerance {TOLERANCE_FIRST:.0e}), max {worst:.2e} "
              f"(tolerance {TOLERANCE:.0e}): "
              f"{'ok' if ok else 'FAILED'}", flush=True)
        if not ok:
            failed.append(name)
            print(f"compare_models: {name}: tapegrad's losses differ from PyTorch's (step 1 by {rel[0]:.2e} relative, "
                  f"allowed {TOLERANCE_FIRST:.0e}; worst step by {worst:.2e}, allowed {TOLERANCE:.0e}) on identical "
                  "weights and batches; not timing it", file=sys.stderr)
            continue

        # Timing: warm-up, then interleaved repetitions (the side that goes first alternates).
        n = args.steps or DEFAULT_STEPS[name]
        if args.warmup:
            timed_loop(tg, tg_step, tg_batches, args.warmup)
            timed_loop(torch, pt_step, pt_batches, args.warmup)
        t_tg, t_pt = [], []
        for r in range(args.reps):
            order = [(tg, tg_step, tg_batches, t_tg), (torch, pt_step, pt_batches, t_pt)]
            for lib, step, batches, out in order if r % 2 == 0 else order[::-1]:
                out.append(timed_loop(lib, step, batches, n))
        a, b = statistics.median(t_tg), statistics.median(t_pt)
        spread = lambda ts: f"{min(ts) * 1e3:.2f}-{max(ts) * 1e3:.2f}"  # noqa: E731
        print(f"timing {name}: {args.reps} x {n} steps; tapegrad {spread(t_tg)} ms, PyTorch {spread(t_pt)} ms "
              f"per step (min-max over repetitions)", flush=True)
        results.append((name, a, b))
        if args.breakdown:
            print(f"breakdown {name} (ms per step, median of {args.reps} x {n} steps, tapegrad / PyTorch): "
                  + "; ".join(f"{phase} {x * 1e3:.2f} / {y * 1e3:.2f}" for phase, x, y in
                              zip(PHASES, breakdown(tg_phased, tg_batches, n), breakdown(pt_phased, pt_batches, n))
                              if clip is not None or phase != "clip"), flush=True)

    print(f"\n{load()} at end\n")
    print("| model | tapegrad ms/step | PyTorch ms/step | tapegrad / PyTorch |")
    print("|---|---|---|---|")
    for name, a, b in results:
        print(f"| {name} | {a * 1e3:.2f} | {b * 1e3:.2f} | **{a / b:.2f}** |")
    for name in failed:
        print(f"| {name} | correctness FAILED | | |")
    if failed:
        sys.exit(f"compare_models: correctness FAILED for {', '.join(failed)}")


if __name__ == "__main__":
    main()
