import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import envs, nets, policy as pol


def test_categorical_log_prob_and_entropy_by_hand():
    logits = jnp.array([[0.0, math.log(3.0)]])  # probabilities 1/4, 3/4
    np.testing.assert_allclose(nets.categorical_log_prob(logits, jnp.array([1])), [math.log(0.75)], rtol=1e-6)
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    np.testing.assert_allclose(nets.categorical_entropy(logits), [h], rtol=1e-6)


def test_gaussian_log_prob_by_hand():
    mean, log_std, x = jnp.array([1.0, -1.0]), jnp.log(jnp.array([2.0, 0.5])), jnp.array([2.0, -1.0])
    # N(2; 1, 2^2) * N(-1; -1, 0.5^2)
    expect = (-0.5 * 0.25 - math.log(2.0) - 0.5 * math.log(2 * math.pi)) + (-math.log(0.5) - 0.5 * math.log(2 * math.pi))
    np.testing.assert_allclose(nets.gaussian_log_prob(mean, log_std, x), expect, rtol=1e-6)
    np.testing.assert_allclose(nets.gaussian_entropy(log_std), math.log(2.0) + math.log(0.5) + math.log(2 * math.pi * math.e), rtol=1e-6)


def test_tanh_gaussian_density_integrates_to_one():
    # The squashed density on [low, high] must integrate to 1 (change of variables).
    low, high = jnp.array([-2.0]), jnp.array([2.0])
    a = jnp.linspace(-2 + 1e-4, 2 - 1e-4, 200001)[:, None]
    logp = nets.tanh_gaussian_log_prob(jnp.array([0.3]), jnp.array([-0.2]), a, low, high)
    integral = np.trapezoid(np.exp(np.asarray(logp, np.float64)), np.asarray(a[:, 0], np.float64))
    assert abs(integral - 1.0) < 2e-3


def test_tanh_gaussian_sample_log_prob_consistent():
    low, high = jnp.array([-1.0, 0.0]), jnp.array([1.0, 4.0])
    mean, log_std = jnp.array([0.2, -0.5]), jnp.array([-1.0, 0.1])
    a, logp = nets.tanh_gaussian_sample(jax.random.PRNGKey(0), mean, log_std, low, high)
    assert np.all(a >= low) and np.all(a <= high)
    np.testing.assert_allclose(logp, nets.tanh_gaussian_log_prob(mean, log_std, a, low, high), rtol=1e-3, atol=1e-3)


def test_obs_norm_matches_numpy_float64():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, size=(n, 3)).astype(np.float32) for n in (5, 17, 40)]
    stats = pol.ObsNorm.create(3)
    for c in chunks:
        stats = stats.update(jnp.asarray(c))
    allx = np.concatenate(chunks).astype(np.float64)
    # The prior (count 1e-4, mean 0, var 1) has negligible weight.
    np.testing.assert_allclose(stats.mean, allx.mean(0), rtol=1e-4)
    np.testing.assert_allclose(stats.var, allx.var(0), rtol=1e-4)


@pytest.mark.parametrize("name,kind", [("cartpole", "categorical"), ("pendulum", "gaussian"), ("pendulum", "tanh_gaussian")])
def test_policy_save_load_round_trip(tmp_path, name, kind):
    spec = pol.PolicySpec(envs.make(name).spec, kind, (8, 8))
    params = spec.init(jax.random.PRNGKey(1))
    params["obs_norm"] = params["obs_norm"].update(jnp.ones((4, spec.env.obs_size)))
    pol.save_policy(str(tmp_path), spec, params, {"note": "x"})
    spec2, params2, meta = pol.load_policy(str(tmp_path))
    assert spec2 == spec and meta["note"] == "x"
    jax.tree.map(np.testing.assert_array_equal, params, params2)
    obs = jnp.ones((2, spec.env.obs_size))
    np.testing.assert_array_equal(pol.mode(spec, params, obs), pol.mode(spec2, params2, obs))


def test_obs_norm_clip_by_hand():
    # std 0.01 (var 1e-4): obs 1.0 is (1.0 - 0.5) / 0.01 = 50 standard units, -0.5 is -100.
    norm = pol.ObsNorm(jnp.array([0.5, 0.0]), jnp.array([1e-4, 1.0]), jnp.ones(()))
    obs = jnp.array([[1.0, 2.0], [-0.5, -20.0]])
    np.testing.assert_allclose(norm(obs), [[10.0, 2.0], [-10.0, -10.0]], rtol=1e-5)  # the default clip
    np.testing.assert_allclose(norm(obs, 3.0), [[3.0, 2.0], [-3.0, -3.0]], rtol=1e-5)
    np.testing.assert_allclose(norm(obs, None), [[50.0, 2.0], [-100.0, -20.0]], rtol=1e-4)


def test_policy_spec_obs_clip_reaches_the_actor_and_survives_save_load(tmp_path):
    spec = pol.PolicySpec(envs.make("pendulum").spec, "tanh_gaussian", (8, 8), "relu", obs_clip=None)
    params = spec.init(jax.random.PRNGKey(1))
    params["obs_norm"] = pol.ObsNorm(jnp.zeros(3), jnp.full(3, 1e-4), jnp.ones(()))
    # 0.5 and 0.9 are 50 and 90 standard units: one point under the default clip, two without it.
    far = jnp.array([[0.5, 0.5, 0.5], [0.9, 0.9, 0.9]])
    clipped = pol.PolicySpec(spec.env, spec.kind, spec.hidden, spec.act)
    a = pol.dist_params(clipped, params, far)[0]  # the Gaussian's mean, before tanh saturates it
    np.testing.assert_array_equal(a[0], a[1])
    b = pol.dist_params(spec, params, far)[0]
    assert not np.allclose(b[0], b[1])
    pol.save_policy(str(tmp_path), spec, params)
    spec2, params2, _ = pol.load_policy(str(tmp_path))
    assert spec2.obs_clip is None and spec2 == spec
    np.testing.assert_array_equal(pol.dist_params(spec2, params2, far)[0], b)
    # A spec saved before obs_clip existed has no such key: it gets the clip it was trained with.
    old = {k: v for k, v in spec.to_dict().items() if k != "obs_clip"}
    assert pol.PolicySpec.from_dict(old).obs_clip == pol.OBS_CLIP
    with pytest.raises(ValueError, match="obs_clip must be None or > 0"):
        pol.PolicySpec(spec.env, spec.kind, obs_clip=0.0)


def test_policy_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing policy.json"):
        pol.load_policy(str(tmp_path))
    spec = pol.PolicySpec(envs.make("cartpole").spec, "categorical", (8,))
    pol.save_policy(str(tmp_path), spec, spec.init(jax.random.PRNGKey(0)))
    (tmp_path / "policy.msgpack").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="corrupt policy params"):
        pol.load_policy(str(tmp_path))


def _lapack_batch_dims(fn, *args) -> list[str]:
    """``num_batch_dims`` of every LAPACK custom call in the CPU lowering of ``fn(*args)``."""
    text = jax.jit(fn).lower(*args).as_text()
    return [line.split('num_batch_dims = "')[1].split('"')[0] for line in text.splitlines() if "@lapack_" in line]


def test_vmapped_lapack_ops_are_unbatched_on_cpu_and_equal_per_seed_values():
    # A batched LAPACK call fans out into the XLA CPU pool it runs on; two at once hang a
    # 2-core machine (jaxil.lapack). Vmapped inits and solves must lower to unbatched calls.
    from jaxil import lapack
    mlp = nets.MLP((8, 8), 2)
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    init = jax.vmap(lambda k: mlp.init(k, jnp.zeros(3)))
    dims = _lapack_batch_dims(init, keys)
    assert dims and set(dims) == {"0"}, dims
    batched = init(keys)
    for i in range(4):
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[i], batched), mlp.init(keys[i], jnp.zeros(3)), atol=1e-6)
    kernel = batched["params"]["Dense_0"]["kernel"][0]  # [3, 8]: orthonormal rows, scaled by sqrt(2)
    np.testing.assert_allclose(kernel @ kernel.T, 2.0 * np.eye(3), atol=1e-5)

    a = jax.random.normal(jax.random.PRNGKey(1), (4, 5, 5)) + 5 * jnp.eye(5)
    b = jax.random.normal(jax.random.PRNGKey(2), (4, 5))
    assert set(_lapack_batch_dims(jax.vmap(lapack.solve), a, b)) == {"0"}
    np.testing.assert_allclose(jax.vmap(lapack.solve)(a, b), np.linalg.solve(np.asarray(a), np.asarray(b)[..., None])[..., 0],
                               rtol=1e-4, atol=1e-5)
    sym = a @ jnp.swapaxes(a, 1, 2)
    assert set(_lapack_batch_dims(jax.vmap(lapack.eigvalsh), sym)) == {"0"}
    np.testing.assert_allclose(jax.vmap(lapack.eigvalsh)(sym), np.linalg.eigvalsh(np.asarray(sym)), rtol=1e-4)
