# %% [markdown]
# # ValueDICE, off-policy and offline imitation, and the line to offline RL
#
# Kostrikov, Nachum & Tompson (2020) rewrite the KL divergence between the policy's and the
# expert's state-action distributions in Donsker-Varadhan form, with a value-like function nu, so
# that it can be minimised from expert transitions and replay data alone: **ValueDICE**. Their
# claims, and what this notebook measures with jaxil:
#
# 1. *Online*, ValueDICE imitates from one trajectory with far fewer env steps than adversarial
#    imitation (their Figure 2: an order of magnitude fewer than GAIL/DAC on MuJoCo). Here:
#    pendulum, one expert trajectory, ValueDICE and IQ-Learn (Garg et al. 2021) against GAIL on SAC
#    and SQIL (Reddy et al. 2020); env steps until the deterministic policy scores 0.9.
# 2. *Offline*, with expert data plus a fixed non-expert dataset and no env interaction, ValueDICE
#    beats BC at 1 trajectory (their Figure 4). Here: cartpole and pendulum, 1 / 4 / 16
#    trajectories, BC, ValueDICE offline and IQ-Learn offline.
# 3. *With rewards* (offline RL) a learner can exceed the behaviour in a mixed-quality dataset,
#    which imitation cannot: IQL (Kostrikov et al. 2022) against BC and filtered BC on expert +
#    medium + random pendulum episodes.
#
# Scores are normalized returns: 0 a uniform random policy, 1 the shipped expert.

# %% tags=["parameters"]
import os

SCALE = os.environ.get("JAXIL_NOTEBOOK_SCALE", "full")  # "small" (CI) or "full"
FULL = SCALE == "full"
SEEDS_ONLINE = 4 if FULL else 1
SEEDS_OFFLINE = 5 if FULL else 1
# ValueDICE's budget is its pendulum default's (`algos.defaults("valuedice", "pendulum")`): 200k env steps.
ONLINE_ENV_STEPS = {"ValueDICE": 200_000, "IQ-Learn": 4000, "GAIL (SAC)": 32000, "GAIL (PPO)": 2_048_000,
                    "SQIL": 20000} if FULL else {"ValueDICE": 1600, "IQ-Learn": 600}
EVALS = 20 if FULL else 2  # evaluations per online run
ONLINE_UPDATES = 10 if FULL else 1  # IQ-Learn gradient steps per env step
OFFLINE_ENVS = ("cartpole", "pendulum") if FULL else ("cartpole",)
TRAJECTORIES = (1, 4, 16) if FULL else (1, 4)
OFFLINE_UPDATES = 3000 if FULL else 200  # ValueDICE / IQ-Learn offline gradient steps
IQL_UPDATES = 3000 if FULL else 200
# ValueDICE / IQ-Learn networks. The papers use (256, 256); on a 2-core CPU that costs about
# 50 ms per update per seed (hours for this notebook), (64, 64) about a tenth. Set (256, 256) on a GPU.
HIDDEN = (64, 64)

# %%
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxil
from jaxil import algos, data, envs, eval as ev, experts, loop
from jaxil.algos import bc, filtered_bc, gail, iql, iqlearn, offpolicy, sqil, valuedice
from jaxil.data import mixed
from jaxil.rl import sac

FIGURES = "figures"
os.makedirs(FIGURES, exist_ok=True)
print("jaxil", jaxil.__version__, "jax", jax.__version__, "on", jax.devices()[0].platform)
t_start = time.perf_counter()

# %% [markdown]
# ## 1. Online, one trajectory: env steps to 0.9
#
# Every method learns from the first shipped pendulum trajectory, all seeds in one program; every
# `budget / EVALS` env steps each seed's deterministic policy is evaluated on 16 episodes
# (`loop.run`'s `on_chunk` hook sees the batched state between compiled chunks).
#
# - **ValueDICE** runs jaxil's pendulum default (`algos.defaults("valuedice", "pendulum")`, the setting
#   measured over 8 seeds in
#   `benchmarks/results/offline_imitation-2026-12-06-cpu-online-valuedice-p0replay-avg-actor3e-5-200k-vs-gail.md`):
#   `HIDDEN` networks, 4 envs and 4 updates per trainer step (one update per env step) after 1000 random
#   env steps, actor lr 3e-5 (nu's 1e-3), the deterministic action plus Gaussian noise of std 0.3 as
#   behaviour, the initial-state term on replay states (`initial_states="replay"`), and the scored policy
#   a Polyak average of the actor's iterates (`policy_average=1e-3`).
# - **IQ-Learn** takes `ONLINE_UPDATES` (10) updates per env step after 400 random steps.
# - **GAIL** runs on SAC (jaxil's pendulum default) and, as Ho & Ermon ran it, on PPO (fresh rollouts
#   for every policy update; jaxil's shared PPO settings). **SQIL** uses the SAC settings for pendulum.

# %%
p_env = envs.make("pendulum")
p_demos, p_meta = data.load_demos(experts.resolve_demos("pendulum"), p_env)
one_traj = data.to_jax(data.select_trajectories(p_demos, 1))
gail_config, gail_hp, _ = algos.defaults("gail", "pendulum")
valuedice_config, valuedice_hp, _ = algos.defaults("valuedice", "pendulum")
VALUEDICE_ONLINE = dataclasses.replace(valuedice_config, hidden=HIDDEN,
                                       learning_starts=valuedice_config.learning_starts if FULL else 400)
ONLINE = {
    "ValueDICE": (valuedice.make_train(VALUEDICE_ONLINE, p_env), valuedice_hp),
    "IQ-Learn": (iqlearn.make_train(iqlearn.Config(num_updates=ONLINE_UPDATES, learning_starts=400, buffer_size=20_000,
                                                   hidden=HIDDEN), p_env),
                 iqlearn.Hparams()),
    "GAIL (SAC)": (gail.make_train(gail_config, p_env), gail_hp),
    "GAIL (PPO)": (gail.make_train(dataclasses.replace(gail_config, learner="ppo"), p_env), gail_hp),
    "SQIL": (sqil.make_train(sqil.Config(), p_env), sac.Hparams()),
}
curves, online_wall = {}, {}
for name, budget in ONLINE_ENV_STEPS.items():
    trainer, hp = ONLINE[name]
    steps = budget // trainer.env_steps_per_step
    chunk = max(1, steps // EVALS)
    points = []

    def on_chunk(done, state, metrics, trainer=trainer, points=points):
        returns = experts.evaluate_seeds(p_env, trainer, state, jax.random.PRNGKey(done), 16).mean(1)
        points.append((done * trainer.env_steps_per_step, experts.normalize("pendulum", returns)))

    run = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), SEEDS_ONLINE), hp, chunk * (steps // chunk),
                   demos=one_traj, chunk_steps=chunk, on_chunk=on_chunk)
    curves[name] = (np.array([p[0] for p in points]), np.stack([p[1] for p in points]))  # [evals], [evals, seeds]
    online_wall[name] = run.wall_s
    print(f"{name}: {run.wall_s:.0f} s; final normalized mean {curves[name][1][-1].mean():.2f}, "
          f"worst {curves[name][1][-1].min():.2f}")


def steps_to(name, target=0.9):
    """First evaluated env step count at which every seed scores >= target (None: never)."""
    x, y = curves[name]
    hit = np.flatnonzero(y.min(1) >= target)
    return int(x[hit[0]]) if hit.size else None


def seed_steps_to(name, target=0.9):
    """Per seed, the first evaluated env step count scoring >= target (None: never), and their median
    with a seed that never got there counted as beyond the budget (None if that decides the median)."""
    first = ev.first_reaching(*curves[name], target)
    median = ev.censored_median(first)
    return first, (int(median) if np.isfinite(median) else None)  # evaluation points are even: an int


reach = {name: seed_steps_to(name) for name in curves}
for name, (first, median) in reach.items():
    print(f"{name}: every seed at 0.9 by {steps_to(name)}; per seed {first}; median {median}")

# %% [markdown]
# ## 2. Offline: expert data (+ a fixed non-expert dataset), no env interaction
#
# ValueDICE offline takes the expert demos and, as its replay data, 16 episodes of the shipped
# expert acting with random actions at the env's medium rate (`jaxil.data.mixed`); IQ-Learn offline
# takes the expert demos only (the paper's offline variant); BC the expert demos. Every
# (trajectories, seed) pair of a method is one run of one vmapped program.

# %%
def offline_scores(env_name):
    env = envs.make(env_name)
    expert, _ = data.load_demos(experts.resolve_demos(env_name), env)
    stacked = data.to_jax(data.stack_subsets(expert, TRAJECTORIES, repeats=SEEDS_OFFLINE))
    runs = len(TRAJECTORIES) * SEEDS_OFFLINE
    replay = data.to_jax(mixed.non_expert(env_name).demos)
    replay = jax.tree.map(lambda x: jnp.broadcast_to(x, (runs, *x.shape)), replay)
    steps = OFFLINE_UPDATES // 100
    methods = {
        "BC": (bc.make_train(bc.Config(), env), bc.Hparams(), 40, stacked),
        "ValueDICE": (valuedice.make_train(valuedice.Config(offline=True, num_updates=100, hidden=HIDDEN), env),
                      valuedice.Hparams(actor_lr=1e-4), steps, offpolicy.ExpertAndReplay(stacked, replay)),
        "IQ-Learn": (iqlearn.make_train(iqlearn.Config(offline=True, num_updates=100, hidden=HIDDEN), env), iqlearn.Hparams(),
                     steps, stacked),
    }
    out = {}
    for name, (trainer, hp, n, demos) in methods.items():
        run = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), runs), hp, n, demos=demos, demos_axis=0)
        returns = experts.evaluate_seeds(env, trainer, run.state, jax.random.PRNGKey(1), 16).mean(1)
        out[name] = experts.normalize(env_name, returns).reshape(len(TRAJECTORIES), SEEDS_OFFLINE)
        print(f"{env_name} {name}: {run.wall_s:.0f} s; " + ", ".join(
            f"{k} traj {out[name][i].mean():.2f} [{out[name][i].min():.2f}]" for i, k in enumerate(TRAJECTORIES)))
    return out


offline = {env_name: offline_scores(env_name) for env_name in OFFLINE_ENVS}

# %% [markdown]
# ## 3. Mixed-quality data: offline RL against imitation
#
# 10 expert, 40 medium and 50 random pendulum episodes with their rewards. BC imitates all of them
# (the average behaviour), filtered BC the top 10% by return, and IQL learns a value function from
# the rewards and extracts a policy by advantage-weighted regression.

# %%
mix = mixed.build("pendulum", jax.random.PRNGKey(0))
mix_demos = data.to_jax(mix.demos)
dataset_mean = mixed.summary(mix, "pendulum")["all"]["normalized_mean"]
iql_trainer = iql.make_train(iql.Config(), p_env)
iql_run = loop.run(iql_trainer, jax.random.split(jax.random.PRNGKey(1), SEEDS_OFFLINE), iql.Hparams(),
                   IQL_UPDATES // 100, demos=mix_demos)
fbc_trainer = filtered_bc.make_train(filtered_bc.Config(), p_env)
fractions = jnp.repeat(jnp.array([1.0, 0.1]), SEEDS_OFFLINE)  # 1.0: plain BC on every episode
fbc_run = loop.run(fbc_trainer, jax.random.split(jax.random.PRNGKey(1), 2 * SEEDS_OFFLINE),
                   filtered_bc.Hparams(top_fraction=fractions), 40, demos=mix_demos)
mixed_scores = {
    "IQL": experts.normalize("pendulum", experts.evaluate_seeds(p_env, iql_trainer, iql_run.state,
                                                                jax.random.PRNGKey(2), 16).mean(1)),
}
fbc = experts.normalize("pendulum", experts.evaluate_seeds(p_env, fbc_trainer, fbc_run.state,
                                                           jax.random.PRNGKey(2), 16).mean(1))
mixed_scores["BC (all episodes)"], mixed_scores["filtered BC (top 10%)"] = fbc[:SEEDS_OFFLINE], fbc[SEEDS_OFFLINE:]
print(f"dataset mean {dataset_mean:.2f}; " + ", ".join(f"{k} {v.mean():.2f} [{v.min():.2f}]"
                                                      for k, v in mixed_scores.items()))

# %%
fig, axes = plt.subplots(1, 2 + len(OFFLINE_ENVS), figsize=(5 * (2 + len(OFFLINE_ENVS)), 4))
for name, (x, y) in curves.items():
    line, = axes[0].plot(x / 1e3, y.mean(1), "-o", ms=3, label=name)
    axes[0].fill_between(x / 1e3, y.min(1), y.max(1), color=line.get_color(), alpha=0.15)
axes[0].axhline(0.9, ls="--", c="gray", lw=1)
axes[0].set(xscale="log", xlabel="env steps (thousands)", ylabel="normalized return",
            title=f"pendulum, 1 traj, {SEEDS_ONLINE} seeds (band: min-max)")
axes[0].legend(fontsize=8)
for ax, env_name in zip(axes[1:], OFFLINE_ENVS):
    for name, s in offline[env_name].items():
        ax.errorbar(TRAJECTORIES, s.mean(1), yerr=[s.mean(1) - s.min(1), s.max(1) - s.mean(1)], fmt="o-",
                    capsize=3, label=name)
    ax.set(xscale="log", xticks=TRAJECTORIES, xticklabels=[str(k) for k in TRAJECTORIES], xlabel="expert trajectories",
           ylabel="normalized return", title=f"offline, {env_name}, {SEEDS_OFFLINE} seeds (bars: min-max)")
    ax.legend(fontsize=8)
names = list(mixed_scores)
axes[-1].bar(range(len(names)), [mixed_scores[n].mean() for n in names], color=["C2", "C3", "C1"])
for i, n in enumerate(names):
    axes[-1].scatter(np.full(len(mixed_scores[n]), i), mixed_scores[n], c="k", s=10, zorder=3)
axes[-1].axhline(dataset_mean, ls="--", c="gray", label="dataset mean")
axes[-1].set_xticks(range(len(names)), names, rotation=15, fontsize=8)
axes[-1].set(ylabel="normalized return", title="mixed pendulum data")
axes[-1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "offline_imitation.png"), dpi=110)
plt.show()

# %% [markdown]
# ## Paper vs jaxil

# %%
def cell(env_name, name, k):
    s = offline[env_name][name][TRAJECTORIES.index(k)]
    return f"{s.mean():.2f} [{s.min():.2f}]"


rows = [("Kostrikov et al. 2020, Fig. 2 (online, 1 traj)", "ValueDICE at expert level in ~10x fewer env steps than DAC",
         "; ".join(f"{n}: {steps_to(n) or 'not reached'} [median {reach[n][1] or 'not reached'}]"
                   for n in curves) + " env steps to 0.9 on every seed [median over seeds]",
         f"pendulum, {SEEDS_ONLINE} seeds")]
for env_name in OFFLINE_ENVS:
    rows.append(("Kostrikov et al. 2020, Fig. 4 (offline)", "ValueDICE above BC at 1 traj; ~BC at more",
                 "; ".join(f"{n} " + " / ".join(cell(env_name, n, k) for k in TRAJECTORIES) for n in offline[env_name]),
                 f"{env_name}, {'/'.join(map(str, TRAJECTORIES))} traj, {SEEDS_OFFLINE} seeds, mean [worst]"))
rows.append(("Kostrikov et al. 2022 (IQL) / the seed's offline-RL claim", "offline RL above the data's behaviour",
             f"dataset {dataset_mean:.2f}; " + "; ".join(f"{k} {v.mean():.2f} [{v.min():.2f}]"
                                                         for k, v in mixed_scores.items()),
             f"pendulum, 10 expert + 40 medium + 50 random episodes, {SEEDS_OFFLINE} seeds"))
print("paper | claim | jaxil | setting")
for r in rows:
    print(" | ".join(r))
summary = {"scale": SCALE, "online_env_steps": ONLINE_ENV_STEPS, "seeds_online": SEEDS_ONLINE,
           "seeds_offline": SEEDS_OFFLINE, "trajectories": TRAJECTORIES,
           "online": {n: {"env_steps": x.tolist(), "normalized": y.tolist(), "steps_to_0.9": steps_to(n),
                          "seed_steps_to_0.9": reach[n][0], "median_steps_to_0.9": reach[n][1],
                          "wall_s": online_wall[n]} for n, (x, y) in curves.items()},
           "offline": {e: {n: s.tolist() for n, s in by.items()} for e, by in offline.items()},
           "mixed": {"dataset_mean": dataset_mean, **{k: v.tolist() for k, v in mixed_scores.items()}},
           "wall_s": time.perf_counter() - t_start}
with open(os.path.join(FIGURES, "offline_imitation.json"), "w") as f:
    json.dump(summary, f, indent=1)

# %% [markdown]
# ## What is and is not reproduced (full scale, 2-core CPU)
#
# * **Online (Fig. 2): partly.** From one pendulum trajectory, ValueDICE at jaxil's pendulum default
#   (actor lr 3e-5, 200k env steps) reaches 0.9 on every one of 4 seeds (at 20k, 20k, 30k and 100k env
#   steps; median 25k) and ends at a mean 0.93, worst 0.88. From 110k on the seeds average 0.90-0.96,
#   with single evaluations down to 0.86-0.93, so one seed or another dips just below 0.9 now and then.
#   Over 8 seeds in `benchmarks/offline_imitation.py` the same setting left one seed near 0.55, and no
#   setting tried so far holds 0.9 on all 8 at the end (README, benchmark table). The seed's claim is
#   against on-policy adversarial imitation: GAIL on PPO reaches 0.9 on 1 of 4 seeds in 2.05M env steps
#   (final mean 0.29), so ValueDICE needs well under a tenth of its env steps. Against off-policy
#   adversarial imitation it is slower: GAIL on SAC reaches 0.9 on every seed at a median 8.8k env
#   steps, about a third of ValueDICE's median. Where a ValueDICE seed falls short, it swings up and
#   then keeps swinging through upright. The one demonstration starts near upright and never shows
#   braking from a fast arrival (`benchmarks/valuedice_pendulum_behaviour.py` and its results).
#   IQ-Learn stays below a random policy after 4k env steps (40k updates). SQIL reaches 0.9 on
#   every seed at some evaluation (10k-14k env steps) but ends at a mean 0.76. The paper's 256-256
#   networks were not run here (see `HIDDEN`).
# * **Offline (Fig. 4): partly.** On cartpole ValueDICE is at the expert from one trajectory, but so
#   is BC, so there is no gap to close. On pendulum offline ValueDICE does not learn at any number
#   of trajectories, so it is below BC at 4 and 16.
# * **Offline RL on mixed data: reproduced.** IQL (0.95, worst 0.90) exceeds the dataset's mean
#   return (0.25) by far and matches filtered BC (0.95), while BC on all episodes imitates the
#   average behaviour (0.13).
