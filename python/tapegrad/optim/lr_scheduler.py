"""tapegrad.optim.lr_scheduler: torch.optim.lr_scheduler's schedulers, run by the engine. Each
writes the "lr" of every group of its optimizer; construction takes the first step, as PyTorch."""
from .. import _C

_S = _C._optim


class LRScheduler:
    def __init__(self, optimizer, native):
        self.optimizer = optimizer
        self._native = native

    def step(self):
        self._native.step()

    def get_last_lr(self):
        return list(self._native.get_last_lr())

    @property
    def last_epoch(self):
        return self._native.last_epoch

    @property
    def base_lrs(self):
        return list(self._native.base_lrs)


class StepLR(LRScheduler):
    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        super().__init__(optimizer, _S.StepLR(optimizer._native, step_size, gamma, last_epoch))


class MultiStepLR(LRScheduler):
    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        super().__init__(optimizer, _S.MultiStepLR(optimizer._native, list(milestones), gamma,
                                                   last_epoch))


class ExponentialLR(LRScheduler):
    def __init__(self, optimizer, gamma, last_epoch=-1):
        super().__init__(optimizer, _S.ExponentialLR(optimizer._native, gamma, last_epoch))


class CosineAnnealingLR(LRScheduler):
    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        super().__init__(optimizer, _S.CosineAnnealingLR(optimizer._native, T_max, eta_min,
                                                         last_epoch))


def _per_group(v):
    return [float(x) for x in v] if isinstance(v, (list, tuple)) else [float(v)]


class OneCycleLR(LRScheduler):
    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        super().__init__(optimizer, _S.OneCycleLR(
            optimizer._native, _per_group(max_lr), total_steps or 0, epochs or 0,
            steps_per_epoch or 0, pct_start, anneal_strategy, cycle_momentum,
            _per_group(base_momentum), _per_group(max_momentum), div_factor, final_div_factor,
            three_phase, last_epoch))


class ReduceLROnPlateau:
    """Divides the lr by 1/factor once the metric passed to step() stops improving."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        self.optimizer = optimizer
        self._native = _S.ReduceLROnPlateau(optimizer._native, mode, factor, patience, threshold,
                                            threshold_mode, cooldown, _per_group(min_lr), eps)

    def step(self, metrics):
        self._native.step(metrics)

    def get_last_lr(self):
        return list(self._native.get_last_lr())

    @property
    def best(self):
        return self._native.best

    @property
    def num_bad_epochs(self):
        return self._native.num_bad_epochs

    @property
    def last_epoch(self):
        return self._native.last_epoch

    @property
    def in_cooldown(self):
        return self._native.in_cooldown


class EarlyStopping:
    """Stops when the metric has not improved by min_delta for patience epochs: step(metric)
    returns True when training should stop (tapegrad's helper; PyTorch has none)."""

    def __init__(self, patience=10, min_delta=0.0, mode="min"):
        self._native = _S.EarlyStopping(patience, min_delta, mode)

    def step(self, metric):
        return self._native.step(metric)

    def __getattr__(self, name):
        return getattr(self.__dict__["_native"], name)
