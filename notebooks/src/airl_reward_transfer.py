# %% [markdown]
# # AIRL reward transfer in miniature (Fu, Luo & Levine 2018, Table 1)
#
# **The paper.** AIRL learns a reward $g$ and a shaping potential $h$ inside the discriminator
# $f(s, a, s') = g(s) + \gamma h(s') - h(s)$. When $g$ depends on the state alone it is
# *disentangled* from the dynamics, so it can be re-optimised from scratch in an environment whose
# dynamics changed. Table 1 of the paper tests that on two tasks: a point mass in a *shifting maze*
# (demonstrations go round a wall on one side; at test time the wall has moved and the agent must go
# round the other side) and an ant whose front legs are disabled. Rows: GAN-GCL, AIRL with a
# state-action reward, AIRL with a state-only reward, GAIL's *policy* moved to the new environment,
# and TRPO on the true reward there. Only state-only AIRL comes close to the true reward.
#
# **Here.** The same rows in miniature, on CPU:
#
# * `point_maze`: demonstrations in `wall="left"` (the wall covers the left of the maze; the expert
#   goes round on the right), rewards re-optimised in `wall="right"` (round on the left). The true
#   reward, minus the distance to the goal, does not depend on the wall.
# * `pendulum` (gymnax Pendulum-v1): the shipped demonstrations, rewards re-optimised with a heavier
#   pole (`m=1.5`, the same maximum torque), so the swing-up needs a different pumping rhythm.
#
# Rows: AIRL state-only $g(s)$, AIRL state-action $g(s, a)$, GAIL's discriminator *used as a reward*
# ($-\log(1 - D(s, a))$; the paper moved GAIL's policy instead), and SAC on the true reward of the
# changed environment. Every reward is learned on SAC (jaxil's learner for these tasks) and
# re-optimised by a fresh SAC; each row is one vmapped program over seeds, and the re-optimisation
# of every seed's reward is one program too (the reward parameters are a per-run input). Scores are
# normalized in the *changed* environment: 0 is a uniform random policy, 1 the mean of SAC trained
# on the true reward there.

# %% tags=["parameters"]
import os

SCALE = os.environ.get("JAXIL_NOTEBOOK_SCALE", "full")  # "small" (CI) or "full"
FULL = SCALE == "full"
# Seeds per row (reward learning and re-optimisation). The maze gets 10: one re-optimisation in ten
# can stall under the wall (see below), which 5 seeds would weigh at a fifth of the mean.
SEEDS = {"point_maze": 10, "pendulum": 5} if FULL else {"point_maze": 1, "pendulum": 1}
TRAJECTORIES = 4  # expert trajectories the rewards are learned from
EXPERT_SEEDS = 3 if FULL else 1  # SAC experts trained on the original maze; the best one demonstrates
EXPERT_STEPS = 4000 if FULL else 300  # SAC trainer steps of 4 env steps
IRL_STEPS = {"point_maze": 3000, "pendulum": 4000} if FULL else {"point_maze": 200, "pendulum": 200}
REOPT_STEPS = {"point_maze": 8000, "pendulum": 5000} if FULL else {"point_maze": 200, "pendulum": 200}
# Re-optimisation, the same for every row of a task (the true reward included): each reward is
# rescaled to this standard deviation over uniform states of the observation box (None: as it is),
# and SAC's target entropy (None: SAC's default, minus the action size). See the section below.
REOPT_REWARD_STD = {"point_maze": 0.2, "pendulum": None}
REOPT_TARGET_ENTROPY = {"point_maze": 0.0, "pendulum": None}
PENDULUM_CHANGED = "pendulum:m=1.5"

# %%
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxil
from jaxil import algos, data, envs, experts, loop, rewards, runs
from jaxil import policy as pol
from jaxil.algos import airl, gail
from jaxil.rl import ppo, sac

FIGURES = "figures"
os.makedirs(FIGURES, exist_ok=True)
print("jaxil", jaxil.__version__, "jax", jax.__version__, "on", jax.devices()[0].platform)
walls = {}

# %% [markdown]
# ## Environments and demonstrations
#
# The maze has no shipped expert: SAC (the `point_maze` expert recipe) is trained on the original
# maze and its best seed records 16 episodes, of which the first `TRAJECTORIES` are used. Pendulum
# uses the shipped demonstrations.

# %%
TASKS = {"point_maze": ("point_maze:wall=left", "point_maze:wall=right"), "pendulum": ("pendulum", PENDULUM_CHANGED)}
if not FULL:  # the small scale (a smoke test in CI) runs the maze only: compilation dominates its time
    del TASKS["pendulum"]
ENVS = {task: (runs.make_env(a), runs.make_env(b)) for task, (a, b) in TASKS.items()}

start = time.perf_counter()
maze_expert = experts.train_experts("point_maze", EXPERT_SEEDS, num_steps=EXPERT_STEPS, env_options={"wall": "left"})
maze_demos, maze_meta = experts.collect_expert_demos(
    "point_maze", maze_expert.spec, maze_expert.params, 16, jax.random.PRNGKey(7),
    maze_expert.returns[maze_expert.best_seed], maze_expert.random_return, "SAC expert", {"wall": "left"})
walls["maze expert"] = time.perf_counter() - start
pend_demos, pend_meta = data.load_demos(experts.resolve_demos("pendulum"), envs.make("pendulum"))
DEMOS = {"point_maze": data.to_jax(data.select_trajectories(maze_demos, TRAJECTORIES)),
         "pendulum": data.to_jax(data.select_trajectories(pend_demos, TRAJECTORIES))}
print(f"maze expert (original maze): returns {np.round(maze_expert.returns, 2)} per seed, random "
      f"{maze_expert.random_return:.1f}, demo episodes {np.mean(maze_meta.returns):.2f} ({walls['maze expert']:.0f} s)")
print(f"pendulum demos: {np.mean(pend_meta.returns[:TRAJECTORIES]):.1f} (shipped expert)")

# %% [markdown]
# ## Learning the rewards in the original environments
#
# AIRL and GAIL standardise their networks' inputs with the demonstrations' mean and spread by
# default. Here the demonstrations sit at the goal most of the time (the maze expert arrives in
# about 20 of 100 steps, the pendulum is upright after its swing-up), so their spread is small and
# states off the demonstrated path map to inputs many standard deviations out, where a tanh network
# says nothing useful; that is where the changed environment's path runs. So the inputs are
# standardised with the observation box instead (the maze's unit square; the pendulum's
# $\cos\theta, \sin\theta \in [-1, 1]$, $\dot\theta \in [-8, 8]$), as the uniform distribution on it
# would be. The trainers are otherwise jaxil's defaults for these tasks (`algos.defaults`: SAC
# learner, 64x64 networks; GAIL's gradient penalty 10, AIRL's 10 in the maze and 1 on the pendulum).

# %%
BOX = {"point_maze": ([0.0, 0.0], [1.0, 1.0]), "pendulum": ([-1.0, -1.0, -8.0], [1.0, 1.0, 8.0])}


def box_norm(task):
    low, high = (jnp.asarray(x, jnp.float32) for x in BOX[task])
    return pol.ObsNorm((low + high) / 2, (high - low) ** 2 / 12, jnp.asarray(1.0))


def with_input_norm(trainer, norm):
    """The trainer with its reward networks' input standardisation fixed to ``norm``."""
    return trainer._replace(init=lambda key, demos, hp: trainer.init(key, demos, hp)._replace(input_norm=norm))


ROWS = ("AIRL state-only", "AIRL state-action", "GAIL disc. as reward")


def learner(row, task):
    module = gail if row.startswith("GAIL") else airl
    config, hp, _ = algos.defaults(module.__name__.rpartition(".")[2], task)
    if row == "AIRL state-action":
        config = dataclasses.replace(config, state_only=False)
    return module, config, hp


learned, imitation = {}, {}
for task in TASKS:
    env = ENVS[task][0]
    for row in ROWS:
        module, config, hp = learner(row, task)
        trainer = with_input_norm(module.make_train(config, env), box_norm(task))
        start = time.perf_counter()
        run = loop.run(trainer, jax.random.split(jax.random.PRNGKey(10), SEEDS[task]), hp, IRL_STEPS[task],
                       demos=DEMOS[task])
        imitation[task, row] = experts.evaluate_seeds(env, trainer, run.state, jax.random.PRNGKey(11)).mean(1)
        # Every seed's learned reward (AIRL's g, GAIL's discriminator), stacked over seeds.
        spec = module.learned_reward(config, env, experts.take_run(run.state, 0))[0]
        params = jax.vmap(lambda s: module.learned_reward(config, env, s)[1])(run.state)
        learned[task, row] = (spec, params)
        walls[f"{task} {row}"] = time.perf_counter() - start
        print(f"{task:10s} {row:20s}: imitation return in the original env {imitation[task, row].mean():8.2f} "
              f"(per seed {np.round(imitation[task, row], 1)}), {walls[f'{task} {row}']:.0f} s")

# %% [markdown]
# ## What AIRL's state-only reward learned in the maze
#
# $g(s)$ on a grid of positions next to the true reward (minus the distance to the goal): both
# maps are centred on their value at the goal. The correlation of $g$ with the true reward over the
# grid is printed for every seed.

# %%
N = 41
xs = np.linspace(0.0, 1.0, N)
GRID = jnp.asarray(np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2), jnp.float32)  # row-major: y, then x
GOAL = np.asarray(envs.point_maze.GOAL)
true_map = -np.linalg.norm(np.asarray(GRID) - GOAL, axis=-1).reshape(N, N)


def reward_map(spec, params):
    """The learned reward on GRID (state-action rewards at the zero action), [seeds, N, N]."""
    zero = jnp.zeros((GRID.shape[0], 2))
    values = jax.vmap(lambda p: rewards.reward_fn(spec, p, GRID, zero, GRID))(params)
    return np.asarray(values).reshape(-1, N, N)


maps = {row: reward_map(*learned["point_maze", row]) for row in ROWS}
correlation = {row: [float(np.corrcoef(m.ravel(), true_map.ravel())[0, 1]) for m in maps[row]] for row in ROWS}
for row in ROWS:
    print(f"{row:20s}: correlation with the true reward over the maze, per seed {np.round(correlation[row], 2)}")

# %% [markdown]
# ## Re-optimising the rewards in the changed environments
#
# A fresh SAC per seed learns from that seed's reward alone (the env's reward is ignored); all
# seeds' rewards are one vmapped program, the reward parameters passed as each run's data. The
# reference row is SAC on the changed environment's true reward, with the same settings and steps.
#
# In the maze every reward, the true one included, is first rescaled to a standard deviation of
# `REOPT_REWARD_STD` over uniform states of the maze, and SAC's target entropy is 0
# (`REOPT_TARGET_ENTROPY`). A learned reward comes at an arbitrary scale: AIRL's $g$ spans about
# 10 times the true reward's range here (the gradient penalty sets its slope), and SAC's entropy
# bonus is weighed against the reward, so the same SAC explores 10 times less on $g$ than on the
# true reward and settles under the wall. With the rewards at one scale each row gets the same
# exploration; the true-reward row is unaffected by the change (about 1.0 either way). Pendulum's
# rewards are re-optimised as they are.

# %%
def reoptimiser(reward, env, config):
    """SAC whose per-run data are ``(params, scale)``: run i maximises scale_i * reward(params_i, ...),
    with ``reward(params, obs, action, next_obs, env_reward) -> [B]``."""
    def init(key, data, hp):
        return sac.init(config, env, key, hp)

    def step(state, data, hp):
        params, scale = data
        state, traj = sac.collect(config, env, state)
        state, metrics = sac.train_updates(config, env, state, hp,
                                           lambda o, a, n, e: scale * reward(params, o, a, n, e))
        return state, {**metrics, **ppo.episode_metrics(traj)}

    return loop.Trainer(init, step, lambda s: s.params.actor, sac.policy_spec(config, env), config.env_steps_per_step)


def true_reward(task, next_obs):
    """The changed env's reward as a function of the next state (used only to measure its scale)."""
    if task == "point_maze":
        return -jnp.linalg.norm(next_obs - jnp.asarray(GOAL, jnp.float32), axis=-1)
    raise ValueError(f"no closed-form true reward for {task}")


def reward_scales(task, reward, params):
    """[SEEDS] factors that give each seed's reward REOPT_REWARD_STD over uniform box states (ones if None)."""
    if REOPT_REWARD_STD[task] is None:
        return jnp.ones(SEEDS[task])
    low, high = (jnp.asarray(x, jnp.float32) for x in BOX[task])
    k_s, k_a = jax.random.split(jax.random.PRNGKey(23))
    states = jax.random.uniform(k_s, (4096, low.shape[0]), minval=low, maxval=high)
    spec = ENVS[task][1].spec
    actions = jax.random.uniform(k_a, (4096, spec.action_size), minval=jnp.asarray(spec.action_low),
                                 maxval=jnp.asarray(spec.action_high))
    std = jax.vmap(lambda p: jnp.std(reward(p, states, actions, states, true_reward(task, states))))(params)
    return REOPT_REWARD_STD[task] / std


returns, random_return, scales = {}, {}, {}
for task in TASKS:
    env = ENVS[task][1]
    keys = jax.random.split(jax.random.PRNGKey(20), SEEDS[task])
    random_return[task] = experts.random_return(env, jax.random.PRNGKey(21))
    config = sac.Config(target_entropy=REOPT_TARGET_ENTROPY[task])
    for row in (*ROWS, "true reward"):
        start = time.perf_counter()
        if row == "true reward":
            reward, params = (lambda p, o, a, n, e: e), jnp.zeros(SEEDS[task])
        else:
            spec, params = learned[task, row]
            reward = lambda p, o, a, n, e, spec=spec: rewards.reward_fn(spec, p, o, a, n)
        scales[task, row] = reward_scales(task, reward, params)
        trainer = reoptimiser(reward, env, config)
        run = loop.run(trainer, keys, sac.Hparams(), REOPT_STEPS[task], demos=(params, scales[task, row]),
                       demos_axis=0)
        returns[task, row] = experts.evaluate_seeds(env, trainer, run.state, jax.random.PRNGKey(22)).mean(1)
        walls[f"{task} re-optimise {row}"] = time.perf_counter() - start

ROWS_ALL = (*ROWS, "true reward")
normalized = {}
for task in TASKS:
    truth = float(returns[task, "true reward"].mean())
    print(f"{TASKS[task][1]}: random {random_return[task]:.2f}, SAC on the true reward {truth:.2f} "
          f"(normalized 0 and 1)")
    for row in ROWS_ALL:
        normalized[task, row] = (returns[task, row] - random_return[task]) / (truth - random_return[task])
        print(f"  {row:20s}: return {returns[task, row].mean():9.2f}, normalized {normalized[task, row].mean():6.3f} "
              f"(worst seed {normalized[task, row].min():6.3f}; per seed {np.round(normalized[task, row], 2)})")

# %%
fig, axes = plt.subplots(1, 4, figsize=(17, 4), gridspec_kw={"width_ratios": [1, 1, 1, 1.5]})
extent = (0, 1, 0, 1)


def draw_walls(ax):
    for (lo, hi), style in ((envs.point_maze.WALLS["left"], "k-"), (envs.point_maze.WALLS["right"], "w--")):
        ax.plot([lo, min(hi, 1.0)], [0.5, 0.5], style, lw=3)
    ax.plot(*envs.point_maze.START, "wo", ms=7)
    ax.plot(*GOAL, "g*", ms=14)


demo_xy = np.asarray(DEMOS["point_maze"].obs)
for ax, (title, values) in zip(axes[:3], (("true reward: minus distance to goal", true_map),
                                          ("AIRL state-only g(s), seed 0", maps["AIRL state-only"][0]),
                                          ("GAIL -log(1 - D(s, 0)), seed 0", maps["GAIL disc. as reward"][0]))):
    centred = values - values.reshape(-1)[np.argmin(np.linalg.norm(np.asarray(GRID) - GOAL, axis=-1))]
    ax.imshow(centred, origin="lower", extent=extent, cmap="viridis")
    draw_walls(ax)
    ax.plot(demo_xy[:, 0], demo_xy[:, 1], "r.", ms=2)
    ax.set(title=title, xticks=[], yticks=[])
width = 0.2
for j, task in enumerate(TASKS):
    for i, row in enumerate(ROWS_ALL):
        x = j + (i - 1.5) * width
        axes[3].bar(x, normalized[task, row].mean(), width, color=f"C{i}", label=row if j == 0 else None)
        axes[3].plot(np.full(SEEDS[task], x), normalized[task, row], "k.", ms=4)
axes[3].axhline(0.9, ls=":", c="gray")
axes[3].set(xticks=range(len(TASKS)), xticklabels=[f"{TASKS[t][0]}\n-> {TASKS[t][1]}" for t in TASKS],
            ylabel="normalized return in the changed env", title="re-optimised rewards, one dot per seed")
axes[3].legend(fontsize=8)
fig.suptitle("maze: black wall = training (wall=left), white dashed = transfer (wall=right); red: demonstrations")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "airl_reward_transfer.png"), dpi=110)
plt.show()

# %% [markdown]
# ## Paper vs jaxil
#
# The paper reports raw returns of its own maze and ant (mean of 5 runs, no random baseline), so
# its numbers are set beside jaxil's normalized scores rather than on the same scale: what carries
# over is the ordering and how close each row gets to the true-reward row.

# %%
PAPER = {"AIRL state-only": ("-8.82", "130.3"), "AIRL state-action": ("-31.2", "-41.4"),
         "GAIL disc. as reward": ("-29.9 (GAIL's policy moved, not its reward)", "-58.8 (policy moved)"),
         "true reward": ("-8.45 (TRPO)", "315.5 (TRPO)")}


def cell(task, row):
    n = normalized[task, row]
    return f"{n.mean():.2f} (worst {n.min():.2f}; return {returns[task, row].mean():.1f})"


rows = []
for row in ROWS_ALL:
    maze_paper, ant_paper = PAPER[row]
    rows.append((f"Table 1, {row}: shifting maze", maze_paper, cell("point_maze", row),
                 f"point_maze left -> right, {TRAJECTORIES} traj, {SEEDS['point_maze']} seeds, SAC"))
    if "pendulum" not in TASKS:
        continue
    rows.append((f"Table 1, {row}: disabled ant", ant_paper, cell("pendulum", row),
                 f"pendulum m=1 -> {PENDULUM_CHANGED.split(':')[1]}, {TRAJECTORIES} traj, {SEEDS['pendulum']} seeds, SAC "
                 f"(no ant on CPU)"))
airl_maze = normalized["point_maze", "AIRL state-only"].mean()
rows.append(("claim: state-only AIRL re-optimised in the shifted maze", ">= 0.9 of the true reward's",
             f"{airl_maze:.2f} ({('met' if airl_maze >= 0.9 else 'NOT met') if FULL else 'small scale: not a test'})",
             "mean over seeds, normalized"))
rows.append(("setting: learner", "TRPO, linear g, ReLU h", "SAC, 64x64 tanh g and h, inputs standardised on the "
             "observation box", "-"))
rows.append(("setting: re-optimisation", "TRPO on the learned reward", "SAC; maze: every reward rescaled to std "
             f"{REOPT_REWARD_STD['point_maze']} over the maze, target entropy {REOPT_TARGET_ENTROPY['point_maze']}", "-"))
print(f"{'paper':62s} | {'paper figure':44s} | {'jaxil figure (normalized)':44s} | setting")
for r in rows:
    print(f"{r[0]:62s} | {r[1]:44s} | {r[2]:44s} | {r[3]}")

summary = {"scale": SCALE, "seeds": SEEDS, "trajectories": TRAJECTORIES, "irl_steps": IRL_STEPS,
           "reopt_steps": REOPT_STEPS, "reopt_reward_std": REOPT_REWARD_STD,
           "reopt_target_entropy": REOPT_TARGET_ENTROPY, "changed_envs": {t: TASKS[t][1] for t in TASKS},
           "reward_scales": {t: {r: np.asarray(scales[t, r]).tolist() for r in ROWS_ALL} for t in TASKS},
           "random_return": random_return,
           "normalized": {t: {r: normalized[t, r].tolist() for r in ROWS_ALL} for t in TASKS},
           "return": {t: {r: returns[t, r].tolist() for r in ROWS_ALL} for t in TASKS},
           "imitation_return": {t: {r: imitation[t, r].tolist() for r in ROWS} for t in TASKS},
           "maze_reward_correlation": correlation, "wall_s": walls}
with open(os.path.join(FIGURES, "airl_reward_transfer.json"), "w") as f:
    json.dump(summary, f, indent=1)

# %% [markdown]
# ## Reading the result
#
# State-only AIRL re-optimised in the shifted maze reaches 0.92 of the true reward's normalized
# return (mean of 10 seeds), the paper's claim. Nine of the ten seeds go round the new gap
# (0.96-0.99); one re-optimisation waits under the old gap (0.48), a local optimum of SAC in this
# maze that the learned rewards make likelier than the true one (whose 10 seeds all go round). With
# so few seeds a single stalled run moves the mean a lot: the first five seeds alone give 0.87.
#
# The learned state-only reward itself looks right: on the grid it is a cone around the goal that
# correlates 0.96-0.99 with the true reward, also on the side of the maze the demonstrations never
# visit, once the networks' inputs are standardised on the observation box (with the
# demonstrations' statistics it was not). Three things made re-optimising it work. The learned
# rewards span about 10 times the true reward's range, so the same SAC explored 10 times less on
# them and settled below the wall; every reward is therefore rescaled to one spread, with target
# entropy 0 and 8000 steps (0.53 before that). With AIRL's usual gradient penalty of 1, $g$ was
# tilted towards the side the expert used (correlation 0.92-0.95; just below the wall about 13% of
# its range higher under the old gap than under the new one, where the true reward is flat), and
# 3 of 10 re-optimisations of such rewards stalled under the old gap (0.85 over 5 seeds); a penalty
# of 10 (`algos.defaults` for the maze) flattens $g$ off the demonstrated path, and 1 of 10 stalls.
# State-action AIRL does as well here (0.96): in this maze the action is a velocity command that
# the changed wall does not reinterpret, so the state-only restriction is not what carries the
# transfer; on the pendulum both AIRL rewards transfer to the heavier pole as well as the true
# reward does, and GAIL's discriminator, a function of the action too, does not (0.58).
