"""ValueDICE (Kostrikov, Nachum & Tompson 2020): imitation by off-policy distribution matching.

The Donsker-Varadhan form of the KL divergence, rewritten with a value-like
function nu(s, a) so that it needs only expert transitions and policy actions::

    J(pi, nu) = log E_{d^E}[exp(nu(s, a) - gamma nu(s', a'))] - (1 - gamma) E_{p0, pi}[nu(s0, a0)]

with a' ~ pi(s') and a0 ~ pi(s0); -KL(d^pi || d^E) = min_nu J, so **nu minimises J
and the policy maximises it** (the paper's max_pi min_nu). Replay regularisation
(the paper's alpha, :attr:`Hparams.replay_reg`) mixes replay transitions d^R into
both terms: the expectation of the first term is over (1 - alpha) d^E + alpha d^R,
and the linear term becomes (1 - alpha)(1 - gamma) E_{p0}[nu(s0, a0)] +
alpha E_{d^R}[nu(s, a) - gamma nu(s', a')]. As in the paper's code, p0 is the
distribution of expert states (the identity behind the linear term holds for any
start distribution of pi's occupancy). nu carries a gradient penalty
(|grad nu| - 1)^2 on interpolates of expert and replay inputs, the actor an
orthogonal regulariser.

Policies: tanh-Gaussian for continuous actions (a' by reparameterised sampling),
categorical for discrete ones (E_{a ~ pi}[nu(s, a)] computed exactly over the
actions, so the actor's gradient needs no sampling). Terminations lead to absorbing
states (:mod:`jaxil.algos.offpolicy`).

Modes (:attr:`Config.offline`):

- online: the trainer's ``demos`` are the expert :class:`jaxil.types.Demos`; each
  step takes ``train_freq`` env steps per env into a replay buffer, then updates;
- offline: no env interaction; ``demos`` is an
  :class:`jaxil.algos.offpolicy.ExpertAndReplay` pair (the expert's demos and a fixed
  non-expert dataset that stands in for the replay buffer). Both are arguments of
  ``init``/``step``, never closed over, so one compilation serves any datasets of the
  same shapes and both vmap over runs (``loop.run(..., demos_axis=0)``).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxil import nets, policy as pol
from jaxil.algos import offpolicy as op
from jaxil.envs import Env
from jaxil.loop import Trainer
from jaxil.types import Transition

State = op.State
ExpertAndReplay = op.ExpertAndReplay


@dataclasses.dataclass(frozen=True)
class Config(op.Config):
    """ValueDICE: the shared off-policy fields (:class:`jaxil.algos.offpolicy.Config`);
    256x256 ReLU networks, one env step and one update per trainer step, as in the paper."""


class Hparams(NamedTuple):
    nu_lr: float = 1e-3
    """Adam learning rate of nu (the paper's 1e-3)."""
    actor_lr: float = 1e-5
    """Adam learning rate of the policy (the paper's 1e-5)."""
    actor_lr_decay: float = 0.0
    """Adam updates over which the policy's rate falls linearly to 0, then stays 0 (0: a constant
    rate, as in the paper). Not part of ValueDICE: a way to let the policy settle in the min-max game."""
    actor_lr_floor: float = 0.0
    """Fraction of ``actor_lr`` below which ``actor_lr_decay`` does not go, in [0, 1] (0: the policy
    freezes after the decay; above 0 it can still follow nu, e.g. back up after a late fall). Up to
    the update where the line meets it, training is that of the unfloored decay."""
    gamma: float = 0.99
    """Discount."""
    replay_reg: float = 0.1
    """alpha: weight of replay transitions in both terms (the paper's 0.1; 0: pure expert DV)."""
    grad_penalty: float = 10.0
    """Weight of the gradient penalty on nu (the paper's 10)."""
    ortho_reg: float = 1e-4
    """Weight of the orthogonal regulariser of the actor's kernels (the paper's 1e-4)."""
    ent_coef: float = 0.0
    """Weight of an entropy bonus on the actor, at the replay batch's next states (0: none, as in
    the paper). Not part of ValueDICE: J alone lets a stochastic policy's spread collapse.
    Continuous actions: the squashed policy's entropy, estimated at the sampled a'."""


class Params(NamedTuple):
    nu: dict
    actor: dict  # a jaxil.policy params dict {"actor", "obs_norm"}
    nu_opt: optax.OptState
    actor_opt: optax.OptState


# ---- losses (plain functions of arrays) ----------------------------------------------

def dv_objective(expert_diff: jax.Array, replay_diff: jax.Array, init_nu: jax.Array, replay_reg, gamma):
    """The replay-regularised Donsker-Varadhan objective J (nu minimises it, pi maximises it).

    ``expert_diff`` [Be] and ``replay_diff`` [Br] are nu(s, a) - gamma nu(s', a') on
    expert and replay transitions, ``init_nu`` [B0] is nu(s0, a0). With alpha =
    ``replay_reg``::

        J = log[(1 - alpha) mean(exp(expert_diff)) + alpha mean(exp(replay_diff))]
            - (1 - alpha)(1 - gamma) mean(init_nu) - alpha mean(replay_diff)

    alpha = 0 is the plain DV objective of the expert data. Returns [].
    """
    ne, nr = expert_diff.shape[0], replay_diff.shape[0]
    weights = jnp.concatenate([jnp.full(ne, (1 - replay_reg) / ne), jnp.full(nr, replay_reg / nr)])
    nonlinear = jax.nn.logsumexp(jnp.concatenate([expert_diff, replay_diff]), b=weights)
    linear = (1 - replay_reg) * (1 - gamma) * jnp.mean(init_nu) + replay_reg * jnp.mean(replay_diff)
    return nonlinear - linear


def gradient_penalty(nu: Callable[[jax.Array], jax.Array], expert_inputs: jax.Array, replay_inputs: jax.Array,
                     key: jax.Array) -> jax.Array:
    """mean (|grad_x nu(x)| - 1)^2 at x = u x_E + (1 - u) x_R, u ~ U(0, 1) per row.

    ``nu`` maps inputs [B, D] to [B]; ``expert_inputs`` and ``replay_inputs`` are
    [B, D] network inputs (state, action features). Returns [].
    """
    u = jax.random.uniform(key, (expert_inputs.shape[0], 1))
    x = u * expert_inputs + (1 - u) * replay_inputs
    grads = jax.vmap(jax.grad(lambda row: nu(row[None])[0]))(x)
    return jnp.mean((jnp.sqrt(jnp.sum(grads**2, -1) + 1e-12) - 1.0) ** 2)


# ---- networks ------------------------------------------------------------------------

def policy_spec(config: Config, env: Env) -> pol.PolicySpec:
    kind = "categorical" if env.spec.discrete else "tanh_gaussian"
    return pol.PolicySpec(env.spec, kind, tuple(config.hidden), config.activation, config.obs_clip)


def _nu_net(config: Config) -> nets.MLP:
    return nets.MLP(tuple(config.hidden), 1, config.activation)


def nu_input_size(config: Config, env: Env) -> int:
    return env.spec.obs_size + int(config.absorbing) + env.spec.action_size


def policy_value(config: Config, env: Env, nu: Callable, pi: dict, obs: jax.Array, key: jax.Array):
    """E_{a ~ pi(obs)}[nu(obs, a)] [B], the action features it used [B, A] and the
    policy's entropy at ``obs`` [B]: exact for discrete actions, -log pi(a|obs) at the sample
    for continuous ones (an unbiased one-sample estimate of the squashed policy's entropy).

    Discrete: exact, sum_a pi(a|s) nu(s, a), features the action probabilities;
    continuous: one reparameterised sample. ``obs`` are raw (augmented when absorbing);
    nu sees them standardised by the policy's ``obs_norm``, as the policy does. The
    actor runs once: value, features and entropy all come from the same output.
    """
    spec = policy_spec(config, env)
    state_obs = op.env_obs(obs, config.absorbing)
    nu_obs = op.normalize_obs(pi["obs_norm"], obs, config.absorbing, config.obs_clip)
    out = pol.dist_params(spec, pi, state_obs)
    if env.spec.discrete:
        probs = jax.nn.softmax(out, -1)
        one_hots = jnp.eye(env.spec.action_size)
        per_action = jax.vmap(lambda a: nu(op.state_action_input(nu_obs, jnp.broadcast_to(a, probs.shape),
                                                                    config.absorbing)), out_axes=-1)(one_hots)
        return jnp.sum(probs * per_action, -1), probs, pol.dist_entropy(spec, out)
    # The entropy of the squashed policy, estimated as -log pi(a|s) at the same reparameterised
    # sample (as SAC does). The unsquashed Gaussian's entropy grows without bound in the spread,
    # so as a bonus it pushed log_std to its clip, where every sampled a' sits at an action bound.
    action, log_prob = pol.dist_sample(spec, out, key)
    features = op.action_features(env.spec, action)
    return nu(op.state_action_input(nu_obs, features, config.absorbing)), features, -log_prob


def bellman_diff(config: Config, env: Env, nu: Callable, pi: dict, batch: Transition, gamma, key: jax.Array):
    """nu(s, a) - gamma (1 - terminated) E_{a' ~ pi(s')}[nu(s', a')] [B], with the (s, a) and
    (s', a') inputs [B, D] (for the gradient penalty) and the policy's entropy at s' [B]."""
    norm = lambda obs: op.normalize_obs(pi["obs_norm"], obs, config.absorbing, config.obs_clip)
    now_input = op.state_action_input(norm(batch.obs), op.action_features(env.spec, batch.action), config.absorbing)
    nxt, next_features, entropy = policy_value(config, env, nu, pi, batch.next_obs, key)
    next_input = op.state_action_input(norm(batch.next_obs), next_features, config.absorbing)
    diff = nu(now_input) - gamma * (1.0 - batch.terminated.astype(jnp.float32)) * nxt
    return diff, now_input, next_input, entropy


class DVTerms(NamedTuple):
    """The pieces of J on one update's batches (see :func:`dv_terms`)."""

    expert_diff: jax.Array  # [Be] nu(s, a) - gamma nu(s', a') on expert transitions
    replay_diff: jax.Array  # [Br] the same on replay transitions
    init_nu: jax.Array  # [B0] nu(s0, a0)
    expert_inputs: jax.Array  # [2 Be, D] nu's (s, a) and (s', a') inputs on expert transitions
    replay_inputs: jax.Array  # [2 Br, D] the same on replay transitions
    replay_entropy: jax.Array  # [Br] the policy's entropy at the replay next states


def dv_terms(config: Config, env: Env, nu: Callable, pis: tuple[dict, dict, dict], expert: Transition,
             replay: Transition, init_obs: jax.Array, gamma, keys) -> DVTerms:
    """J's pieces on one update's batches: ``dv_objective(t.expert_diff, t.replay_diff,
    t.init_nu, ...)`` is J.

    J depends on the policy only through its actions at the expert's next states, the
    replay next states and the initial states; ``pis`` gives the policy used at each
    (the update passes one policy three times; an analysis can pass three copies of
    its parameters to split the policy's gradient by where it comes from). ``keys``:
    the three sampling keys, in the same order.
    """
    pi_e, pi_r, pi_0 = pis
    k_e, k_r, k_0 = keys
    e_diff, e_now, e_next, _ = bellman_diff(config, env, nu, pi_e, expert, gamma, k_e)
    r_diff, r_now, r_next, r_entropy = bellman_diff(config, env, nu, pi_r, replay, gamma, k_r)
    init_nu, _, _ = policy_value(config, env, nu, pi_0, init_obs, k_0)
    return DVTerms(e_diff, r_diff, init_nu, jnp.concatenate([e_now, e_next]), jnp.concatenate([r_now, r_next]),
                   r_entropy)


def update_keys(key: jax.Array) -> tuple[tuple[jax.Array, jax.Array, jax.Array], jax.Array]:
    """How an update splits its key: the three sampling keys of :func:`dv_terms` (expert,
    replay, initial states) and the gradient penalty's."""
    k_e, k_r, k_0, k_gp = jax.random.split(key, 4)
    return (k_e, k_r, k_0), k_gp


# ---- update ----------------------------------------------------------------------------

def learner(config: Config, env: Env) -> op.Learner:
    spec = policy_spec(config, env)
    net = _nu_net(config)

    def init(key, hp: Hparams, obs_norm: pol.ObsNorm) -> Params:
        k_nu, k_pi = jax.random.split(key)
        nu = net.init(k_nu, jnp.zeros(nu_input_size(config, env)))
        actor = {**spec.init(k_pi), "obs_norm": obs_norm}  # nu reads the statistics from here too
        return Params(nu, actor, optax.adam(hp.nu_lr).init(nu), optax.adam(hp.actor_lr).init(actor["actor"]))

    def update(params: Params, expert: Transition, replay: Transition, init_obs: jax.Array, key, hp: Hparams):
        dv_keys, k_gp = update_keys(key)

        def objective(nu_params, actor):
            """J plus the entropy bonus at the replay next states (which nu's gradient does not see)."""
            nu = lambda x: net.apply(nu_params, x)[..., 0]
            pi = {**params.actor, "actor": actor}
            t = dv_terms(config, env, nu, (pi, pi, pi), expert, replay, init_obs, hp.gamma, dv_keys)
            j = dv_objective(t.expert_diff, t.replay_diff, t.init_nu, hp.replay_reg, hp.gamma)
            entropy = op.mean_over_env_states(t.replay_entropy, replay.next_obs, config.absorbing)
            inputs = (t.expert_inputs, t.replay_inputs)
            return j + hp.ent_coef * entropy, (j, entropy, inputs, t.expert_diff.mean(), t.replay_diff.mean())

        (_, (j, entropy, inputs, e_diff, r_diff)), (g_nu, g_pi) = jax.value_and_grad(
            objective, (0, 1), has_aux=True)(params.nu, params.actor["actor"])
        inputs = jax.lax.stop_gradient(inputs)
        gp, g_gp = jax.value_and_grad(lambda p: gradient_penalty(lambda x: net.apply(p, x)[..., 0], *inputs, k_gp))(
            params.nu)
        ortho, g_ortho = jax.value_and_grad(op.orthogonal_regularization)(params.actor["actor"])
        g_nu = jax.tree.map(lambda a, b: a + hp.grad_penalty * b, g_nu, g_gp)
        g_pi = jax.tree.map(lambda a, b: -a + hp.ortho_reg * b, g_pi, g_ortho)  # the actor ascends J
        nu, nu_opt = op.adam_step(hp.nu_lr, g_nu, params.nu_opt, params.nu)
        actor_lr = op.linear_decay(hp.actor_lr, hp.actor_lr_decay, params.actor_opt, hp.actor_lr_floor)
        actor, actor_opt = op.adam_step(actor_lr, g_pi, params.actor_opt, params.actor["actor"])
        metrics = {"dv_objective": j, "grad_penalty": gp, "ortho_reg": ortho, "entropy": entropy, "actor_lr": actor_lr,
                   "expert_diff": e_diff, "replay_diff": r_diff}
        return Params(nu, {**params.actor, "actor": actor}, nu_opt, actor_opt), metrics

    return op.Learner(spec, init, update, lambda params: params.actor)


def make_train(config: Config, env: Env) -> Trainer:
    """ValueDICE as a Trainer: online (``demos`` = expert Demos) or offline
    (``demos`` = :class:`ExpertAndReplay`)."""
    return op.make_trainer(config, env, learner(config, env), "ValueDICE", offline_pair=config.offline)
