"""Model shapes (config.json) shipped for offline planning and shape-true benchmarks."""
