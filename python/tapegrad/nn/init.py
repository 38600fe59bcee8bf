"""tapegrad.nn.init: in-place fills with PyTorch's names, arguments and distributions. Each runs
without recording on the tape and returns the tensor."""
from .._C._init import (  # noqa: F401
    calculate_gain, _calculate_fan_in_and_fan_out, uniform_, normal_, constant_, zeros_, ones_,
    eye_, xavier_uniform_, xavier_normal_, kaiming_uniform_, kaiming_normal_, orthogonal_,
)
