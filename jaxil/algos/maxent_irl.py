"""Exact tabular planning and maximum-entropy IRL: MaxEnt, MCE and deep MaxEnt IRL.

Planning (pure array functions, jit- and vmap-able)
----------------------------------------------------
Finite horizon, same conventions as the ``imitation`` library's
``mce_partition_fh`` / ``mce_occupancy_measures``:

* ``transitions[s, a, s2] = P(s2 | s, a)``, a state-only ``reward[s]`` (a
  state-action ``reward[s, a]`` is accepted too), horizon ``T``.
* :func:`mce_partition` returns ``V [T, S]``, ``Q [T, S, A]``, ``pi [T, S, A]``
  with ``Q[T-1] = r``, ``Q[t] = r + discount * P V[t+1]``,
  ``V[t] = logsumexp_a Q[t]`` and ``pi[t, s, a] = exp(Q[t, s, a] - V[t, s])``,
  i.e. the value after the last action is 0 (``terminal`` changes that).
* :func:`mce_occupancy` returns ``D [T+1, S]``, the probability of being in each
  state at ``t = 0 .. T`` (``D[0]`` the initial distribution, ``D[t+1]`` one step of
  ``pi[t]`` later), and ``Dcum [S] = sum_t discount**t D[t]`` over all ``T + 1``
  rows. Given a reward instead of a policy it plans with :func:`mce_partition` at
  ``plan_discount`` (1.0 by default, as ``imitation`` does).

Infinite horizon, discounted: :func:`soft_value_iteration` (fixed iterations or a
tolerance, ``lax.while_loop``), :func:`discounted_occupancy` and
:func:`state_action_occupancy`.

Returns and scores (:func:`expected_return`, :func:`normalized_return`,
:func:`expected_value_difference`, :func:`transfer`) count the rewards of the states at
``t = 0 .. T-1``, the rewards a ``T``-step episode of
:class:`jaxil.envs.tabular.TabularCore` earns; :func:`optimal_policy` maximises that.

IRL (the jaxil Config / Hparams / State shape)
----------------------------------------------
One module, three algorithms, chosen by :class:`Config`:

* MaxEnt IRL (Ziebart et al., 2008): ``backup="maxent"``, linear reward. Its backward
  pass soft-maximises over next states too (``V = log sum_a exp(r + log E_P exp V')``),
  which equals MCE on deterministic dynamics and is optimistic on stochastic ones.
* MCE IRL (Ziebart, 2010): ``backup="mce"``, linear reward (tabular with one-hot
  features).
* Deep MaxEnt IRL (Wulfmeier et al., 2015): ``reward_model="mlp"``, a flax MLP over
  the (standardised) state features, trained through the same occupancy gradient.

All three follow the gradient ``Dcum(pi_r) - Dcum_expert`` of the (discounted)
causal-entropy dual with respect to the state rewards, chained through the reward
model, with an optax optimiser. The policy is planned at the MDP's discount, the
discount its occupancy is weighted with (``imitation``'s ``MCEIRL`` plans
undiscounted whatever its ``discount``; the two agree at ``discount=1``, the
default). The expert enters only through its ``[S]``
occupancy (exact, or estimated from trajectories by
:func:`occupancy_from_trajectories`), so demo sets of any size share one compilation.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxil import lapack, nets
from jaxil.envs.tabular import TabularMDP, _time_policy
from jaxil.errors import InputError

BACKUPS = ("mce", "maxent")
REWARD_MODELS = ("linear", "mlp")
OPTIMIZERS = ("adam", "sgd")

# ------------------------------------------------------------------------- planning


def _check_planning_args(transitions, reward, horizon):
    if transitions.ndim != 3 or transitions.shape[0] != transitions.shape[2]:
        raise InputError(f"transitions must be [S, A, S], got shape {transitions.shape}")
    s, a, _ = transitions.shape
    if reward.shape not in ((s,), (s, a)):
        raise InputError(f"reward must be [S={s}] or [S, A={a}], got shape {reward.shape}")
    if horizon is not None and (not isinstance(horizon, int) or horizon < 1):
        raise InputError(f"horizon must be a positive int, got {horizon!r}")


def _continuation(transitions, v_next, backup: str):
    """``E_P[V']`` (MCE and hard) or ``log E_P[exp V']`` (MaxEnt 2008): ``[S, A]``."""
    if backup == "maxent":
        return jax.nn.logsumexp(jnp.broadcast_to(v_next, transitions.shape), axis=-1, b=transitions)
    return transitions @ v_next


def _soft_max_actions(q):
    """``V = logsumexp_a Q`` and ``pi = exp(Q - V)``. Over a few actions both come from
    one set of exponentials of the action slices, elementwise, inside the backward loop
    (no reductions over a tiny axis, and no second pass of exponentials over ``Q``)."""
    if q.shape[-1] > 8:
        v = jax.nn.logsumexp(q, axis=-1)
        return v, jnp.exp(q - v[..., None])
    cols = [q[..., a] for a in range(q.shape[-1])]
    top = cols[0]
    for c in cols[1:]:
        top = jnp.maximum(top, c)
    top = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))
    exps = [jnp.exp(c - top) for c in cols]
    total = sum(exps)
    return top + jnp.log(total), jnp.stack([e / total for e in exps], -1)


def _backward(transitions, reward, horizon, discount, terminal, backup):
    """``V [T, S]``, ``Q [T, S, A]`` and (soft backups) ``pi [T, S, A]``."""
    r_sa = reward[:, None] if reward.ndim == 1 else reward
    r_sa = jnp.broadcast_to(r_sa, transitions.shape[:2])
    v_end = jnp.zeros(transitions.shape[0], r_sa.dtype) if terminal is None else terminal

    p_next = transitions.reshape(-1, transitions.shape[-1]).T

    def step(v_next, _):
        if backup == "maxent":
            cont = _continuation(transitions, v_next, backup)
        else:
            cont = (v_next @ p_next).reshape(r_sa.shape)
        q = r_sa + discount * cont
        if backup == "hard":
            v = q.max(-1)
            return v, (v, q, None)
        v, pi = _soft_max_actions(q)
        return v, (v, q, pi)

    _, out = jax.lax.scan(step, v_end, None, length=horizon, reverse=True)
    return out


@partial(jax.jit, static_argnames=("horizon", "backup"))
def mce_partition(
    transitions: jax.Array,
    reward: jax.Array,
    horizon: int,
    discount: float | jax.Array = 1.0,
    *,
    terminal: jax.Array | None = None,
    backup: str = "mce",
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Finite-horizon soft Bellman backup (Ziebart 2010, eqs. 9.1-9.3).

    Args:
      transitions: ``[S, A, S]``, ``transitions[s, a, s2] = P(s2 | s, a)``.
      reward: ``[S]`` state reward (or ``[S, A]``), earned at every ``t < T``.
      horizon: ``T`` (static).
      discount: scalar (may be traced).
      terminal: ``[S]`` value after the last action; zero by default (as ``imitation``).
      backup: ``mce`` (causal, expectation over next states) or ``maxent``
        (Ziebart 2008, soft maximum over next states).

    Returns:
      ``V [T, S]``, ``Q [T, S, A]``, ``pi [T, S, A]`` with
      ``pi[t, s, a] = exp(Q[t, s, a] - V[t, s])``.
    """
    _check_planning_args(transitions, reward, horizon)
    if backup not in BACKUPS:
        raise InputError(f"backup must be one of {BACKUPS}, got {backup!r}")
    return _backward(transitions, reward, horizon, discount, terminal, backup)


@partial(jax.jit, static_argnames=("horizon",))
def optimal_policy(
    transitions: jax.Array, reward: jax.Array, horizon: int, discount=1.0, *, terminal=None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Hard finite-horizon value iteration: ``V [T, S]``, ``Q [T, S, A]`` and the greedy
    deterministic policy ``pi [T, S, A]`` (one-hot; ties go to the lowest action)."""
    _check_planning_args(transitions, reward, horizon)
    v, q, _ = _backward(transitions, reward, horizon, discount, terminal, "hard")
    return v, q, jax.nn.one_hot(jnp.argmax(q, -1), q.shape[-1], dtype=q.dtype)


def _discounted_sum(d: jax.Array, discount) -> jax.Array:
    powers = jnp.asarray(discount, d.dtype) ** jnp.arange(d.shape[0], dtype=d.dtype)
    return jnp.tensordot(powers, d, axes=1)


@partial(jax.jit, static_argnames=("horizon",))
def mce_occupancy(
    transitions: jax.Array,
    initial: jax.Array,
    policy: jax.Array | None = None,
    *,
    reward: jax.Array | None = None,
    horizon: int | None = None,
    discount: float | jax.Array = 1.0,
    plan_discount: float | jax.Array = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """State occupancy of a finite-horizon policy.

    Args:
      transitions: ``[S, A, S]``.
      initial: ``[S]`` initial state distribution.
      policy: ``[T, S, A]`` (``pi[t, s, a]``) or stationary ``[S, A]`` (needs
        ``horizon``). If None, the MCE policy of ``reward`` from :func:`mce_partition`
        at ``plan_discount``.
      reward: ``[S]``; used only when ``policy`` is None.
      horizon: ``T``; inferred from a ``[T, S, A]`` policy.
      discount: weight ``discount**t`` of ``D[t]`` in ``Dcum``.

    Returns:
      ``D [T+1, S]`` (``D[t, s] = P(s_t = s)``) and ``Dcum [S] = sum_t discount**t D[t]``.
    """
    if policy is None:
        if reward is None or horizon is None:
            raise InputError("mce_occupancy needs a policy, or a reward and a horizon")
        _, _, policy = mce_partition(transitions, reward, horizon, plan_discount)
    if horizon is None:
        if policy.ndim != 3:
            raise InputError(f"a stationary [S, A] policy needs a horizon; got shape {policy.shape}")
        horizon = policy.shape[0]
    pi = _time_policy(policy, horizon)
    if pi.shape[1:] != transitions.shape[:2] or initial.shape != transitions.shape[:1]:
        raise InputError(
            f"shapes disagree: transitions {transitions.shape}, initial {initial.shape}, policy {pi.shape}"
        )

    def forward(d, pi_t):
        d_next = jnp.einsum("s,sa,sat->t", d, pi_t, transitions)
        return d_next, d_next

    _, later = jax.lax.scan(forward, initial, pi)
    d = jnp.concatenate([initial[None], later], 0)
    return d, _discounted_sum(d, discount)


def soft_value_iteration(
    transitions: jax.Array,
    reward: jax.Array,
    discount: float | jax.Array,
    *,
    tol: float = 1e-8,
    max_iters: int = 10_000,
    backup: str = "mce",
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Discounted infinite-horizon soft value iteration from ``V = 0``.

    Iterates ``Q = r + discount * P V``, ``V = logsumexp_a Q`` until the sup-norm
    change of ``V`` is ``<= tol`` or ``max_iters`` backups were done (``tol=0``: exactly
    ``max_iters``). Needs ``discount < 1``. Returns the last backup's ``V [S]`` and
    ``Q [S, A]`` and the stationary MCE policy ``pi [S, A] = exp(Q - V)``.
    """
    _check_planning_args(transitions, reward, None)
    if backup not in BACKUPS:
        raise InputError(f"backup must be one of {BACKUPS}, got {backup!r}")
    if not isinstance(discount, jax.core.Tracer) and not 0.0 < float(discount) < 1.0:
        raise InputError(f"infinite-horizon soft value iteration needs 0 < discount < 1, got {discount}")
    if max_iters < 1:
        raise InputError(f"max_iters must be >= 1, got {max_iters}")
    return _soft_value_iteration(transitions, reward, discount, float(tol), int(max_iters), backup)


@partial(jax.jit, static_argnames=("tol", "max_iters", "backup"))
def _soft_value_iteration(transitions, reward, discount, tol, max_iters, backup):
    r_sa = jnp.broadcast_to(reward[:, None] if reward.ndim == 1 else reward, transitions.shape[:2])

    def cond(carry):
        _, _, delta, i = carry
        return jnp.logical_and(delta > tol, i < max_iters)

    def body(carry):
        v, _, _, i = carry
        q = r_sa + discount * _continuation(transitions, v, backup)
        v_new = jax.nn.logsumexp(q, axis=-1)
        return v_new, q, jnp.max(jnp.abs(v_new - v)), i + 1

    v0 = jnp.zeros(transitions.shape[0], r_sa.dtype)
    init = (v0, jnp.zeros_like(r_sa), jnp.asarray(jnp.inf, r_sa.dtype), 0)
    v, q, _, _ = jax.lax.while_loop(cond, body, init)
    return v, q, jnp.exp(q - v[:, None])


@jax.jit
def discounted_occupancy(transitions, initial, policy, discount) -> jax.Array:
    """``d [S] = sum_{t>=0} discount**t P(s_t = s)`` for a stationary ``[S, A]`` policy,
    solved exactly as ``(I - discount * P_pi^T) d = initial``; sums to ``1 / (1 - discount)``."""
    if policy.shape != transitions.shape[:2]:
        raise InputError(f"policy must be [S, A] = {transitions.shape[:2]}, got {policy.shape}")
    p_pi = jnp.einsum("sa,sat->st", policy, transitions)
    eye = jnp.eye(p_pi.shape[0], dtype=p_pi.dtype)
    return lapack.solve(eye - discount * p_pi.T, initial)


def state_action_occupancy(state_occupancy: jax.Array, policy: jax.Array) -> jax.Array:
    """``state_occupancy[..., s] * policy[..., s, a]``: for ``[S]`` and ``[S, A]`` (infinite
    horizon) or ``D[:T]`` ``[T, S]`` and ``[T, S, A]`` (finite horizon, per step)."""
    return state_occupancy[..., None] * policy


# ---------------------------------------------------------------------- evaluation


def expected_return(mdp: TabularMDP, policy: jax.Array, reward: jax.Array | None = None) -> jax.Array:
    """``sum_{t<T} discount**t E[r(s_t)]`` from the initial distribution (the true
    reward by default): the expected return of a ``T``-step episode."""
    reward = mdp.reward if reward is None else reward
    d, _ = mce_occupancy(mdp.transitions, mdp.initial, policy, horizon=mdp.horizon)
    return _discounted_sum(d[:-1], mdp.discount) @ reward


def uniform_policy(mdp: TabularMDP) -> jax.Array:
    shape = (mdp.horizon, mdp.n_states, mdp.n_actions)
    return jnp.full(shape, 1.0 / mdp.n_actions, mdp.transitions.dtype)


def optimal_return(mdp: TabularMDP, reward: jax.Array | None = None) -> jax.Array:
    reward = mdp.reward if reward is None else reward
    v, _, _ = optimal_policy(mdp.transitions, reward, mdp.horizon, mdp.discount)
    return mdp.initial @ v[0]


def normalized_return(mdp: TabularMDP, policy: jax.Array) -> jax.Array:
    """True-reward return scaled so the uniform random policy scores 0 and the optimal 1."""
    lo = expected_return(mdp, uniform_policy(mdp))
    hi = optimal_return(mdp)
    return (expected_return(mdp, policy) - lo) / (hi - lo)


def expected_value_difference(mdp: TabularMDP, learned_reward: jax.Array) -> jax.Array:
    """EVD (Levine et al., 2011): optimal true return minus the true return of the
    policy that is optimal for ``learned_reward`` (>= 0, 0 when it is as good)."""
    _, _, pi = optimal_policy(mdp.transitions, learned_reward, mdp.horizon, mdp.discount)
    return optimal_return(mdp) - expected_return(mdp, pi)


class TransferResult(NamedTuple):
    policy: jax.Array  # [T, S, A] optimal for the learned reward in the target MDP
    ret: jax.Array  # its true return in the target MDP
    normalized: jax.Array  # 0 = uniform random policy, 1 = optimal for the true reward


def transfer(learned_reward: jax.Array, target: TabularMDP) -> TransferResult:
    """Re-optimises a learned ``[S]`` reward in ``target`` (e.g. moved walls, other
    slip) and scores the resulting policy under ``target``'s true reward."""
    if learned_reward.shape != (target.n_states,):
        raise InputError(f"learned reward must be [S={target.n_states}], got {learned_reward.shape}")
    _, _, pi = optimal_policy(target.transitions, learned_reward, target.horizon, target.discount)
    return TransferResult(pi, expected_return(target, pi), normalized_return(target, pi))


# ---------------------------------------------------------------------- demos


def occupancy_from_trajectories(
    states: jax.Array, n_states: int, discount=1.0, weights: jax.Array | None = None
) -> jax.Array:
    """Empirical ``Dcum [S]`` from ``states [N, L]`` (int; ``L = T + 1`` with the final
    state, as :func:`mce_occupancy` counts it): the weighted mean over episodes of
    ``sum_t discount**t onehot(s_t)``. ``weights [N]`` (default 1) masks padded
    episodes, so demo subsets of one padded shape vmap."""
    if states.ndim != 2:
        raise InputError(f"states must be [N, L], got shape {states.shape}")
    dtype = jnp.result_type(float)
    w = jnp.ones(states.shape[0], dtype) if weights is None else jnp.asarray(weights, dtype)
    if w.shape != states.shape[:1]:
        raise InputError(f"weights must be [N={states.shape[0]}], got {w.shape}")
    powers = jnp.asarray(discount, dtype) ** jnp.arange(states.shape[1], dtype=dtype)
    counts = jnp.einsum("n,l,nls->s", w, powers, jax.nn.one_hot(states, n_states, dtype=dtype))
    return counts / jnp.maximum(w.sum(), 1e-12)


class IRLData(NamedTuple):
    """What IRL learns from: the MDP (reward ignored) and the expert's ``Dcum [S]``.
    Add a leading axis to both for a batch of MDPs."""

    mdp: TabularMDP
    expert_occupancy: jax.Array


def expert_data(mdp: TabularMDP, expert_policy: jax.Array) -> IRLData:
    """:class:`IRLData` with the exact (discounted) occupancy of ``expert_policy``."""
    _, occ = mce_occupancy(mdp.transitions, mdp.initial, expert_policy, horizon=mdp.horizon, discount=mdp.discount)
    return IRLData(mdp, occ)


# --------------------------------------------------------------------------- IRL


@dataclasses.dataclass(frozen=True)
class Config:
    backup: str = "mce"
    """mce (Ziebart 2010) or maxent (Ziebart 2008 backward pass)."""
    reward_model: str = "linear"
    """linear in the features (no bias), or mlp (deep MaxEnt IRL)."""
    hidden: tuple[int, ...] = (32, 32)
    """Hidden layer sizes of the mlp reward."""
    activation: str = "relu"
    """Hidden activation of the mlp reward."""
    optimizer: str = "adam"
    """adam or sgd (plain gradient steps)."""

    def __post_init__(self):
        for name, allowed in (("backup", BACKUPS), ("reward_model", REWARD_MODELS), ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if any(int(h) < 1 for h in self.hidden):
            raise InputError(f"hidden sizes must be >= 1, got {self.hidden}")
        nets.activation(self.activation)


MAXENT = Config(backup="maxent")
MCE = Config()
DEEP_MAXENT = Config(reward_model="mlp")


class Hparams(NamedTuple):
    lr: float = 0.05
    """Optimiser learning rate."""
    l2_coef: float = 0.0
    """Weight of the squared L2 norm of the reward parameters."""
    linf_eps: float = 0.0
    """Stop updating once ``max |Dcum - Dcum_expert| <= linf_eps`` (0: never)."""
    init_scale: float = 0.0
    """Std of the normal initial weights of the linear reward (0: zeros)."""


class State(NamedTuple):
    params: Any
    opt_state: optax.OptState
    key: jax.Array
    step: jax.Array
    converged: jax.Array


class IRLTrainer(NamedTuple):
    """``init(key, data, hp) -> State``; ``step(state, data, hp) -> (State, metrics)``;
    ``reward(params, mdp) -> [S]``; ``policy(params, mdp) -> [T, S, A]`` (the MCE /
    MaxEnt policy of the learned reward, the policy IRL matched to the expert)."""

    init: Callable
    step: Callable
    reward: Callable
    policy: Callable
    env_steps_per_step: int = 0


def check_hparams(hp: Hparams) -> Hparams:
    """Raises InputError for concrete non-positive learning rates or negative coefficients."""
    for name in ("lr", "l2_coef", "linf_eps", "init_scale"):
        value = getattr(hp, name)
        if isinstance(value, jax.core.Tracer):
            continue
        arr = np.asarray(value, dtype=float)
        bad = arr <= 0 if name == "lr" else arr < 0
        if np.any(bad) or not np.all(np.isfinite(arr)):
            raise InputError(f"Hparams.{name} must be {'> 0' if name == 'lr' else '>= 0'} and finite, got {value}")
    return hp


def check_data(data: IRLData) -> IRLData:
    mdp, occ = data
    if jnp.shape(occ) != mdp.initial.shape:
        raise InputError(
            f"expert_occupancy must have shape {mdp.initial.shape} (like mdp.initial), got {jnp.shape(occ)}"
        )
    if not isinstance(occ, jax.core.Tracer) and not np.all(np.isfinite(np.asarray(occ))):
        raise InputError("expert_occupancy contains NaN or inf")
    return data


class _LinearReward(nn.Module):
    @nn.compact
    def __call__(self, feats):
        w = self.param("w", nn.initializers.normal(1.0), (feats.shape[-1],), feats.dtype)
        return feats @ w


def _standardize(feats):
    mean = feats.mean(0)
    std = feats.std(0)
    return (feats - mean) / jnp.where(std > 0, std, 1.0)


# Inputs up to this wide enter a dense layer as broadcast multiply-adds rather than a
# matmul: with vmapped seeds a tiny contraction becomes a badly laid out batched dot.
_SMALL_FAN_IN = 8


def _orthogonal(noise: jax.Array, shape: tuple[int, int], scale: float) -> jax.Array:
    """Flax's ``orthogonal(scale)`` kernel of ``shape [n_in, n_out]`` from its standard
    normal draw ``noise`` (``n_in * n_out`` values): the Q of a QR, sign-fixed."""
    n_in, n_out = shape
    a = noise.reshape((n_out, n_in) if n_in < n_out else (n_in, n_out))
    if a.shape[1] <= 4:
        # A thin matrix: Gram-Schmidt gives the same Q (the QR with a positive diagonal R)
        # without a LAPACK call.
        cols = []
        for k in range(a.shape[1]):
            v = a[:, k]
            for u in cols:
                v = v - (u @ v) * u
            cols.append(v / jnp.linalg.norm(v))
        q = jnp.stack(cols, 1)
    else:
        q, r = lapack.qr(a)
        q = q * jnp.sign(jnp.diagonal(r))
    return scale * (q.T if n_in < n_out else q)


def _dense(x, kernel, bias):
    if kernel.shape[0] <= _SMALL_FAN_IN:
        y = sum(x[:, i, None] * kernel[i] for i in range(kernel.shape[0]))
    else:
        y = x @ kernel
    return y + bias


class _RewardModel(NamedTuple):
    """``init(key, feats, hp) -> params``; ``apply(params, feats) -> [S]``;
    ``apply_vjp(params, feats) -> ([S], vjp)`` with ``vjp(cotangent [S]) -> grads``."""

    init: Callable
    apply: Callable
    apply_vjp: Callable
    standardize: bool


def _linear_model() -> _RewardModel:
    model = _LinearReward()

    def init(key, feats, hp):
        # N(0, 1) weights like flax's normal(1.0), drawn from the key itself (one random
        # call fewer to compile than flax's per-parameter key).
        w = jax.random.normal(key, feats.shape[-1:], feats.dtype)
        return {"params": {"w": hp.init_scale * w}}

    def apply(params, feats):
        return model.apply(params, feats)

    return _RewardModel(init, apply, lambda params, feats: jax.vjp(lambda p: apply(p, feats), params), False)


def _mlp_model(config: Config) -> _RewardModel:
    """``nets.MLP(hidden, 1, activation)`` on the standardised features: orthogonal
    kernels (gain sqrt(2), 1 for the output), zero biases, parameters in the features' dtype (float32; float64 under x64).

    The output bias keeps its initial zero: adding a constant to a state reward changes
    no MCE or MaxEnt policy (every trajectory of the horizon gains the same), so its
    exact gradient, the sum of the occupancy gap, is zero. Computed, that sum is float
    rounding, which Adam would scale up to steps of size ``lr``: a random walk of the
    bias that made runs differ with the order of the float sums.

    With one hidden layer its vector-Jacobian product is written out, so that every
    ``[S, hidden]`` array is one fused elementwise pass and the gradients are small
    matmuls (``jax.vjp`` of the flax module, under vmap over seeds, materialises and
    transposes the hidden activations several times); deeper networks use ``jax.vjp``.
    """
    hidden = tuple(int(h) for h in config.hidden)
    module = nets.MLP(hidden, 1, config.activation)
    act = nets.activation(config.activation)
    n_layers = len(hidden) + 1

    def init(key, feats, hp):
        del hp
        sizes = (feats.shape[-1], *hidden, 1)
        shapes = [(sizes[i], sizes[i + 1]) for i in range(n_layers)]
        # One normal draw for every kernel (a random call costs far more to compile than
        # to run); each kernel is then orthogonalised like flax's orthogonal initialiser.
        noise = jax.random.normal(key, (sum(a * b for a, b in shapes),), feats.dtype)
        params, start = {}, 0
        for i, shape in enumerate(shapes):
            scale = 1.0 if i == n_layers - 1 else float(np.sqrt(2.0))
            kernel = _orthogonal(noise[start:start + shape[0] * shape[1]], shape, scale)
            params[f"Dense_{i}"] = {"kernel": kernel, "bias": jnp.zeros(shape[1], feats.dtype)}
            start += shape[0] * shape[1]
        return {"params": params}

    def apply(params, feats):
        if n_layers != 2:
            return module.apply(params, feats)[:, 0]
        h = act(_dense(feats, **params["params"]["Dense_0"]))
        out = params["params"]["Dense_1"]
        return h @ out["kernel"][:, 0] + out["bias"][0]

    def apply_vjp(params, feats):
        if n_layers != 2:
            r, vjp = jax.vjp(lambda p: apply(p, feats), params)
            last = f"Dense_{n_layers - 1}"

            def vjp_fixed_shift(ct):
                (g,) = vjp(ct)
                out = g["params"][last]
                return ({"params": {**g["params"], last: {**out, "bias": jnp.zeros_like(out["bias"])}}},)

            return r, vjp_fixed_shift
        p0, p1 = params["params"]["Dense_0"], params["params"]["Dense_1"]
        w_out = p1["kernel"][:, 0]
        pre = _dense(feats, p0["kernel"], p0["bias"])
        h, dh = jax.jvp(act, (pre,), (jnp.ones_like(pre),))  # activation and its derivative
        r = h @ w_out + p1["bias"][0]

        def vjp(ct):
            # d r / d pre[s, j] = w_out[j] act'(pre[s, j]): the w_out factor comes out of
            # the sum over states, so the only [S, hidden] operand is act'(pre).
            x1 = jnp.concatenate([feats, jnp.ones_like(feats[:, :1])], 1)
            g = ((ct[:, None] * x1).T @ dh) * w_out  # [F + 1, hidden]
            grads = {"Dense_0": {"kernel": g[:-1], "bias": g[-1]},
                     "Dense_1": {"kernel": (ct @ h)[:, None], "bias": jnp.zeros_like(p1["bias"])}}
            return (jax.tree.map(lambda gr, p: gr.astype(p.dtype), {"params": grads}, params),)

        return r, vjp

    return _RewardModel(init, apply, apply_vjp, True)


def _make_train(config: Config):
    model = _linear_model() if config.reward_model == "linear" else _mlp_model(config)

    def tx(hp: Hparams):
        return optax.adam(hp.lr) if config.optimizer == "adam" else optax.sgd(hp.lr)

    def features(mdp: TabularMDP):
        return _standardize(mdp.features) if model.standardize else mdp.features

    def reward_fn(params, mdp: TabularMDP):
        return model.apply(params, features(mdp))

    def policy_fn(params, mdp: TabularMDP):
        r = reward_fn(params, mdp)
        return mce_partition(mdp.transitions, r, mdp.horizon, mdp.discount, backup=config.backup)[2]

    def init(key, data: IRLData, hp: Hparams) -> State:
        check_data(data)
        check_hparams(hp)
        # The key's one draw is the initial parameters (no split: nothing else draws from
        # it, and every random call is a threefry program to compile).
        params = model.init(key, features(data.mdp), hp)
        opt_state = tx(hp).init(params)
        return State(params, opt_state, key, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.bool_))

    def step_and_plan(state: State, data: IRLData, hp: Hparams, hold=False):
        """One IRL iteration, and the reward and policy of ``state.params`` it planned
        with; ``hold=True`` plans but leaves the state as it is."""
        mdp = data.mdp
        # The dual's gradient is (Dcum_pi - Dcum_expert) . d r / d params: the occupancy
        # gap is the cotangent of the reward, so only the reward model is differentiated.
        r, vjp = model.apply_vjp(state.params, features(mdp))
        pi = mce_partition(mdp.transitions, jax.lax.stop_gradient(r), mdp.horizon, mdp.discount,
                           backup=config.backup)[2]
        _, occ = mce_occupancy(mdp.transitions, mdp.initial, pi, discount=mdp.discount)
        excess = occ - data.expert_occupancy
        (grads,) = vjp(excess.astype(r.dtype))
        # + the gradient of l2_coef |params|^2
        grads = jax.tree.map(lambda g, p: (g + 2.0 * hp.l2_coef * p).astype(p.dtype), grads, state.params)
        updates, opt_state = tx(hp).update(grads, state.opt_state, state.params)
        linf = jnp.max(jnp.abs(excess))
        converged = state.converged | (linf <= hp.linf_eps)
        frozen = converged | hold
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(frozen, b, a), new, old)  # noqa: E731
        new = State(keep(optax.apply_updates(state.params, updates), state.params), keep(opt_state, state.opt_state),
                    state.key, state.step + jnp.where(hold, 0, 1).astype(state.step.dtype),
                    jnp.where(hold, state.converged, converged))
        metrics = {
            "linf": linf,
            "grad_norm": optax.global_norm(grads),
            "feature_gap": jnp.linalg.norm(excess @ mdp.features),
        }
        return new, metrics, r, pi

    def step(state: State, data: IRLData, hp: Hparams):
        return step_and_plan(state, data, hp)[:2]

    return IRLTrainer(init, step, reward_fn, policy_fn), step_and_plan


def make_train(config: Config) -> IRLTrainer:
    return _make_train(config)[0]


class IRLResult(NamedTuple):
    reward: jax.Array  # [S] learned reward
    policy: jax.Array  # [T, S, A] its MCE / MaxEnt policy
    state: State
    metrics: dict  # name -> [num_steps]


def train(config: Config, key: jax.Array, data: IRLData, hparams: Hparams, num_steps: int) -> IRLResult:
    """``num_steps`` IRL iterations in one ``lax.scan``; pure, so jit it and vmap it
    over keys, hparams, demo occupancies or a batch of MDPs, e.g.
    ``jax.jit(jax.vmap(partial(train, config, num_steps=500), in_axes=(0, None, None)))``
    for seeds or ``in_axes=(None, 0, None)`` for a batch of :class:`IRLData`."""
    if num_steps < 1:
        raise InputError(f"num_steps must be >= 1, got {num_steps}")
    trainer, step_and_plan = _make_train(config)
    state = trainer.init(key, data, hparams)
    r0, pi0 = (jnp.zeros(x.shape, x.dtype) for x in jax.eval_shape(
        lambda p: (trainer.reward(p, data.mdp), trainer.policy(p, data.mdp)), state.params))

    def body(carry, i):
        # Iteration num_steps only plans: the reward and policy of the final parameters
        # come out of the loop rather than from a second copy of the planner after it.
        new, metrics, r, pi = step_and_plan(carry[0], data, hparams, hold=i == num_steps)
        return (new, r.astype(r0.dtype), pi.astype(pi0.dtype)), metrics

    (state, reward, policy), metrics = jax.lax.scan(body, (state, r0, pi0), jnp.arange(num_steps + 1))
    metrics = jax.tree.map(lambda m: m[:num_steps], metrics)
    return IRLResult(reward, policy, state, metrics)
