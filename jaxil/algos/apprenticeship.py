"""Apprenticeship learning via inverse RL (Abbeel & Ng, 2004): projection and max-margin.

The reward is linear in the state features, ``r = features @ w``. Feature
expectations follow the returns of :mod:`jaxil.algos.maxent_irl`:
``mu(pi) = sum_{t<T} discount**t E[features(s_t)]`` (:func:`feature_expectations`),
so the exact planner :func:`~jaxil.algos.maxent_irl.optimal_policy` maximises
``w . mu(pi)``. Each iteration picks ``w`` from the policies found so far, plans the
optimal policy for ``features @ w`` and adds its feature expectations:

* ``projection``: ``w = mu_E - mu_bar`` where ``mu_bar`` is moved towards the newest
  ``mu_i`` by the orthogonal projection of the paper (a line search).
* ``max_margin``: ``w`` solves ``max_{|w|_2<=1} min_j w . (mu_E - mu_j)``. By duality
  this is ``mu_E`` minus its Euclidean projection onto the convex hull of the
  ``mu_j``, a small QP over the simplex that :func:`min_norm_point` solves with
  accelerated projected gradient (FISTA) in JAX.

In both, ``t = |w|`` is the margin, and the output policy is the mixture of the
policies found with weights ``lam`` whose feature expectations are ``mu_bar``
(closest to ``mu_E``). :func:`mixture_policy` turns the mixture into one Markov
policy ``[T, S, A]`` with the same state-action distribution at every step, hence
exactly the feature expectations ``mu_bar``. The learned reward is
``features @ w`` for the last ``w``.

Shape: Config (static: method, iterations), Hparams (``eps``), State; :func:`train`
is pure (vmap it over seeds, which draw the random initial policy, or over a
batch of MDPs).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxil import lapack
from jaxil.algos.maxent_irl import mce_occupancy, optimal_policy
from jaxil.envs.tabular import TabularMDP
from jaxil.errors import InputError

METHODS = ("projection", "max_margin")


# ------------------------------------------------------------------------ pieces


def feature_expectations(mdp: TabularMDP, policy: jax.Array) -> jax.Array:
    """``[F]``: ``sum_{t<T} discount**t E[features(s_t)]`` under ``policy`` ``[T, S, A]``."""
    d, _ = mce_occupancy(mdp.transitions, mdp.initial, policy, horizon=mdp.horizon)
    powers = mdp.discount ** jnp.arange(mdp.horizon, dtype=d.dtype)
    return (powers @ d[:-1]) @ mdp.features


def demo_feature_expectations(mdp: TabularMDP, states: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """Empirical :func:`feature_expectations` from ``states [N, L]`` (``L >= T``; only
    the first ``T`` states of each episode count). ``weights [N]`` masks padding."""
    if states.ndim != 2 or states.shape[1] < mdp.horizon:
        raise InputError(f"states must be [N, L >= T={mdp.horizon}], got shape {states.shape}")
    states = states[:, : mdp.horizon]
    w = jnp.ones(states.shape[0], mdp.features.dtype) if weights is None else weights
    powers = mdp.discount ** jnp.arange(mdp.horizon, dtype=mdp.features.dtype)
    per_episode = jnp.einsum("l,nlf->nf", powers, mdp.features[states])
    return w @ per_episode / jnp.maximum(w.sum(), 1e-12)


def project_simplex(v: jax.Array) -> jax.Array:
    """Euclidean projection of ``v [n]`` onto the probability simplex (sort-based)."""
    n = v.shape[-1]
    u = jnp.sort(v)[::-1]
    css = jnp.cumsum(u) - 1.0
    k = jnp.arange(1, n + 1, dtype=v.dtype)
    rho = jnp.max(jnp.where(u - css / k > 0, k, 0.0))
    theta = jnp.take(css, (rho - 1).astype(jnp.int32)) / rho
    return jnp.maximum(v - theta, 0.0)


def min_norm_point(points: jax.Array, iters: int = 500) -> jax.Array:
    """Weights ``lam`` on the simplex minimising ``|lam @ points|`` for ``points [n, F]``
    (the point of their convex hull nearest the origin), by FISTA with step
    ``1 / lambda_max(points points^T)``. Duplicate rows are harmless."""
    gram = points @ points.T
    step = 1.0 / jnp.maximum(lapack.eigvalsh(gram)[-1], 1e-12)
    n = points.shape[0]
    lam0 = jnp.full(n, 1.0 / n, points.dtype)

    def body(carry, _):
        lam, y, t = carry
        lam_new = project_simplex(y - step * (gram @ y))
        t_new = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
        y_new = lam_new + ((t - 1.0) / t_new) * (lam_new - lam)
        return (lam_new, y_new, t_new), None

    (lam, _, _), _ = jax.lax.scan(body, (lam0, lam0, jnp.ones((), points.dtype)), None, length=iters)
    return lam


def mixture_policy(mdp: TabularMDP, policies: jax.Array, weights: jax.Array) -> jax.Array:
    """One Markov policy ``[T, S, A]`` with the per-step state-action distribution of the
    mixture that runs ``policies[i]`` (``[n, T, S, A]``) for a whole episode with
    probability ``weights[i]``; uniform where the mixture never goes."""
    occ = jax.vmap(lambda pi: mce_occupancy(mdp.transitions, mdp.initial, pi)[0][:-1])(policies)  # [n, T, S]
    joint = jnp.einsum("i,its,itsa->tsa", weights, occ, policies)
    mass = joint.sum(-1, keepdims=True)
    uniform = jnp.full_like(joint, 1.0 / joint.shape[-1])
    return jnp.where(mass > 0, joint / jnp.where(mass > 0, mass, 1.0), uniform)


# ---------------------------------------------------------------------- algorithm


@dataclasses.dataclass(frozen=True)
class Config:
    method: str = "projection"
    """projection or max_margin."""
    iterations: int = 50
    """Planning iterations (policies added) in :func:`train`; bounds the mixture size."""
    qp_iters: int = 500
    """FISTA iterations of each max-margin / mixture QP."""

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.iterations < 1 or self.qp_iters < 1:
            raise InputError(f"iterations and qp_iters must be >= 1, got {self.iterations}, {self.qp_iters}")


class Hparams(NamedTuple):
    eps: float = 0.0
    """Stop adding policies once the margin ``t = |w|`` is ``<= eps``."""


class ALData(NamedTuple):
    """The MDP (reward ignored) and the expert's feature expectations ``[F]``."""

    mdp: TabularMDP
    expert_features: jax.Array


class State(NamedTuple):
    mus: jax.Array  # [n + 1, F] feature expectations found (unused slots copy slot 0)
    policies: jax.Array  # [n + 1, T, S, A] their policies (unused slots copy slot 0)
    lam: jax.Array  # [n + 1] mixture weights; lam @ mus = mu_bar
    mu_bar: jax.Array  # [F] closest point found to mu_E
    w: jax.Array  # [F] current reward weights, mu_E - mu_bar (max_margin: the SVM's)
    count: jax.Array  # number of policies found (slots used)
    done: jax.Array  # margin reached eps
    key: jax.Array


class ALTrainer(NamedTuple):
    init: Callable
    step: Callable
    reward: Callable  # (state, mdp) -> [S]
    policy: Callable  # (state, mdp) -> [T, S, A] Markov policy of the mixture


def expert_al_data(mdp: TabularMDP, expert_policy: jax.Array) -> ALData:
    return ALData(mdp, feature_expectations(mdp, expert_policy))


def _check(data: ALData, hp: Hparams):
    f = data.mdp.features.shape[-1]
    if jnp.shape(data.expert_features) != (f,):
        raise InputError(f"expert_features must be [F={f}], got {jnp.shape(data.expert_features)}")
    if not isinstance(hp.eps, jax.core.Tracer) and not np.all(np.asarray(hp.eps, dtype=float) >= 0):
        raise InputError(f"Hparams.eps must be >= 0, got {hp.eps}")


def make_train(config: Config) -> ALTrainer:
    def closest(mu_e, mus):
        lam = min_norm_point(mu_e[None] - mus, config.qp_iters)
        return lam, lam @ mus

    def init(key, data: ALData, hp: Hparams) -> State:
        _check(data, hp)
        mdp = data.mdp
        key, k_pi = jax.random.split(key)
        # A random deterministic initial policy, as in the paper.
        actions = jax.random.randint(k_pi, (mdp.horizon, mdp.n_states), 0, mdp.n_actions)
        pi0 = jax.nn.one_hot(actions, mdp.n_actions, dtype=mdp.transitions.dtype)
        mu0 = feature_expectations(mdp, pi0)
        slots = config.iterations + 1
        mus = jnp.broadcast_to(mu0, (slots, *mu0.shape))
        policies = jnp.broadcast_to(pi0, (slots, *pi0.shape))
        lam = jax.nn.one_hot(0, slots, dtype=mu0.dtype)
        w = data.expert_features - mu0
        return State(mus, policies, lam, mu0, w, jnp.ones((), jnp.int32), jnp.linalg.norm(w) <= hp.eps, key)

    def step(state: State, data: ALData, hp: Hparams):
        mdp, mu_e = data
        r = mdp.features @ state.w
        _, _, pi = optimal_policy(mdp.transitions, r, mdp.horizon, mdp.discount)
        mu = feature_expectations(mdp, pi)
        i = jnp.minimum(state.count, config.iterations)
        mus = state.mus.at[i].set(mu)
        policies = state.policies.at[i].set(pi)
        if config.method == "projection":
            delta = mu - state.mu_bar
            alpha = jnp.clip(delta @ (mu_e - state.mu_bar) / jnp.maximum(delta @ delta, 1e-30), 0.0, 1.0)
            lam = (1.0 - alpha) * state.lam + alpha * jax.nn.one_hot(i, mus.shape[0], dtype=mu.dtype)
            mu_bar = state.mu_bar + alpha * delta
        else:
            lam, mu_bar = closest(mu_e, mus)
        w = mu_e - mu_bar
        margin = jnp.linalg.norm(w)
        new = State(mus, policies, lam, mu_bar, w, state.count + 1, margin <= hp.eps, state.key)
        # Once the margin is reached, or every slot is used, the state stays as it is.
        stop = state.done | (state.count > config.iterations)
        new = jax.tree.map(lambda old, nw: jnp.where(stop, old, nw), state, new)
        return new, {"margin": jnp.linalg.norm(new.w), "distance": jnp.linalg.norm(mu_e - new.mu_bar)}

    def reward(state: State, mdp: TabularMDP):
        return mdp.features @ state.w

    def policy(state: State, mdp: TabularMDP):
        return mixture_policy(mdp, state.policies, state.lam)

    return ALTrainer(init, step, reward, policy)


class ALResult(NamedTuple):
    reward: jax.Array  # [S] features @ w
    policy: jax.Array  # [T, S, A] Markov policy of the mixture (feature expectations mu_bar)
    state: State
    metrics: dict  # name -> [num_steps]


def train(config: Config, key: jax.Array, data: ALData, hparams: Hparams = Hparams(),
          num_steps: int | None = None) -> ALResult:
    """``num_steps`` (default ``config.iterations``) iterations in one ``lax.scan``;
    pure: ``jax.jit(jax.vmap(partial(train, config), in_axes=(0, None, None)))``."""
    num_steps = config.iterations if num_steps is None else num_steps
    if num_steps < 1:
        raise InputError(f"num_steps must be >= 1, got {num_steps}")
    trainer = make_train(config)
    state = trainer.init(key, data, hparams)
    state, metrics = jax.lax.scan(lambda s, _: trainer.step(s, data, hparams), state, None, length=num_steps)
    return ALResult(trainer.reward(state, data.mdp), trainer.policy(state, data.mdp), state, metrics)
