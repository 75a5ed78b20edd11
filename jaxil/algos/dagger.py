"""DAgger (Ross, Gordon & Bagnell 2011): aggregate expert labels on the learner's own states.

Round 0 is behavioural cloning on the given demonstrations (done in ``init``). Every
trainer ``step`` is one further round ``i >= 1``:

1. roll out ``num_envs`` fresh episodes of ``rollout_steps`` steps with the mixture
   policy: at every step the expert's action is executed with probability
   ``beta_i``, the learner's otherwise;
2. label every visited state with the expert's action (the expert is queried inside
   the compiled loop: any ``act(params, obs, key)`` function, e.g. a saved jaxil
   policy, or a Python function wrapped by :func:`callback_expert`);
3. write the labelled states into a fixed-capacity aggregation buffer (the demos,
   then ``num_rounds`` slots of one round each; later rounds overwrite the oldest
   slot), so the whole multi-round loop is one jit program;
4. fit the learner on the whole buffer (``updates_per_round`` BC updates).

Schedules: ``learner_after_first`` (beta_0 = 1 is the demos, beta_i = 0 after: the
"always learner after round 0" variant) and ``exponential`` (beta_i = decay**i).

For experts that cannot be called from JAX at all (a person, a simulator that
labels files), :class:`HostDAgger` runs the same pieces round by round on the host
and takes labels from a callback or from a file.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxil import eval as ev, policy as pol
from jaxil.algos import bc
from jaxil.envs import Env
from jaxil.errors import InputError
from jaxil.loop import Trainer
from jaxil.types import Demos

SCHEDULES = ("learner_after_first", "exponential")

ActFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the learner's policy."""
    activation: str = "tanh"
    """Hidden activation."""
    policy_kind: str = "auto"
    """categorical | gaussian | tanh_gaussian; auto: categorical or gaussian (see bc.Config)."""
    loss: str = "auto"
    """BC loss: log_likelihood, or mse on the deterministic action (continuous only)."""
    batch_size: int = 256
    """Transitions per minibatch."""
    initial_updates: int = 2000
    """BC updates on the demos alone (round 0, in ``init``)."""
    updates_per_round: int = 1000
    """BC updates on the aggregated buffer after every round."""
    num_envs: int = 4
    """Parallel episodes rolled out per round."""
    rollout_steps: int | None = None
    """Steps per env per round; default the env's time limit (one episode each)."""
    num_rounds: int = 10
    """Rounds the aggregation buffer holds; rounds beyond overwrite the oldest."""
    schedule: str = "learner_after_first"
    """Mixture schedule: learner_after_first | exponential."""
    normalize_obs: bool = True
    """Standardise observations with the buffer's statistics (refreshed every round)."""

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown DAgger schedule {self.schedule!r}; choose one of {SCHEDULES}")
        for name in ("batch_size", "updates_per_round", "num_envs", "num_rounds"):
            if getattr(self, name) < 1:
                raise InputError(f"DAgger Config.{name} must be >= 1, got {getattr(self, name)}")
        if self.initial_updates < 0 or (self.rollout_steps is not None and self.rollout_steps < 1):
            raise InputError(f"need initial_updates >= 0 and rollout_steps >= 1, got {self}")

    def bc_config(self) -> bc.Config:
        return bc.Config(self.hidden, self.activation, self.policy_kind, self.loss, self.batch_size,
                         self.updates_per_round, self.normalize_obs)


class Hparams(NamedTuple):
    lr: float = 1e-3
    ent_coef: float = 0.0
    """Entropy bonus weight of the BC loss."""
    l2_coef: float = 0.0
    """Weight of the squared L2 norm of the learner's parameters."""
    beta_decay: float = 0.5
    """``exponential`` schedule: beta_i = beta_decay ** i."""
    learner_eps: float = 0.0
    """Probability that the learner's action in a rollout is replaced by a uniformly
    random one (exploration, or a controlled per-step error as in the compounding-error
    experiment); labels are unaffected."""


class Buffer(NamedTuple):
    """Aggregated dataset: demos rows first, then ``num_rounds`` slots of one round."""

    obs: jax.Array  # [C, obs_size]
    action: jax.Array  # [C, ...] expert labels
    mask: jax.Array  # [C] 1 for filled rows


class State(NamedTuple):
    params: dict
    opt_state: optax.OptState
    buffer: Buffer
    round: jax.Array  # rounds of interaction done (0 after init)
    key: jax.Array


class Expert(NamedTuple):
    """The labeller: ``act(params, obs [B, D], key) -> action [B, ...]`` and its params."""

    act: ActFn
    params: Any = None


def beta(schedule: str, round_: jax.Array, decay) -> jax.Array:
    """Probability that the expert acts in round ``round_`` (round 0: the demos)."""
    round_ = jnp.asarray(round_, jnp.float32)
    if schedule == "exponential":
        return jnp.asarray(decay, jnp.float32) ** round_
    return (round_ == 0).astype(jnp.float32)


def rollout_steps(config: Config, env: Env) -> int:
    return config.rollout_steps or env.spec.max_episode_steps


def buffer_init(demos: Demos, per_round: int, num_rounds: int) -> Buffer:
    """A buffer holding ``demos`` followed by ``num_rounds * per_round`` empty rows."""
    extra = num_rounds * per_round
    obs = jnp.concatenate([demos.obs, jnp.zeros((extra, *demos.obs.shape[1:]), demos.obs.dtype)])
    action = jnp.concatenate([demos.action, jnp.zeros((extra, *demos.action.shape[1:]), demos.action.dtype)])
    mask = jnp.concatenate([demos.mask.astype(jnp.float32), jnp.zeros(extra, jnp.float32)])
    return Buffer(obs, action, mask)


def buffer_write(buf: Buffer, num_demo_rows: int, per_round: int, num_rounds: int, round_, obs, action) -> Buffer:
    """Writes one round's labelled rows into slot ``(round_ - 1) % num_rounds``."""
    start = num_demo_rows + ((round_ - 1) % num_rounds) * per_round
    put = lambda dst, src: jax.lax.dynamic_update_slice_in_dim(dst, src.astype(dst.dtype), start, 0)
    return Buffer(put(buf.obs, obs), put(buf.action, action), put(buf.mask, jnp.ones(per_round, jnp.float32)))


def mixture_rollout(env: Env, spec: pol.PolicySpec, params, expert: Expert, beta_i, key, num_envs: int,
                    num_steps: int, stochastic: bool = False, learner_eps=0.0):
    """Fresh episodes under the beta-mixture; returns visited obs, expert labels and stats.

    Outputs are flat over (step, env): ``obs [num_steps * num_envs, D]``, ``labels``
    likewise, plus the mean return of episodes that ended and the fraction of
    steps where the learner's executed action equals the label (discrete) or its mean
    squared distance to it (continuous).
    """
    k_reset, k_run = jax.random.split(key)
    state = jax.vmap(env.reset)(jax.random.split(k_reset, num_envs))
    learner = ev.with_random_actions(pol.make_act(spec, deterministic=not stochastic), spec.env, learner_eps)

    def one_step(state, k):
        k_exp, k_pol, k_mix = jax.random.split(k, 3)
        label = expert.act(expert.params, state.obs, k_exp)
        mine = learner(params, state.obs, k_pol)
        use_expert = jax.random.uniform(k_mix, (num_envs,)) < beta_i
        flag = use_expert.reshape(num_envs, *([1] * (mine.ndim - 1)))
        action = jnp.where(flag, label.astype(mine.dtype), mine)
        obs = state.obs
        state = jax.vmap(env.step)(state, action)
        return state, (obs, label, mine, state.done, state.episode_return)

    _, (obs, labels, mine, done, ret) = jax.lax.scan(one_step, state, jax.random.split(k_run, num_steps))
    done = done.astype(jnp.float32)
    episode_return = jnp.sum(ret * done) / jnp.maximum(done.sum(), 1.0)
    episode_return = jnp.where(done.sum() > 0, episode_return, jnp.nan)
    if spec.env.discrete:
        agreement = jnp.mean((mine == labels).astype(jnp.float32))
    else:
        agreement = jnp.mean(jnp.sum((mine - labels) ** 2, -1))
    flat = lambda x: x.reshape(num_steps * num_envs, *x.shape[2:])
    return flat(obs), flat(labels), {"rollout_return": episode_return, "agreement": agreement}


def _fit(config: Config, spec, params, opt_state, key, buf: Buffer, hp: Hparams, num_updates: int):
    if config.normalize_obs:
        params = {**params, "obs_norm": bc.masked_obs_norm(buf.obs, buf.mask)}
    return bc.fit(spec, bc.loss_kind(config.bc_config()), config.batch_size, num_updates, params, opt_state, key,
                  buf.obs, buf.action, buf.mask, hp)


def make_train(config: Config, env: Env, expert: Expert) -> Trainer:
    """DAgger trainer; ``expert`` labels states inside the compiled loop.

    The expert's params are a constant of the compiled program; train against
    another expert by building another trainer.
    """
    spec = bc.policy_spec(config.bc_config(), env)
    n_steps = rollout_steps(config, env)
    per_round = n_steps * config.num_envs

    def init_fn(key, demos: Demos, hp: Hparams) -> State:
        key, k_actor, k_fit = jax.random.split(key, 3)
        params = spec.init(k_actor)
        buf = buffer_init(demos, per_round, config.num_rounds)
        opt_state = bc._tx(hp).init(params["actor"])
        if config.initial_updates:
            params, opt_state, _ = _fit(config, spec, params, opt_state, k_fit, buf, hp, config.initial_updates)
        return State(params, opt_state, buf, jnp.zeros((), jnp.int32), key)

    def step_fn(state: State, demos: Demos, hp: Hparams):
        key, k_roll, k_fit = jax.random.split(state.key, 3)
        round_ = state.round + 1
        b = beta(config.schedule, round_, hp.beta_decay)
        obs, labels, stats = mixture_rollout(env, spec, state.params, expert, b, k_roll, config.num_envs, n_steps,
                                             learner_eps=hp.learner_eps)
        buf = buffer_write(state.buffer, demos.obs.shape[0], per_round, config.num_rounds, round_, obs, labels)
        params, opt_state, fit_metrics = _fit(config, spec, state.params, state.opt_state, k_fit, buf, hp,
                                              config.updates_per_round)
        metrics = {**fit_metrics, **stats, "beta": b, "buffer_size": buf.mask.sum()}
        return State(params, opt_state, buf, round_, key), metrics

    def policy_fn(state: State):
        return {"actor": state.params["actor"], "obs_norm": state.params["obs_norm"]}

    return Trainer(init_fn, step_fn, policy_fn, spec, per_round)


def policy_expert(spec: pol.PolicySpec, params) -> Expert:
    """A saved jaxil policy (e.g. ``policy.load_policy(dir)``) as DAgger's expert."""
    return Expert(pol.make_act(spec), params)


def callback_expert(fn: Callable[[np.ndarray], np.ndarray], env_spec) -> Expert:
    """Wraps a Python labeller ``fn(obs [B, D] numpy) -> actions [B, ...]`` as an Expert.

    Called through ``jax.pure_callback`` from inside the compiled loop (once per
    env step for a whole batch of envs and seeds), so any non-JAX expert that can
    answer synchronously (a scripted controller, an external simulator) drives the
    one-program DAgger loop. ``fn`` must be deterministic in its inputs.
    """
    shape, dtype = env_spec.action_shape, env_spec.action_dtype

    def host(obs):
        obs = np.asarray(obs)
        lead = obs.shape[:-1]
        out = np.asarray(fn(obs.reshape(-1, obs.shape[-1])))
        want = (int(np.prod(lead)), *shape)
        if out.shape != want:
            raise InputError(f"DAgger expert callback returned actions of shape {out.shape}, expected {want}")
        return out.astype(dtype).reshape(*lead, *shape)

    def act(params, obs, key):
        out = jax.ShapeDtypeStruct((*obs.shape[:-1], *shape), dtype)
        return jax.pure_callback(host, out, obs, vmap_method="expand_dims")

    return Expert(act, None)


# ---- host-side rounds, for labels that come from outside JAX -----------------------

class HostDAgger:
    """DAgger driven round by round from Python, with labels from a callback or a file.

    Rollouts use the learner alone (beta_i = 0 for i >= 1; the demos are round 0),
    the practical schedule when labels arrive after the fact::

        dag = HostDAgger(config, env, demos, key=jax.random.PRNGKey(0))
        for _ in range(5):
            obs = dag.queries()              # states the learner visited
            dag.add_labels(obs, my_labels(obs))   # or save_queries / load_labels
            dag.train()

    Or in one call: ``dag.run(label_fn, rounds=5)``. Shapes, dtypes and finiteness of
    labels are checked before anything is written to the buffer.
    """

    def __init__(self, config: Config, env: Env, demos: Demos, hparams: Hparams = Hparams(),
                 key: jax.Array | None = None):
        if config.schedule != "learner_after_first":
            raise InputError("HostDAgger rolls out the learner alone; use schedule='learner_after_first'")
        self.config, self.env, self.hparams = config, env, hparams
        self.spec = bc.policy_spec(config.bc_config(), env)
        self.num_steps = rollout_steps(config, env)
        self.per_round = self.num_steps * config.num_envs
        self._demo_rows = demos.obs.shape[0]
        nobody = Expert(lambda p, obs, k: jnp.zeros((obs.shape[0], *env.spec.action_shape), env.spec.action_dtype))
        trainer = make_train(config, env, nobody)
        self.state: State = jax.jit(trainer.init)(jax.random.PRNGKey(0) if key is None else key, demos, hparams)
        self._pending: np.ndarray | None = None
        self._rollout = jax.jit(lambda params, k: mixture_rollout(env, self.spec, params, nobody, 0.0, k,
                                                                  config.num_envs, self.num_steps))
        self._write = jax.jit(lambda buf, r, obs, act: buffer_write(buf, self._demo_rows, self.per_round,
                                                                    config.num_rounds, r, obs, act))
        self._fit = jax.jit(lambda params, opt, k, buf, hp: _fit(config, self.spec, params, opt, k, buf, hp,
                                                                config.updates_per_round))

    @property
    def policy_params(self) -> dict:
        return {"actor": self.state.params["actor"], "obs_norm": self.state.params["obs_norm"]}

    def queries(self) -> np.ndarray:
        """Rolls out the learner; returns the visited observations to label ``[per_round, D]``."""
        key, k = jax.random.split(self.state.key)
        obs, _, stats = self._rollout(self.state.params, k)
        self.state = self.state._replace(key=key)
        self._pending = np.asarray(obs)
        self.last_rollout = {k: float(v) for k, v in stats.items() if k != "agreement"}
        return self._pending

    def add_labels(self, obs: np.ndarray, actions) -> None:
        """Adds the expert's ``actions`` for ``obs`` (the array :meth:`queries` returned)."""
        if self._pending is None:
            raise InputError("add_labels before queries(): there are no states waiting for labels")
        if np.shape(obs) != self._pending.shape or not np.array_equal(obs, self._pending):
            raise InputError("add_labels: obs are not the states returned by the last queries()")
        actions = np.asarray(actions)
        spec = self.env.spec
        want = (self.per_round, *spec.action_shape)
        if actions.shape != want:
            raise InputError(f"DAgger labels: expected actions of shape {want}, got {actions.shape}")
        if spec.discrete:
            if not np.issubdtype(actions.dtype, np.integer) or actions.min() < 0 or actions.max() >= spec.action_size:
                raise InputError(f"DAgger labels: discrete actions must be integers in [0, {spec.action_size})")
        elif not np.all(np.isfinite(actions)):
            bad = int(np.flatnonzero(~np.isfinite(actions).reshape(len(actions), -1).all(1))[0])
            raise InputError(f"DAgger labels: non-finite action at row {bad}")
        round_ = self.state.round + 1
        buf = self._write(self.state.buffer, round_, jnp.asarray(obs), jnp.asarray(actions, spec.action_dtype))
        self.state = self.state._replace(buffer=buf, round=round_)
        self._pending = None

    def train(self) -> dict:
        """Fits the learner on the aggregated buffer; returns the last update's metrics."""
        key, k = jax.random.split(self.state.key)
        params, opt, metrics = self._fit(self.state.params, self.state.opt_state, k, self.state.buffer, self.hparams)
        self.state = self.state._replace(params=params, opt_state=opt, key=key)
        return {k: float(v) for k, v in metrics.items()}

    def save_queries(self, path: str) -> str:
        """Rolls out and writes the states to label to ``path`` (.npz with an ``obs`` array)."""
        from jaxil.fileio import write_atomic
        import io

        obs = self.queries()
        blob = io.BytesIO()
        np.savez(blob, obs=obs)
        write_atomic(path, blob.getvalue())
        return path

    def load_labels(self, path: str) -> None:
        """Reads ``path`` (.npz with ``obs`` as written by :meth:`save_queries` and ``action``)."""
        try:
            with np.load(path) as f:
                obs, actions = f["obs"], f["action"]
        except (OSError, ValueError, KeyError) as e:
            raise InputError(f"cannot read DAgger labels from {path!r} (need arrays 'obs' and 'action'): {e}") from e
        self.add_labels(obs, actions)

    def run(self, label_fn: Callable[[np.ndarray], np.ndarray], rounds: int) -> list[dict]:
        """``rounds`` rounds of queries -> ``label_fn`` -> add_labels -> train."""
        history = []
        for _ in range(rounds):
            obs = self.queries()
            self.add_labels(obs, label_fn(obs))
            history.append({**self.last_rollout, **self.train()})
        return history
