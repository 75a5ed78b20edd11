"""Imitation algorithms, one module each, all in the Config/Hparams/State/make_train shape."""

from jaxil.algos import apprenticeship, bc, dagger, maxent_irl  # noqa: F401  (tabular IRL: not CLI trainers)

ALGOS = {"bc": bc, "dagger": dagger}
# Default trainer steps per algorithm for `jaxil train` when --steps is not given
# (BC: logged points of 50 updates each; DAgger: rounds of interaction).
DEFAULT_STEPS = {"bc": 40, "dagger": 5}
# Algorithms that query an expert policy during training (`--expert`).
NEEDS_EXPERT = {"dagger"}
