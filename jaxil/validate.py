"""Checks of what a user can get wrong before a run starts: names, hyperparameters, batch sizes.

Each check raises :class:`jaxil.errors.InputError` (a ValueError) naming the algorithm, the field and the offending
value (and, for a swept field, the run), so that a typo in a sweep grid fails in the
first second instead of turning into NaN losses hours later.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Callable, Iterable

import numpy as np

from jaxil.errors import InputError

# Rules by field name, so that the Hparams of a new algorithm are checked without
# registering them: learning rates are ``lr`` / ``*_lr``, weights ``*_coef`` ...
_UNIT_INTERVAL = {"gamma", "gae_lambda", "tau", "beta_decay", "learner_eps", "top_fraction", "actor_lr_floor"}
# IQL's expectile: at 0 or 1 one side of the residuals has no weight and V drifts without bound.
_OPEN_UNIT_INTERVAL = {"expectile"}
# div_coef: IQ-Learn divides its chi^2 term by it.
_POSITIVE = {"max_grad_norm", "init_alpha", "clip_eps", "temperature", "max_weight", "div_coef"}
_NON_NEGATIVE = {"eps", "grad_penalty", "beta", "actor_lr_decay"}
# A mixing weight whose other side must keep some weight: ValueDICE's replay_reg alpha gives
# the expert data 1 - alpha; at 1 the objective has no expert term left, above 1 a negative one.
_BELOW_ONE = {"replay_reg"}
# A negative reward scale flips the reward, which is odd but not meaningless.
_ANY_SIGN = {"reward_scale"}


def _in_zero_one(x):
    """The [0, 1) interval of ``_BELOW_ONE`` and of ValueDICE's gamma."""
    return (x >= 0) & (x < 1)


# Rules of one algorithm's fields, by the module that defines its Hparams, ahead of the rules by
# name. ValueDICE's change of variables x = nu - gamma B^pi nu needs gamma < 1 (gamma B^pi a
# contraction), and its initial-state term carries 1 - gamma, which vanishes at gamma = 1.
_BY_ALGORITHM = {
    "valuedice": {"gamma": (_in_zero_one,
                            "must lie in [0, 1): ValueDICE's initial-state term carries a factor 1 - gamma")},
}


def closest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` names of ``known`` that look like ``name`` (a typo's likely intent)."""
    return difflib.get_close_matches(str(name), sorted(known), n=n)


def unknown_name(kind: str, name: str, known: Iterable[str]) -> InputError:
    """The error for an unknown ``kind`` (env, algorithm, ...) suggesting the closest known names."""
    known = sorted(known)
    close = closest(name, known)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    return InputError(f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known)}")


def _rule(field: str) -> tuple[Callable[[np.ndarray], np.ndarray], str] | None:
    """``(ok(values) -> bool array, what ok means)`` for a field name, or None: finite only."""
    if field in _ANY_SIGN:
        return None
    if field in ("lr", "learning_rate") or field.endswith("_lr"):
        # 0 is allowed: a frozen network is a legitimate control in a sweep.
        return (lambda x: x >= 0), "a learning rate must be >= 0"
    if field in _OPEN_UNIT_INTERVAL:
        return (lambda x: (x > 0) & (x < 1)), "must lie in (0, 1)"
    if field in _BELOW_ONE:
        return _in_zero_one, "must lie in [0, 1)"
    if field in _UNIT_INTERVAL:
        return (lambda x: (x >= 0) & (x <= 1)), "must lie in [0, 1]"
    if field in _POSITIVE:
        return (lambda x: x > 0), "must be > 0"
    if field in _NON_NEGATIVE or field.endswith(("_coef", "_eps", "_scale", "_reg")):
        return (lambda x: x >= 0), "a coefficient must be >= 0"
    return None


def check_hparams(hparams, algo: str) -> None:
    """Every Hparams field is a finite number within the range its name implies (or, for the
    fields in ``_BY_ALGORITHM``, the range the algorithm that defines the Hparams needs).

    Fields may be scalars or per-run arrays (a sweep); nested NamedTuples are
    checked field by field. Raises InputError such as
    ``bc Hparams.lr[3] = -0.001: a learning rate must be >= 0``.
    """
    own_rules = _BY_ALGORITHM.get(type(hparams).__module__.rpartition(".")[2], {})
    for path, value in _leaves(hparams, f"{type(hparams).__name__}"):
        x = np.asarray(value)
        where = f"{algo} {path}"
        if x.dtype.kind not in "biuf":
            raise InputError(f"{where} = {value!r}: expected a number")
        _first_bad(where, x, ~np.isfinite(x), "must be finite")
        field = path.rsplit(".", 1)[-1]
        rule = own_rules[field] if path.count(".") == 1 and field in own_rules else _rule(field)
        if rule is not None:
            ok, what = rule
            _first_bad(where, x, ~ok(x), what)


def _leaves(hparams, path: str):
    if hasattr(hparams, "_asdict"):
        for name, value in hparams._asdict().items():
            yield from _leaves(value, f"{path}.{name}")
    else:
        yield path, hparams


def _first_bad(where: str, x: np.ndarray, bad: np.ndarray, what: str) -> None:
    if not bad.any():
        return
    if x.ndim == 0:
        raise InputError(f"{where} = {x.item()}: {what}")
    index = np.unravel_index(int(np.argmax(bad)), x.shape)
    at = ", ".join(map(str, index))
    raise InputError(f"{where}[{at}] = {x[index].item()}: {what} (run {at} of a swept field)")


def batch_fields(config) -> dict[str, int]:
    """The top-level Config fields that draw minibatches from the demos: ``batch_size``, ``*_batch``.

    Nested learner configs (e.g. SAC's replay ``batch_size`` inside GAIL's config)
    sample the learner's own transitions, not the demos, so they are not included.
    """
    if not dataclasses.is_dataclass(config):
        return {}
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if (f.name == "batch_size" or f.name.endswith("_batch")) and isinstance(getattr(config, f.name), int)}


def batch_size_problem(config, demos, algo: str) -> str | None:
    """What is wrong when a minibatch of demos is larger than the demos themselves, else None.

    ``demos`` may carry padding (``mask`` 0) and a leading run axis (demo subsets,
    see :func:`jaxil.data.stack_subsets`); the smallest real dataset counts.
    """
    mask = np.asarray(demos.mask).reshape(-1, np.shape(demos.mask)[-1])
    sizes = mask.sum(axis=1)
    smallest = int(np.argmin(sizes))
    for name, batch in batch_fields(config).items():
        if batch > sizes[smallest]:
            run = f" (run {smallest} of {len(sizes)} demo subsets)" if len(sizes) > 1 else ""
            return (f"{algo} Config.{name} = {batch} is larger than the demos: {int(sizes[smallest])} transitions"
                    f"{run}. Use more trajectories or a {name} of at most {int(sizes[smallest])}.")
    return None


def check_batch_size(config, demos, algo: str) -> None:
    """Raises InputError with :func:`batch_size_problem`'s message if there is one."""
    problem = batch_size_problem(config, demos, algo)
    if problem:
        raise InputError(problem)


__all__ = ["batch_fields", "batch_size_problem", "check_batch_size", "check_hparams", "closest", "unknown_name"]
