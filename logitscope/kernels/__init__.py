"""Everything that touches torch.

- `engine/`: forward passes and the blocked LM head, KV caches, sessions, sampling, exact answers
  (vocabulary trie, answer spaces, readout, token tree) and generation;
- `models/`: models in: registry and specs, loading, the embedded GGUF models and their conversion
  cache, prompt formats, fp8/int8, memory plans, devices, the uniform oracle, sentence embeddings;
- `reward.py`: sequence-classification reward models.
"""
