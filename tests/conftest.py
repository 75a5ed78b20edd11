import atexit
import os
import shutil
import tempfile

import pytest

# Tests run on CPU in float32 unless a test enables x64 locally.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# One persistent XLA compilation cache for the whole run: the xdist workers, the
# notebook kernels and the CLI subprocesses the tests start all inherit it, so a program
# that several of them compile (the same trainer on the same env) is compiled once.
# The first process to import this file (the xdist controller) makes the directory and
# removes it at exit; a cache directory the caller set is kept.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxil-tests-xla-cache-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

# The suite's programs are small and run for seconds, so compiling them is most of its time.
# Two CPU compiler settings halve that and are set here for the suite only (appended to
# XLA_FLAGS, so subprocesses, notebook kernels and CLI runs the tests start inherit them):
# XLA's older loop emitters instead of the MLIR fusion emitters, and LLVM's optimisation
# level 1. `python -m benchmarks.compile_time --seeds 1,2 --compare-flags="..."` measured
# 0.44-0.75x the compile time of XLA's defaults on every algorithm's program, and warm
# vmapped chunks up to 2.3x slower, which the suite's short runs hardly feel (with the
# vmapped-run tests sharing programs, the default suite went from 13:42 to 6:17 on two
# cores). Level 0 would compile faster still,
# but on an AMD EPYC host (jax 0.10.2) it miscompiles a select inside a scan: SAC's "keep
# the new params only once learning has started" (jnp.where(ready, new, old) in
# jaxil.rl.sac.train_updates) returned NaN where both operands were finite, with either
# emitter. Level 1 computes it right (tests/test_sac.py checks it). The programs users run
# keep XLA's defaults.
_SUITE_XLA_FLAGS = ("--xla_cpu_use_fusion_emitters=false", "--xla_backend_optimization_level=1")
_flags = os.environ.get("XLA_FLAGS", "")
os.environ["XLA_FLAGS"] = " ".join([_flags, *(f for f in _SUITE_XLA_FLAGS if f.split("=")[0] not in _flags)]).strip()

_NOTEBOOKS = "test_notebooks.py"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Schedule for two pytest-xdist workers (``--dist loadgroup``): a test file is one
    unit of work (its module fixtures, e.g. trained experts, are built once), except
    the notebooks, each its own unit; those take minutes apiece, so they go first and
    the other worker works through the files meanwhile."""
    for item in items:
        name = item.path.name
        item.add_marker(pytest.mark.xdist_group(item.name if name == _NOTEBOOKS else name))
    items.sort(key=lambda item: item.path.name != _NOTEBOOKS)
