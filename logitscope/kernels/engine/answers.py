"""Exact answer distributions: P(the continuation spells answer A), summed over every tokenisation.

The continuation is expanded token by token from the prompt's KV cache. At each step every live
branch (text so far is whitespace, a prefix of a surface form, or a complete form waiting for its
boundary) is classified against the whole vocabulary at once through a byte trie of the token
strings (`vocab.VocabIndex`, tokens sorted by bytes so each prefix is one contiguous range):

- tokens that complete a form and a boundary ("7.", "7\\n", " 7 ...") add their mass to the answer,
- tokens that keep the text live ("1" on the way to "10", " ", "\\n") become branches of the
  next step, all forwarded together in one batched pass that shares the prompt's cache,
- everything else is invalid. Branches below `min_mass` are pruned and counted as unexplored.

valid (per answer) + invalid + unexplored = 1 (float64 accounting). See `spaces` for the rule.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ...errors import UserError
from ...limits import MIN_MASS
from .cache import growing_cache
from .forward import cache_kwargs, check_length, checked_log_softmax, left_pad, positions_from_mask, run
from .sampling import check_settings
from .spaces import INVALID, VALID, AnswerSpace, Matcher, parse_answers
from .tree import MAX_TREE, Accounts, Limits, expand_group, root_group_size
from .vocab import VocabIndex, vocab_index

MAX_STEPS = 12
MAX_BRANCHES = 2048   # per root and step
BIG_SET = 4096        # valid id sets this large are summed as sets (see AnswerIndex.layout)


@dataclass(frozen=True)
class AnswerDist:
    """Answer probabilities with all mass accounted. `answers` are absolute probabilities;
    `renormalised` are conditional on a valid answer (divide by `valid_mass`)."""
    answers: dict
    valid_mass: float
    invalid_mass: float
    unexplored_mass: float
    method: str
    temperature: float = 1.0
    top_p: float = 1.0
    forwards: int = 0
    exact: bool = True
    paths: tuple = ()     # with trace=True: every valid token path, most probable first (see expand_exact)
    capped_mass: float = 0.0   # the part of unexplored_mass the tree's work cap left (not min_mass)

    @property
    def renormalised(self) -> dict:
        total = sum(self.answers.values())
        return {a: (p / total if total > 0 else float("nan")) for a, p in self.answers.items()}

    def _repr_html_(self) -> str:
        """The answers, their masses and the most probable answer's token paths (Jupyter; ids only)."""
        from ...views.answers import answer_view
        return answer_view(self.to_json())

    def to_json(self) -> dict:
        return {"answers": self.answers, "renormalised": self.renormalised,
                "valid_mass": self.valid_mass, "invalid_mass": self.invalid_mass,
                "unexplored_mass": self.unexplored_mass, "method": self.method,
                "exact": self.exact, "temperature": self.temperature, "top_p": self.top_p,
                "forwards": self.forwards, **({"capped_mass": self.capped_mass} if self.capped_mass else {}),
                **({"paths": list(self.paths)} if self.paths else {})}


def uniform_dist(space: AnswerSpace, method: str = "uniform") -> AnswerDist:
    k = len(space.labels)
    return AnswerDist({a: 1.0 / k for a in space.labels}, 1.0, 0.0, 0.0, method)


class AnswerIndex:
    """What each branch text can become, for one (vocabulary, answer space): memoised walks."""

    def __init__(self, vocab: VocabIndex, space: AnswerSpace):
        self.vocab, self.space, self.matcher = vocab, space, Matcher(space)
        self.slot = {a: i for i, a in enumerate(space.labels)}
        self.end_ids = torch.tensor(vocab.end_ids, dtype=torch.long)
        self.order_np = np.asarray(vocab.order, dtype=np.int64)
        self._layouts: dict[bytes, tuple] = {}
        self._set_key: dict[bytes, int] = {}
        self.set_ids: list[np.ndarray] = []
        self._masks: torch.Tensor | None = None
        self.check_spellable()

    def walk(self, text: bytes):
        """(valid ranges [(slot, lo, hi)], live children [(new text, token ids array)]) for a
        branch whose text is `text`: a depth-first walk of the token trie that only visits
        bytes the matcher allows (`layout` memoises what a branch reads from it)."""
        valid, live = [], []
        self._walk(text, 0, 0, len(self.vocab.order), valid, live)
        return valid, [(t, np.array(ids, dtype=np.int64)) for t, ids in live]

    def layout(self, text: bytes):
        """What a branch with this text reads: (ids, valid, live_from, live_text, big).

        - `ids`: the token ids read one by one, as one array;
        - `valid`: [(answer slot, start, stop)] column ranges of `ids` that complete an answer
          (the end-of-text ids first where the text is already a complete form);
        - ids from `live_from` on keep the text live; `live_text[j]` is the text after
          `ids[live_from + j]`;
        - `big`: [(answer slot, set)]: valid id sets of `BIG_SET` ids or more (every token that
          starts with a boundary after a complete form: half of a 262k vocabulary), read as one
          sum per set (`set_masks`) instead of id by id.

        All other ids make the text invalid. Memoised per text."""
        if text not in self._layouts:
            ranges, lives = self.walk(text)
            per: dict[int, list] = {}                                    # each answer's valid ids, one array
            for slot, a, b in ranges:
                per.setdefault(slot, []).append(self.order_np[a:b])
            valid_ids = [(slot, np.concatenate(parts)) for slot, parts in per.items()]
            ans = self.matcher.at_end(text)
            if ans is not None and len(self.end_ids):
                valid_ids = [(self.slot[ans], self.end_ids.numpy())] + valid_ids
            valid, big, parts, start = [], [], [], 0
            for slot, ids in valid_ids:
                if len(ids) >= BIG_SET:
                    big.append((slot, self._set_of(ids)))
                    continue
                valid.append((slot, start, start + len(ids)))
                parts.append(ids)
                start += len(ids)
            live_text = [t for t, ids in lives for _ in range(len(ids))]
            parts += [ids for _, ids in lives]
            ids = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
            self._layouts[text] = (ids, valid, start, live_text, big)
        return self._layouts[text]

    def _set_of(self, ids: np.ndarray) -> int:
        key = np.sort(ids).tobytes()
        if key not in self._set_key:
            self._set_key[key] = len(self.set_ids)
            self.set_ids.append(np.asarray(ids, dtype=np.int64))
            self._masks = None
        return self._set_key[key]

    def set_masks(self, device=None) -> torch.Tensor | None:
        """The big valid sets met so far as float64 0/1 rows [sets, vocab] (None before the first),
        kept once per device."""
        if self._masks is None and self.set_ids:
            self._masks = torch.zeros(len(self.set_ids), self.vocab.vocab_size, dtype=torch.float64)
            for k, ids in enumerate(self.set_ids):
                self._masks[k, torch.from_numpy(ids)] = 1.0
            self._masks_on = {}
        if self._masks is None or device is None or torch.device(device).type == "cpu":
            return self._masks
        key = str(device)
        if key not in self._masks_on:
            self._masks_on[key] = self._masks.to(device)
        return self._masks_on[key]

    def _walk(self, text, depth, lo, hi, valid, live):
        vi, m = self.vocab, self.matcher
        start = vi.exact_end(depth, lo, hi)
        if start > lo:   # tokens that end exactly here (at depth 0: tokens that spell nothing)
            live.append((text, vi.order[lo:start]))
        for byte in sorted(m.candidates(text)):
            status, answer, new = m.step(text, byte)
            if status == INVALID:
                continue
            a, b = vi.child_range(depth, byte, start, hi)
            if a == b:
                continue
            if status == VALID:
                valid.append((self.slot[answer], a, b))
            else:
                self._walk(new, depth + 1, a, b, valid, live)

    def check_spellable(self) -> None:
        """Every answer must be spellable by some token sequence of this vocabulary."""
        for answer, forms in self.space.forms:
            if not any(self._spellable(f.encode("utf-8")) for f in forms):
                raise UserError(f"answer '{answer}' (forms {', '.join(forms)}) cannot be spelled by any "
                                "token sequence of this model's vocabulary")

    def _spellable(self, form: bytes) -> bool:
        vi, reach = self.vocab, {0}
        for i in range(len(form) + 1):
            if i not in reach:
                continue
            if i == len(form):
                return True
            for j in range(i + 1, len(form) + 1):
                if vi.ids_with_bytes(form[i:j]) or (i == 0 and any(vi.ids_with_bytes(w + form[:j]) for w in (b" ", b"\n"))):
                    reach.add(j)
            if any(vi.has_prefix(form[i:] + bytes([c])) for c in b" .,\n"):
                return True
        return False


_INDEXES: dict = {}


def answer_index(lm, space: AnswerSpace) -> AnswerIndex:
    vocab_size = lm.model.get_output_embeddings().weight.shape[0]
    key = (id(lm.tokenizer), vocab_size, space)
    if key not in _INDEXES:
        _INDEXES[key] = AnswerIndex(vocab_index(lm.tokenizer, vocab_size), space)
    return _INDEXES[key]


@dataclass
class Roots:
    """Where expansion starts: R rows of a KV cache (full, left-padded, no holes) with their
    attention mask, the position of each row's next token and next-token log-probs [R, vocab]."""
    cache: object
    mask: torch.Tensor
    next_pos: torch.Tensor
    logprobs: torch.Tensor
    forwards: int = field(default=1)

    def layers(self) -> list[tuple]:
        """Per layer (keys, values, the layer itself: expansion appends into its spare room)."""
        return [(layer.keys, layer.values, layer) for layer in self.cache.layers]


@torch.inference_mode()
def prefill(lm, rows: list[list[int]]) -> Roots:
    """One left-padded forward of the prompts, keeping a full (never window-truncated) cache."""
    if not rows or any(len(r) == 0 for r in rows):
        raise UserError("empty prompt: nothing to condition on")
    ids, mask = left_pad(rows, lm.pad_id, lm.input_device)
    cache = growing_cache()
    out = run(lm.model, input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask),
                   logits_to_keep=1, **cache_kwargs(lm.model, cache))
    return Roots(cache, mask, mask.sum(-1), checked_log_softmax(out.logits[:, -1]))


@torch.inference_mode()
def expand_exact(lm, roots: Roots, space: AnswerSpace, *, temperature=1.0, top_p=1.0,
                 min_mass=1e-6, max_steps=MAX_STEPS, max_branches=MAX_BRANCHES, max_tree=MAX_TREE,
                 trace=False) -> list[AnswerDist]:
    """Exact answer distributions for each root row (the roots are not modified).

    Branches are expanded as a token tree on top of their root's cache row (tree attention): at
    each step all live branches of a root are forwarded together as the queries of that root's
    row, each attending to the root's tokens, its own ancestors and itself through an explicit
    4-D mask (per layer type, so sliding windows stay exact). The root's cache is never copied
    per branch. Roots are processed in memory-bounded groups.

    Pruning is explicit: branches below `min_mass` (0 < min_mass < 1, `limits.MIN_MASS`), past
    `max_steps` tokens, or beyond the work cap (the `max_branches` heaviest of a root at a step,
    `max_tree` of a root in all) are counted in `unexplored_mass`; what the work cap left is also in
    `capped_mass`, and said once in a note. Each step's forward is split by roots where its logits or
    mask would pass their budgets (`tree.STEP_LOGITS_BYTES`, `tree.STEP_CELLS`), so memory is bounded.

    `trace=True` keeps the token paths that carry each answer's mass (`AnswerDist.paths`, most
    probable first): {"answer", "ids" (the path's token ids), "set" (None, or where the last step
    is any of a big set of tokens that start with a boundary: {"size", "examples"} with its first ids),
    "prob"}; the probabilities of an answer's paths sum to its probability."""
    check_settings(temperature, top_p)
    limits = Limits(temperature, top_p, MIN_MASS.check(min_mass, "min_mass"), max_steps, max_branches, max_tree)
    idx = answer_index(lm, space)
    n_roots, k = roots.logprobs.shape[0], len(space.labels)
    acc = Accounts(n_roots, k, trace)
    forwards = 0
    group = root_group_size(lm, roots.mask.shape[1])
    for s in range(0, n_roots, group):
        rows = list(range(s, min(n_roots, s + group)))
        forwards = max(forwards, expand_group(lm, idx, roots, rows, acc, limits))
    dists = []
    for r in range(n_roots):
        dists.append(AnswerDist({a: float(acc.valid[r, s]) for a, s in idx.slot.items()},
                                float(acc.valid[r].sum()), float(acc.invalid[r]), float(acc.unexplored[r]),
                                "exact", temperature, top_p, roots.forwards + forwards,
                                paths=_paths(idx, acc.paths[r]) if trace else (), capped_mass=float(acc.capped[r])))
    if acc.capped.any():
        _say_capped(acc, limits)
    return dists


_CAP_SAID: set = set()


def _say_capped(acc: Accounts, limits: Limits) -> None:
    """One note per process and min_mass when the work cap left mass (it stays in unexplored_mass)."""
    if limits.min_mass in _CAP_SAID:
        return
    _CAP_SAID.add(limits.min_mass)
    from ...progress import note
    hit = int((acc.capped > 0).sum())
    note(f"the answer tree reached its work cap ({limits.max_tree:,} branches a readout, {acc.step_cap:,} a step) "
         f"on {hit} of {len(acc.capped)} readouts at min-mass {limits.min_mass:g}; the mass it left, up to "
         f"{acc.capped.max():.2e} of a readout, is counted as unexplored (a larger min-mass prunes earlier)")


def _paths(idx: AnswerIndex, found: list) -> tuple:
    labels = idx.space.labels
    out = [{"answer": labels[slot], "ids": list(ids),
            "set": None if st is None else {"size": st[1], "examples": idx.set_ids[st[0]][:5].tolist()},
            "prob": prob} for slot, ids, st, prob in found]
    return tuple(sorted(out, key=lambda x: -x["prob"]))


def _as_space(answers) -> AnswerSpace:
    if isinstance(answers, AnswerSpace):
        return answers
    if isinstance(answers, str):
        return parse_answers(answers)
    if isinstance(answers, (list, tuple)):
        return AnswerSpace.of("custom", {a: [a] for a in answers})
    return AnswerSpace.of("custom", dict(answers))


def answer_distributions(lm, prompts, answers, *, method="exact", temperature=1.0, top_p=1.0,
                         min_mass=1e-6, infix="", max_steps=MAX_STEPS, trace=False) -> list[AnswerDist]:
    """Answer distributions for many prompts (strings in the LM's format, or token-id lists);
    `trace=True` keeps the token paths of each answer (exact method; see `expand_exact`)."""
    space = _as_space(answers)
    check_settings(temperature, top_p)
    MIN_MASS.check(min_mass, "min_mass")
    if getattr(lm, "is_oracle", False):
        return [uniform_dist(space) for _ in prompts]
    if method not in ("exact", "first-token"):
        raise UserError(f"unknown method '{method}'; choose exact or first-token")
    rows = [p if isinstance(p, list) else lm.encode(p, infix) for p in prompts]
    longest = max((len(r) for r in rows), default=0)
    check_length(lm, longest + max_steps + 1, f"the prompt ({longest} tokens) + up to {max_steps + 1} answer tokens")
    out = []
    for s in range(0, len(rows), 16):
        roots = prefill(lm, rows[s:s + 16])
        if method == "first-token":
            from .first_token import first_token
            out += first_token(lm, roots.logprobs, space, temperature=temperature, top_p=top_p)
        else:
            out += expand_exact(lm, roots, space, temperature=temperature, top_p=top_p,
                                min_mass=min_mass, max_steps=max_steps, trace=trace)
    return out


def answer_distribution(lm, prompt, answers, *, method="exact", temperature=1.0, top_p=1.0,
                        min_mass=1e-6, infix="", max_steps=MAX_STEPS, trace=False) -> AnswerDist:
    """P(answer) for one prompt; `answers` is an AnswerSpace, a spec like "0-10", a list of
    answers or a mapping answer -> surface forms."""
    return answer_distributions(lm, [prompt], answers, method=method, temperature=temperature,
                                top_p=top_p, min_mass=min_mass, infix=infix, max_steps=max_steps, trace=trace)[0]
