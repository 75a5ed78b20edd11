"""Tabular MDPs with explicit dynamics (for exact IRL) and their jaxil env adapter.

A :class:`TabularMDP` is a pytree of arrays: ``transitions[s, a, s']``, the initial
state distribution, state features ``[S, F]`` and a state-only true reward ``[S]``;
the horizon is static (it sets array shapes), the discount is a traced scalar.
Batches of MDPs with the same ``S``, ``A``, ``F`` and horizon are the same pytree
with a leading axis on every array (:func:`stack`), so IRL algorithms vmap over them.

Generators: :func:`gridworld` (slip, walls), :func:`cliff_world` (the cliff world of
the ``imitation`` / ``seals`` libraries, same state and action numbering),
:func:`objectworld` (Levine et al., 2011) and :func:`random_mdp`. The last two draw
from a JAX key and are pure, so ``jax.vmap(lambda k: objectworld(k))(keys)`` builds a
batch. :class:`TabularCore` makes any of them a jaxil env (one-hot or feature
observations, discrete actions), wrapped by :class:`EpisodeEnv` with the MDP's horizon
as time limit.

Reward convention of the env: a step taken from state ``s`` earns ``reward[s]``, so a
``T``-step episode earns the rewards of the states at ``t = 0 .. T-1``.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxil.envs.core import EnvSpec
from jaxil.errors import InputError

# Gridworld / objectworld actions: (d_row, d_col).
GRID_MOVES = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
GRID_ACTIONS = ("stay", "up", "down", "left", "right")


@dataclasses.dataclass(frozen=True)
class TabularMDP:
    """A finite MDP with known dynamics and a state-only reward.

    ``horizon`` is static pytree metadata (``jit`` specialises on it); every other
    field is an array and may carry leading batch axes.
    """

    transitions: jax.Array
    """``[S, A, S]``: ``transitions[s, a, s2] = P(s2 | s, a)``."""
    initial: jax.Array
    """``[S]``: distribution of the first state."""
    features: jax.Array
    """``[S, F]``: state features that rewards are learned over."""
    reward: jax.Array
    """``[S]``: the true (state-only) reward."""
    discount: jax.Array
    """Scalar discount in ``(0, 1]``."""
    horizon: int
    """Number of actions per episode (``T``); episodes visit ``T + 1`` states."""

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[-1])

    @property
    def n_actions(self) -> int:
        return int(self.transitions.shape[-2])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[-1])

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.transitions.shape[:-3])

    def replace(self, **changes) -> "TabularMDP":
        return dataclasses.replace(self, **changes)


jax.tree_util.register_dataclass(
    TabularMDP,
    data_fields=["transitions", "initial", "features", "reward", "discount"],
    meta_fields=["horizon"],
)


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_mdp(mdp: TabularMDP, atol: float = 1e-4) -> TabularMDP:
    """Raises ``ValueError`` when shapes disagree or (for concrete arrays) the
    transition rows / initial distribution are not distributions or the discount is
    outside ``(0, 1]``. Returns ``mdp`` unchanged."""
    if not isinstance(mdp.horizon, (int, np.integer)) or mdp.horizon < 1:
        raise InputError(f"horizon must be a positive int, got {mdp.horizon!r}")
    tr = mdp.transitions
    if tr.ndim < 3 or tr.shape[-1] != tr.shape[-3]:
        raise InputError(f"transitions must be [..., S, A, S], got shape {tr.shape}")
    batch, s = tr.shape[:-3], tr.shape[-1]
    expect = {
        "initial": (*batch, s),
        "reward": (*batch, s),
        "discount": batch,
    }
    for name, shape in expect.items():
        got = tuple(jnp.shape(getattr(mdp, name)))
        if got != shape:
            raise InputError(f"{name} must have shape {shape} for transitions {tr.shape}, got {got}")
    feat = jnp.shape(mdp.features)
    if len(feat) != len(batch) + 2 or tuple(feat[:-1]) != (*batch, s):
        raise InputError(f"features must be [..., S={s}, F], got shape {feat}")
    arrays = (tr, mdp.initial, mdp.features, mdp.reward, mdp.discount)
    if all(_concrete(x) for x in arrays):
        tr_np = np.asarray(tr)
        if not np.all(np.isfinite(tr_np)) or tr_np.min() < -atol:
            raise InputError("transitions must be finite and non-negative")
        row_err = np.abs(tr_np.sum(-1) - 1.0).max()
        if row_err > atol:
            raise InputError(f"transition rows must sum to 1 (worst row is off by {row_err:.3g})")
        init = np.asarray(mdp.initial)
        if init.min() < -atol or np.abs(init.sum(-1) - 1.0).max() > atol:
            raise InputError("initial must be a probability distribution over states")
        disc = np.asarray(mdp.discount)
        if np.any(disc <= 0) or np.any(disc > 1):
            raise InputError(f"discount must be in (0, 1], got {disc}")
        for name in ("features", "reward"):
            if not np.all(np.isfinite(np.asarray(getattr(mdp, name)))):
                raise InputError(f"{name} contains NaN or inf")
    return mdp


def make_mdp(transitions, initial, features, reward, horizon: int, discount=1.0, dtype=None) -> TabularMDP:
    """Builds and validates a :class:`TabularMDP` from array-likes."""
    dtype = dtype or jnp.result_type(float)
    mdp = TabularMDP(
        transitions=jnp.asarray(transitions, dtype),
        initial=jnp.asarray(initial, dtype),
        features=jnp.asarray(features, dtype),
        reward=jnp.asarray(reward, dtype),
        discount=jnp.asarray(discount, dtype),
        horizon=int(horizon),
    )
    return check_mdp(mdp)


def stack(mdps: Sequence[TabularMDP]) -> TabularMDP:
    """A batch (leading axis) of MDPs with equal shapes and horizon."""
    if not mdps:
        raise InputError("stack needs at least one MDP")
    horizons = {m.horizon for m in mdps}
    if len(horizons) != 1:
        raise InputError(f"MDPs in a batch must share the horizon, got {sorted(horizons)}")
    shapes = {tuple(jnp.shape(x) for x in jax.tree.leaves(m)) for m in mdps}
    if len(shapes) != 1:
        raise InputError(f"MDPs in a batch must have equal shapes, got {sorted(shapes)}")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *mdps)


# ----------------------------------------------------------------------------- grids


def _as_size(size) -> tuple[int, int]:
    h, w = (size, size) if np.isscalar(size) else tuple(size)
    if int(h) < 1 or int(w) < 1 or int(h) * int(w) < 2:
        raise InputError(f"grid size must be at least 2 cells, got {size!r}")
    return int(h), int(w)


def _wall_mask(walls, h: int, w: int) -> np.ndarray:
    if walls is None:
        return np.zeros((h, w), bool)
    arr = np.asarray(walls)
    if arr.dtype == bool:
        if arr.shape != (h, w):
            raise InputError(f"a boolean wall mask must have shape {(h, w)}, got {arr.shape}")
        return arr.copy()
    mask = np.zeros((h, w), bool)
    for cell in walls:
        r, c = (int(v) for v in cell)
        if not (0 <= r < h and 0 <= c < w):
            raise InputError(f"wall {cell!r} is outside the {h}x{w} grid")
        mask[r, c] = True
    return mask


def grid_transitions(h: int, w: int, slip: float, walls: np.ndarray | None = None) -> np.ndarray:
    """``[S, 5, S]`` grid dynamics: the intended move with probability ``1 - slip``,
    otherwise a uniformly random move of :data:`GRID_MOVES`; moving off the grid or
    into a wall leaves the agent in place. Wall cells self-loop (unreachable)."""
    if not 0.0 <= slip <= 1.0:
        raise InputError(f"slip must be in [0, 1], got {slip}")
    walls = np.zeros((h, w), bool) if walls is None else walls
    n, k = h * w, len(GRID_MOVES)
    # dest[s, m]: the cell that move m leads to from s.
    dest = np.zeros((n, k), np.int64)
    for r in range(h):
        for c in range(w):
            for m, (dr, dc) in enumerate(GRID_MOVES):
                r2, c2 = r + dr, c + dc
                blocked = not (0 <= r2 < h and 0 <= c2 < w) or walls[r2 % h, c2 % w]
                dest[r * w + c, m] = r * w + c if blocked else r2 * w + c2
    moves = np.eye(n)[dest]  # [S, move, S]
    mix = (1.0 - slip) * np.eye(k) + slip / k  # [action, move]
    tr = np.einsum("am,smt->sat", mix, moves)
    wall_ids = np.flatnonzero(walls.reshape(-1))
    tr[wall_ids] = np.eye(n)[wall_ids][:, None, :]
    return tr


def _grid_xy(h: int, w: int) -> np.ndarray:
    rows, cols = np.divmod(np.arange(h * w), w)
    return np.stack([cols / max(w - 1, 1), rows / max(h - 1, 1)], -1)


def gridworld(
    size=5,
    *,
    slip: float = 0.0,
    walls=None,
    goal: tuple[int, int] | None = None,
    start: tuple[int, int] | str = (0, 0),
    goal_reward: float = 1.0,
    step_reward: float = 0.0,
    features: str = "onehot",
    horizon: int | None = None,
    discount: float = 1.0,
) -> TabularMDP:
    """An ``h x w`` grid (``size`` an int or ``(h, w)``); state ``row * w + col``.

    Actions :data:`GRID_ACTIONS` (stay, up, down, left, right). ``slip``: chance the
    intended move is replaced by a uniformly random one. ``walls``: cells (``(row,
    col)`` pairs or a boolean ``[h, w]`` mask) that cannot be entered. Reward
    ``goal_reward`` at ``goal`` (default the bottom-right cell), ``step_reward``
    elsewhere. ``start``: a cell, or ``"uniform"`` over non-wall cells.
    ``features``: ``onehot`` (``[S, S]``) or ``xy`` (column, row scaled to [0, 1]).
    ``horizon`` defaults to ``2 * (h + w)``.
    """
    h, w = _as_size(size)
    wall = _wall_mask(walls, h, w)
    goal = (h - 1, w - 1) if goal is None else tuple(goal)
    if not (0 <= goal[0] < h and 0 <= goal[1] < w) or wall[goal]:
        raise InputError(f"goal {goal} must be a free cell of the {h}x{w} grid")
    n = h * w
    if isinstance(start, str):
        if start != "uniform":
            raise InputError(f"start must be a (row, col) cell or 'uniform', got {start!r}")
        initial = (~wall).reshape(-1).astype(float)
        initial /= initial.sum()
    else:
        if not (0 <= start[0] < h and 0 <= start[1] < w) or wall[tuple(start)]:
            raise InputError(f"start {start} must be a free cell of the {h}x{w} grid")
        initial = np.eye(n)[start[0] * w + start[1]]
    reward = np.full(n, float(step_reward))
    reward[wall.reshape(-1)] = 0.0
    reward[goal[0] * w + goal[1]] = goal_reward
    if features == "onehot":
        feats = np.eye(n)
    elif features == "xy":
        feats = _grid_xy(h, w)
    else:
        raise InputError(f"features must be 'onehot' or 'xy', got {features!r}")
    return make_mdp(
        grid_transitions(h, w, slip, wall), initial, feats, reward,
        horizon=2 * (h + w) if horizon is None else horizon, discount=discount,
    )


def cliff_world(
    width: int = 7,
    height: int = 4,
    *,
    horizon: int = 8,
    fail_p: float = 0.3,
    rew_default: float = -1.0,
    rew_goal: float = 10.0,
    rew_cliff: float = -10.0,
    features: str = "onehot",
    discount: float = 1.0,
) -> TabularMDP:
    """The cliff world of the ``imitation`` library (``seals`` ``CliffWorldEnv``).

    Row 0 holds the start (column 0), the cliff (columns ``1 .. width - 2``, reward
    ``rew_cliff``) and the goal (last column, ``rew_goal``); other cells give
    ``rew_default``. The four actions move diagonally, action ``a`` by
    ``(d_row, d_col) = ((-1, -1), (-1, 1), (1, -1), (1, 1))[a]``; with probability
    ``fail_p`` the wind adds one more row up (towards the cliff). Moves are clamped
    to the grid. Every episode starts in the start cell. ``features``: ``onehot`` or
    ``xy``. Defaults follow the ``imitation`` MCE IRL tutorial (7 x 4, horizon 8).
    """
    if width < 3 or height < 2:
        raise InputError(f"cliff world needs width >= 3 and height >= 2, got {width}x{height}")
    if not 0.0 <= fail_p <= 1.0:
        raise InputError(f"fail_p must be in [0, 1], got {fail_p}")
    n = width * height

    def cell(r, c):
        return min(max(r, 0), height - 1) * width + min(max(c, 0), width - 1)

    moves = ((-1, -1), (-1, 1), (1, -1), (1, 1))
    tr = np.zeros((n, 4, n))
    reward = np.full(n, float(rew_default))
    for r in range(height):
        for c in range(width):
            s = cell(r, c)
            if r == 0 and 0 < c < width - 1:
                reward[s] = rew_cliff
            elif r == 0 and c == width - 1:
                reward[s] = rew_goal
            for a, (dr, dc) in enumerate(moves):
                tr[s, a, cell(r + dr, c + dc)] += 1.0 - fail_p
                tr[s, a, cell(r + dr - 1, c + dc)] += fail_p
    if features == "onehot":
        feats = np.eye(n)
    elif features == "xy":
        feats = _grid_xy(height, width)
    else:
        raise InputError(f"features must be 'onehot' or 'xy', got {features!r}")
    return make_mdp(tr, np.eye(n)[0], feats, reward, horizon=horizon, discount=discount)


def objectworld(
    key: jax.Array,
    grid_size: int = 10,
    *,
    n_objects: int = 15,
    n_colors: int = 2,
    slip: float = 0.3,
    discrete_features: bool = False,
    horizon: int | None = None,
    discount: float = 1.0,
) -> TabularMDP:
    """Objectworld (Levine, Popovic & Koltun, 2011): an ``N x N`` grid with
    ``n_objects`` objects on distinct random cells, each with an outer and an inner
    color out of ``n_colors``. Grid moves as in :func:`gridworld` with ``slip``.

    Features: the Euclidean distance from each cell to the nearest object of each
    outer color, then of each inner color (``2 C`` features; ``2 N`` when a color is
    absent). With ``discrete_features``, the ``2 C N`` binary features
    ``distance <= d`` for ``d = 1 .. N`` instead.

    True reward: ``+1`` within distance 3 of outer color 0 and within distance 2 of
    outer color 1; ``-1`` within distance 3 of outer color 0 only; ``0`` elsewhere.
    Uniform initial state. Pure in ``key`` (vmap it for a batch of worlds).
    ``horizon`` defaults to ``2 * N``.
    """
    n = int(grid_size)
    if n < 2 or n_colors < 2 or not 1 <= n_objects <= n * n:
        raise InputError(
            f"objectworld needs grid_size >= 2, n_colors >= 2 and 1 <= n_objects <= grid cells, "
            f"got grid_size={grid_size}, n_colors={n_colors}, n_objects={n_objects}"
        )
    dtype = jnp.result_type(float)
    feats, reward = _objectworld_arrays(key, n, n_objects, n_colors, bool(discrete_features), dtype)
    mdp = TabularMDP(
        transitions=jnp.asarray(grid_transitions(n, n, slip), dtype),
        initial=jnp.full(n * n, 1.0 / (n * n), dtype),
        features=feats,
        reward=reward,
        discount=jnp.asarray(discount, dtype),
        horizon=2 * n if horizon is None else int(horizon),
    )
    return check_mdp(mdp)


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _objectworld_arrays(key, n, n_objects, n_colors, discrete, dtype):
    """Features ``[S, F]`` and true reward ``[S]`` of :func:`objectworld`."""
    cells, outer, inner = objectworld_objects(key, n, n_objects=n_objects, n_colors=n_colors)
    xy = jnp.stack(jnp.divmod(jnp.arange(n * n), n), -1).astype(dtype)  # (row, col)
    dist = jnp.linalg.norm(xy[:, None, :] - xy[cells][None, :, :], axis=-1)  # [S, objects]

    def nearest(colors):
        hit = colors[None, :] == jnp.arange(n_colors)[:, None]  # [C, objects]
        d = jnp.where(hit[None], dist[:, None, :], jnp.inf).min(-1)  # [S, C]
        return jnp.where(jnp.isinf(d), 2.0 * n, d)

    d = jnp.concatenate([nearest(outer), nearest(inner)], -1)  # [S, 2C]
    if discrete:
        thresholds = jnp.arange(1, n + 1, dtype=dtype)
        feats = (d[:, :, None] <= thresholds).reshape(n * n, -1).astype(dtype)
    else:
        feats = d
    near0, near1 = d[:, 0] <= 3.0, d[:, 1] <= 2.0
    reward = jnp.where(near0 & near1, 1.0, jnp.where(near0, -1.0, 0.0)).astype(dtype)
    return feats, reward


def objectworld_objects(key: jax.Array, grid_size: int = 10, *, n_objects: int = 15, n_colors: int = 2):
    """The objects :func:`objectworld` places for ``key``: ``(cells, outer, inner)``,
    each ``[n_objects]`` int (cell index ``row * N + col`` and the two colors)."""
    k_pos, k_outer, k_inner = jax.random.split(key, 3)
    cells = jax.random.choice(k_pos, grid_size * grid_size, (n_objects,), replace=False)
    outer = jax.random.randint(k_outer, (n_objects,), 0, n_colors)
    inner = jax.random.randint(k_inner, (n_objects,), 0, n_colors)
    return cells, outer, inner


def random_mdp(
    key: jax.Array,
    n_states: int = 16,
    n_actions: int = 4,
    *,
    branching: int = 2,
    n_features: int = 8,
    features: str = "gaussian",
    horizon: int = 10,
    discount: float = 1.0,
) -> TabularMDP:
    """A random MDP: each ``(s, a)`` leads to ``branching`` distinct random states
    with Dirichlet(1) probabilities; Dirichlet(1) initial distribution.

    ``features``: ``gaussian`` (``[S, n_features]`` standard normal) or ``onehot``
    (``[S, S]``); the true reward is linear in them, ``features @ w`` with standard
    normal ``w`` (scaled by ``1 / sqrt(F)``). Pure in ``key``.
    """
    if n_states < 2 or n_actions < 1 or not 1 <= branching <= n_states:
        raise InputError(
            f"random_mdp needs n_states >= 2, n_actions >= 1 and 1 <= branching <= n_states, "
            f"got {n_states}, {n_actions}, {branching}"
        )
    if features not in ("gaussian", "onehot"):
        raise InputError(f"features must be 'gaussian' or 'onehot', got {features!r}")
    if features == "gaussian" and n_features < 1:
        raise InputError(f"n_features must be >= 1, got {n_features}")
    dtype = jnp.result_type(float)
    tr, initial, feats, reward = _random_mdp_arrays(key, n_states, n_actions, branching, n_features, features, dtype)
    mdp = TabularMDP(tr, initial, feats, reward, jnp.asarray(discount, dtype), int(horizon))
    return check_mdp(mdp)


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _random_mdp_arrays(key, n_states, n_actions, branching, n_features, features, dtype):
    k_next, k_prob, k_init, k_feat, k_w = jax.random.split(key, 5)
    order = jnp.argsort(jax.random.uniform(k_next, (n_states, n_actions, n_states)), -1)
    succ = order[..., :branching]  # distinct successors per (s, a)
    # Normalised Exp(1) draws are Dirichlet(1, ..., 1) draws (and far cheaper to compile).
    probs = jax.random.exponential(k_prob, (n_states, n_actions, branching), dtype)
    probs = probs / probs.sum(-1, keepdims=True)
    tr = jnp.einsum("sab,sabt->sat", probs, jax.nn.one_hot(succ, n_states, dtype=dtype))
    initial = jax.random.exponential(k_init, (n_states,), dtype)
    initial = initial / initial.sum()
    if features == "onehot":
        feats = jnp.eye(n_states, dtype=dtype)
    else:
        feats = jax.random.normal(k_feat, (n_states, n_features), dtype)
    w = jax.random.normal(k_w, (feats.shape[1],), dtype) / np.sqrt(feats.shape[1])
    return tr, initial, feats, feats @ w


# ----------------------------------------------------------------------- trajectories


class Trajectories(NamedTuple):
    """Sampled episodes: ``states [N, T + 1]`` (int32, the final state included),
    ``actions [N, T]`` (int32)."""

    states: jax.Array
    actions: jax.Array


def _time_policy(policy: jax.Array, horizon: int) -> jax.Array:
    """A stationary ``[S, A]`` policy as ``[T, S, A]``; a ``[T, S, A]`` one checked."""
    if policy.ndim == 2:
        return jnp.broadcast_to(policy, (horizon, *policy.shape))
    if policy.ndim != 3 or policy.shape[0] != horizon:
        raise InputError(f"policy must be [S, A] or [T={horizon}, S, A], got shape {policy.shape}")
    return policy


def sample_trajectories(key: jax.Array, mdp: TabularMDP, policy: jax.Array, num: int) -> Trajectories:
    """``num`` episodes of ``mdp.horizon`` steps under ``policy`` (``[T, S, A]``
    time-dependent, or ``[S, A]``). Pure and jit-able (``num`` static)."""
    pi = _time_policy(policy, mdp.horizon)
    k0, k_steps = jax.random.split(key)
    s0 = jax.random.categorical(k0, jnp.log(mdp.initial), shape=(num,))

    def step(s, inp):
        k, pi_t = inp
        k_a, k_s = jax.random.split(k)
        a = jax.random.categorical(k_a, jnp.log(pi_t[s]))
        s2 = jax.random.categorical(k_s, jnp.log(mdp.transitions[s, a]))
        return s2, (s2, a)

    _, (nxt, actions) = jax.lax.scan(step, s0, (jax.random.split(k_steps, mdp.horizon), pi))
    states = jnp.concatenate([s0[None], nxt], 0).T.astype(jnp.int32)
    return Trajectories(states, actions.T.astype(jnp.int32))


# ------------------------------------------------------------------------ env adapter


class TabularCoreState(NamedTuple):
    state: jax.Array  # int32 scalar


class TabularCore:
    """A :class:`TabularMDP` as a jaxil :class:`~jaxil.envs.core.CoreEnv`.

    Observations are the one-hot state (``obs="onehot"``, size ``S``) or the state's
    features (``obs="features"``, size ``F``), as float32. A step from ``s`` earns
    ``reward[s]``; episodes never terminate, :class:`EpisodeEnv` truncates them after
    ``horizon`` steps.
    """

    def __init__(self, mdp: TabularMDP, name: str = "tabular", obs: str = "onehot", options: tuple = ()):
        check_mdp(mdp)
        if mdp.batch_shape:
            raise InputError(f"TabularCore needs a single MDP, got a batch of shape {mdp.batch_shape}")
        if obs not in ("onehot", "features"):
            raise InputError(f"obs must be 'onehot' or 'features', got {obs!r}")
        self.mdp = mdp
        self.obs_kind = obs
        table = jnp.eye(mdp.n_states) if obs == "onehot" else mdp.features
        self._obs_table = jnp.asarray(table, jnp.float32)
        self._log_tr = jnp.log(jnp.asarray(mdp.transitions, jnp.float32))
        self._log_init = jnp.log(jnp.asarray(mdp.initial, jnp.float32))
        self._reward = jnp.asarray(mdp.reward, jnp.float32)
        self.spec = EnvSpec(
            name=name,
            obs_size=int(self._obs_table.shape[1]),
            action_size=mdp.n_actions,
            discrete=True,
            max_episode_steps=mdp.horizon,
            options=tuple(sorted(options)),
        )

    def core_reset(self, key):
        s = jax.random.categorical(key, self._log_init).astype(jnp.int32)
        return TabularCoreState(s), self._obs_table[s]

    def core_step(self, key, core, action):
        s = core.state
        s2 = jax.random.categorical(key, self._log_tr[s, action]).astype(jnp.int32)
        return TabularCoreState(s2), self._obs_table[s2], self._reward[s], jnp.zeros((), jnp.bool_)


# jaxil env name -> generator; generators that draw from a key take ``seed``.
TABULAR_TASKS = {
    "gridworld": gridworld,
    "cliff_world": cliff_world,
    "objectworld": objectworld,
    "random_mdp": random_mdp,
}
_KEYED = ("objectworld", "random_mdp")


def make_mdp_by_name(name: str, seed: int = 0, **options) -> TabularMDP:
    """The named generator's MDP; ``seed`` keys the random ones."""
    if name not in TABULAR_TASKS:
        raise InputError(f"unknown tabular MDP {name!r}; known: {sorted(TABULAR_TASKS)}")
    gen = TABULAR_TASKS[name]
    try:
        if name in _KEYED:
            return gen(jax.random.PRNGKey(seed), **options)
        if seed != 0:
            raise InputError(f"{name!r} is deterministic and takes no seed")
        return gen(**options)
    except TypeError as e:  # unknown keyword: name it in a ValueError
        raise InputError(f"bad option(s) for tabular env {name!r}: {e}") from None


def tabular_core(name: str, obs: str = "onehot", seed: int = 0, **options) -> TabularCore:
    """The :class:`TabularCore` :func:`jaxil.envs.make` builds for a tabular name."""
    opts = dict(options, obs=obs, **({"seed": seed} if name in _KEYED else {}))
    mdp = make_mdp_by_name(name, seed=seed, **options)
    return TabularCore(mdp, name=name, obs=obs, options=tuple(opts.items()))
