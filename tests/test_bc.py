import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import data, envs, experts, loop, policy as pol
from jaxil.algos import bc
from tests.batching import ALONE, check_run_is_independent_of_batch


def _constant_actor(spec: pol.PolicySpec, bias, log_std=None) -> dict:
    """Params whose output ignores the observation: zero weights, a chosen output bias."""
    params = spec.init(jax.random.PRNGKey(0))
    actor = jax.tree.map(jnp.zeros_like, params["actor"])
    layers = actor["params"]["MLP_0"]
    last = sorted(layers)[-1]
    layers[last]["bias"] = jnp.asarray(bias, jnp.float32)
    if log_std is not None:
        actor["params"]["log_std"] = jnp.asarray(log_std, jnp.float32)
    return {**params, "actor": actor}


def test_categorical_loss_hand_computed():
    spec = pol.PolicySpec(envs.make("cartpole").spec, "categorical", (4,))
    params = _constant_actor(spec, [0.5, -0.5])
    obs = jnp.ones((3, 4))
    action = jnp.array([0, 1, 0])
    hp = bc.Hparams(ent_coef=0.1, l2_coef=0.01)
    total, aux = bc.bc_loss(spec, "log_likelihood", params, obs, action, hp)
    z = math.log(math.exp(0.5) + math.exp(-0.5))
    lp0, lp1 = 0.5 - z, -0.5 - z
    nll = -(2 * lp0 + lp1) / 3
    entropy = -(math.exp(lp0) * lp0 + math.exp(lp1) * lp1)
    l2 = 0.5**2 + 0.5**2
    assert float(aux["nll"]) == pytest.approx(nll, rel=1e-6)
    assert float(aux["entropy"]) == pytest.approx(entropy, rel=1e-6)
    assert float(total) == pytest.approx(nll - 0.1 * entropy + 0.01 * l2, rel=1e-6)


def test_gaussian_and_mse_losses_hand_computed():
    spec = pol.PolicySpec(envs.make("pendulum").spec, "gaussian", (4,))
    params = _constant_actor(spec, [0.3], log_std=[-0.5])
    obs = jnp.ones((2, 3))
    action = jnp.array([[0.0], [1.0]])
    hp = bc.Hparams(l2_coef=0.1)
    sigma = math.exp(-0.5)
    nll = np.mean([0.5 * ((a - 0.3) / sigma) ** 2 - 0.5 + 0.5 * math.log(2 * math.pi) for a in (0.0, 1.0)])
    l2 = 0.3**2 + 0.5**2  # output bias and log_std
    total, aux = bc.bc_loss(spec, "log_likelihood", params, obs, action, hp)
    assert float(aux["nll"]) == pytest.approx(nll, rel=1e-6)
    assert float(aux["entropy"]) == pytest.approx(0.5 * math.log(2 * math.pi * math.e) - 0.5, rel=1e-6)
    assert float(total) == pytest.approx(nll + 0.1 * l2, rel=1e-6)
    mse, _ = bc.bc_loss(spec, "mse", params, obs, action, bc.Hparams())
    assert float(mse) == pytest.approx((0.3**2 + 0.7**2) / 2, rel=1e-6)


def test_mse_on_discrete_actions_is_refused():
    with pytest.raises(ValueError, match="mse"):
        bc.make_train(bc.Config(loss="mse"), envs.make("cartpole"))
    with pytest.raises(ValueError, match="unknown BC loss"):
        bc.Config(loss="l1")


SMALL = bc.Config(hidden=(16,), batch_size=32, updates_per_step=5)


@pytest.fixture(scope="module")
def cartpole_demos():
    env = envs.make("cartpole")
    d, _ = data.load_demos(experts.resolve_demos("cartpole"), env)
    return env, d


@ALONE
def test_vmapped_runs_equal_single_runs(cartpole_demos, alone):
    env, d = cartpole_demos
    trainer = bc.make_train(SMALL, env)
    demos = data.to_jax(data.select_trajectories(d, 2))
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    hp = bc.Hparams(lr=jnp.array([1e-3, 3e-3, 1e-2]))
    check_run_is_independent_of_batch(trainer, keys, hp, 4, alone=alone, demos=demos, chunk_steps=2, rtol=1e-6)


def test_demo_subsets_vmap_in_one_compilation(cartpole_demos):
    env, d = cartpole_demos
    trainer = bc.make_train(SMALL, env)
    stacked = data.stack_subsets(d, (1, 3), repeats=2)
    assert stacked.obs.shape[:2] == (4, 1500) and stacked.mask.sum(1).tolist() == [500, 500, 1500, 1500]
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    batched = loop.run(trainer, keys, bc.Hparams(), 3, demos=data.to_jax(stacked), demos_axis=0)
    for i in (0, 3):
        own = data.to_jax(jax.tree.map(lambda x: x[i], stacked))
        single = loop.run(trainer, keys[i:i + 1], bc.Hparams(), 3, demos=own)
        for a, b in zip(jax.tree.leaves(batched.state), jax.tree.leaves(single.state)):
            np.testing.assert_allclose(np.asarray(a)[i], np.asarray(b)[0], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="leading run axis of 3"):
        loop.run(trainer, keys[:3], bc.Hparams(), 1, demos=data.to_jax(stacked), demos_axis=0)


def test_no_recompilation_for_new_demo_contents_or_hparams(cartpole_demos):
    env, d = cartpole_demos
    trainer = bc.make_train(SMALL, env)
    chunk = loop.compile_chunk(trainer, 2)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    first = data.to_jax(data.select_trajectories(d, 1))
    second = data.to_jax(data.select_trajectories(d, 1, key=jax.random.PRNGKey(5)))
    assert not np.array_equal(first.obs, second.obs)
    for demos, lr in ((first, 1e-3), (second, 5e-4)):
        hp = loop.broadcast_hparams(bc.Hparams(lr=lr), 2)
        state = jax.jit(jax.vmap(trainer.init, in_axes=(0, None, 0)))(keys, demos, hp)
        chunk(state, demos, hp)
    assert chunk._cache_size() == 1


def test_a_second_run_of_a_trainer_compiles_nothing(cartpole_demos):
    """loop.run keeps its init and chunk programs per trainer: the same trainer on the same
    shapes (another batch of seeds, other demos, other hparams) reuses both compilations."""
    env, d = cartpole_demos
    trainer = bc.make_train(SMALL, env)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    first = loop.run(trainer, keys, bc.Hparams(), 2, demos=data.to_jax(data.select_trajectories(d, 1)))
    init = loop.init_runs(trainer, loop.run_sharding(2))
    assert init is loop.init_runs(trainer, loop.run_sharding(2)) and init._cache_size() == 1
    other = data.to_jax(data.select_trajectories(d, 1, key=jax.random.PRNGKey(5)))
    second = loop.run(trainer, keys + 1, bc.Hparams(lr=5e-4), 2, demos=other)
    assert init._cache_size() == 1 and loop.compile_chunk(trainer, 2)._cache_size() == 1
    assert not np.allclose(first.metrics["loss"], second.metrics["loss"])


def test_cartpole_bc_from_10_trajectories_every_seed(cartpole_demos):
    env, d = cartpole_demos
    trainer = bc.make_train(bc.Config(), env)
    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    demos = data.to_jax(data.select_trajectories(d, 10))
    run = loop.run(trainer, keys, bc.Hparams(), 40, demos=demos)
    returns = experts.evaluate_seeds(env, trainer, run.state, jax.random.PRNGKey(1)).mean(1)
    norm = experts.normalize("cartpole", returns)
    assert norm.min() >= 0.95, norm
