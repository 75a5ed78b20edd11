# %% [markdown]
# # jaxil quickstart: BC, DAgger, GAIL, AIRL and ValueDICE over vmapped seeds
#
# A tour for a new user. jaxil ships an expert policy and 20 expert demonstrations for gymnax
# CartPole-v1 and Pendulum-v1. This notebook
#
# 1. loads the shipped demonstrations and looks at them;
# 2. trains behavioural cloning (BC) on them, all seeds in one compiled program;
# 3. trains BC and DAgger (which asks the shipped expert to label the states its learner visits) at
#    several numbers of expert trajectories, every (trajectories, seed) pair in one program;
# 4. trains GAIL and AIRL (adversarial imitation over jaxil's PPO or SAC) from one trajectory, and
#    ValueDICE offline from the same trajectory;
# 5. does the same on pendulum (continuous actions) with the same code;
# 6. plots and compares, against what the papers that introduced each method report.
#
# Every algorithm has the same shape: `make_train(config, env)` returns a `Trainer` of pure
# `init` / `step` functions, and `jaxil.loop.run` compiles `jit(vmap(scan(step)))` over seeds and runs
# it in chunks. Scores are *normalized returns*: 0 is a uniform random policy, 1 the shipped expert.
# From the shell, `jaxil quickstart` runs the cartpole part of this (and PPO from scratch).

# %% tags=["parameters"]
import os

SCALE = os.environ.get("JAXIL_NOTEBOOK_SCALE", "full")  # "small" (CI, about a minute on a CPU) or "full"
SEEDS = 4 if SCALE == "full" else 2
CARTPOLE_TRAJ = (1, 4, 10) if SCALE == "full" else (1, 4)
PENDULUM_TRAJ = (1, 4, 16) if SCALE == "full" else (1, 4)
BC_STEPS = 40  # logged points of 50 BC updates each
DAGGER_ROUNDS = 5
ADVERSARIAL_STEPS = 300 if SCALE == "full" else 20  # cartpole GAIL / AIRL: PPO iterations of 1024 env steps
# Pendulum GAIL on SAC: trainer steps of 4 env steps (8000: jaxil train's default); skipped at small scale,
# where compiling SAC would take most of the time (gail_vs_bc runs it in the tests).
PENDULUM_GAIL_STEPS = 8000 if SCALE == "full" else 0
VALUEDICE_STEPS = 30 if SCALE == "full" else 2  # offline ValueDICE: trainer steps of 100 updates

# %%
import json
import time

import jax
import matplotlib.pyplot as plt
import numpy as np

import jaxil
from jaxil import algos, data, envs, experts, loop
from jaxil import logging as jlog
from jaxil.algos import airl, bc, dagger, gail, offpolicy, valuedice
from jaxil.data import mixed

FIGURES = "figures"  # notebooks/figures when run from notebooks/
os.makedirs(FIGURES, exist_ok=True)
print("jaxil", jaxil.__version__, "jax", jax.__version__, "on", jax.devices()[0].platform)

# %% [markdown]
# ## 1. Shipped demonstrations
#
# `experts.resolve_demos("cartpole")` is the path of the shipped `.npz` (any other string is taken
# as a path to your own). `data.load_demos` checks the arrays against the env (observation and
# action sizes, dtypes, finiteness) and returns a `Demos` pytree with a leading transition axis and
# its metadata (the env it was recorded on, episode returns, reference scores).

# %%
env = envs.make("cartpole")
demos, meta = data.load_demos(experts.resolve_demos("cartpole"), env)
print(env.spec)
print(f"{data.num_episodes(demos)} episodes, {demos.obs.shape[0]} transitions; source: {meta.source}")
print(f"expert return {meta.expert_return:.1f}, uniform random policy {meta.random_return:.1f}")
for field in demos._fields:
    x = getattr(demos, field)
    print(f"  {field:10s} {str(x.dtype):8s} {x.shape}")

# %% [markdown]
# ## 2. BC on one trajectory, 4 seeds in one program
#
# `loop.run(trainer, keys, hparams, steps, demos=...)` initialises one run per key and steps them all
# together; metrics come back as `[seeds, steps]` arrays. `experts.evaluate_seeds` rolls out every
# seed's deterministic policy (32 episodes each) and `experts.normalize` scales the returns.

# %%
one_traj = data.to_jax(data.select_trajectories(demos, 1))
trainer = bc.make_train(bc.Config(), env)
keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
run = loop.run(trainer, keys, bc.Hparams(), BC_STEPS, demos=one_traj)
returns = experts.evaluate_seeds(env, trainer, run.state, jax.random.PRNGKey(1)).mean(1)
print(f"BC, 1 trajectory: {run.wall_s:.1f} s for {SEEDS} seeds; loss {run.metrics['loss'][:, 0].mean():.3f} -> "
      f"{run.metrics['loss'][:, -1].mean():.3f}")
print("return per seed", np.round(returns, 1), "normalized", np.round(experts.normalize("cartpole", returns), 3))

# %% [markdown]
# ## 3. BC and DAgger by number of trajectories, one program each
#
# `data.stack_subsets(demos, counts, repeats=SEEDS)` pads the first 1, 4, 10 trajectories to one
# shape and stacks them with a leading run axis; `loop.run(..., demos_axis=0)` gives run $i$ its own
# subset, so all trajectory counts and seeds of an algorithm are one compilation. DAgger's expert is
# the shipped policy (`experts.load_expert`), queried inside the compiled program.

# %%
def score_by_trajectories(env_name, trainer, hparams, steps, counts, demos):
    stacked = data.to_jax(data.stack_subsets(demos, counts, repeats=SEEDS))
    keys = jax.random.split(jax.random.PRNGKey(0), len(counts) * SEEDS)
    run = loop.run(trainer, keys, hparams, steps, demos=stacked, demos_axis=0)
    returns = experts.evaluate_seeds(envs.make(env_name), trainer, run.state, jax.random.PRNGKey(1)).mean(1)
    return experts.normalize(env_name, returns).reshape(len(counts), SEEDS), run.wall_s


def imitation_trainers(env_name, env):
    spec, params = experts.load_expert(env_name, env)
    return {"BC": (bc.make_train(bc.Config(), env), bc.Hparams(), BC_STEPS),
            "DAgger": (dagger.make_train(dagger.Config(num_rounds=DAGGER_ROUNDS), env,
                                         dagger.policy_expert(spec, params)), dagger.Hparams(), DAGGER_ROUNDS)}


scores = {"cartpole": {}, "pendulum": {}}  # env -> algorithm -> [trajectory counts, seeds]
walls = {"cartpole": {}, "pendulum": {}}
for name, (trainer, hp, steps) in imitation_trainers("cartpole", env).items():
    scores["cartpole"][name], walls["cartpole"][name] = score_by_trajectories(
        "cartpole", trainer, hp, steps, CARTPOLE_TRAJ, demos)
    print(f"cartpole {name}: {len(CARTPOLE_TRAJ) * SEEDS} runs in {walls['cartpole'][name]:.1f} s")

# %% [markdown]
# ## 4. GAIL and AIRL from one trajectory
#
# `algos.defaults(algo, env_name)` gives the `(config, hparams, steps)` that `jaxil train` uses: on
# cartpole, PPO with the settings of the expert's own recipe under the discriminator's reward, and
# for AIRL the policy trained on softplus of the logit (cartpole ends episodes on failure, and a
# reward that can be negative would teach the policy to fail early). The learning curves are the
# true env returns of the episodes the learner played while training.

# %%
curves = {}


def adversarial(env_name, algo, module, steps, trajectories):
    env = envs.make(env_name)
    config, hp, _ = algos.defaults(algo, env_name)
    trainer = module.make_train(config, env)
    d, _ = data.load_demos(experts.resolve_demos(env_name), env)
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    run = loop.run(trainer, keys, hp, steps, demos=data.to_jax(data.select_trajectories(d, trajectories)),
                   chunk_steps=max(1, steps // 10))
    returns = experts.evaluate_seeds(env, trainer, run.state, jax.random.PRNGKey(1)).mean(1)
    x = np.arange(1, steps + 1) * trainer.env_steps_per_step
    curves[f"{env_name} {algo.upper()}"] = (x, jlog.smooth_nan(run.metrics["episode_return"]))
    return experts.normalize(env_name, returns)[None], run.wall_s  # [1 trajectory count, seeds]


for algo, module in (("gail", gail), ("airl", airl)):
    name = algo.upper()
    scores["cartpole"][name], walls["cartpole"][name] = adversarial("cartpole", algo, module, ADVERSARIAL_STEPS, 1)
    print(f"cartpole {name}: {SEEDS} runs x {ADVERSARIAL_STEPS * 1024} env steps in {walls['cartpole'][name]:.0f} s")

# %% [markdown]
# ## 4b. ValueDICE, offline, from one trajectory
#
# ValueDICE (Kostrikov et al. 2020) matches the expert's state-action distribution off-policy:
# here fully offline, from the expert trajectory plus a fixed dataset of non-expert episodes (the
# shipped expert acting at random half the time, `jaxil.data.mixed`) in place of a replay buffer,
# with no env interaction at all. Its default networks are 256 wide as in the paper; 64 wide keeps
# this tour CPU-sized. `notebooks/offline_imitation.ipynb` goes further (online, IQ-Learn, SQIL,
# offline RL).

# %%
vd_config = valuedice.Config(offline=True, num_updates=100, hidden=(64, 64))
vd_trainer = valuedice.make_train(vd_config, env)
non_expert = data.to_jax(mixed.non_expert("cartpole").demos)
pair = offpolicy.ExpertAndReplay(one_traj, non_expert)  # the same pair for every seed
vd_run = loop.run(vd_trainer, jax.random.split(jax.random.PRNGKey(0), SEEDS), valuedice.Hparams(actor_lr=1e-4),
                  VALUEDICE_STEPS, demos=pair)
vd_returns = experts.evaluate_seeds(env, vd_trainer, vd_run.state, jax.random.PRNGKey(1)).mean(1)
scores["cartpole"]["ValueDICE"] = experts.normalize("cartpole", vd_returns)[None]  # [1 trajectory count, seeds]
walls["cartpole"]["ValueDICE"] = vd_run.wall_s
print(f"cartpole ValueDICE offline: {SEEDS} runs x {VALUEDICE_STEPS * 100} updates in {vd_run.wall_s:.0f} s; "
      f"normalized {np.round(scores['cartpole']['ValueDICE'][0], 3)}")

# %% [markdown]
# ## 5. The same on pendulum (continuous actions)
#
# Only the env name changes: BC fits a Gaussian policy, DAgger queries the shipped SAC expert, and
# `algos.defaults("gail", "pendulum")` puts GAIL's discriminator over SAC (off-policy; its replay
# batches are relabelled with the current reward), which needs tens of thousands of env steps where
# PPO needs millions.

# %%
p_env = envs.make("pendulum")
p_demos, p_meta = data.load_demos(experts.resolve_demos("pendulum"), p_env)
print(f"pendulum: {data.num_episodes(p_demos)} episodes, expert return {p_meta.expert_return:.1f}, "
      f"random {p_meta.random_return:.1f}")
for name, (trainer, hp, steps) in imitation_trainers("pendulum", p_env).items():
    scores["pendulum"][name], walls["pendulum"][name] = score_by_trajectories(
        "pendulum", trainer, hp, steps, PENDULUM_TRAJ, p_demos)
    print(f"pendulum {name}: {len(PENDULUM_TRAJ) * SEEDS} runs in {walls['pendulum'][name]:.1f} s")
if PENDULUM_GAIL_STEPS:
    scores["pendulum"]["GAIL"], walls["pendulum"]["GAIL"] = adversarial("pendulum", "gail", gail,
                                                                        PENDULUM_GAIL_STEPS, 1)
    print(f"pendulum GAIL: {SEEDS} runs x {PENDULUM_GAIL_STEPS * 4} env steps in {walls['pendulum']['GAIL']:.0f} s")

# %% [markdown]
# ## 6. Compare
#
# Normalized return, mean over seeds and [worst seed].

# %%
COUNTS = {"cartpole": CARTPOLE_TRAJ, "pendulum": PENDULUM_TRAJ}


def counts_of(env_name, algo):
    return COUNTS[env_name] if algo in ("BC", "DAgger") else (1,)


for env_name, by_algo in scores.items():
    print(f"{env_name}: normalized return, mean [worst seed] over {SEEDS} seeds")
    for algo, s in by_algo.items():
        cells = [f"{k} traj {s[i].mean():6.3f} [{s[i].min():6.3f}]" for i, k in enumerate(counts_of(env_name, algo))]
        print(f"  {algo:7s} " + " | ".join(cells) + f"   ({walls[env_name][algo]:.0f} s)")

# %%
STYLE = {"BC": ("C3", "o-"), "DAgger": ("C0", "s-"), "GAIL": ("C2", "D"), "AIRL": ("C4", "^"),
         "ValueDICE": ("C1", "v")}
fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
for ax, env_name in zip(axes[:2], ("cartpole", "pendulum")):
    for algo, s in scores[env_name].items():
        color, fmt = STYLE[algo]
        ks = counts_of(env_name, algo)
        mean = s.mean(1)
        ax.plot(ks, mean, fmt, color=color, ms=8, label=algo)
        ax.scatter(np.repeat(ks, SEEDS), s.reshape(-1), color=color, alpha=0.35, s=12)
    ax.axhline(1.0, ls="--", c="gray", label="expert")
    ax.axhline(0.0, ls=":", c="gray", label="random")
    ax.set(xscale="log", xticks=COUNTS[env_name], xticklabels=[str(k) for k in COUNTS[env_name]],
           xlabel="expert trajectories", ylabel="normalized return",
           title=f"{env_name}: mean (line) and seeds (dots), {SEEDS} seeds")
    ax.legend(loc="lower right")
ref = {n: experts.reference_returns(n) for n in ("cartpole", "pendulum")}
for name, (x, y) in curves.items():
    env_name = name.split()[0]
    lo, hi = ref[env_name]
    norm = (y - lo) / (hi - lo)
    axes[2].plot(x / 1e3, norm.mean(0), color=STYLE[name.split()[1]][0],
                 ls="-" if env_name == "cartpole" else "--", label=name)
axes[2].set(xscale="log", xlabel="env steps (thousands)", ylabel="normalized return of training episodes",
            title="adversarial learners while training, 1 traj")
axes[2].axhline(1.0, ls="--", c="gray")
axes[2].legend()
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "00_quickstart.png"), dpi=110)
plt.show()

# %% [markdown]
# ## Paper vs jaxil
#
# Each method's paper makes a claim about this regime (few expert trajectories, classic control);
# jaxil's numbers at the settings above sit beside it. The papers' experiments used other tasks and
# budgets, so the comparison is of the trend, not of the numbers.

# %%
def mean_at(env_name, algo, k):
    return scores[env_name][algo][counts_of(env_name, algo).index(k)].mean()


def bc_trend(env_name):
    return " -> ".join(f"{mean_at(env_name, 'BC', k):.2f}" for k in COUNTS[env_name])


c, p = "cartpole", "pendulum"
rows = [
    ("Ross, Gordon & Bagnell 2011 (DAgger)", "DAgger reaches expert with fewer demos than BC",
     f"{c} 1 traj: DAgger {mean_at(c, 'DAgger', 1):.2f} vs BC {mean_at(c, 'BC', 1):.2f}; "
     f"{p} 1 traj: DAgger {mean_at(p, 'DAgger', 1):.2f} vs BC {mean_at(p, 'BC', 1):.2f}",
     f"{SEEDS} seeds, {DAGGER_ROUNDS} rounds of 4 episodes"),
    ("Ho & Ermon 2016 (GAIL), Fig. 1", "GAIL near expert from 1 traj on classic control; BC below",
     f"{c} GAIL {mean_at(c, 'GAIL', 1):.2f} (BC {mean_at(c, 'BC', 1):.2f}); " + (
         f"{p} GAIL {mean_at(p, 'GAIL', 1):.2f} (BC {mean_at(p, 'BC', 1):.2f})" if "GAIL" in scores[p] else
         f"{p}: not run at this scale"),
     f"{c}: PPO, {ADVERSARIAL_STEPS * 1024 // 1000}k env steps; {p}: SAC, {PENDULUM_GAIL_STEPS * 4 // 1000}k env "
     f"steps; whole trajectories (paper subsamples every 20th step)"),
    ("Fu, Luo & Levine 2018 (AIRL), imitation", "AIRL about as good as GAIL",
     f"{c} 1 traj: AIRL {mean_at(c, 'AIRL', 1):.2f} vs GAIL {mean_at(c, 'GAIL', 1):.2f}",
     f"{c}, {SEEDS} seeds, policy on softplus(logit); paper's tasks are MuJoCo"),
    ("Kostrikov et al. 2020 (ValueDICE), Fig. 4", "offline ValueDICE from 1 traj at or above BC",
     f"{c} 1 traj: ValueDICE {mean_at(c, 'ValueDICE', 1):.2f} vs BC {mean_at(c, 'BC', 1):.2f}",
     f"{c}, {SEEDS} seeds, offline, {VALUEDICE_STEPS * 100} updates, 64-64 networks, 16 non-expert episodes"),
    ("Ho & Ermon 2016, Fig. 1 (BC)", "BC improves with more trajectories",
     f"{c} BC {bc_trend(c)} over {CARTPOLE_TRAJ} traj; {p} BC {bc_trend(p)} over {PENDULUM_TRAJ}",
     f"{SEEDS} seeds"),
]
print(f"{'paper':40s} | {'paper figure':58s} | {'jaxil figure':70s} | setting")
for r in rows:
    print(f"{r[0]:40s} | {r[1]:58s} | {r[2]:70s} | {r[3]}")

summary = {"scale": SCALE, "seeds": SEEDS, "trajectories": {c: CARTPOLE_TRAJ, p: PENDULUM_TRAJ},
           "adversarial_trajectories": 1, "cartpole_adversarial_env_steps": ADVERSARIAL_STEPS * 1024,
           "pendulum_gail_env_steps": PENDULUM_GAIL_STEPS * 4,
           "normalized": {e: {a: s.tolist() for a, s in by.items()} for e, by in scores.items()},
           "normalized_mean": {e: {a: s.mean(1).tolist() for a, s in by.items()} for e, by in scores.items()},
           "wall_s": walls}
with open(os.path.join(FIGURES, "00_quickstart.json"), "w") as f:
    json.dump(summary, f, indent=1)

# %% [markdown]
# **Where jaxil differs from the papers.** On cartpole every method, BC included, is at the expert
# from one whole trajectory, so the BC-below-GAIL and BC-below-DAgger gaps of Ho & Ermon's and
# Ross et al.'s figures do not appear there: Ho & Ermon keep only every 20th transition of each
# trajectory, and jaxil's shipped cartpole expert is easy to clone. Pendulum shows the papers' trend:
# from one trajectory BC is below a random policy while DAgger and GAIL are near the expert, and BC
# needs 16 trajectories to catch up. AIRL is compared with GAIL on cartpole only (its paper's
# imitation comparison with GAIL is on MuJoCo tasks).
