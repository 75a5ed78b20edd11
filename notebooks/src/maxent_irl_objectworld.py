# %% [markdown]
# # MaxEnt IRL on objectworld: linear vs deep vs apprenticeship learning
#
# **The papers.** Levine, Popović & Koltun (2011) introduced *objectworld* to show that a reward
# which is a nonlinear function of the features defeats IRL methods whose reward is linear in them.
# Objects with an outer and an inner colour lie on an $N \times N$ grid; a cell's reward is $+1$
# within distance 3 of outer colour 0 *and* distance 2 of outer colour 1, $-1$ within distance 3 of
# colour 0 only, 0 elsewhere. The features are distances to the nearest object of each colour (or
# binary "within distance $d$" indicators), so a linear reward cannot express the "and". Their
# objectworld figure plots the *expected value difference* (EVD: the true value of the optimal
# policy minus the true value of the policy that is optimal for the learned reward) against the
# number of demonstrations, for GPIRL (their Gaussian-process reward), MaxEnt (Ziebart et al. 2008,
# linear) and others including the apprenticeship-learning family (Abbeel & Ng 2004's descendants
# MWAL and LPAL): GPIRL's EVD falls with more demonstrations, the linear methods stay high.
# Wulfmeier, Ondrúška & Posner (2015) replaced the Gaussian process by a neural network trained
# through the same MaxEnt gradient (deep MaxEnt IRL); their objectworld EVD figure (32 x 32 grid,
# 2 colours, 8 to 128 demonstrations, on the training worlds and transferred to new ones) has DeepIRL
# below GPIRL below MaxEnt as the demonstrations grow.
#
# **Here.** jaxil runs three of those methods on its `objectworld` generator (binary distance
# features, 30% slip, discount 0.9), each world a new random placement of objects:
#
# * linear MaxEnt IRL (`maxent_irl.MCE`: the soft value iteration takes an expectation over the
#   slip, Ziebart 2010's causal form; the 2008 backward pass, a soft maximum over next states, is
#   optimistic under slip and costs an `[S, A, S]` log-sum-exp per backup);
# * deep MaxEnt IRL (`maxent_irl.DEEP_MAXENT`: an MLP over the standardised features);
# * apprenticeship learning, projection method (`apprenticeship`): its output is a mixture of
#   policies, scored as a policy; its last reward direction $w$ is scored too.
#
# GPIRL is not in jaxil, so its curve is missing. Every (seed, number of demonstrations) pair is one
# run, and all runs of one method are one jit-compiled, vmapped program. The seeds' worlds share
# the grid dynamics, so the vmap batches only features, rewards and demonstrations (the
# `in_axes` below) and every planning backup is one matrix product over all runs.

# %% tags=["parameters"]
import os

SCALE = os.environ.get("JAXIL_NOTEBOOK_SCALE", "full")  # "small" (CI, under a minute on a CPU) or "full"
SEEDS = 8  # random worlds (and demonstrations, and initialisations) per number of demonstrations
GRID = 32 if SCALE == "full" else 16  # N x N cells
OBJECTS = 40 if SCALE == "full" else 10  # one object per ~25 cells at both scales
DEMOS = (8, 16, 32, 64, 128) if SCALE == "full" else (8, 32, 128)  # expert trajectories
HORIZON = 32  # steps per demonstration and planning horizon; 0.9**32 = 0.03
DISCOUNT = 0.9
IRL_STEPS = 200  # gradient steps of linear and deep MaxEnt
LINEAR_LR = 0.02  # Adam; chosen on separate tuning worlds (16 x 16), as was DEEP_LR
DEEP_LR = 0.001
AL_ITERATIONS = 30  # policies added by apprenticeship learning

# %%
import json
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxil
from jaxil.algos import apprenticeship as al
from jaxil.algos import maxent_irl as mi
from jaxil.envs import tabular as tb

FIGURES = "figures"  # notebooks/figures when run from notebooks/
os.makedirs(FIGURES, exist_ok=True)
print("jaxil", jaxil.__version__, "jax", jax.__version__, "on", jax.devices()[0].platform)

# %% [markdown]
# ## Worlds and expert demonstrations
#
# `SEEDS` training worlds, and as many transfer worlds (new object placements) on which the learned
# reward *functions* are re-planned, as in both papers' transfer panels. The expert is the optimal
# finite-horizon policy for the true reward; each seed's demonstrations are the first $n$ of 128
# sampled trajectories (uniform start cell), so the demonstration sets are nested.

# %%
def worlds(key):
    make = lambda k: tb.objectworld(k, GRID, n_objects=OBJECTS, discrete_features=True,  # noqa: E731
                                    horizon=HORIZON, discount=DISCOUNT)
    batch = jax.vmap(make)(jax.random.split(key, SEEDS))
    # One copy of the dynamics (equal for every world of this grid and slip) for all seeds.
    return batch.replace(transitions=batch.transitions[0], initial=batch.initial[0], discount=batch.discount[0])


# vmap axes of such a batch: features and reward per world, dynamics shared.
SHARED = tb.TabularMDP(transitions=None, initial=None, features=0, reward=0, discount=None, horizon=HORIZON)

k_train, k_transfer, k_demo, k_learn = jax.random.split(jax.random.PRNGKey(2011), 4)
train_worlds, transfer_worlds = worlds(k_train), worlds(k_transfer)
print(f"{GRID} x {GRID} grid, {OBJECTS} objects, {train_worlds.n_features} binary features; "
      f"true reward +1 on {float((train_worlds.reward > 0).mean()):.0%} of cells, "
      f"-1 on {float((train_worlds.reward < 0).mean()):.0%}")


@jax.jit
def expert_states(mdps, key):
    def one(mdp, k):
        _, _, pi = mi.optimal_policy(mdp.transitions, mdp.reward, mdp.horizon, mdp.discount)
        return tb.sample_trajectories(k, mdp, pi, max(DEMOS)).states

    return jax.vmap(one, in_axes=(SHARED, 0))(mdps, jax.random.split(key, SEEDS))


states = expert_states(train_worlds, k_demo)  # [seeds, 128, T + 1]
# demo_weights[i] selects the first DEMOS[i] trajectories of every seed.
demo_weights = (jnp.arange(max(DEMOS))[None] < jnp.asarray(DEMOS)[:, None]).astype(jnp.float32)
optimal = jax.vmap(mi.optimal_return, in_axes=(SHARED,))(train_worlds)
uniform = jax.vmap(lambda m: mi.expected_return(m, mi.uniform_policy(m)), in_axes=(SHARED,))(train_worlds)
print(f"true value from a uniform start: optimal {float(optimal.mean()):.2f}, uniform random policy "
      f"{float(uniform.mean()):.2f} (mean over {SEEDS} worlds); EVD 0 is the optimum")

# %% [markdown]
# ## Linear and deep MaxEnt IRL
#
# The expert enters only through its empirical discounted state occupancy, so every number of
# demonstrations shares one compilation: the weights mask the trajectories a run does not see.
# The vmap runs over demonstration counts (outer) and seeds (inner).

# %%
def evd_of_reward(mdp, reward):
    return mi.expected_value_difference(mdp, reward)


def run_maxent(config, lr):
    trainer = mi.make_train(config)

    @jax.jit
    def run(train_mdps, transfer_mdps, states, weights, key):
        def one(mdp, target, st, w, k):
            occ = mi.occupancy_from_trajectories(st, mdp.n_states, mdp.discount, w)
            res = mi.train(config, k, mi.IRLData(mdp, occ), mi.Hparams(lr=lr), IRL_STEPS)
            moved = trainer.reward(res.state.params, target)  # the learned function on a new world
            return evd_of_reward(mdp, res.reward), evd_of_reward(target, moved), res.reward

        per_seed = jax.vmap(one, in_axes=(SHARED, SHARED, 0, None, 0))
        return jax.vmap(per_seed, in_axes=(None, None, None, 0, None))(
            train_mdps, transfer_mdps, states, weights, jax.random.split(key, SEEDS))

    return run


results, walls, rewards = {}, {}, {}
for name, config, lr in (("linear MaxEnt", mi.MCE, LINEAR_LR), ("deep MaxEnt", mi.DEEP_MAXENT, DEEP_LR)):
    start = time.perf_counter()
    evd, evd_transfer, learned = run_maxent(config, lr)(train_worlds, transfer_worlds, states, demo_weights, k_learn)
    results[name] = {"train": np.asarray(evd), "transfer": np.asarray(evd_transfer)}  # [demos, seeds]
    rewards[name] = np.asarray(learned[-1, 0])  # most demonstrations, first world
    walls[name] = time.perf_counter() - start
    print(f"{name}: {len(DEMOS) * SEEDS} runs x {IRL_STEPS} steps in {walls[name]:.0f} s (compilation included)")

# %% [markdown]
# ## Apprenticeship learning (Abbeel & Ng 2004, projection method)
#
# Matches feature expectations instead of occupancies. Its policy is the mixture of the policies it
# planned; it is scored by its true value like the others ("AL policy"). The reward direction $w$ of
# its last iteration is also scored through its optimal policy ("AL reward"), on the training worlds
# and transferred. The demonstration counts run one after another (`lax.map`) because each run holds
# `AL_ITERATIONS + 1` time-indexed policies.

# %%
@jax.jit
def run_al(train_mdps, transfer_mdps, states, weights, key):
    config = al.Config(method="projection", iterations=AL_ITERATIONS)
    trainer = al.make_train(config)

    def one(mdp, target, st, w, k):
        res = al.train(config, k, al.ALData(mdp, al.demo_feature_expectations(mdp, st, w)))
        policy_evd = mi.optimal_return(mdp) - mi.expected_return(mdp, res.policy)
        return (policy_evd, evd_of_reward(mdp, res.reward), evd_of_reward(target, trainer.reward(res.state, target)),
                res.reward)

    per_seed = jax.vmap(one, in_axes=(SHARED, SHARED, 0, None, 0))
    keys = jax.random.split(key, SEEDS)
    return jax.lax.map(lambda w: per_seed(train_mdps, transfer_mdps, states, w, keys), weights)


start = time.perf_counter()
policy_evd, reward_evd, reward_transfer, learned = run_al(train_worlds, transfer_worlds, states, demo_weights, k_learn)
results["AL policy"] = {"train": np.asarray(policy_evd)}
results["AL reward"] = {"train": np.asarray(reward_evd), "transfer": np.asarray(reward_transfer)}
rewards["AL reward"] = np.asarray(learned[-1, 0])
walls["AL"] = time.perf_counter() - start
print(f"AL: {len(DEMOS) * SEEDS} runs x {AL_ITERATIONS} iterations in {walls['AL']:.0f} s (compilation included)")

# %% [markdown]
# ## EVD by number of demonstrations
#
# Mean over the seeds' worlds with a 95% confidence interval (t-free normal approximation,
# $1.96\,\mathrm{sd}/\sqrt{n}$).

# %%
def mean_ci(x):
    x = np.asarray(x)
    return x.mean(-1), 1.96 * x.std(-1, ddof=1) / np.sqrt(x.shape[-1])


for split in ("train", "transfer"):
    names = [n for n in results if split in results[n]]
    print(f"EVD on {split} worlds, mean ± 95% CI over {SEEDS} worlds")
    print(f"{'demos':>5s} | " + " | ".join(f"{n:>15s}" for n in names))
    for i, k in enumerate(DEMOS):
        cells = [mean_ci(results[n][split][i]) for n in names]
        print(f"{k:5d} | " + " | ".join(f"{m:7.3f} ± {h:5.3f}" for m, h in cells))

# %%
STYLE = {"linear MaxEnt": ("C1", "o-"), "deep MaxEnt": ("C0", "s-"), "AL policy": ("C2", "^-"),
         "AL reward": ("C2", "^--")}
fig, axes = plt.subplots(1, 4, figsize=(17, 4), gridspec_kw={"width_ratios": [1.25, 1.25, 1, 1]})
for ax, split in zip(axes[:2], ("train", "transfer")):
    for name, (color, fmt) in STYLE.items():
        if split in results[name]:
            mean, half = mean_ci(results[name][split])
            ax.errorbar(DEMOS, mean, yerr=half, fmt=fmt, color=color, capsize=3, label=name)
    ax.set(xscale="log", xticks=DEMOS, xticklabels=[str(k) for k in DEMOS], xlabel="expert trajectories",
           ylabel="expected value difference", ylim=(0, None),
           title=f"{'training' if split == 'train' else 'transfer'} worlds, {SEEDS} seeds (95% CI)")
    ax.legend(fontsize=8)
grid = lambda r: np.asarray(r).reshape(GRID, GRID)  # noqa: E731
axes[2].imshow(grid(train_worlds.reward[0]), cmap="RdBu", vmin=-1, vmax=1)
axes[2].set_title("true reward, world 0 (blue +1, red -1)")
# A reward's policy does not change when a constant is added: centre on the median, and scale
# by the 90th percentile of its size (colours clipped beyond) so that a few extreme cells do not
# wash out the picture.
deep = rewards["deep MaxEnt"] - np.median(rewards["deep MaxEnt"])
scale = np.percentile(np.abs(deep), 90)
axes[3].imshow(grid(deep), cmap="RdBu", vmin=-scale, vmax=scale)
axes[3].set_title(f"deep MaxEnt reward, {max(DEMOS)} traj")
for ax in axes[2:]:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"objectworld {GRID} x {GRID}, {OBJECTS} objects, 2 colours, slip 0.3, discount {DISCOUNT}, "
             f"T = {HORIZON}")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "maxent_irl_objectworld.png"), dpi=110)
plt.show()

# %% [markdown]
# ## Paper vs jaxil
#
# The papers' figures are described, not copied: both plot EVD (y) against the number of
# demonstrations on a log axis (x), training worlds and transfer worlds in separate panels.

# %%
def at(name, split, i):
    return f"{results[name][split][i].mean():.2f}"


lo, hi = 0, len(DEMOS) - 1
span = f"{DEMOS[lo]} -> {DEMOS[hi]} traj"
setting = f"{GRID}x{GRID}, {OBJECTS} obj, 2 colours, binary features, T={HORIZON}, {SEEDS} seeds"
deep_vs_linear = lambda s: "; ".join(f"{k}: deep {at('deep MaxEnt', s, i)} vs linear {at('linear MaxEnt', s, i)}"  # noqa: E731
                                     for i, k in enumerate(DEMOS))
rows = [
    ("Wulfmeier et al. 2015, objectworld EVD (training)",
     "DeepIRL < GPIRL < MaxEnt; DeepIRL keeps falling with more demos",
     f"EVD {deep_vs_linear('train')}", setting),
    ("Wulfmeier et al. 2015, objectworld EVD (transfer)", "DeepIRL lowest on new worlds too",
     f"EVD {deep_vs_linear('transfer')}", setting + ", new object placements"),
    ("Levine et al. 2011, objectworld EVD", "MaxEnt (linear) stays well above GPIRL as demos grow",
     f"linear MaxEnt {at('linear MaxEnt', 'train', lo)} -> {at('linear MaxEnt', 'train', hi)} over {span}: it "
     f"falls, but ends {results['linear MaxEnt']['train'][hi].mean() / results['deep MaxEnt']['train'][hi].mean():.1f}x "
     f"deep MaxEnt's EVD (no GPIRL to compare with)", setting),
    ("Levine et al. 2011, objectworld EVD (AL family: MWAL, LPAL)", "high EVD, near MaxEnt or above",
     f"AL policy {at('AL policy', 'train', lo)} -> {at('AL policy', 'train', hi)}, "
     f"AL reward {at('AL reward', 'train', lo)} -> {at('AL reward', 'train', hi)} over {span}",
     setting + "; Abbeel & Ng projection, not MWAL/LPAL"),
    ("both papers: GPIRL curve", "between DeepIRL and MaxEnt", "not run: GPIRL is not in jaxil", "-"),
    ("Levine et al. 2011: features", "continuous distances and binary within-d indicators", "binary indicators only",
     "-"),
    ("both papers: setting", "infinite horizon, discount 0.9", f"finite horizon T={HORIZON} at discount 0.9 "
     f"(0.9^{HORIZON} = {0.9 ** HORIZON:.2f} of the value ignored)", "-"),
]
print(f"{'paper':58s} | {'paper figure':62s} | {'jaxil figure':70s} | setting")
for r in rows:
    print(f"{r[0]:58s} | {r[1]:62s} | {r[2]:70s} | {r[3]}")

summary = {"scale": SCALE, "seeds": SEEDS, "grid": GRID, "objects": OBJECTS, "demos": DEMOS, "horizon": HORIZON,
           "discount": DISCOUNT, "irl_steps": IRL_STEPS, "al_iterations": AL_ITERATIONS,
           "optimal_value": float(optimal.mean()), "uniform_value": float(uniform.mean()),
           "evd_mean": {n: {s: v.mean(-1).tolist() for s, v in r.items()} for n, r in results.items()},
           "evd": {n: {s: v.tolist() for s, v in r.items()} for n, r in results.items()}, "wall_s": walls}
with open(os.path.join(FIGURES, "maxent_irl_objectworld.json"), "w") as f:
    json.dump(summary, f, indent=1)
