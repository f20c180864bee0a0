"""Models in: the registry, `load_model` (embedded aliases, local dirs, GGUF files, hub ids, the
uniform oracle), prompt formats, quantisation, memory plans, devices and sentence embeddings."""
