"""Shared pieces of off-policy and offline imitation (ValueDICE, IQ-Learn).

- **Absorbing states** (Kostrikov et al. 2019, DAC; used again by ValueDICE): every
  observation gets one more coordinate, 0 for the env's states and 1 for the
  absorbing state (all other coordinates 0). A transition that *terminated* leads
  into the absorbing state, which then loops on itself forever; a *truncated*
  transition (time limit) keeps its true ``next_obs`` and adds nothing, since the
  time limit is not part of the MDP. The augmented MDP never terminates, so the
  augmented transitions all have ``terminated = False``: the value of ending an
  episode is learnt at the absorbing state instead of being fixed to 0.
  All of it is shape-static: ``N`` transitions become ``2N`` rows whose second half
  (the absorbing self-transitions) is masked in only where a transition terminated.
- **Data** for both modes: :class:`ExpertAndReplay`, the pair of Demos that an
  offline trainer receives as its ``demos`` argument (the expert's and a fixed
  non-expert dataset standing in for the replay buffer), masked row sampling, and
  online collection into a replay buffer with a masked (compacting) write.
- **The trainer** (:func:`make_trainer`) that ValueDICE and IQ-Learn share: an
  algorithm is a :class:`Learner` (its networks, update and policy); collection,
  replay, batch sampling, warm-up and initial states (``Config.initial_states``) are
  here once.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxil import eval as ev, policy as pol
from jaxil.envs import Env, EnvState
from jaxil.errors import InputError
from jaxil.loop import Trainer
from jaxil.policy import PolicySpec
from jaxil.rl.ppo import episode_metrics
from jaxil.rl.replay import Buffer, buffer_init, buffer_sample, check_write_fits
from jaxil.rl.sac import Rollout
from jaxil.types import Demos, Transition


class ExpertAndReplay(NamedTuple):
    """The ``demos`` argument of an offline trainer that also learns from non-expert data.

    ``expert`` are the demonstrations to imitate; ``replay`` is a fixed dataset of
    any behaviour on the same env, which takes the place of the replay buffer. Both
    are ordinary (maskable, stackable) :class:`Demos`, so the pair vmaps over runs
    like Demos do (``loop.run(..., demos_axis=0)`` with a leading run axis on both).
    """

    expert: Demos
    replay: Demos


# ---- absorbing states -------------------------------------------------------------

def absorbing_obs(obs: jax.Array) -> jax.Array:
    """Env observations ``[..., D]`` with the indicator coordinate 0: ``[..., D + 1]``."""
    return jnp.concatenate([obs, jnp.zeros((*obs.shape[:-1], 1), obs.dtype)], -1)


def absorbing_state(obs_size: int, dtype=jnp.float32) -> jax.Array:
    """The absorbing state ``[obs_size + 1]``: zeros and indicator 1."""
    return jnp.zeros(obs_size + 1, dtype).at[-1].set(1)


def indicator(obs: jax.Array) -> jax.Array:
    """1.0 where an augmented observation ``[..., D + 1]`` is the absorbing state: ``[...]``."""
    return obs[..., -1]


def add_absorbing(tr: Transition, mask: jax.Array) -> tuple[Transition, jax.Array]:
    """Augments ``N`` transitions (leaves ``[N, ...]``) into ``2N`` rows and their mask.

    Rows ``0..N-1`` are the transitions with augmented observations, ``next_obs``
    replaced by the absorbing state where ``terminated``. Rows ``N..2N-1`` are
    absorbing -> absorbing self-transitions (action zeros, reward 0), real (mask 1)
    only where row ``i - N`` terminated and was real itself. Every row has
    ``terminated = False`` (the augmented MDP never ends); ``truncated`` is kept on
    the first half and False on the second.
    """
    n = tr.obs.shape[0]
    term = tr.terminated.astype(bool)
    absorbing = jnp.broadcast_to(absorbing_state(tr.obs.shape[-1], tr.obs.dtype), (n, tr.obs.shape[-1] + 1))
    next_obs = jnp.where(term[:, None], absorbing, absorbing_obs(tr.next_obs))
    no = jnp.zeros(n, bool)
    real = Transition(absorbing_obs(tr.obs), tr.action, next_obs, tr.reward, no, tr.truncated)
    loop = Transition(absorbing, jnp.zeros_like(tr.action), absorbing, jnp.zeros_like(tr.reward), no, no)
    rows = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), real, loop)
    return rows, jnp.concatenate([mask, mask * term.astype(mask.dtype)])


def absorbing_demos(demos: Demos) -> Demos:
    """:func:`add_absorbing` on Demos: ``2N`` rows, self-transitions in the episode that ended."""
    tr, mask = add_absorbing(demos.transitions(), demos.mask)
    return Demos(*tr, jnp.concatenate([demos.episode, demos.episode]), mask)


def prepare(demos: Demos, absorbing: bool) -> tuple[Transition, jax.Array]:
    """The transitions and mask a learner samples from: with absorbing states or as they are.

    Either way ``1 - terminated`` is the right bootstrap mask for the result.
    """
    if absorbing:
        return add_absorbing(demos.transitions(), demos.mask)
    return demos.transitions(), demos.mask


def action_features(spec, action: jax.Array) -> jax.Array:
    """One-hot ``[..., A]`` for discrete actions ``[...]``; continuous actions ``[..., A]``
    rescaled from the env's bounds to [-1, 1], so that network inputs are O(1)."""
    if spec.discrete:
        return jax.nn.one_hot(action, spec.action_size, dtype=jnp.float32)
    return spec.unit_actions(action)


def state_action_input(obs: jax.Array, action_feat: jax.Array, absorbing: bool) -> jax.Array:
    """Network input ``[..., D (+1) + A]`` for a value of (s, a).

    At the absorbing state every action leads to the same place, so its action
    features are zeroed: the value there cannot depend on the policy's (meaningless)
    action.
    """
    if absorbing:
        action_feat = action_feat * (1.0 - indicator(obs))[..., None]
    return jnp.concatenate([obs, action_feat], -1)


def normalize_obs(norm: pol.ObsNorm, obs: jax.Array, absorbing: bool, clip: float | None) -> jax.Array:
    """Observations ``[..., D (+1)]`` standardised by ``norm`` (over the env's D coordinates),
    clipped to ``[-clip, clip]`` unless ``clip`` is None (``Config.obs_clip``).

    With absorbing states the indicator is kept and the absorbing state's env part
    stays 0 (not ``-mean / std``), so it is one point apart from every env state
    whatever the statistics.
    """
    if not absorbing:
        return norm(obs, clip)
    is_abs = indicator(obs)[..., None]
    return jnp.concatenate([norm(obs[..., :-1], clip) * (1.0 - is_abs), is_abs], -1)


def env_obs(obs: jax.Array, absorbing: bool) -> jax.Array:
    """The env's part of (possibly augmented) observations: what the policy sees."""
    return obs[..., :-1] if absorbing else obs


def mean_over_env_states(values: jax.Array, obs: jax.Array, absorbing: bool) -> jax.Array:
    """The mean of ``values`` [B] over the rows whose ``obs`` [B, D (+1)] is an env state, not
    the absorbing state (0 if there is none). A policy term (an entropy bonus, an actor loss)
    has nothing to act on at the absorbing state: the critic ignores the action there, and
    the policy sees the state's env part, zeros, which can be a real and common env state
    (cartpole centred and upright)."""
    if not absorbing:
        return values.mean()
    real = 1.0 - obs[:, -1].astype(values.dtype)
    return jnp.sum(real * values) / jnp.maximum(real.sum(), 1.0)


# ---- sampling ---------------------------------------------------------------------

def sample_rows(key: jax.Array, rows: Transition, mask: jax.Array, n: int) -> Transition:
    """``n`` rows drawn uniformly, with replacement, among those where ``mask == 1``."""
    idx = jax.random.choice(key, mask.shape[0], (n,), p=mask / jnp.maximum(mask.sum(), 1.0))
    return jax.tree.map(lambda x: x[idx], rows)


def buffer_add_where(buf: Buffer, batch: Transition, keep: jax.Array) -> Buffer:
    """Writes the rows of ``batch`` (leaves ``[n, ...]``) where ``keep`` is true, contiguously.

    A shape-static "append a variable number of rows": kept rows go to consecutive
    slots from the write pointer (wrapping around), dropped rows are scattered out
    of range and discarded. ``n`` must not exceed the capacity.
    """
    capacity = jax.tree.leaves(buf.data)[0].shape[0]
    n = keep.shape[0]
    if n > capacity:
        raise InputError(f"cannot write {n} rows at once into a buffer of capacity {capacity}")
    keep = keep.astype(bool)
    slot = (buf.ptr + jnp.cumsum(keep) - 1) % capacity
    idx = jnp.where(keep, slot, capacity)
    data = jax.tree.map(lambda d, x: d.at[idx].set(x.astype(d.dtype), mode="drop"), buf.data, batch)
    count = keep.sum().astype(buf.ptr.dtype)
    return Buffer(data, (buf.ptr + count) % capacity, jnp.minimum(buf.size + count, capacity))


def buffer_add_transitions(buf: Buffer, tr: Transition, absorbing: bool) -> Buffer:
    """Adds env transitions (leaves ``[n, ...]``), with their absorbing rows if asked."""
    if not absorbing:
        return buffer_add_where(buf, tr, jnp.ones(tr.obs.shape[0], bool))
    rows, mask = add_absorbing(tr, jnp.ones(tr.obs.shape[0], jnp.float32))
    return buffer_add_where(buf, rows, mask > 0)


# ---- online collection -------------------------------------------------------------

ActFn = Callable[[jax.Array, jax.Array], jax.Array]


def collect(env: Env, act: ActFn, env_state: EnvState, key: jax.Array, num_steps: int) -> tuple[EnvState, Rollout]:
    """Steps a batch of envs ``num_steps`` times with ``act(obs [N, D], key) -> actions``.

    Returns the final env state and a :class:`jaxil.rl.sac.Rollout` with leading axes
    ``[num_steps, N]`` (``next_obs`` the true state reached, also at episode ends).
    """
    step_env = jax.vmap(env.step)

    def one_step(state, k):
        action = act(state.obs, k)
        nxt = step_env(state, action)
        tr = Transition(state.obs, action, nxt.next_obs, nxt.reward, nxt.terminated, nxt.truncated)
        return nxt, Rollout(tr, nxt.episode_return)

    return jax.lax.scan(one_step, env_state, jax.random.split(key, num_steps))


def flatten(tr: Transition) -> Transition:
    """Leaves ``[T, N, ...]`` -> ``[T * N, ...]``."""
    return jax.tree.map(lambda x: x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]), tr)


def example_row(env: Env, absorbing: bool) -> Transition:
    """One zero transition shaped like the rows a replay buffer of this env holds."""
    size = env.spec.obs_size + int(absorbing)
    obs = jnp.zeros(size, jnp.float32)
    action = jnp.zeros(env.spec.action_shape, env.spec.action_dtype)
    no = jnp.zeros((), bool)
    return Transition(obs, action, obs, jnp.zeros((), jnp.float32), no, no)


# ---- input checks --------------------------------------------------------------------

def check_demos(demos, env: Env, offline_pair: bool, algo: str) -> None:
    """Fails early, with what is wrong, when ``demos`` is not what the trainer needs."""
    if offline_pair:
        if not isinstance(demos, ExpertAndReplay):
            raise TypeError(f"offline {algo} needs demos=ExpertAndReplay(expert, replay) (the expert demos and a "
                            f"non-expert dataset standing in for the replay buffer); got {type(demos).__name__}")
        parts = {"expert": demos.expert, "replay": demos.replay}
    else:
        if not isinstance(demos, Demos):
            raise TypeError(f"{algo} needs demos of type Demos, got {type(demos).__name__}")
        parts = {"demos": demos}
    for name, d in parts.items():
        obs_size = np.shape(d.obs)[-1]
        if obs_size != env.spec.obs_size:
            raise InputError(f"{algo}: {name}.obs has {obs_size} features per row, env {env.spec.name!r} has "
                             f"{env.spec.obs_size}")
        action_shape = np.shape(d.action)[np.ndim(d.mask):]
        if tuple(action_shape) != env.spec.action_shape:
            raise InputError(f"{algo}: {name}.action rows have shape {tuple(action_shape)}, env "
                             f"{env.spec.name!r} needs {env.spec.action_shape}")


# ---- the shared trainer ------------------------------------------------------------

INITIAL_STATES = ("expert", "reset", "replay")


@dataclasses.dataclass(frozen=True)
class Config:
    """What ValueDICE's and IQ-Learn's configs share: data, interaction and network sizes."""

    offline: bool = False
    """True: learn from fixed datasets only, no env interaction (``env_steps_per_step = 0``)."""
    absorbing: bool = True
    """Absorbing states at terminations (see this module's docstring); False: ``terminated``
    cuts the bootstrap instead."""
    num_envs: int = 1
    """Parallel environments per run (online)."""
    train_freq: int = 1
    """Steps of every env per trainer step (online)."""
    num_updates: int = 1
    """Gradient updates per trainer step."""
    batch_size: int = 256
    """Expert transitions per update, and as many replay transitions."""
    buffer_size: int = 100_000
    """Replay capacity in rows (online; a termination takes two: see :func:`add_absorbing`)."""
    learning_starts: int = 1_000
    """Env transitions collected with uniform random actions before updates start (online)."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer sizes of every network."""
    activation: str = "relu"
    """Hidden activation."""
    normalize_obs: bool = True
    """Standardise the observations every network sees with the mean and std of the
    expert's demos (the ValueDICE code's default; the policy keeps the statistics in its
    ``obs_norm``, so it acts on raw observations). Gradient penalties then act in units
    of the expert's spread: raw units can be far too coarse (cartpole's pole angle
    varies by ~0.01 rad in the demos). False: identity."""
    obs_clip: float | None = None
    """Clip, in standard units, of the standardised observations every network sees
    (None: none, as in the ValueDICE code). The usual clip of 10 (running statistics in
    PPO and SAC) is harmful with the expert's fixed statistics: states the demos never
    visit lie far outside them, and a clip folds them onto the faces and corners of one
    box. Pendulum's first demonstration balances upright (cos theta's std 0.0044), so at
    10 every state with cos theta below about 0.95 reaches nu and the policy as one of a
    few corner points (the signs of sin theta and theta-dot): a policy that cannot tell
    where the pendulum is cannot learn the swing-up."""
    obs_std_eps: float = 1e-3
    """Added to the expert's per-coordinate std before standardising (``normalize_obs``):
    the finest resolution, in raw units, that the networks see. Pendulum's first
    demonstration has cos theta's std 0.0044, so with the default the bottom of the circle
    is about 370 standard units from it; a larger value trades resolution at the expert's
    states for smaller inputs everywhere else."""
    behavior_noise: float | None = None
    """How the online envs are driven (after the warm-up), continuous actions only.
    None: samples of the policy's own distribution (right for a policy trained with an
    entropy term, as IQ-Learn's is). A float sigma: the deterministic action plus
    Gaussian noise of std sigma in units of half the action range, clipped to the
    bounds (what the ValueDICE code does: its actor has no entropy term, so its
    learnt std is not an exploration scale and collapses). Discrete actions: always
    samples."""
    initial_states: str = "expert"
    """Where the initial-state terms (1 - gamma) E_{p0}[...] draw s0 from: ``expert``, the
    expert's states (what the ValueDICE and IQ-Learn code does); ``reset``, the env's
    initial-state distribution (online: fresh ``env.reset`` states; offline: the first
    state of every episode of the data); ``replay``, the states of the update's replay batch
    (online: the policy's own past states; offline: the non-expert data's). ``reset`` is the
    objective's own p0 and needs no demonstrated start: with demos that begin at the goal,
    only it asks for the way there. The identity behind the linear term holds for any p0, so
    ``replay`` asks pi to match the expert's occupancy from every state it has visited, and
    puts that term's actor gradient on those states."""
    policy_average: float | None = None
    """Rate tau of an exponential moving average of the policy's parameters (Polyak
    averaging of the iterates: ``avg <- avg + tau (theta - avg)`` after every update that
    is kept), which is then the trainer's policy: what is evaluated and exported. The envs
    are still driven by the current policy, so training is unchanged. Both methods are
    min-max games (pi against nu or Q), whose last iterate can circle the solution while
    the average of the iterates settles. None: the current policy (as in both papers)."""
    policy_average_from: int | None = None
    """With ``policy_average`` set: after this many kept updates the average restarts at the
    current iterate and becomes the uniform mean of the iterates from then on (tail, or
    Polyak-Ruppert, averaging: the k-th kept update after the start folds in at rate 1/k),
    so the end state weighs the whole tail alike instead of the last ~1/tau updates. Before
    it, the moving average at rate ``policy_average``. None: the moving average throughout."""

    def __post_init__(self):
        if self.initial_states not in INITIAL_STATES:
            raise InputError(f"unknown initial_states {self.initial_states!r}; choose one of {INITIAL_STATES}")
        sizes = (self.num_envs, self.train_freq, self.num_updates, self.batch_size, self.buffer_size)
        if min(sizes) < 1:
            raise InputError(f"num_envs, train_freq, num_updates, batch_size and buffer_size must be >= 1, got {self}")
        if self.learning_starts < 0:
            raise InputError(f"learning_starts must be >= 0, got {self.learning_starts}")
        if self.obs_clip is not None and not self.obs_clip > 0:
            raise InputError(f"obs_clip must be None or > 0, got {self.obs_clip}")
        if not self.obs_std_eps > 0:
            raise InputError(f"obs_std_eps must be > 0, got {self.obs_std_eps}")
        if self.behavior_noise is not None and self.behavior_noise < 0:
            raise InputError(f"behavior_noise must be None or >= 0, got {self.behavior_noise}")
        if self.policy_average is not None and not 0 < self.policy_average <= 1:
            raise InputError(f"policy_average must be None or in (0, 1], got {self.policy_average}")
        if self.policy_average_from is not None and (self.policy_average is None or self.policy_average_from < 0):
            raise InputError(f"policy_average_from must be None or >= 0 with policy_average set, got "
                             f"policy_average_from={self.policy_average_from}, policy_average={self.policy_average}")
        if not self.offline:
            check_write_fits(self.buffer_size, self.num_envs, self.train_freq, self.absorbing)

    @property
    def env_steps_per_step(self) -> int:
        return 0 if self.offline else self.num_envs * self.train_freq


class Learner(NamedTuple):
    """An algorithm's networks and update, as the shared trainer needs them."""

    spec: PolicySpec
    init: Callable[[jax.Array, Any, pol.ObsNorm], Any]
    """``init(key, hparams, obs_norm) -> params`` (networks and optimiser states); ``obs_norm``
    (a :class:`jaxil.policy.ObsNorm`) standardises every network's observations
    (``Config.normalize_obs``)."""
    update: Callable[[Any, Transition, Transition | None, jax.Array, jax.Array, Any], tuple[Any, dict]]
    """``update(params, expert, replay, init_obs, key, hparams) -> (params, metrics)``;
    batches are prepared rows (see :func:`prepare`), ``replay`` is None for expert-only
    learning, ``init_obs`` [B, D (+1)] are initial states (see ``Config.initial_states``)."""
    policy: Callable[[Any], dict]
    """``policy(params)``: the jaxil.policy params of :attr:`spec`."""


class Interaction(NamedTuple):
    """The online part of the state (None offline)."""

    buffer: Buffer
    env_state: EnvState  # batched over num_envs
    env_steps: jax.Array  # transitions collected so far (all envs)


class State(NamedTuple):
    learner: Any
    interaction: Interaction | None
    key: jax.Array
    average: dict | None = None
    """The moving average of the policy's params (``Config.policy_average``), else None."""
    kept_updates: jax.Array | None = None
    """How many updates have been kept so far (with ``Config.policy_average``), else None."""
    average_error: dict | None = None
    """The part of ``average``'s updates that float32 rounded off (Kahan compensation; with
    ``Config.policy_average``), else None. See :func:`fold_into_average`."""


def interaction_init(config: Config, env: Env, key: jax.Array) -> Interaction:
    buffer = buffer_init(example_row(env, config.absorbing), config.buffer_size)
    env_state = jax.vmap(env.reset)(jax.random.split(key, config.num_envs))
    return Interaction(buffer, env_state, jnp.zeros((), jnp.int32))


def behavior_act(config: Config, spec: PolicySpec, pi: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
    """The action the online envs take under the policy ``pi`` (see ``Config.behavior_noise``)."""
    if config.behavior_noise is None or spec.env.discrete:
        return pol.sample(spec, pi, obs, key)[0]
    low, high = spec.env.action_bounds()
    mode = pol.mode(spec, pi, obs)
    noise = config.behavior_noise * (high - low) / 2 * jax.random.normal(key, mode.shape)
    return jnp.clip(mode + noise, low, high)


def interact(config: Config, env: Env, learner: Learner, params, inter: Interaction, key: jax.Array):
    """``train_freq`` steps of the envs into the buffer; uniform random actions during the warm-up."""
    spec = learner.spec
    uniform = ev.random_act(env.spec)

    def act(obs, k):
        k_pi, k_rand = jax.random.split(k)
        behaving = behavior_act(config, spec, learner.policy(params), obs, k_pi)
        return jnp.where(inter.env_steps < config.learning_starts, uniform(None, obs, k_rand), behaving)

    env_state, traj = collect(env, act, inter.env_state, key, config.train_freq)
    buffer = buffer_add_transitions(inter.buffer, flatten(traj.transition), config.absorbing)
    return Interaction(buffer, env_state, inter.env_steps + config.env_steps_per_step), traj


def episode_starts(demos, absorbing: bool) -> tuple[jax.Array, jax.Array]:
    """The first observation of every episode in the data ``[N, D (+1)]`` and its mask [N]:
    of the expert's demos, and of the replay data too for an :class:`ExpertAndReplay` pair."""
    parts = list(demos) if isinstance(demos, ExpertAndReplay) else [demos]
    obs, mask = [], []
    for d in parts:
        first = jnp.concatenate([jnp.ones(1, bool), d.episode[1:] != d.episode[:-1]])
        obs.append(absorbing_obs(d.obs) if absorbing else d.obs)
        mask.append(d.mask * first)
    return jnp.concatenate(obs), jnp.concatenate(mask)


def initial_obs(config: Config, env: Env, key: jax.Array, expert: Transition, starts,
                replay: Transition | None = None) -> jax.Array:
    """``batch_size`` initial states s0 for the (1 - gamma) E_{p0}[...] terms (``Config.initial_states``)."""
    if config.initial_states == "expert":
        return expert.obs
    if config.initial_states == "replay":
        if replay is None:
            raise InputError("initial_states='replay' needs replay data: online, or offline with an "
                             "ExpertAndReplay pair")
        return replay.obs
    if config.offline:
        start_obs, start_mask = starts
        idx = jax.random.choice(key, start_mask.shape[0], (config.batch_size,), p=start_mask / start_mask.sum())
        return start_obs[idx]
    obs = jax.vmap(env.reset)(jax.random.split(key, config.batch_size)).obs
    return absorbing_obs(obs) if config.absorbing else obs


def expert_obs_norm(config: Config, env: Env, expert: Demos) -> pol.ObsNorm:
    """The expert demos' observation statistics (masked), or the identity (``Config.normalize_obs``)."""
    if not config.normalize_obs:
        return pol.ObsNorm.create(env.spec.obs_size)
    mask = expert.mask.astype(jnp.float32)
    w = mask / jnp.maximum(mask.sum(), 1.0)
    mean = jnp.einsum("n,nd->d", w, expert.obs)
    std = jnp.sqrt(jnp.einsum("n,nd->d", w, (expert.obs - mean) ** 2))
    return pol.ObsNorm(mean, (std + config.obs_std_eps) ** 2, mask.sum())


def batch_sampler(config: Config, env: Env, demos, inter: Interaction | None, offline_pair: bool):
    """``sample(key) -> (expert, replay, init_obs, update_key)``: the batches of one update.

    ``batch_size`` expert rows, as many replay rows (from the buffer of ``inter``
    online, from ``demos.replay`` when ``offline_pair``, else None) and initial
    states (:func:`initial_obs`), plus the key left for the learner's update. The one
    place that draws an update's data, for the trainer and for any analysis that must
    see exactly the batches the trainer would.
    """
    expert_demos = demos.expert if offline_pair else demos
    expert_rows, expert_mask = prepare(expert_demos, config.absorbing)
    replay_rows = prepare(demos.replay, config.absorbing) if offline_pair else None
    starts = episode_starts(demos, config.absorbing)

    def sample(key):
        k_e, k_r, k_0, k_u = jax.random.split(key, 4)
        expert = sample_rows(k_e, expert_rows, expert_mask, config.batch_size)
        if inter is not None:
            replay = buffer_sample(inter.buffer, k_r, config.batch_size)
        else:
            replay = None if replay_rows is None else sample_rows(k_r, *replay_rows, config.batch_size)
        return expert, replay, initial_obs(config, env, k_0, expert, starts, replay), k_u

    return sample


def make_trainer(config: Config, env: Env, learner: Learner, algo: str, offline_pair: bool) -> Trainer:
    """The Trainer of an off-policy / offline imitation method.

    One step: (online) ``train_freq`` env steps into the replay buffer, then
    ``num_updates`` updates, each on ``batch_size`` expert rows and as many replay
    rows: from the buffer online, from ``demos.replay`` when ``offline_pair``, none
    otherwise (expert-only offline learning). Online updates before
    ``learning_starts`` are computed and discarded (a ``cond`` under vmap would run
    both branches anyway).
    """

    def init_fn(key, demos, hp) -> State:
        check_demos(demos, env, offline_pair, algo)
        key, k_learn, k_env = jax.random.split(key, 3)
        inter = None if config.offline else interaction_init(config, env, k_env)
        norm = expert_obs_norm(config, env, demos.expert if offline_pair else demos)
        params = learner.init(k_learn, hp, norm)
        average = None if config.policy_average is None else learner.policy(params)
        kept = None if config.policy_average is None else jnp.zeros((), jnp.int32)
        error = None if config.policy_average is None else jax.tree.map(jnp.zeros_like, average)
        return State(params, inter, key, average, kept, error)

    def step_fn(state: State, demos, hp):
        check_demos(demos, env, offline_pair, algo)
        key, k_env, k_upd = jax.random.split(state.key, 3)
        inter, metrics, ready = state.interaction, {}, jnp.asarray(True)
        if not config.offline:
            inter, traj = interact(config, env, learner, state.learner, inter, k_env)
            metrics, ready = episode_metrics(traj), inter.env_steps >= config.learning_starts
        sample = batch_sampler(config, env, demos, inter, offline_pair)

        def one_update(carry, k):
            params, average, kept, error = carry
            expert, replay, init_obs, k_u = sample(k)
            new, m = learner.update(params, expert, replay, init_obs, k_u, hp)
            params = jax.tree.map(lambda a, b: jnp.where(ready, a, b), new, params)
            if average is not None:  # before learning_starts params stay at init, and so does the average
                kept = kept + ready.astype(kept.dtype)
                average, error = fold_into_average(average, error, learner.policy(params),
                                                   average_rate(config, kept))
            return (params, average, kept, error), m

        carry = (state.learner, state.average, state.kept_updates, state.average_error)
        (params, average, kept, error), m = jax.lax.scan(one_update, carry, jax.random.split(k_upd, config.num_updates))
        return State(params, inter, key, average, kept, error), {**jax.tree.map(jnp.mean, m), **metrics}

    def policy_fn(state: State):
        return learner.policy(state.learner) if config.policy_average is None else state.average

    return Trainer(init_fn, step_fn, policy_fn, learner.spec, config.env_steps_per_step)


# ---- small shared pieces -----------------------------------------------------------

def orthogonal_regularization(params) -> jax.Array:
    """sum over 2-D kernels W of ||W^T W (1 - I)||^2 (Brock et al. 2018), as ValueDICE's actor uses."""
    total = jnp.zeros(())
    for w in jax.tree.leaves(params):
        if w.ndim == 2:
            gram = w.T @ w
            total = total + jnp.sum((gram * (1 - jnp.eye(gram.shape[0]))) ** 2)
    return total


def average_rate(config: Config, kept: jax.Array) -> jax.Array:
    """The rate at which the ``kept``-th kept update folds into the policy's average.

    ``config.policy_average`` until ``config.policy_average_from`` updates are kept; the
    j-th kept update after that at 1 / j (so the first one restarts the average at the
    current iterate, and from then on the average is the plain mean of the tail's iterates).
    """
    tau = jnp.asarray(config.policy_average, jnp.float32)
    if config.policy_average_from is None:
        return tau
    j = kept - config.policy_average_from
    return jnp.where(j >= 1, 1.0 / jnp.maximum(j, 1).astype(jnp.float32), tau)


def fold_into_average(average, error, x, tau):
    """``(average + tau (x - average), error)`` leaf by leaf, with Kahan compensation.

    A plain float32 update drops whatever part of ``tau (x - average)`` lies below half an
    ulp of ``average``: late in a tail mean (``tau = 1 / j``) a slow, steady drift of the
    iterates then never reaches the average at all (a weight near 1 drifting by 1e-3 over
    100k updates: the plain mean stays off by about half the drift). ``error`` carries the
    rounded-off part into the next update, so the average follows to within rounding.
    Leaves that are not floating point (counters) take ``x``.
    """
    leaves, treedef = jax.tree.flatten(average)
    folded = []
    for avg, err, new in zip(leaves, treedef.flatten_up_to(error), treedef.flatten_up_to(x)):
        if not jnp.issubdtype(avg.dtype, jnp.inexact):
            folded.append((new, err))
            continue
        step = tau * (new - avg) - err
        total = avg + step
        folded.append((total, (total - avg) - step))
    return treedef.unflatten([a for a, _ in folded]), treedef.unflatten([e for _, e in folded])


def linear_decay(lr, decay_updates, opt_state, floor=0.0):
    """``lr`` falling linearly to 0 over the first ``decay_updates`` Adam updates, held at
    ``floor * lr`` once the line reaches it.

    The update count is Adam's own (``count`` in ``opt_state``), so the rate needs no
    step counter of its own: update k (0-based) runs at
    ``lr * max(floor, 1 - k / decay_updates)``. Until the line meets the floor the rate is the
    floor-0 rate, so a floored run trains as the unfloored one up to that update.
    ``decay_updates`` 0 leaves ``lr`` constant. All three may be traced (a swept field).
    """
    count = optax.tree_utils.tree_get(opt_state, "count").astype(jnp.float32)
    fraction = jnp.clip(1.0 - count / jnp.maximum(decay_updates, 1.0), 0.0, 1.0)
    return jnp.where(decay_updates > 0, lr * jnp.maximum(fraction, floor), lr)


def adam_step(lr, grads, opt_state, params):
    """One Adam step; built from a traced learning rate (Adam's state does not depend on it)."""
    updates, opt_state = optax.adam(lr).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state
