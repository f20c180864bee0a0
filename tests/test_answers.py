"""Exact answers against brute-force enumeration of token sequences (HF decode + regex rule)."""
import copy
import functools
import string
import unicodedata

import pytest
import torch

from logitscope.errors import UserError
from logitscope.kernels.engine import answers as answers_mod
from logitscope.kernels.engine.answers import answer_distribution, expand_exact, prefill
from logitscope.kernels.engine.sampling import transform
from logitscope.kernels.engine.spaces import AnswerSpace, integers, letters, parse_answers, rps
from logitscope.testing import bytelevel_tokenizer, sentencepiece_tokenizer, tiny_lm

ADVERSARIAL = ["10", "1.", "10\n", " 1", " 10", "01", " 7", "7.", "ab", "  ", "\n\n", "a."]
SPACE = AnswerSpace.of("adv", {"0": ["0"], "1": ["1"], "10": ["10"], "7": ["7"], "a": ["a", "A"]})


def _boundary(ch: str) -> bool:
    return ch.isspace() or ch in string.punctuation or unicodedata.category(ch)[0] in "PZ"


def classify(text: str, ended: bool, space: AnswerSpace):
    """The rule, written independently on decoded strings: ('valid', a) | 'live' | 'invalid'."""
    s = text.lstrip(" \t\n\r\x0b\x0c")
    live = False
    for answer, forms in space.forms:
        for f in forms:
            if s.startswith(f):
                rest = s[len(f):]
                if rest and _boundary(rest[0]):
                    return ("valid", answer)
                if not rest:
                    if ended:
                        return ("valid", answer)
                    live = True
            elif f.startswith(s) and not ended:
                live = True
    return "live" if live else "invalid"


def brute_force(lm, prompt_ids, space, depth, temperature=1.0, top_p=1.0):
    """Enumerate every token sequence up to `depth`, each prefix forwarded from scratch."""
    tok = lm.tokenizer
    ends = set(tok.all_special_ids)
    valid = {a: 0.0 for a in space.labels}
    invalid = undecided = 0.0
    frontier = [([], 1.0)]
    for level in range(depth):
        rows = [prompt_ids + seq for seq, _ in frontier]
        with torch.no_grad():
            logits = torch.stack([lm.model(torch.tensor([r])).logits[0, -1] for r in rows])
        probs = transform(torch.log_softmax(logits.float(), -1), temperature, top_p).double().exp()
        nxt = []
        for (seq, mass), p in zip(frontier, probs):
            for t in range(p.shape[0]):
                m = mass * float(p[t])
                if m == 0.0:
                    continue
                ended = t in ends
                text = tok.decode(seq if ended else seq + [t])
                c = classify(text, ended, space)
                if c == "invalid" or (ended and c == "live"):
                    invalid += m
                elif c != "live":
                    valid[c[1]] += m
                elif level == depth - 1:
                    undecided += m
                else:
                    nxt.append((seq + [t], m))
        frontier = nxt
    return valid, invalid, undecided


@pytest.fixture(scope="module")
def adv_lm():
    tok = bytelevel_tokenizer(words=ADVERSARIAL, alphabet="0127 .\naAb", specials=["<eos>", "<pad>"],
                              bos=None, eos="<eos>", pad="<pad>", chat_template=None)
    return tiny_lm("llama", tok, seed=3, peak=4.0)


@pytest.fixture(scope="module")
def sp_lm():
    # ASCII byte fallback only: HF decode shows a lone non-ASCII byte as U+FFFD, which the string
    # rule below cannot read; partial UTF-8 is tested on bytes in test_partial_utf8_boundary.
    tok = sentencepiece_tokenizer(words=("▁1", "10", "▁10", "1.", "7.", "\n\n", "▁▁"), alphabet="0127 .\naAb",
                                  fallback_bytes=128)
    return tiny_lm("gemma3", tok, seed=5, peak=4.0)


@pytest.mark.parametrize("big_set", [4096, 3])             # 3: valid id sets are summed as sets, not id by id
@pytest.mark.parametrize("settings", [(1.0, 1.0), (2.0, 1.0), (1.0, 0.9), (2.0, 0.9)])
@pytest.mark.parametrize("which", ["adv_lm", "sp_lm"])
def test_exact_equals_brute_force(which, settings, big_set, request, monkeypatch):
    lm = request.getfixturevalue(which)
    monkeypatch.setattr(answers_mod, "BIG_SET", big_set)
    monkeypatch.setattr(answers_mod, "_INDEXES", {})
    temperature, top_p = settings
    prompt = lm.tokenizer("1 7", add_special_tokens=False)["input_ids"]
    depth = 4
    valid, invalid, undecided = brute_force(lm, prompt, SPACE, depth, temperature, top_p)
    got = expand_exact(lm, prefill(lm, [prompt]), SPACE, temperature=temperature, top_p=top_p,
                       min_mass=1e-300, max_steps=depth - 1, max_branches=10**6, max_tree=10**6)[0]
    for a in SPACE.labels:
        assert got.answers[a] == pytest.approx(valid[a], abs=1e-6), a
    assert got.invalid_mass == pytest.approx(invalid, abs=1e-6)
    assert got.unexplored_mass == pytest.approx(undecided, abs=1e-6)
    assert got.valid_mass + got.invalid_mass + got.unexplored_mass == pytest.approx(1.0, abs=1e-5)
    assert got.answers["10"] > 0 and got.answers["1"] > 0   # "1" never absorbs "10" and both are reached


def test_pruning_is_reported_and_mass_is_accounted(adv_lm):
    d = answer_distribution(adv_lm, adv_lm.tokenizer("7", add_special_tokens=False)["input_ids"], SPACE,
                            min_mass=1e-3)
    assert d.unexplored_mass > 0
    assert d.valid_mass + d.invalid_mass + d.unexplored_mass == pytest.approx(1.0, abs=1e-5)
    assert sum(d.renormalised.values()) == pytest.approx(1.0)


def test_first_token_is_labelled_approximate(adv_lm):
    prompt = adv_lm.tokenizer("7", add_special_tokens=False)["input_ids"]
    d = answer_distribution(adv_lm, prompt, SPACE, method="first-token")
    assert d.method == "first-token" and not d.exact
    # by hand: tokens whose text (leading whitespace stripped) begins a form
    with torch.no_grad():
        probs = torch.log_softmax(adv_lm.model(torch.tensor([prompt])).logits[0, -1].float(), -1).double().exp()
    tok = adv_lm.tokenizer
    want = sum(float(probs[t]) for t in range(len(tok)) if t not in tok.all_special_ids
               and (s := tok.decode([t]).lstrip()) and "10".startswith(s))
    assert d.answers["10"] == pytest.approx(want, abs=1e-9)


def test_uniform_oracle():
    from logitscope.kernels.models.oracle import UniformLM
    d = answer_distribution(UniformLM(), "anything", rps())
    assert d.answers == {"rock": 1 / 3, "paper": 1 / 3, "scissors": 1 / 3} and d.valid_mass == 1.0


def test_bad_answer_sets(adv_lm):
    with pytest.raises(UserError, match="empty answer set"):
        AnswerSpace.of("x", {})
    with pytest.raises(UserError, match="two answers"):
        AnswerSpace.of("x", {"a": ["yes"], "b": ["yes"]})
    with pytest.raises(UserError, match="overlap"):
        AnswerSpace.of("x", {"a": ["1"], "b": ["1.5"]})
    with pytest.raises(UserError, match="cannot be spelled"):
        answer_distribution(adv_lm, [5], {"z": ["zebra"]})
    with pytest.raises(UserError, match="unknown answer set"):
        parse_answers("0-x")


def test_answer_space_helpers(tmp_path):
    assert integers().labels == [str(i) for i in range(11)]
    assert dict(letters().forms)["e"] == ("e", "E")
    assert "seven" in dict(integers(words=True).forms)["7"]
    f = tmp_path / "moves.txt"
    f.write_text("up: up, UP\ndown\n")
    assert dict(parse_answers(str(f)).forms) == {"up": ("up", "UP"), "down": ("down",)}


def test_partial_utf8_boundary():
    """'7' then a full stop split over two byte-level tokens (U+3002 = e3 80 82) spells 7;
    '7' then a lone 0xff byte does not."""
    from logitscope.kernels.engine.answers import AnswerIndex
    from logitscope.kernels.engine.spaces import INVALID, VALID, Matcher
    m = Matcher(SPACE)
    assert m.spells("7\u3002".encode())[:2] == (VALID, "7")
    assert m.spells("7\u00a0x".encode())[:2] == (VALID, "7")
    assert m.spells(b"7\xff")[0] == INVALID
    assert m.spells("7\u00e9".encode())[0] == INVALID        # a letter, not a boundary
    tok = bytelevel_tokenizer(words=[b"7\xe3", b"\x80\x82"], alphabet="7 ", specials=["<eos>", "<pad>"],
                              bos=None, eos="<eos>", pad="<pad>", chat_template=None)
    from logitscope.kernels.engine.vocab import vocab_index
    idx = AnswerIndex(vocab_index(tok, len(tok)), AnswerSpace.of("seven", {"7": ["7"]}))
    ranges, lives = idx.walk(b"")
    assert any(text == b"7\xe3" for text, _ in lives)      # pending, not yet decided
    ranges2, _ = idx.walk(b"7\xe3")
    assert ranges2 and all(idx.space.labels[s] == "7" for s, _, _ in ranges2)


@pytest.fixture(scope="module")
def sp_window_lm():
    tok = sentencepiece_tokenizer(words=("▁1", "10", "▁10", "1.", "7.", "\n\n", "▁▁"), alphabet="0127 .\naAb",
                                  fallback_bytes=128)
    return tiny_lm("gemma3", tok, seed=6, peak=4.0, sliding_window=4)


@pytest.fixture(scope="module")
def sp_window_sdpa_lm():
    tok = sentencepiece_tokenizer(words=("▁1", "10", "▁10", "1.", "7.", "\n\n", "▁▁"), alphabet="0127 .\naAb",
                                  fallback_bytes=128)
    lm = tiny_lm("gemma3", tok, seed=6, peak=4.0, sliding_window=4)
    lm.model.config._attn_implementation = "sdpa"      # what real models run (the tiny ones default to eager)
    return lm


@pytest.mark.parametrize("which", ["adv_lm", "sp_window_lm", "sp_window_sdpa_lm"])
def test_tree_over_padded_roots_and_sliding_window_equals_brute_force(which, request):
    """Several roots of different lengths (left padding), prompts longer than a sliding window
    of 4, expanded together as token trees (eager and SDPA attention), each equal to brute force."""
    lm = request.getfixturevalue(which)
    texts = ["1 7", "a 1 7 0 a 1", "7 7 10 1 a 0 7 1 0 1 1 a"]
    prompts = [lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    got = expand_exact(lm, prefill(lm, prompts), SPACE, min_mass=1e-300, max_steps=2, max_branches=10**6,
                       max_tree=10**6)
    for prompt, d in zip(prompts, got):
        valid, invalid, undecided = brute_force(lm, prompt, SPACE, 3)
        for a in SPACE.labels:
            assert d.answers[a] == pytest.approx(valid[a], abs=1e-6), a
        assert d.invalid_mass == pytest.approx(invalid, abs=1e-6)
        assert d.unexplored_mass == pytest.approx(undecided, abs=1e-6)


def test_big_valid_sets_are_read_as_sums(adv_lm, monkeypatch):
    """With a low threshold the index registers big sets, and the answers do not change."""
    monkeypatch.setattr(answers_mod, "_INDEXES", {})
    prompt = adv_lm.tokenizer("1 7", add_special_tokens=False)["input_ids"]
    want = answer_distribution(adv_lm, prompt, SPACE, min_mass=1e-300, max_steps=3)
    monkeypatch.setattr(answers_mod, "BIG_SET", 3)
    monkeypatch.setattr(answers_mod, "_INDEXES", {})
    got = answer_distribution(adv_lm, prompt, SPACE, min_mass=1e-300, max_steps=3)
    idx = answers_mod.answer_index(adv_lm, SPACE)
    assert idx.set_masks() is not None and len(idx.set_ids) >= 1
    assert all(idx.set_masks()[k, ids].eq(1).all() and idx.set_masks()[k].sum() == len(ids)
               for k, ids in enumerate(idx.set_ids))
    for a in SPACE.labels:
        assert got.answers[a] == pytest.approx(want.answers[a], abs=1e-7)
    assert got.invalid_mass == pytest.approx(want.invalid_mass, abs=1e-7)


# ------------------------------------------------------------------ forms with spaces, forms that extend
# forms of the same answer, a non-ASCII character split between two tokens (issue: lost mass)
CITY_WORDS = ["New", " York", " City", ",", " New", "York", "London", " is", "\n", b"S\xc3", b"\xa3o", " Paulo", "."]
CITIES_SHORT = AnswerSpace.of("c1", {"NY": ["New York"], "SP": ["S\u00e3o Paulo"], "L": ["London"]})
CITIES_LONG = AnswerSpace.of("c2", {"NY": ["New York", "New York, New York City"], "SP": ["S\u00e3o Paulo"],
                                    "L": ["London"]})


def _gpt2_bytes(token: str) -> bytes:
    """Bytes of a byte-level BPE token string (GPT-2's byte-to-unicode table, written out here)."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = {chr(c): b for b, c in zip(bs, cs)}
    return bytes(table[ch] for ch in token)


@functools.lru_cache(maxsize=None)
def _starts_boundary_char(rest: bytes) -> bool:
    """Some boundary character's UTF-8 encoding starts with these bytes (searched over all of Unicode)."""
    return any(_boundary(chr(cp)) and chr(cp).encode("utf-8", "surrogatepass").startswith(rest)
               for cp in range(0x80, 0x110000))


def classify_bytes(data: bytes, ended: bool, space: AnswerSpace):
    """The rule on bytes: ('valid', a) | 'live' | 'invalid'. A character cut in half is live while
    some form (or a boundary character after a complete form) can still complete it."""
    s = data.lstrip(b" \t\n\r\x0b\x0c")
    live = False
    for answer, forms in space.forms:
        for f in (f.encode() for f in forms):
            if s.startswith(f):
                rest = s[len(f):]
                if not rest:
                    if ended:
                        return ("valid", answer)
                    live = True
                    continue
                for n in range(1, 5):
                    try:
                        ch = rest[:n].decode("utf-8")
                    except UnicodeDecodeError:
                        continue
                    if _boundary(ch[0]):
                        return ("valid", answer)
                    break
                else:
                    live = live or (not ended and _starts_boundary_char(rest))   # an unfinished character
            elif f.startswith(s) and not ended:
                live = True
    return "live" if live else "invalid"


def brute_force_bytes(lm, prompt_ids, space, depth):
    tok = lm.tokenizer
    ends = set(tok.all_special_ids)
    pieces = [_gpt2_bytes(t) if i not in ends else b"" for i, t in enumerate(tok.convert_ids_to_tokens(list(range(len(tok)))))]
    valid = {a: 0.0 for a in space.labels}
    invalid = undecided = 0.0
    frontier = [(b"", [], 1.0)]
    # a float64 reference: a float32 one differs from the engine by float32 rounding of the logits in
    # another summation order (1.2e-7 on torch 2.14 for a mass of 0.99), the engine itself is ~3e-10 off
    model = copy.deepcopy(lm.model).double()
    for level in range(depth):
        with torch.no_grad():
            logits = torch.stack([model(torch.tensor([prompt_ids + seq])).logits[0, -1] for _, seq, _ in frontier])
        probs = torch.log_softmax(logits, -1).exp()
        nxt = []
        for (data, seq, mass), p in zip(frontier, probs):
            for t in range(p.shape[0]):
                m = mass * float(p[t])
                ended = t in ends
                c = classify_bytes(data if ended else data + pieces[t], ended, space)
                if c == "invalid" or (ended and c == "live"):
                    invalid += m
                elif c != "live":
                    valid[c[1]] += m
                elif level == depth - 1:
                    undecided += m
                else:
                    nxt.append((data + pieces[t], seq + [t], m))
        frontier = nxt
    return valid, invalid, undecided


@pytest.fixture(scope="module")
def city_lm():
    tok = bytelevel_tokenizer(words=CITY_WORDS, alphabet="NewYorkCityLndSPaul ,.\n", specials=["<eos>", "<pad>"],
                              bos=None, eos="<eos>", pad="<pad>", chat_template=None)
    return tiny_lm("llama", tok, seed=11, peak=3.0)


@pytest.mark.parametrize("space", [CITIES_SHORT, CITIES_LONG], ids=["c1", "c2"])
@pytest.mark.parametrize("big_set", [4096, 3])
def test_forms_that_extend_forms_equal_brute_force(city_lm, space, big_set, monkeypatch):
    monkeypatch.setattr(answers_mod, "BIG_SET", big_set)
    monkeypatch.setattr(answers_mod, "_INDEXES", {})
    prompt = city_lm.tokenizer("London is", add_special_tokens=False)["input_ids"]
    depth = 4
    valid, invalid, undecided = brute_force_bytes(city_lm, prompt, space, depth)
    got = expand_exact(city_lm, prefill(city_lm, [prompt]), space, min_mass=1e-300, max_steps=depth - 1,
                       max_branches=10**6, max_tree=10**6)[0]
    for a in space.labels:
        assert got.answers[a] == pytest.approx(valid[a], abs=1e-7), a
    assert got.invalid_mass == pytest.approx(invalid, abs=1e-7)
    assert got.unexplored_mass == pytest.approx(undecided, abs=1e-7)
    assert got.answers["NY"] > 1e-4 and got.answers["SP"] > 1e-6     # both reached, "ã" split in two tokens


def test_adding_a_longer_form_of_the_same_answer_changes_nothing(city_lm):
    """Every text that spells 'New York, New York City' + boundary already spells 'New York' + ','."""
    prompt = city_lm.tokenizer("London is", add_special_tokens=False)["input_ids"]
    short = answer_distribution(city_lm, prompt, CITIES_SHORT, min_mass=1e-300, max_steps=8)
    long = answer_distribution(city_lm, prompt, CITIES_LONG, min_mass=1e-300, max_steps=8)
    assert long.answers["NY"] == pytest.approx(short.answers["NY"], abs=1e-9)
    assert long.invalid_mass == pytest.approx(short.invalid_mass, abs=1e-9)
    from logitscope.kernels.engine.spaces import LIVE, VALID, Matcher
    m = Matcher(CITIES_LONG)
    assert m.spells(b"New York is")[:2] == (VALID, "NY")
    assert m.classify(b"New York ")[:2] == (VALID, "NY")          # decided at the boundary
    assert m.spells(b"New York, New York Ci")[:2] == (VALID, "NY")
    assert m.classify(b"New York")[0] == LIVE


@pytest.mark.parametrize("big_set", [4096, 3])
def test_traced_paths_carry_each_answers_mass(adv_lm, monkeypatch, big_set):
    """trace=True: an answer's paths sum to its probability; each path's probability is the product of
    fresh next-token probabilities along it (a set path: its prefix times the set's summed mass), and
    each explicit path's text spells its answer by the rule (`classify`)."""
    monkeypatch.setattr(answers_mod, "BIG_SET", big_set)
    monkeypatch.setattr(answers_mod, "_INDEXES", {})
    tok = adv_lm.tokenizer
    prompt = tok("1 7", add_special_tokens=False)["input_ids"]
    d = answer_distribution(adv_lm, prompt, SPACE, min_mass=1e-300, max_steps=3, trace=True)
    assert d.paths and all(a["prob"] >= b["prob"] for a, b in zip(d.paths, d.paths[1:]))
    for a in SPACE.labels:
        assert sum(x["prob"] for x in d.paths if x["answer"] == a) == pytest.approx(d.answers[a], rel=1e-9, abs=1e-15)
    ends = set(tok.all_special_ids)
    ref = copy.deepcopy(adv_lm.model).double()

    def lp(ids):
        with torch.no_grad():
            return torch.log_softmax(ref(torch.tensor([prompt + ids])).logits[0, -1], -1).exp()
    for x in list(d.paths[:40]) + [x for x in d.paths if x["set"]][:10]:
        want = 1.0
        for k, t in enumerate(x["ids"]):
            want *= float(lp(x["ids"][:k])[t])
        if x["set"] is None:
            ended = x["ids"][-1] in ends
            text = tok.decode([t for t in x["ids"] if t not in ends])
            assert classify(text, ended, SPACE) == ("valid", x["answer"]), (text, x)
        else:
            ids = answers_mod.answer_index(adv_lm, SPACE).set_ids
            members = next(s for s in ids if list(s[:5]) == x["set"]["examples"] and len(s) == x["set"]["size"])
            want *= float(lp(x["ids"])[torch.as_tensor(members)].sum())
        assert x["prob"] == pytest.approx(want, rel=1e-4), x
    assert not answer_distribution(adv_lm, prompt, SPACE, min_mass=1e-300, max_steps=3).paths
