"""tapegrad.utils.data: Dataset, TensorDataset, random_split and DataLoader, as torch.utils.data.

DataLoader batches a dataset in order or shuffled (from tapegrad's global generator, or a
Generator given by generator=, so a seed reproduces the order); a TensorDataset's batches are one
index_select per tensor, not one Python call per sample."""
from .. import _C
from .._C import Tensor


class Dataset:
    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the i-th rows of each tensor (all with the same first size)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        n = tensors[0].shape[0] if tensors[0].dim() > 0 else None
        for t in tensors:
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: expects tensors, got {type(t).__name__}")
            if t.dim() == 0 or t.shape[0] != n:
                raise ValueError("TensorDataset: size mismatch between tensors: first sizes "
                                 f"{[t.shape[0] if t.dim() else None for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class ConcatDataset(Dataset):
    def __init__(self, datasets):
        self.datasets = list(datasets)
        self.cumulative = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative.append(total)

    def __len__(self):
        return self.cumulative[-1] if self.cumulative else 0

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"ConcatDataset: index out of range for {len(self)} samples")
        start = 0
        for d, end in zip(self.datasets, self.cumulative):
            if index < end:
                return d[index - start]
            start = end


class Subset(Dataset):
    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


class Generator:
    """A seedable source of shuffles, independent of the global generator (torch.Generator's
    manual_seed / initial_seed)."""

    def __init__(self):
        self._seed = _C.initial_seed()
        self._offset = 0

    def manual_seed(self, seed):
        self._seed, self._offset = int(seed), 0
        return self

    def initial_seed(self):
        return self._seed

    def randperm(self, n):
        # Draws from the engine's Philox stream at this generator's own (seed, offset).
        saved = _C.get_rng_state()
        try:
            _C.set_rng_state((self._seed, self._offset))
            perm = _C.randperm(n)
            self._offset = _C.get_rng_state()[1]
        finally:
            _C.set_rng_state(saved)
        return perm


def _randperm(n, generator):
    return generator.randperm(n) if generator is not None else _C.randperm(n)


def random_split(dataset, lengths, generator=None):
    n = len(dataset)
    if all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1) < 1e-6:
        sizes = [int(n * f) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {list(lengths)} do not sum to the dataset's "
                         f"{n} samples")
    perm = _randperm(n, generator).tolist()
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start:start + k]))
        start += k
    return out


def default_collate(batch):
    """Batches a list of samples as PyTorch does: tensors and NumPy arrays are stacked, Python
    ints, floats and bools become int64, float64 and bool tensors, strings stay a list, dicts
    and sequences are collated field by field (a namedtuple keeps its type, others give lists)."""
    first = batch[0]
    if isinstance(first, Tensor):
        return _C.stack(list(batch))
    if isinstance(first, bool):
        return _C.tensor(list(batch), dtype=_C.dtype.bool)
    if isinstance(first, int):
        return _C.tensor(list(batch), dtype=_C.dtype.int64)
    if isinstance(first, float):
        return _C.tensor(list(batch), dtype=_C.dtype.float64)
    if isinstance(first, (str, bytes)):
        return list(batch)
    if hasattr(first, "__array_interface__") or hasattr(first, "__array__"):
        return _C.stack([_C.tensor(b) for b in batch])
    if isinstance(first, dict):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, (tuple, list)):
        if any(len(b) != len(first) for b in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of equal "
                               f"size, got sizes {sorted({len(b) for b in batch})}")
        fields = [default_collate(list(f)) for f in zip(*batch)]
        return type(first)(*fields) if hasattr(first, "_fields") else fields
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}")


class DataLoader:
    """Iterates over a dataset in batches of batch_size (the last one smaller unless drop_last),
    shuffled anew each epoch when shuffle is true."""

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device=""):
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size should be a positive integer, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                             "batch_size, shuffle, sampler, and drop_last")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be non-negative, got {num_workers!r}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.collate_fn, self.drop_last, self.generator = collate_fn, drop_last, generator
        # Batches are made in this process: num_workers and the worker options are accepted so
        # PyTorch scripts run, and change nothing.
        self.num_workers = num_workers

    def _order(self):
        n = len(self.dataset)
        if self.sampler is not None:
            return list(self.sampler)
        if self.shuffle:
            return _randperm(n, self.generator).tolist()
        return list(range(n))

    def _batches(self):
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        order = self._order()
        step = self.batch_size
        for start in range(0, len(order), step):
            chunk = order[start:start + step]
            if len(chunk) < step and self.drop_last:
                return
            yield chunk

    def __iter__(self):
        if self.batch_size is None and self.batch_sampler is None:  # PyTorch: no batching
            for i in self._order():
                sample = self.dataset[i]
                yield self.collate_fn(sample) if self.collate_fn else sample
            return
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        for idx in self._batches():
            if fast:
                index = _C.tensor(list(idx), dtype=_C.dtype.int64)
                yield [t.index_select(0, index) for t in self.dataset.tensors]
            else:
                collate = self.collate_fn or default_collate
                yield collate([self.dataset[i] for i in idx])

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
