"""Behavioral cloning: maximum likelihood of the expert's actions, in the compiled loop.

One ``step`` is ``updates_per_step`` minibatch updates, each minibatch drawn
uniformly from the real (``mask == 1``) transitions of the demos, so demo subsets of
different sizes padded to one shape share one compilation and can be vmapped over.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxil import policy as pol
from jaxil.envs import Env
from jaxil.errors import InputError
from jaxil.loop import Trainer
from jaxil.types import Demos

LOSSES = ("auto", "log_likelihood", "mse")


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the policy."""
    activation: str = "tanh"
    """Hidden activation."""
    policy_kind: str = "auto"
    """categorical | gaussian | tanh_gaussian; auto: categorical or gaussian.

    Not tanh_gaussian by default: on bang-bang demos (pendulum's expert saturates the
    torque) its likelihood is maximised by a wide Gaussian whose squashed density
    piles up at both bounds, and ``tanh(mean)`` is then far from the expert's action
    (pendulum, 16 trajectories: -0.2 normalized vs 0.93 with ``gaussian``)."""
    loss: str = "auto"
    """log_likelihood, or mse on the deterministic action (continuous only)."""
    batch_size: int = 256
    """Transitions per minibatch."""
    updates_per_step: int = 50
    """Gradient updates per trainer step (one step = one logged point)."""
    normalize_obs: bool = True
    """Standardise observations with the demos' (masked) mean and variance."""

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise InputError(f"unknown BC loss {self.loss!r}; choose one of {LOSSES}")
        if self.batch_size < 1 or self.updates_per_step < 1:
            raise InputError(f"batch_size and updates_per_step must be >= 1, got {self}")


class Hparams(NamedTuple):
    lr: float = 1e-3
    ent_coef: float = 0.0
    """Entropy bonus weight (discrete and Gaussian policies)."""
    l2_coef: float = 0.0
    """Weight of the squared L2 norm of the actor's parameters."""


class State(NamedTuple):
    params: dict
    opt_state: optax.OptState
    key: jax.Array
    step: jax.Array


def policy_spec(config: Config, env: Env) -> pol.PolicySpec:
    kind = config.policy_kind
    if kind == "auto":
        kind = pol.PolicySpec.default_kind(env.spec, "gaussian")
    if config.loss == "mse" and env.spec.discrete:
        raise InputError("BC loss 'mse' needs continuous actions; cartpole-like envs use log_likelihood")
    return pol.PolicySpec(env.spec, kind, tuple(config.hidden), config.activation)


def masked_obs_norm(obs: jax.Array, mask: jax.Array) -> pol.ObsNorm:
    """Mean / variance of the rows of ``obs`` [N, D] where ``mask`` [N] is 1."""
    w = mask / jnp.maximum(mask.sum(), 1.0)
    mean = jnp.einsum("n,nd->d", w, obs)
    var = jnp.einsum("n,nd->d", w, (obs - mean) ** 2)
    return pol.ObsNorm(mean, jnp.maximum(var, 1e-6), mask.sum())


def demo_obs_norm(demos: Demos) -> pol.ObsNorm:
    """Masked mean / variance of the demos' observations."""
    return masked_obs_norm(demos.obs, demos.mask)


def _tx(hp: Hparams):
    return optax.adam(hp.lr)


def bc_loss(spec: pol.PolicySpec, loss: str, params, obs, action, hp: Hparams):
    """Negative log-likelihood (or MSE) - entropy bonus + L2; obs [B, D], action [B, ...]."""
    out = pol.dist_params(spec, params, obs)  # one actor call: one backward pass through it
    if loss == "mse":
        nll = jnp.mean(jnp.sum((pol.dist_mode(spec, out) - action) ** 2, -1))
    else:
        nll = -jnp.mean(pol.dist_log_prob(spec, out, action))
    entropy = pol.dist_entropy(spec, out).mean()
    l2 = sum(jnp.sum(w**2) for w in jax.tree.leaves(params["actor"]))
    total = nll - hp.ent_coef * entropy + hp.l2_coef * l2
    return total, {"nll": nll, "entropy": entropy}


def fit(spec: pol.PolicySpec, loss: str, batch_size: int, num_updates: int, params: dict,
        opt_state: optax.OptState, key: jax.Array, obs, action, mask, hp: Hparams):
    """``num_updates`` Adam steps of :func:`bc_loss` on minibatches of the rows where ``mask == 1``.

    obs ``[N, D]``, action ``[N, ...]``, mask ``[N]``; rows are drawn uniformly with
    replacement. Returns ``(params, opt_state, metrics of the last update)``.
    """
    tx = _tx(hp)
    probs = mask / jnp.maximum(mask.sum(), 1.0)

    def update(carry, k):
        params, opt_state = carry
        idx = jax.random.choice(k, mask.shape[0], (batch_size,), p=probs)

        def loss_fn(actor):
            return bc_loss(spec, loss, {**params, "actor": actor}, obs[idx], action[idx], hp)

        (total, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params["actor"])
        updates, opt_state = tx.update(grads, opt_state, params["actor"])
        params = {**params, "actor": optax.apply_updates(params["actor"], updates)}
        return (params, opt_state), {"loss": total, **aux}

    (params, opt_state), metrics = jax.lax.scan(update, (params, opt_state), jax.random.split(key, num_updates))
    return params, opt_state, jax.tree.map(lambda x: x[-1], metrics)


def loss_kind(config: Config) -> str:
    return "log_likelihood" if config.loss == "auto" else config.loss


def make_train(config: Config, env: Env) -> Trainer:
    """BC trainer; ``demos`` may differ per run (``loop.run(..., demos_axis=0)``)."""
    spec = policy_spec(config, env)
    kind = loss_kind(config)

    def init_fn(key, demos: Demos, hp: Hparams) -> State:
        key, k_actor = jax.random.split(key)
        params = spec.init(k_actor)
        if config.normalize_obs:
            params["obs_norm"] = demo_obs_norm(demos)
        return State(params, _tx(hp).init(params["actor"]), key, jnp.zeros((), jnp.int32))

    def step_fn(state: State, demos: Demos, hp: Hparams):
        key, k_upd = jax.random.split(state.key)
        params, opt_state, metrics = fit(spec, kind, config.batch_size, config.updates_per_step, state.params,
                                         state.opt_state, k_upd, demos.obs, demos.action, demos.mask, hp)
        return State(params, opt_state, key, state.step + 1), metrics

    def policy_fn(state: State):
        return {"actor": state.params["actor"], "obs_norm": state.params["obs_norm"]}

    return Trainer(init_fn, step_fn, policy_fn, spec, 0)
