"""Diversity of a set of texts (Mohammadi 2024): library calls with their parameters in view.

- embedding similarity: mean pairwise cosine of sentence embeddings (`cosine_similarity`), with a
  bootstrap 95% CI over texts (pairs of a text with its own copy left out of every resample);
- TF-IDF similarity: mean pairwise cosine of `TfidfVectorizer()` vectors;
- distinct-n (Li et al. 2016): distinct n-grams / all n-grams, counted by `CountVectorizer`;
- compression ratio: bytes of the joined texts / bytes after gzip (higher = more repetitive);
- clusters: `KMeans(n_clusters=k, n_init=10, random_state=seed)` for k in 2..10, k chosen by
  `silhouette_score`; sizes and the text nearest each centre;
- a 2-D map: `TSNE(perplexity=min(30, n - 1), random_state=seed)`, `PCA` below 30 points.
numpy / scikit-learn only (no torch).
"""
from __future__ import annotations

import gzip

import numpy as np

from ..errors import UserError

TOKENS = r"(?u)\b\w+\b"     # words, one-letter words included


def _sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise UserError('diversity measures need scikit-learn: pip install -e ".[creativity]"') from None


def mean_pairwise(sim: np.ndarray) -> float:
    """Mean of the off-diagonal entries of a square similarity matrix."""
    n = sim.shape[0]
    if n < 2:
        raise UserError("diversity needs at least 2 texts (one pair)")
    return float((sim.sum() - np.trace(sim)) / (n * (n - 1)))


def bootstrap_pairwise(sim: np.ndarray, seed: int = 0, resamples: int = 1000) -> tuple[float, float]:
    """95% percentile interval of the mean pairwise similarity, resampling texts with replacement;
    a text paired with a copy of itself is not a pair."""
    rng = np.random.default_rng(seed)
    n = sim.shape[0]
    means = []
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        pair = idx[:, None] != idx[None, :]
        if pair.any():
            means.append(float(sim[np.ix_(idx, idx)][pair].mean()))
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def embedding_similarity(emb: np.ndarray, seed: int = 0) -> dict:
    _sklearn()
    from sklearn.metrics.pairwise import cosine_similarity
    sim = cosine_similarity(emb)
    return {"mean": mean_pairwise(sim), "ci95": list(bootstrap_pairwise(sim, seed))}


def tfidf_similarity(texts: list[str]) -> float:
    _sklearn()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity
    if not any(t.strip() for t in texts):
        return float("nan")
    x = TfidfVectorizer(token_pattern=TOKENS).fit_transform(texts)
    return mean_pairwise(cosine_similarity(x))


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct n-grams / all n-grams over all texts (words, lower case); nan without any n-gram."""
    _sklearn()
    from sklearn.feature_extraction.text import CountVectorizer
    try:
        counts = CountVectorizer(ngram_range=(n, n), token_pattern=TOKENS, lowercase=True).fit_transform(texts)
    except ValueError:            # no n-gram at all
        return float("nan")
    per_gram = np.asarray(counts.sum(axis=0)).ravel()
    return float(len(per_gram) / per_gram.sum())


def compression_ratio(texts: list[str]) -> float:
    raw = "\n".join(texts).encode("utf-8")
    return float(len(raw) / len(gzip.compress(raw, compresslevel=9))) if raw else float("nan")


def clusters(emb: np.ndarray, texts: list[str], seed: int = 0, k_range=range(2, 11)) -> dict:
    """k-means with k chosen by silhouette; sizes and the text nearest each centre (largest first)."""
    _sklearn()
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    n = len(texts)
    ks = [k for k in k_range if k < n]
    if not ks:
        return {"k": 1, "silhouette": None, "sizes": [n], "examples": texts[:1], "scores": {}, "labels": [0] * n}
    scores, fits = {}, {}
    for k in ks:
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(emb)
        if len(set(km.labels_)) < 2:
            continue
        scores[k], fits[k] = float(silhouette_score(emb, km.labels_)), km
    if not scores:
        return {"k": 1, "silhouette": None, "sizes": [n], "examples": texts[:1], "scores": {}, "labels": [0] * n}
    k = max(scores, key=scores.get)
    km = fits[k]
    order = sorted(range(k), key=lambda c: -int((km.labels_ == c).sum()))
    examples = []
    for c in order:
        members = np.flatnonzero(km.labels_ == c)
        d = np.linalg.norm(emb[members] - km.cluster_centers_[c], axis=1)
        examples.append(texts[int(members[int(np.argmin(d))])])
    relabel = {c: i for i, c in enumerate(order)}
    return {"k": k, "silhouette": scores[k], "scores": {str(a): b for a, b in scores.items()},
            "sizes": [int((km.labels_ == c).sum()) for c in order], "examples": examples,
            "labels": [relabel[int(c)] for c in km.labels_]}


def map_2d(emb: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D coordinates: t-SNE from 30 points on, else PCA (method name returned)."""
    _sklearn()
    n = emb.shape[0]
    if n >= 30:
        from sklearn.manifold import TSNE
        return TSNE(n_components=2, perplexity=min(30.0, n - 1.0), init="pca", random_state=seed).fit_transform(emb), "t-SNE"
    from sklearn.decomposition import PCA
    return PCA(n_components=min(2, n, emb.shape[1]), random_state=seed).fit_transform(emb), "PCA"


def text_measures(texts: list[str], emb: np.ndarray, seed: int = 0) -> dict:
    """Every measure above for one set of texts (embeddings given, one row per text)."""
    if len(texts) < 2:
        raise UserError("diversity needs at least 2 texts (one pair): use --samples 2 or more")
    return {"texts": len(texts), "embedding_cosine": embedding_similarity(emb, seed),
            "tfidf_cosine": tfidf_similarity(texts),
            "distinct": {str(n): distinct_n(texts, n) for n in (1, 2, 3)},
            "compression_ratio": compression_ratio(texts), "clusters": clusters(emb, texts, seed)}
