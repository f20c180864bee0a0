"""How varied a model's personas are (Mohammadi 2024): per field unique values, entropy in bits
(`scipy.stats.entropy`, base 2) and the most common values; ages, gender shares, Myers-Briggs
types out of 16, review lengths, VADER compound sentiment of reviews (`vaderSentiment`), and the
reviews clustered like any texts (`probes.diversity.clusters`). No torch."""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..errors import UserError

FIELDS = ("first_name", "last_name", "gender", "age", "nationality", "ethnicity", "mbti", "review")
CATEGORICAL = ("first_name", "last_name", "gender", "age", "nationality", "ethnicity", "mbti")
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
    """personas: parse results ({"fields", "missing", "parsed"}); review_emb: embeddings of the
    reviews in order (or None)."""
    from .diversity import clusters
    n = len(personas)
    got = {f: [p["fields"][f] for p in personas if f in p["fields"]] for f in FIELDS}
    out = {"samples": n, "unparseable": sum(not p["parsed"] for p in personas),
           "missing": {f: n - len(got[f]) for f in FIELDS},
           "fields": {f: field_stats(got[f]) for f in CATEGORICAL}}
    ages = [a for a in got["age"] if isinstance(a, int)]
    genders = Counter(got["gender"])
    out["ages"] = ages
    out["age_mean"] = float(np.mean(ages)) if ages else None
    out["age_sd"] = float(np.std(ages, ddof=1)) if len(ages) > 1 else None
    out["gender_shares"] = {g: c / len(got["gender"]) for g, c in genders.most_common()} if got["gender"] else {}
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
