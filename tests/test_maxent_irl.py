"""Exact planning against float64 NumPy loops (and ``imitation`` when installed);
MaxEnt / MCE / deep MaxEnt IRL on probe MDPs where the answer is known."""

from functools import partial
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil.algos import maxent_irl as mi
from jaxil.envs import tabular as tb


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _rand_problem(seed, s, a, horizon=5, branching=None, discount=1.0):
    rng = np.random.default_rng(seed)
    tr = rng.random((s, a, s)) ** 3
    if branching is not None:  # sparse rows: zeros exercise log(0) in the MaxEnt backup
        for i in range(s):
            for j in range(a):
                tr[i, j, rng.permutation(s)[branching:]] = 0.0
    tr /= tr.sum(-1, keepdims=True)
    init = rng.random(s)
    return tr, init / init.sum(), rng.normal(size=s) * 2.0


# ----------------------------------------------------------------- NumPy references


def np_partition(tr, r, horizon, discount, terminal=None, backup="mce"):
    s, a, _ = tr.shape
    V = np.zeros((horizon, s))
    Q = np.zeros((horizon, s, a))
    v_next = np.zeros(s) if terminal is None else terminal
    for t in range(horizon - 1, -1, -1):
        for i in range(s):
            for j in range(a):
                if backup == "mce":
                    cont = sum(tr[i, j, k] * v_next[k] for k in range(s))
                else:
                    cont = np.log(sum(tr[i, j, k] * np.exp(v_next[k]) for k in range(s)))
                Q[t, i, j] = r[i] + discount * cont
            V[t, i] = np.log(np.sum(np.exp(Q[t, i])))
        v_next = V[t]
    return V, Q, np.exp(Q - V[:, :, None])


def np_occupancy(tr, init, pi, discount):
    horizon, s, a = pi.shape
    D = np.zeros((horizon + 1, s))
    D[0] = init
    for t in range(horizon):
        for i in range(s):
            for j in range(a):
                for k in range(s):
                    D[t + 1, k] += D[t, i] * pi[t, i, j] * tr[i, j, k]
    return D, sum(discount**t * D[t] for t in range(horizon + 1))


def np_soft_vi(tr, r, discount, iters=3000):
    v = np.zeros(tr.shape[0])
    for _ in range(iters):
        q = r[:, None] + discount * np.einsum("sat,t->sa", tr, v)
        v = np.log(np.exp(q).sum(-1))
    q = r[:, None] + discount * np.einsum("sat,t->sa", tr, v)
    return v, q, np.exp(q - v[:, None])


# ------------------------------------------------------------------------- planning


@pytest.mark.parametrize(
    "s,a,horizon,discount", [(3, 2, 1, 1.0), (5, 3, 4, 0.9), (8, 2, 7, 1.0), (12, 4, 3, 0.5)]
)
def test_partition_and_occupancy_match_numpy(s, a, horizon, discount):
    tr, init, r = _rand_problem(s * 100 + horizon, s, a)
    V, Q, pi = mi.mce_partition(jnp.asarray(tr), jnp.asarray(r), horizon, discount)
    V_ref, Q_ref, pi_ref = np_partition(tr, r, horizon, discount)
    assert V.shape == (horizon, s) and Q.shape == (horizon, s, a) and pi.shape == (horizon, s, a)
    np.testing.assert_allclose(V, V_ref, atol=1e-6)
    np.testing.assert_allclose(Q, Q_ref, atol=1e-6)
    np.testing.assert_allclose(pi, pi_ref, atol=1e-6)
    D, Dcum = mi.mce_occupancy(jnp.asarray(tr), jnp.asarray(init), pi, discount=discount)
    D_ref, Dcum_ref = np_occupancy(tr, init, pi_ref, discount)
    assert D.shape == (horizon + 1, s)
    np.testing.assert_allclose(D, D_ref, atol=1e-6)
    np.testing.assert_allclose(Dcum, Dcum_ref, atol=1e-6)
    # From a reward, the policy is planned undiscounted unless plan_discount says otherwise.
    _, Dcum_r = mi.mce_occupancy(jnp.asarray(tr), jnp.asarray(init), reward=jnp.asarray(r), horizon=horizon,
                                 discount=discount)
    _, Dcum_r_ref = np_occupancy(tr, init, np_partition(tr, r, horizon, 1.0)[2], discount)
    np.testing.assert_allclose(Dcum_r, Dcum_r_ref, atol=1e-6)


def test_terminal_value_and_maxent_backup_match_numpy():
    tr, init, r = _rand_problem(7, 6, 3, branching=2)
    terminal = np.linspace(-1, 1, 6)
    for backup in ("mce", "maxent"):
        V, Q, pi = mi.mce_partition(jnp.asarray(tr), jnp.asarray(r), 4, 0.8, terminal=jnp.asarray(terminal),
                                    backup=backup)
        V_ref, Q_ref, pi_ref = np_partition(tr, r, 4, 0.8, terminal, backup)
        np.testing.assert_allclose(V, V_ref, atol=1e-6)
        np.testing.assert_allclose(pi, pi_ref, atol=1e-6)
    # On deterministic dynamics MaxEnt (2008) and MCE (2010) coincide.
    det = np.eye(6)[np.random.default_rng(0).integers(0, 6, (6, 3))]
    a = mi.mce_partition(jnp.asarray(det), jnp.asarray(r), 5, backup="maxent")[0]
    b = mi.mce_partition(jnp.asarray(det), jnp.asarray(r), 5, backup="mce")[0]
    np.testing.assert_allclose(a, b, atol=1e-10)


def test_state_action_reward_and_stationary_policy():
    tr, init, r = _rand_problem(3, 4, 2)
    r_sa = np.random.default_rng(1).normal(size=(4, 2))
    V, Q, _ = mi.mce_partition(jnp.asarray(tr), jnp.asarray(r_sa), 3)
    v_next = np.zeros(4)
    for t in (2, 1, 0):
        q = r_sa + tr @ v_next
        np.testing.assert_allclose(Q[t], q, atol=1e-10)
        v_next = np.log(np.exp(q).sum(-1))
    stationary = np.full((4, 2), 0.5)
    D1, _ = mi.mce_occupancy(jnp.asarray(tr), jnp.asarray(init), jnp.asarray(stationary), horizon=3)
    D2, _ = mi.mce_occupancy(jnp.asarray(tr), jnp.asarray(init), jnp.full((3, 4, 2), 0.5))
    np.testing.assert_allclose(D1, D2, atol=1e-12)


@pytest.mark.parametrize("s,a,discount", [(4, 2, 0.5), (10, 3, 0.9), (16, 4, 0.95)])
def test_infinite_horizon_soft_vi_and_occupancy_match_numpy(s, a, discount):
    tr, init, r = _rand_problem(s, s, a)
    V, Q, pi = mi.soft_value_iteration(jnp.asarray(tr), jnp.asarray(r), discount, tol=1e-12)
    V_ref, Q_ref, pi_ref = np_soft_vi(tr, r, discount, iters=int(np.log(1e-14) / np.log(discount)) + 10)
    np.testing.assert_allclose(V, V_ref, atol=1e-6)
    np.testing.assert_allclose(Q, Q_ref, atol=1e-6)
    np.testing.assert_allclose(pi, pi_ref, atol=1e-6)
    # Fixed iteration count: tol=0 runs exactly max_iters backups.
    V3, _, _ = mi.soft_value_iteration(jnp.asarray(tr), jnp.asarray(r), discount, tol=0.0, max_iters=3)
    np.testing.assert_allclose(V3, np_soft_vi(tr, r, discount, iters=3)[0], atol=1e-10)
    # Discounted occupancy: the truncated power series of the state distribution.
    d = mi.discounted_occupancy(jnp.asarray(tr), jnp.asarray(init), pi, discount)
    p_pi = np.einsum("sa,sat->st", pi_ref, tr)
    dist, ref = init.copy(), np.zeros(s)
    for t in range(int(np.log(1e-14) / np.log(discount)) + 10):
        ref += discount**t * dist
        dist = dist @ p_pi
    np.testing.assert_allclose(d, ref, atol=1e-6)
    np.testing.assert_allclose(d.sum(), 1.0 / (1.0 - discount), rtol=1e-9)
    sa = mi.state_action_occupancy(d, pi)
    np.testing.assert_allclose(sa.sum(-1), d, atol=1e-9)


def test_hard_planning_is_optimal_against_brute_force():
    tr, init, r = _rand_problem(11, 3, 2)
    horizon = 3
    V, _, pi = mi.optimal_policy(jnp.asarray(tr), jnp.asarray(r), horizon)
    mdp = tb.make_mdp(tr, init, np.eye(3), r, horizon)
    best = -np.inf
    for code in range(2 ** (3 * horizon)):  # every deterministic time-dependent policy
        acts = np.array([(code >> i) & 1 for i in range(3 * horizon)]).reshape(horizon, 3)
        best = max(best, float(mi.expected_return(mdp, jnp.asarray(np.eye(2)[acts]))))
    np.testing.assert_allclose(float(mi.expected_return(mdp, pi)), best, atol=1e-9)
    np.testing.assert_allclose(float(init @ np.asarray(V[0])), best, atol=1e-9)
    assert abs(float(mi.normalized_return(mdp, pi)) - 1.0) < 1e-9
    assert abs(float(mi.normalized_return(mdp, mi.uniform_policy(mdp)))) < 1e-9


def test_planning_bad_shapes_raise():
    tr, init, r = _rand_problem(0, 4, 2)
    with pytest.raises(ValueError, match="reward must be"):
        mi.mce_partition(jnp.asarray(tr), jnp.zeros(5), 3)
    with pytest.raises(ValueError, match="horizon"):
        mi.mce_partition(jnp.asarray(tr), jnp.asarray(r), 0)
    with pytest.raises(ValueError, match="backup"):
        mi.mce_partition(jnp.asarray(tr), jnp.asarray(r), 3, backup="hard")
    with pytest.raises(ValueError, match="discount"):
        mi.soft_value_iteration(jnp.asarray(tr), jnp.asarray(r), 1.0)
    with pytest.raises(ValueError, match="needs a policy"):
        mi.mce_occupancy(jnp.asarray(tr), jnp.asarray(init))
    with pytest.raises(ValueError, match="shapes disagree"):
        mi.mce_occupancy(jnp.asarray(tr), jnp.asarray(init), jnp.full((3, 4, 3), 1 / 3))


def test_matches_imitation_library():
    mce_irl = pytest.importorskip("imitation.algorithms.mce_irl")
    for seed, (s, a, horizon, discount) in enumerate([(5, 3, 4, 1.0), (9, 2, 6, 0.9), (16, 4, 10, 0.99)]):
        tr, init, r = _rand_problem(seed, s, a)
        env = SimpleNamespace(horizon=horizon, state_dim=s, action_dim=a, transition_matrix=tr,
                              reward_matrix=r, initial_state_dist=init, n_states=s, n_actions=a)
        V_ref, Q_ref, pi_ref = mce_irl.mce_partition_fh(env, reward=r, discount=discount)
        V, Q, pi = mi.mce_partition(jnp.asarray(tr), jnp.asarray(r), horizon, discount)
        np.testing.assert_allclose(V, V_ref, atol=1e-6)
        np.testing.assert_allclose(Q, Q_ref, atol=1e-6)
        np.testing.assert_allclose(pi, pi_ref, atol=1e-6)
        D_ref, Dcum_ref = mce_irl.mce_occupancy_measures(env, pi=pi_ref, discount=discount)
        D, Dcum = mi.mce_occupancy(jnp.asarray(tr), jnp.asarray(init), pi, discount=discount)
        np.testing.assert_allclose(D, D_ref, atol=1e-6)
        np.testing.assert_allclose(Dcum, Dcum_ref, atol=1e-6)
        _, Dcum_ref = mce_irl.mce_occupancy_measures(env, reward=r, discount=discount)
        _, Dcum = mi.mce_occupancy(jnp.asarray(tr), jnp.asarray(init), reward=jnp.asarray(r), horizon=horizon,
                                   discount=discount)
        np.testing.assert_allclose(Dcum, Dcum_ref, atol=1e-6)


def test_occupancy_from_trajectories_matches_loop():
    rng = np.random.default_rng(0)
    states = rng.integers(0, 5, (7, 4))
    weights = np.array([1, 1, 0, 1, 1, 0, 1.0])
    ref = np.zeros(5)
    for n in range(7):
        for t in range(4):
            ref[states[n, t]] += weights[n] * 0.9**t
    ref /= weights.sum()
    got = mi.occupancy_from_trajectories(jnp.asarray(states), 5, 0.9, jnp.asarray(weights))
    np.testing.assert_allclose(got, ref, atol=1e-12)


# ------------------------------------------------------------------------------ IRL

HP = mi.Hparams(lr=0.5, linf_eps=1e-5)
_train = jax.jit(mi.train, static_argnames=("config", "num_steps"))


def _mce_expert(mdp, scale=1.0):
    return mi.mce_partition(mdp.transitions, scale * mdp.reward, mdp.horizon, mdp.discount)[2]


@pytest.mark.parametrize("which", ["cliff_world", "random16"])
def test_mce_irl_matches_expert_occupancy(which):
    if which == "cliff_world":
        mdp, scale = tb.cliff_world(), 1.0
    else:
        mdp, scale = tb.random_mdp(jax.random.PRNGKey(5), 16, 4, features="onehot", discount=0.95), 4.0
    data = mi.expert_data(mdp, _mce_expert(mdp, scale))
    res = _train(mi.MCE, jax.random.PRNGKey(0), data, HP, num_steps=1000)
    _, occ = mi.mce_occupancy(mdp.transitions, mdp.initial, res.policy, discount=mdp.discount)
    linf = float(jnp.max(jnp.abs(occ - data.expert_occupancy)))
    assert linf <= 1e-3, linf
    # The untrained (uniform) policy is far from the expert: the test can fail.
    _, occ0 = mi.mce_occupancy(mdp.transitions, mdp.initial, mi.uniform_policy(mdp), discount=mdp.discount)
    assert float(jnp.max(jnp.abs(occ0 - data.expert_occupancy))) > 0.05


def test_mce_irl_from_sampled_trajectories():
    mdp = tb.cliff_world()
    expert = _mce_expert(mdp)
    exact = mi.expert_data(mdp, expert).expert_occupancy
    states = tb.sample_trajectories(jax.random.PRNGKey(0), mdp, expert, 4000).states
    occ = mi.occupancy_from_trajectories(states, mdp.n_states, mdp.discount)
    assert float(jnp.max(jnp.abs(occ - exact))) < 0.1  # sampling noise only
    res = _train(mi.MCE, jax.random.PRNGKey(0), mi.IRLData(mdp, occ), HP, num_steps=1000)
    _, learned = mi.mce_occupancy(mdp.transitions, mdp.initial, res.policy)
    assert float(jnp.max(jnp.abs(learned - exact))) < 0.1
    gap = mi.normalized_return(mdp, res.policy) - mi.normalized_return(mdp, expert)
    assert abs(float(gap)) < 0.05, float(gap)


def test_maxent_2008_irl_on_deterministic_grid_and_linear_features():
    mdp = tb.gridworld(4, features="xy", horizon=6)
    w_true = jnp.array([0.7, -0.4])
    mdp = mdp.replace(reward=mdp.features @ w_true)
    data = mi.expert_data(mdp, _mce_expert(mdp))
    res = _train(mi.MAXENT, jax.random.PRNGKey(0), data, mi.Hparams(lr=0.1, linf_eps=1e-7), num_steps=800)
    # Deterministic dynamics, realisable linear reward: the weights are recovered.
    np.testing.assert_allclose(res.state.params["params"]["w"], w_true, atol=1e-3)
    assert float(res.metrics["feature_gap"][-1]) < 1e-3


def test_transfer_to_moved_wall_and_other_slip():
    src = tb.gridworld(6, slip=0.1, walls=[(2, c) for c in range(4)], horizon=20)
    data = mi.expert_data(src, _mce_expert(src, scale=5.0))
    res = _train(mi.MCE, jax.random.PRNGKey(0), data, HP, num_steps=800)
    moved = tb.gridworld(6, slip=0.1, walls=[(2, c) for c in range(2, 6)], horizon=20)
    slippier = tb.gridworld(6, slip=0.3, walls=[(2, c) for c in range(4)], horizon=20)
    for target in (moved, slippier):
        score = float(mi.transfer(res.reward, target).normalized)
        assert score >= 0.9, score
    # A reward that ignores the goal does not transfer: the score means something.
    assert float(mi.transfer(-src.reward, moved).normalized) < 0.5
    cliff = tb.cliff_world()
    res = _train(mi.MCE, jax.random.PRNGKey(0), mi.expert_data(cliff, _mce_expert(cliff)), HP, num_steps=1000)
    for fail_p in (0.1, 0.5):
        assert float(mi.transfer(res.reward, tb.cliff_world(fail_p=fail_p)).normalized) >= 0.9


def test_vmap_over_seeds_and_mdps_equals_single_runs():
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    mdps = jax.vmap(lambda k: tb.random_mdp(k, 8, 3, n_features=3, horizon=5))(keys)
    datas = jax.vmap(lambda m: mi.expert_data(m, _mce_expert(m)))(mdps)
    hp = mi.Hparams(lr=0.01)
    run = partial(mi.train, mi.Config(reward_model="mlp", hidden=(8,)), num_steps=20)
    single = jax.jit(run)
    # Run i: seed i on MDP i, all in one vmapped program.
    batched = jax.jit(jax.vmap(run, in_axes=(0, 0, None)))(keys, datas, hp)
    # Equal up to float64 rounding (batched and unbatched matmuls may round differently).
    close = partial(np.testing.assert_allclose, rtol=1e-6, atol=1e-9)
    for i in range(3):
        one = single(keys[i], jax.tree.map(lambda x: x[i], datas), hp)
        close(batched.reward[i], one.reward)
        close(batched.policy[i], one.policy)
        close(batched.metrics["linf"][i], one.metrics["linf"])
    data0 = jax.tree.map(lambda x: x[0], datas)
    assert not np.allclose(single(keys[1], data0, hp).reward, batched.reward[0])  # seeds matter for the MLP
    assert single._cache_size() == 1


def test_no_recompilation_for_new_hparams_or_demos():
    mdp = tb.random_mdp(jax.random.PRNGKey(2), 6, 2, features="onehot", horizon=4)
    data = mi.expert_data(mdp, _mce_expert(mdp))
    fn = jax.jit(partial(mi.train, mi.MCE, num_steps=5))
    fn(jax.random.PRNGKey(0), data, mi.Hparams(lr=0.1))
    fn(jax.random.PRNGKey(1), data._replace(expert_occupancy=data.expert_occupancy[::-1]),
       mi.Hparams(lr=0.3, l2_coef=0.1, linf_eps=1e-3))
    assert fn._cache_size() == 1


def test_irl_bad_config_and_hparams_raise():
    with pytest.raises(ValueError, match="backup"):
        mi.Config(backup="hard")
    with pytest.raises(ValueError, match="reward_model"):
        mi.Config(reward_model="cnn")
    with pytest.raises(ValueError, match="activation"):
        mi.Config(activation="swishy")
    mdp = tb.random_mdp(jax.random.PRNGKey(2), 6, 2, horizon=4)
    data = mi.expert_data(mdp, _mce_expert(mdp))
    with pytest.raises(ValueError, match="lr"):
        mi.train(mi.MCE, jax.random.PRNGKey(0), data, mi.Hparams(lr=-1.0), num_steps=2)
    with pytest.raises(ValueError, match="expert_occupancy must have shape"):
        mi.train(mi.MCE, jax.random.PRNGKey(0), data._replace(expert_occupancy=jnp.zeros(5)), HP, num_steps=2)
    with pytest.raises(ValueError, match="NaN"):
        mi.train(mi.MCE, jax.random.PRNGKey(0), data._replace(expert_occupancy=data.expert_occupancy * jnp.nan),
                 HP, num_steps=2)
    with pytest.raises(ValueError, match="num_steps"):
        mi.train(mi.MCE, jax.random.PRNGKey(0), data, HP, num_steps=0)


@pytest.mark.parametrize("hidden", [(16,), (8, 4)])
def test_mlp_reward_init_matches_the_flax_mlp(hidden):
    from jaxil import nets

    mdp = tb.random_mdp(jax.random.PRNGKey(3), 10, 3, n_features=3, horizon=4)
    config = mi.Config(reward_model="mlp", hidden=hidden)
    trainer = mi.make_train(config)
    data = mi.expert_data(mdp, _mce_expert(mdp))
    params = trainer.init(jax.random.PRNGKey(0), data, HP).params
    feats = mi._standardize(mdp.features)
    ref = jax.eval_shape(nets.MLP(hidden, 1, "relu").init, jax.random.PRNGKey(0), feats)
    assert jax.tree.structure(params) == jax.tree.structure(ref)
    for p, q in zip(jax.tree.leaves(params), jax.tree.leaves(ref)):
        assert p.shape == q.shape and p.dtype == feats.dtype  # the features' dtype: float64 here (x64)
    layers = params["params"]
    for i in range(len(hidden) + 1):
        kernel, bias = np.asarray(layers[f"Dense_{i}"]["kernel"], np.float64), layers[f"Dense_{i}"]["bias"]
        gain = 1.0 if i == len(hidden) else 2.0  # orthogonal(sqrt(2)) hidden, orthogonal(1) output
        small = kernel.T @ kernel if kernel.shape[0] >= kernel.shape[1] else kernel @ kernel.T
        np.testing.assert_allclose(small, gain * np.eye(min(kernel.shape)), atol=1e-5)
        np.testing.assert_array_equal(bias, 0.0)
    # Seeds draw different networks.
    other = trainer.init(jax.random.PRNGKey(1), data, HP).params
    assert not np.allclose(other["params"]["Dense_0"]["kernel"], layers["Dense_0"]["kernel"])


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("n_features", [2, 12])
def test_one_hidden_layer_reward_and_vjp_match_the_flax_mlp(activation, n_features):
    from jaxil import nets

    feats = jax.random.normal(jax.random.PRNGKey(0), (9, n_features))
    model = mi._mlp_model(mi.Config(reward_model="mlp", hidden=(16,), activation=activation))
    params = model.init(jax.random.PRNGKey(1), feats, HP)
    params = jax.tree.map(lambda p: p + 0.1, params)  # non-zero biases
    flax_r, flax_vjp = jax.vjp(lambda p: nets.MLP((16,), 1, activation).apply(p, feats)[:, 0], params)
    r, vjp = model.apply_vjp(params, feats)
    np.testing.assert_allclose(r, flax_r, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.apply(params, feats), flax_r, rtol=1e-6, atol=1e-6)
    ct = jax.random.normal(jax.random.PRNGKey(2), (9,))
    mine, ref = vjp(ct)[0]["params"], flax_vjp(ct)[0]["params"]
    # The output bias is held at zero (a reward shift changes no policy): no gradient.
    np.testing.assert_array_equal(mine["Dense_1"]["bias"], 0.0)
    assert float(np.abs(ref["Dense_1"]["bias"]).max()) > 0.1  # where autodiff gives one (ct does not sum to 0)
    ref["Dense_1"]["bias"] = mine["Dense_1"]["bias"]
    for g, h in zip(jax.tree.leaves(mine), jax.tree.leaves(ref)):
        assert g.dtype == h.dtype
        np.testing.assert_allclose(g, h, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("config", [mi.MCE, mi.DEEP_MAXENT, mi.Config(reward_model="mlp", hidden=(8,))])
def test_train_returns_the_reward_and_policy_of_its_final_parameters(config):
    mdp = tb.cliff_world(horizon=5, features="xy")
    data = mi.expert_data(mdp, _mce_expert(mdp))
    res = _train(config, jax.random.PRNGKey(0), data, mi.Hparams(lr=0.05, l2_coef=0.01), num_steps=7)
    trainer = mi.make_train(config)
    np.testing.assert_allclose(res.reward, trainer.reward(res.state.params, mdp), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.policy, trainer.policy(res.state.params, mdp), rtol=1e-12, atol=1e-12)
    assert int(res.state.step) == 7 and res.metrics["linf"].shape == (7,)
    # The same as stepping the trainer by hand.
    state = trainer.init(jax.random.PRNGKey(0), data, mi.Hparams(lr=0.05, l2_coef=0.01))
    step = jax.jit(trainer.step)
    for i in range(7):
        state, metrics = step(state, data, mi.Hparams(lr=0.05, l2_coef=0.01))
        # Two programs (a scan, a single step) round differently; Adam scales the rounding
        # up where the true gradient is zero (e.g. the bias of a unit active in every
        # state: the reward's shift, which no policy sees), so float64 agrees to ~1e-9.
        np.testing.assert_allclose(metrics["grad_norm"], res.metrics["grad_norm"][i], rtol=1e-8)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(res.state.params)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_deep_maxent_evd_falls_as_demos_grow():
    worlds = jax.vmap(lambda k: tb.objectworld(k, 10, horizon=16))(jax.random.split(jax.random.PRNGKey(0), 4))
    experts = jax.vmap(lambda m: _mce_expert(m, scale=3.0))(worlds)
    n_max = 2048

    @jax.jit
    def evd(n):
        def demos(mdp, pi, key):
            states = tb.sample_trajectories(key, mdp, pi, n_max).states
            weights = (jnp.arange(n_max) < n).astype(states.dtype)
            return mi.IRLData(mdp, mi.occupancy_from_trajectories(states, mdp.n_states, mdp.discount, weights))

        data = jax.vmap(demos)(worlds, experts, jax.random.split(jax.random.PRNGKey(1), 4))
        run = partial(mi.train, mi.DEEP_MAXENT, num_steps=1000)
        res = jax.vmap(run, in_axes=(None, 0, None))(jax.random.PRNGKey(2), data, mi.Hparams(lr=0.003))
        return jax.vmap(mi.expected_value_difference)(worlds, res.reward)

    means = [float(evd(n).mean()) for n in (8, 128, 2048)]
    assert means[0] > means[1] > means[2], means
    assert means[2] < 0.5 * means[0], means


def test_runs_under_the_jaxil_driver_in_chunks():
    from jaxil import loop

    mdp = tb.cliff_world(horizon=4)
    data = mi.expert_data(mdp, _mce_expert(mdp))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    res = loop.run(mi.make_train(mi.MCE), keys, mi.Hparams(lr=0.5), 40, demos=data, chunk_steps=20)
    assert res.metrics["linf"].shape == (2, 40)
    assert res.metrics["linf"][0, -1] < 0.5 * res.metrics["linf"][0, 0]
    np.testing.assert_array_equal(res.state.step, [40, 40])
