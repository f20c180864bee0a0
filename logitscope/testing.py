"""Tiny random models and tiny tokenizers built from configs: no downloads.

Used by the test suite and the benchmarks' self-checks; also handy for trying the toolkit on a
machine without model weights. Builders take a seed so the same call gives the same model.
"""
from __future__ import annotations

LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                   "<|eot_id|>", "<|user|>", "<|assistant|>", "<pad>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
                 "{{ m['content'] }}<|eot_id|>{% endfor %}"
                 "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
DEFAULT_WORDS = ["rock", "paper", "scissors", "Rock", "Paper", "Scissors", "Move:", "Number:", " Move:",
                 " rock", " paper", " scissors", "10", " 10", "1.", "10\n", " 1", "You", " won", " lost",
                 " tie", "Round", "\n\n"]


def _merges_for(tokens: list[str], base: set[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Left-to-right merges that build each token from its characters (adds the intermediates)."""
    vocab, merges = [], []
    seen = set(base)
    for tok in tokens:
        for k in range(2, len(tok) + 1):
            piece = tok[:k]
            if piece not in seen:
                seen.add(piece)
                vocab.append(piece)
                merges.append((tok[:k - 1], tok[k - 1]))
    return vocab, merges


def bytelevel_tokenizer(words=DEFAULT_WORDS, specials=LLAMA3_SPECIALS, alphabet: str | None = None,
                        bos: str | None = "<|begin_of_text|>", eos: str = "<|end_of_text|>",
                        pad: str = "<pad>", chat_template: str | None = CHAT_TEMPLATE):
    """A byte-level BPE tokenizer (GPT-2 / Llama-3 style). With `alphabet`, only those characters
    (and those of `words`, which may be str or raw bytes) are base tokens (a tiny vocabulary for
    brute-force enumeration); else all 256 bytes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    from .kernels.engine.vocab import _byte_decoder
    to_char = {b: c for c, b in _byte_decoder().items()}
    enc = lambda s: "".join(to_char[b] for b in (s if isinstance(s, bytes) else s.encode("utf-8")))  # noqa: E731
    words = [enc(w) for w in words]
    base = [to_char[b] for b in range(256)] if alphabet is None else list(dict.fromkeys(enc(alphabet) + "".join(words)))
    extra, merges = _merges_for(words, set(base))
    vocab = {}
    for tok in list(specials) + base + extra:
        vocab.setdefault(tok, len(vocab))
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens(list(specials))
    if bos:
        tk.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                          special_tokens=[(bos, vocab[bos])])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=bos, eos_token=eos, pad_token=pad)
    if chat_template:
        tok.chat_template = chat_template
    return tok


def sentencepiece_tokenizer(words=("▁rock", "▁paper", "▁scissors", "10", "▁1", "1.", "Move:", "\n\n", "▁▁"),
                            alphabet: str = "0123456789 .:\nabcdefghijklmnopqrstuvwxyzRPSMN",
                            specials=("<pad>", "<eos>", "<bos>", "<unk>", "<end_of_turn>"), fallback_bytes: int = 256):
    """A Gemma-style BPE tokenizer: `▁` for spaces, `<0xHH>` byte fallback (for the first
    `fallback_bytes` byte values), BOS added."""
    from tokenizers import Tokenizer, decoders, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    base = list(dict.fromkeys(alphabet.replace(" ", "\u2581")))
    fallback = [f"<0x{b:02X}>" for b in range(fallback_bytes)]
    extra, merges = _merges_for(list(words), set(base))
    vocab = {}
    for tok in list(specials) + fallback + base + extra:
        vocab.setdefault(tok, len(vocab))
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True, unk_token="<unk>"))
    tk.normalizer = normalizers.Replace(" ", "\u2581")
    tk.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    tk.add_special_tokens(list(specials))
    tk.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos> $B",
                                                      special_tokens=[("<bos>", vocab["<bos>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")


def tiny_model(arch: str, vocab_size: int, *, seed: int = 0, layers: int = 2, hidden: int = 32,
               sliding_window: int = 8, peak: float = 1.0, dtype=None):
    """A random causal LM: arch in llama | gemma3 | qwen2. `peak` scales the output layer so the
    next-token distributions are sharper (peak > 1) or flatter."""
    import torch
    import transformers as tf

    common = dict(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                  num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=2048, tie_word_embeddings=False, pad_token_id=0)
    if arch == "llama":
        cfg, cls = tf.LlamaConfig(**common), tf.LlamaForCausalLM
    elif arch == "qwen2":
        cfg, cls = tf.Qwen2Config(**common), tf.Qwen2ForCausalLM
    elif arch == "gemma3":
        types = ["sliding_attention", "full_attention"] * (layers // 2) + ["sliding_attention"] * (layers % 2)
        cfg = tf.Gemma3TextConfig(**common, head_dim=hidden // 4, sliding_window=sliding_window,
                                  layer_types=types, query_pre_attn_scalar=hidden // 4)
        cls = tf.Gemma3ForCausalLM
    else:
        raise ValueError(f"unknown tiny architecture {arch}")
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = cls(cfg)
    with torch.no_grad():
        model.lm_head.weight.mul_(peak)
    model.eval()
    if dtype is not None:
        model.to(dtype)
    return model


def tiny_lm(arch: str = "llama", tokenizer=None, fmt: str = "raw", **kw):
    """An `LM` around a tiny random model and a tiny tokenizer."""
    from .kernels.models.formats import Format
    from .kernels.models.loading import LM
    tok = tokenizer if tokenizer is not None else bytelevel_tokenizer()
    model = tiny_model(arch, len(tok), **kw)
    return LM(model=model, tokenizer=tok, format=Format(fmt), name=f"tiny-{arch}", spec=f"tiny-{arch}",
              info={"spec": f"tiny-{arch}", "dtype": "float32", "format": fmt})


def tiny_reward_model(path, *, pad_is_eos: bool = False, seed: int = 0, layers: int = 2, hidden: int = 32):
    """Save a random `LlamaForSequenceClassification` (one score) and a tiny byte-level tokenizer
    without a chat template (so the Tulu template is used) into `path`; returns the path."""
    import torch
    import transformers as tf
    tok = bytelevel_tokenizer(chat_template=None)
    if pad_is_eos:
        tok.pad_token = tok.eos_token
    cfg = tf.LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, num_labels=1,
                         pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = tf.LlamaForSequenceClassification(cfg)
    with torch.no_grad():
        model.score.weight.normal_(0, 1.0)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def save_tiny_lm(path, arch: str = "llama", tokenizer=None, **kw):
    """Save a tiny random causal LM and its tokenizer into `path` (a model directory `load_model`
    takes like any checkpoint); returns the path."""
    tok = tokenizer if tokenizer is not None else bytelevel_tokenizer()
    model = tiny_model(arch, len(tok), **kw)
    model.config._attn_implementation = "sdpa"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def shaped_lm(name: str, tokenizer, *, device="cpu", dtype=None, seed: int = 0, entropy_bits: float = 4.0,
              fmt: str | None = None, **overrides):
    """An `LM` with random weights in the shape of a shipped config (`logitscope/configs/NAME.json`:
    llama-3.1-8b, qwen2.5-7b, smollm2-1.7b, ...), built directly on `device` (no download: for GPU
    benchmarks on a machine without network), with a real `tokenizer` (an object or a directory).

    - The final norm is scaled so the mean next-token entropy over a sample text is `entropy_bits`
      (found by bisection on the scale): a random init gives ~15 bits, a real model a few (gemma-3-270m
      base: 4.2 bits on Mohammadi 2024's prompt). A random model still gives a task's answers almost no
      mass, so an exact readout ends after its first step; the GPU benchmarks raise the answers' first
      tokens (`benchmarks/common.py`, `--answer-mass`) so readouts take the steps a real model's do.
    - Where the shape's vocabulary is larger than the tokenizer's, the extra ids (which no text can
      spell) get -inf logits through a hook on the LM head, so every drawn token is a real one.
    - `overrides` replace config fields (e.g. num_hidden_layers=2 for a quick CPU check)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from .kernels.models.formats import Format
    from .kernels.models.loading import LM
    from .kernels.models.plan import shipped_config
    tok = AutoTokenizer.from_pretrained(str(tokenizer)) if isinstance(tokenizer, (str, bytes)) or \
        hasattr(tokenizer, "is_dir") else tokenizer
    config = {**shipped_config(name), **overrides}
    cfg = AutoConfig.for_model(**config)
    cfg._attn_implementation = "sdpa"
    dtype = dtype or (torch.float32 if str(device).startswith("cpu") else torch.bfloat16)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    model.eval()
    model.requires_grad_(False)
    vocab = model.get_output_embeddings().weight.shape[0]
    if len(tok) < vocab:
        extra = torch.arange(len(tok), vocab, device=device)
        model.get_output_embeddings().register_forward_hook(lambda mod, args, out: out.index_fill(-1, extra, float("-inf")))
    with torch.no_grad():
        ids = torch.tensor([tok("The quick brown fox jumps over the lazy dog. " * 4)["input_ids"][:48]], device=device)
        body = getattr(model, model.base_model_prefix)
        hidden = body(input_ids=ids).last_hidden_state
        logits = model.get_output_embeddings()(hidden).float()[0]

        def bits(scale):
            lp = torch.log_softmax(logits * scale, -1)
            return float(-(lp.exp() * lp).nan_to_num().sum(-1).mean()) / 0.6931471805599453
        lo, hi = 0.0, 1.0
        while bits(hi) > entropy_bits and hi < 1e6:
            lo, hi = hi, hi * 2
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if bits(mid) > entropy_bits else (lo, mid)
        body.norm.weight.mul_(hi)
    fmt = fmt or ("chat" if getattr(tok, "chat_template", None) else "raw")
    spec = f"random:{name}"
    return LM(model=model, tokenizer=tok, format=Format(fmt), name=spec, spec=spec,
              info={"spec": spec, "dtype": str(dtype).replace("torch.", ""), "device": str(device), "format": fmt,
                    "random_weights": name, "overrides": overrides})
