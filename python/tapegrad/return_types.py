"""The named tuples that max(dim) and min(dim) return, as torch.return_types."""
from collections import namedtuple

max = namedtuple("max", ["values", "indices"])  # noqa: A001
min = namedtuple("min", ["values", "indices"])  # noqa: A001
