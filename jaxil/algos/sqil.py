"""SQIL (Reddy, Dragan & Levine 2020): imitation as soft Q-learning with sparse rewards.

No reward is learned. Every demo transition gets reward 1 and every transition the
agent collects reward 0; each gradient update draws ``demo_fraction`` of its batch
from the demos and the rest from the agent's replay buffer (half and half, as in the
paper). Soft Q-learning on these constant rewards pulls the policy back to the
demonstrated states when it drifts away, since only there can it collect reward.

The learner is :mod:`jaxil.rl.sac` unchanged (continuous actions): SQIL only
supplies the batch (``sac.train_updates(..., sample_fn=...)``). One trainer step is
one SAC step: ``num_envs * train_freq`` env transitions, then ``num_updates``
updates. Only ``terminated`` cuts the bootstrap, as in SAC, and there are no absorbing
states: a demo's terminal step is worth 1, other demo steps up to 1 / (1 - gamma), so
SQIL, like SAC on a positive reward, prefers episodes that do not terminate.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxil.envs import Env
from jaxil.errors import InputError
from jaxil.loop import Trainer
from jaxil.rl import sac
from jaxil.rl.ppo import episode_metrics
from jaxil.rl.replay import Buffer, buffer_sample
from jaxil.types import Demos, Transition

State = sac.State
Hparams = sac.Hparams


@dataclasses.dataclass(frozen=True)
class Config:
    sac: sac.Config = sac.Config()
    """The SAC learner's settings; ``sac.batch_size`` is the size of the whole
    (demos + replay) batch."""
    demo_fraction: float = 0.5
    """Fraction of every batch drawn from the demos (reward 1); the rest comes from
    replay (reward 0)."""

    def __post_init__(self):
        if not 0.0 < self.demo_fraction < 1.0:
            raise InputError(f"SQIL demo_fraction must be in (0, 1), got {self.demo_fraction}")
        if min(self.split) < 1:
            raise InputError(f"SQIL batch of {self.sac.batch_size} with demo_fraction {self.demo_fraction} leaves "
                             f"no demo or no replay rows; use sac.batch_size >= 2")

    @property
    def split(self) -> tuple[int, int]:
        """(demo rows, replay rows) of every batch."""
        num_demo = int(round(self.sac.batch_size * self.demo_fraction))
        return num_demo, self.sac.batch_size - num_demo


def relabel(batch: Transition, reward: float) -> Transition:
    """The batch with every reward set to ``reward`` (SQIL's 1 for demos, 0 for the agent)."""
    return batch._replace(reward=jnp.full_like(batch.reward, reward, dtype=jnp.float32))


def sample_demos(demos: Demos, key: jax.Array, n: int) -> Transition:
    """``n`` real (``mask == 1``) demo transitions, uniformly with replacement."""
    idx = jax.random.choice(key, demos.mask.shape[0], (n,), p=demos.mask / demos.mask.sum())
    return jax.tree.map(lambda x: x[idx], demos.transitions())


def balanced_batch(buffer: Buffer, demos: Demos, key: jax.Array, num_demo: int, num_replay: int) -> Transition:
    """``num_demo`` demo rows with reward 1 followed by ``num_replay`` replay rows with reward 0."""
    k_demo, k_replay = jax.random.split(key)
    expert = relabel(sample_demos(demos, k_demo, num_demo), 1.0)
    agent = relabel(buffer_sample(buffer, k_replay, num_replay), 0.0)
    # Demo actions and flags in the buffer's dtypes, so the two halves concatenate.
    expert = jax.tree.map(lambda e, a: e.astype(a.dtype), expert, agent)
    return jax.tree.map(lambda e, a: jnp.concatenate([e, a]), expert, agent)


def make_train(config: Config, env: Env) -> Trainer:
    """SQIL on SAC; ``demos`` (rewards ignored) are an argument of ``step``, so any
    dataset of the same shape reuses one compilation."""
    spec = sac.policy_spec(config.sac, env)  # fails early on discrete envs
    num_demo, num_replay = config.split

    def init_fn(key, demos: Demos, hp: Hparams) -> State:
        return sac.init(config.sac, env, key, hp)

    def step_fn(state: State, demos: Demos, hp: Hparams):
        state, traj = sac.collect(config.sac, env, state)
        sample = lambda buf, k: balanced_batch(buf, demos, k, num_demo, num_replay)
        state, metrics = sac.train_updates(config.sac, env, state, hp, sample_fn=sample)
        return state, {**metrics, **episode_metrics(traj)}

    def policy_fn(state: State):
        return state.params.actor

    return Trainer(init_fn, step_fn, policy_fn, spec, config.sac.env_steps_per_step)
