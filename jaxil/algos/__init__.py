"""Imitation algorithms, one module each, all in the Config/Hparams/State/make_train shape."""

from jaxil.algos import bc

ALGOS = {"bc": bc}
# Default trainer steps per algorithm for `jaxil train` when --steps is not given.
DEFAULT_STEPS = {"bc": 40}
