"""Personas as a user gets them: the stop string only where a second persona would start (the form
framing), reviews that run over lines with colons, every field validated with its raw text kept,
per-field counts of what failed, and figures drawn without glyphs the font lacks.

The tiny random models write noise, so `scripted` replaces the sampler with one that writes given
texts token by token through the kernel's own row logic (`_Row.add`: the same stop rule as a real
generation), keeping everything around it (framing, result file, parsing, summary, CLI) real."""
import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.tasks.creativity import personas as P
from logitscope.testing import save_tiny_lm, tiny_lm

GOOD = ("First name: Maria\nLast name: Lopez\nGender: Female\nAge: 41\nNationality: Mexican\nEthnicity: Hispanic\n"
        "Myers-Briggs type: ENFJ\nReview: It keeps my coffee warm while I walk the dog.")


def scripted(mp, texts):
    """Replace the generation kernel's `generate` by one that 'samples' texts[i % len(texts)] for
    sample i, token by token through the kernel's row logic (stop string, EOS, token limit)."""
    from logitscope.kernels.engine import generate as gen
    from logitscope.kernels.engine.vocab import vocab_index

    def fake(lm, prompt, n=1, max_new_tokens=64, *, stop=None, indices=None, seed=0, greedy=False, **kw):
        table = vocab_index(lm.tokenizer, len(lm.tokenizer)).token_bytes
        out = []
        for i in (range(n) if indices is None else indices):
            ids = lm.tokenizer(texts[i % len(texts)], add_special_tokens=False)["input_ids"] + [lm.tokenizer.eos_token_id]
            row = gen._Row(i, seed, greedy)
            for t in ids[:max_new_tokens]:
                row.add(t, None if t == lm.tokenizer.eos_token_id else table[t], -0.5, -0.5, 1.0, 0.5,
                        [(t, 0.6)] + [(j, 0.1) for j in range(4)], stop)
                if row.done:
                    break
            out.append(row.sample)
        return out
    mp.setattr(gen, "generate", fake)


def fake_embed(mp):
    """Reviews' embeddings: any fixed vectors (what is tested here is the parsing)."""
    from logitscope.kernels.models import sentence
    mp.setattr(sentence, "embed", lambda texts, **kw: np.eye(len(texts), 8)[:, :8] + 0.01)


@pytest.fixture()
def chat_lm():
    return tiny_lm("llama", fmt="chat")


def test_chat_reply_with_a_preamble_line_parses_every_field(chat_lm, tmp_path, monkeypatch):
    """The chat framing asks for 'First name: ...' lines; a reply that opens with one line of its
    own must not stop there (it did: the form's stop string "\\nFirst name:" was used for both)."""
    scripted(monkeypatch, ["Sure! Here is a customer persona:\n" + GOOD,
                           GOOD + "\n\nFirst name: Second\nLast name: Persona\nAge: 12"])
    fake_embed(monkeypatch)
    row = P.run_personas([chat_lm], samples=2, max_new_tokens=200, out=str(tmp_path))[0]
    assert row["unparseable"] == 0 and all(v == 0 for v in row["missing"].values()), row["missing"]
    assert row["framing"] == "chat" and row["stop"] is None
    assert row["first_names"] == ["Maria", "Maria"] and row["ages"] == [41, 41]   # the second persona is not read
    head = json.loads(open(row["results"]).readline())
    assert head["config"]["stop"] is None


def test_form_framing_still_stops_where_a_second_persona_starts(tmp_path, monkeypatch):
    lm = tiny_lm("llama", fmt="raw")
    scripted(monkeypatch, [" Anna\nLast name: Berg\nGender: female\nAge: 30\nFirst name: Bob\nLast name: X\n"])
    fake_embed(monkeypatch)
    row = P.run_personas([lm], samples=1, max_new_tokens=200, out=str(tmp_path))[0]
    assert row["framing"] == "form" and row["stop"] == "\nFirst name:"
    recs = [json.loads(x) for x in open(row["results"]) if '"type": "unit"' in x]
    assert recs[0]["finish"] == "stop" and "Bob" not in recs[0]["text"]
    assert row["first_names"] == ["Anna"] and row["last_names"] == ["Berg"]
    head = json.loads(open(row["results"]).readline())
    assert head["config"]["stop"] == "\nFirst name:"            # the form's config (and file) as before


def test_a_review_line_with_a_colon_continues_the_review():
    p = P.parse("First name: Ana\nReview: Great machine.\nIn other words: it keeps coffee warm.\n"
                "My two words: love it.\nRating: 5 stars")
    assert p["fields"]["review"] == "Great machine.\nIn other words: it keeps coffee warm.\nMy two words: love it."
    q = P.parse("Review: Good.\nAge: 40\nmore text")                  # a persona field still ends it
    assert q["fields"] == {"review": "Good.", "age": 40}


@pytest.mark.parametrize("field,raw", [
    ("first_name", "Rl1Kczmx2Jq3"), ("first_name", "\u2705 Don\u2019t Have A Favorite"),
    ("last_name", "Smith (but he prefers to be called by his nickname)"), ("first_name", "Anna 2"),
    ("age", "150"), ("age", "thirty"), ("age", "35-44"), ("age", "1990"),
    ("gender", "I identify as someone who loves coffee"), ("gender", "\u2705"),
    ("mbti", "INTJ or ENFP"), ("mbti", "Introverted"),
    ("nationality", "\U0001F1FA\U0001F1F8"), ("ethnicity", "42"),
])
def test_invalid_values_are_not_counted_as_values_but_kept_raw(field, raw):
    p = P.parse(f"{P.LABELS[field]}: {raw}\nReview: fine")
    assert field not in p["fields"] and p["invalid"] == [field]
    assert p["raw"][field] == raw and field not in p["missing"]


@pytest.mark.parametrize("field,raw,value", [
    ("first_name", "Jos\u00e9", "Jos\u00e9"), ("first_name", "Mary-Jane", "Mary-Jane"),
    ("last_name", "O'Brien", "O'Brien"), ("last_name", "de la Cruz", "de la Cruz"),
    ("last_name", "McDonald", "McDonald"), ("first_name", "li", "Li"), ("last_name", "WANG", "Wang"),
    ("first_name", "\u5f20\u4f1f", "\u5f20\u4f1f"), ("first_name", "\u092a\u094d\u0930\u093f\u092f\u093e",
                                                     "\u092a\u094d\u0930\u093f\u092f\u093e"),
    ("first_name", "Nguy\u1ec5n", "Nguy\u1ec5n"), ("last_name", "O\u2019Neil", "O\u2019Neil"),
    ("age", "34", 34), ("age", "29 years old", 29), ("age", "0", 0), ("age", "120", 120),
    ("gender", "Female", "female"), ("gender", "woman", "female"), ("gender", "M", "male"),
    ("gender", "Man.", "male"), ("gender", "Non-binary", "non-binary"), ("gender", "nonbinary", "non-binary"),
    ("gender", "Female (she/her)", "female"),
    ("mbti", "infj", "INFJ"), ("mbti", "ENTP-A (Debater)", "ENTP"),
    ("nationality", "South Korean", "south korean"), ("ethnicity", "Mixed (Black/White)", "mixed (black/white)"),
])
def test_valid_values(field, raw, value):
    p = P.parse(f"{P.LABELS[field]}: {raw}")
    assert p["fields"] == {field: value} and p["invalid"] == [] and p["raw"][field] == raw


def test_placeholders_are_missing_not_invalid():
    p = P.parse("First name: ...\nAge: N/A\nGender:")
    assert p["invalid"] == [] and {"first_name", "age", "gender"} <= set(p["missing"])


BAD = ("First name: Rl1Kczmx2Jq3\nLast name: \u2705 Don\u2019t Have A Favorite\n"
       "Gender: \u2705 I prefer not to say, thanks for asking\nAge: 999\nNationality: Canadian\n"
       "Ethnicity: White\nMyers-Briggs type: XXXX\nReview: Not bad.")


def test_cli_counts_invalid_values_per_field_and_keeps_the_raw_text(tmp_path, monkeypatch):
    model = str(save_tiny_lm(tmp_path / "m", "llama", seed=3))
    scripted(monkeypatch, [GOOD, BAD, GOOD.replace("Maria", "Sam").replace("Female", "male")])
    fake_embed(monkeypatch)
    args = ["personas", "--model", model, "--format", "chat", "--samples", "3", "--out", str(tmp_path / "r")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = CliRunner().invoke(main, args)
    assert text.exit_code == 0, text.output
    glyphs = [str(w.message) for w in caught if "Glyph" in str(w.message)]
    assert not glyphs and "Glyph" not in text.output                    # figures drawn without missing glyphs
    assert "invalid: first_name 1, last_name 1, gender 1, age 1, mbti 1" in text.output
    row = json.loads(CliRunner().invoke(main, args + ["--json"]).stdout)[0]          # a rerun: reused, same numbers
    assert row["invalid"] == {"first_name": 1, "last_name": 1, "gender": 1, "age": 1, "nationality": 0,
                              "ethnicity": 0, "mbti": 1, "review": 0}
    assert row["invalid_values"]["first_name"] == [[1, "Rl1Kczmx2Jq3"]]
    assert row["invalid_values"]["gender"] == [[1, "\u2705 I prefer not to say, thanks for asking"]]
    assert row["invalid_values"]["age"] == [[1, "999"]]
    assert row["unparseable"] == 0 and row["first_names"] == ["Maria", "Sam"]
    assert row["gender_shares"] == {"female": pytest.approx(1 / 3), "male": pytest.approx(1 / 3),
                                    "non-binary": 0.0, "other/invalid": pytest.approx(1 / 3)}
    assert row["fields"]["age"]["n"] == 2 and row["age_mean"] == 41
    summary = [json.loads(x) for x in open(row["results"]) if '"type": "summary"' in x][-1]
    assert summary["invalid_values"]["last_name"] == [[1, "\u2705 Don\u2019t Have A Favorite"]]


def test_each_persona_run_keeps_its_own_figures_and_the_report_shows_each(tmp_path):
    """Two runs (another seed) write their figures under their own names (a later run never replaces
    an earlier one's), each with a manifest naming its runs; the report embeds both sets, and the
    section carries the study's persona findings."""
    from click.testing import CliRunner

    from logitscope.cli.main import main
    from logitscope.testing import save_tiny_lm
    a = str(save_tiny_lm(tmp_path / "a", "llama", peak=2.0, seed=5))
    out = tmp_path / "results"
    for seed in ("0", "1"):
        r = CliRunner().invoke(main, ["personas", "--model", a, "--samples", "3", "--max-new-tokens", "8",
                                      "--seed", seed, "--out", str(out)])
        assert r.exit_code == 0, r.output
    manifests = sorted((out / "personas").glob("*.figures.json"))
    assert len(manifests) == 2
    names = [set(json.loads(m.read_text())["figures"].values()) for m in manifests]
    assert names[0] and names[1] and not names[0] & names[1]
    assert all((out / "personas" / n).exists() for ns in names for n in ns)
    assert not (out / "personas" / "personas.png").exists()
    r = CliRunner().invoke(main, ["report", str(out)])
    assert r.exit_code == 0, r.output
    page = (out / "report.html").read_text()
    section = page[page.index("id='personas'"):]
    assert section.count("data:image/png") >= 2 * min(len(ns) for ns in names)
    assert "Mohammadi 2024" in section


def test_the_report_shows_each_persona_run_size_as_its_own_row(tmp_path):
    """A file with an n = 100 run and a later n = 20 run (same config): the report's table has a row
    for each, with n, not only the newest."""
    from logitscope.report.collect import collect
    from logitscope.report.sections_personas import personas
    d = tmp_path / "personas"
    d.mkdir()

    def summary(n, bits):
        fields = {k: {"n": n, "unique": 3, "entropy_bits": bits, "top": []}
                  for k in ("first_name", "last_name", "gender", "age", "nationality", "ethnicity", "mbti")}
        return {"type": "summary", "model": "m", "framing": "form", "samples": n, "unparseable": 0, "fields": fields,
                "mbti_types": 4, "vader_mean": 0.5, "invalid": {}, "missing": {}}
    lines = [{"type": "run", "config": {"task": "personas", "model": "m", "format": "raw"}}, summary(100, 3.5),
             summary(20, 1.25)]
    (d / "m-abc.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    table = next(b for b in personas(collect(tmp_path)).blocks if b["kind"] == "table")
    n_col = table["headers"].index("n")
    assert sorted(row[n_col] for row in table["rows"]) == ["100", "20"]
    assert {row[table["headers"].index("first H")] for row in table["rows"]} == {"3.50 (3)", "1.25 (3)"}


@pytest.mark.parametrize("ages", [[0, 40, 81], [20, 101], [35], [0, 120, 7, 63]])
def test_the_age_histogram_counts_every_age(ages):
    from logitscope.report.persona_plots import age_bins
    assert np.histogram(ages, age_bins([ages]))[0].sum() == len(ages)
