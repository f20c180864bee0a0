"""How varied a model's personas are (Mohammadi 2024): per field unique values, entropy in bits
(`scipy.stats.entropy`, base 2) and the most common values; ages, gender shares, Myers-Briggs
types out of 16, review lengths, VADER compound sentiment of reviews (`vaderSentiment`), and the
reviews clustered like any texts (`probes.diversity.clusters`). Only valid values count; per field
every persona is valid, invalid (its text kept in `invalid_values`) or missing. No torch."""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..errors import UserError

FIELDS = ("first_name", "last_name", "gender", "age", "nationality", "ethnicity", "mbti", "review")
CATEGORICAL = ("first_name", "last_name", "gender", "age", "nationality", "ethnicity", "mbti")
GENDERS = ("female", "male", "non-binary")
OTHER = "other/invalid"
MBTI_TYPES = [a + b + c + d for a in "EI" for b in "NS" for c in "TF" for d in "JP"]


def field_stats(values: list) -> dict:
    from scipy import stats
    counts = Counter(values)
    return {"n": len(values), "unique": len(counts),
            "entropy_bits": float(stats.entropy(list(counts.values()), base=2)) if counts else None,
            "top": [[str(v), c] for v, c in counts.most_common(10)]}


def vader_compound(texts: list[str]) -> list[float]:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        raise UserError('review sentiment needs vaderSentiment: pip install -e ".[creativity]"') from None
    sia = SentimentIntensityAnalyzer()
    return [float(sia.polarity_scores(t)["compound"]) for t in texts]


def summarise(personas: list[dict], review_emb=None, seed: int = 0) -> dict:
    """personas: parse results ({"fields", "raw", "invalid", "missing", "parsed"}, sample i at
    index i); review_emb: embeddings of the valid reviews in order (or None). `missing[f]` +
    `invalid[f]` + the valid values of f = samples. `gender_shares`: shares of the personas that
    gave a gender (valid or not), "other/invalid" for any text outside female/male/non-binary."""
    from .diversity import clusters
    n = len(personas)
    got = {f: [p["fields"][f] for p in personas if f in p["fields"]] for f in FIELDS}
    bad = {f: [[i, p["raw"][f]] for i, p in enumerate(personas) if f in p["invalid"]] for f in FIELDS}
    out = {"samples": n, "unparseable": sum(not p["parsed"] for p in personas),
           "missing": {f: sum(f in p["missing"] for p in personas) for f in FIELDS},
           "invalid": {f: len(bad[f]) for f in FIELDS}, "invalid_values": bad,
           "fields": {f: field_stats(got[f]) for f in CATEGORICAL}}
    ages = [a for a in got["age"] if isinstance(a, int)]
    out["ages"] = ages
    out["age_mean"] = float(np.mean(ages)) if ages else None
    out["age_sd"] = float(np.std(ages, ddof=1)) if len(ages) > 1 else None
    genders = Counter(got["gender"])
    gave = len(got["gender"]) + len(bad["gender"])
    out["gender_shares"] = ({**{g: genders[g] / gave for g in GENDERS}, OTHER: len(bad["gender"]) / gave}
                            if gave else {})
    types = Counter(got["mbti"])
    out["mbti_types"] = len(types)
    out["mbti_counts"] = {t: types.get(t, 0) for t in MBTI_TYPES}
    reviews = got["review"]
    out["review_words"] = [len(r.split()) for r in reviews]
    out["review_words_mean"] = float(np.mean(out["review_words"])) if reviews else None
    out["vader_compound"] = vader_compound(reviews) if reviews else []
    out["vader_mean"] = float(np.mean(out["vader_compound"])) if reviews else None
    out["vader_above_0.9"] = float(np.mean(np.array(out["vader_compound"]) > 0.9)) if reviews else None
    out["first_names"] = got["first_name"]
    out["last_names"] = got["last_name"]
    if review_emb is not None and len(reviews) >= 2:
        out["review_clusters"] = clusters(np.asarray(review_emb), reviews, seed)
        out["_review_emb"] = review_emb
    else:
        out["review_clusters"] = None
    return out
