"""The engine: batched forwards, KV caches and sessions, sampling, exact answer distributions and
generation. Takes an `LM` (`kernels.models.loading`); never loads a model itself."""
