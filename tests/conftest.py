import os

# Tests run on CPU in float32 unless a test enables x64 locally.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
