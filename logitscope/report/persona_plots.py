"""Persona figures (Mohammadi 2024): distributions side by side per model, and name word clouds."""
from __future__ import annotations

from pathlib import Path

from .plots import HINT, _plt, _save, model_colours

FIELD_NAMES = {"first_name": "first", "last_name": "last", "gender": "gender", "age": "age",
               "nationality": "nation", "ethnicity": "ethnic", "mbti": "MBTI"}


def age_bins(ages: list[list[int]]):
    """Histogram edges over every age given (the last edge past the oldest, so none is dropped)."""
    import numpy as np
    lo, hi = min([min(a) for a in ages if a], default=0), max([max(a) for a in ages if a], default=100)
    step = max(1, (hi - lo) // 25 + 1)
    return np.arange(max(lo, 0), hi + step + 1, step)


def persona_panels(rows: list[dict], path: Path, title: str) -> Path | str:
    """Six panels: entropy per field, ages, gender shares, MBTI types, review length, review sentiment."""
    plt = _plt()
    if plt is None:
        return HINT
    import numpy as np
    colours = model_colours([r["model"] for r in rows])      # one colour per model, as in every figure
    fig, ax = plt.subplots(2, 3, figsize=(14, 7.5))
    models = [r["model"] for r in rows]
    width = 0.8 / max(len(rows), 1)
    fields = list(FIELD_NAMES)
    for j, r in enumerate(rows):
        ent = [r["fields"][f]["entropy_bits"] or 0.0 for f in fields]
        ax[0, 0].bar(np.arange(len(fields)) + j * width, ent, width, label=r["model"], color=colours[r["model"]])
    ax[0, 0].set_xticks(np.arange(len(fields)) + 0.4 - width / 2, [FIELD_NAMES[f] for f in fields], fontsize=8)
    ax[0, 0].set_ylabel("entropy of values (bits)")
    ax[0, 0].set_title("how varied each field is", fontsize=9)
    ax[0, 0].legend(fontsize=7)
    ages = [r["ages"] for r in rows]
    bins = age_bins(ages)
    for r in rows:                                             # one colour per model in every panel
        if r["ages"]:
            ax[0, 1].hist(r["ages"], bins=bins, alpha=0.55, label=f"{r['model']} (n={len(r['ages'])})",
                          color=colours[r["model"]])
    ax[0, 1].set_xlabel("age"), ax[0, 1].set_ylabel("personas")
    ax[0, 1].set_title("ages", fontsize=9)
    genders = list(dict.fromkeys(g for r in rows for g in r["gender_shares"]))[:6]
    if not genders:                                  # an empty bar set would get a legend patch of the wrong colour
        ax[0, 2].text(0.5, 0.5, "no gender given", ha="center", va="center", transform=ax[0, 2].transAxes)
    for j, r in enumerate(rows if genders else []):
        ax[0, 2].bar(np.arange(len(genders)) + j * width, [r["gender_shares"].get(g, 0) for g in genders], width,
                     label=r["model"], color=colours[r["model"]])
    ax[0, 2].set_xticks(np.arange(len(genders)) + 0.4 - width / 2, genders, fontsize=8, rotation=20)
    ax[0, 2].set_ylabel("share of personas giving a gender"), ax[0, 2].set_title("gender", fontsize=9)
    types = list(rows[0]["mbti_counts"])
    for j, r in enumerate(rows):
        ax[1, 0].bar(np.arange(16) + j * width, [r["mbti_counts"][t] for t in types], width,
                     label=f"{r['model']}: {r['mbti_types']} of 16 types", color=colours[r["model"]])
    ax[1, 0].set_xticks(np.arange(16) + 0.4 - width / 2, types, fontsize=6, rotation=90)
    ax[1, 0].set_ylabel("personas"), ax[1, 0].set_title("Myers-Briggs type", fontsize=9)
    ax[1, 0].legend(fontsize=7)
    for r in rows:
        if r["review_words"]:
            ax[1, 1].hist(r["review_words"], bins=20, alpha=0.55, label=r["model"], color=colours[r["model"]])
        if r["vader_compound"]:
            ax[1, 2].hist(r["vader_compound"], bins=np.linspace(-1, 1, 21), alpha=0.55, label=r["model"],
                          color=colours[r["model"]])
    ax[1, 1].set_xlabel("review length (words)"), ax[1, 1].set_title("review length", fontsize=9)
    ax[1, 1].set_ylabel("personas"), ax[1, 2].set_ylabel("personas")
    ax[1, 2].set_xlabel("VADER compound (-1 .. +1)"), ax[1, 2].set_title("review sentiment", fontsize=9)
    from matplotlib.ticker import MaxNLocator
    for a in (ax[0, 1], ax[1, 0], ax[1, 1], ax[1, 2]):         # counts of personas
        a.yaxis.set_major_locator(MaxNLocator(integer=True))
        a.set_ylim(0, max(1, a.get_ylim()[1]))
    for a in (ax[0, 1].xaxis, ax[1, 1].xaxis):                 # ages, words
        a.set_major_locator(MaxNLocator(integer=True))
    for a in ax.flat:
        if a.get_legend_handles_labels()[0] and a.get_legend() is None:
            a.legend(fontsize=7)
    fig.suptitle(f"{title} ({', '.join(models)})", fontsize=10)
    return _save(fig, plt, path)


def name_clouds(rows: list[dict], path: Path) -> Path | str:
    """Word clouds of first and last names, one row per model (`wordcloud`)."""
    plt = _plt()
    if plt is None:
        return HINT
    try:
        from wordcloud import WordCloud
    except ImportError:
        return 'word clouds skipped: wordcloud is not installed (pip install -e ".[creativity]")'
    from collections import Counter
    fig, axes = plt.subplots(len(rows), 2, figsize=(10, 3.2 * len(rows)), squeeze=False)
    for i, r in enumerate(rows):
        for j, key in enumerate(("first_names", "last_names")):
            ax = axes[i, j]
            ax.axis("off")
            counts = Counter(r[key])
            name = "first names" if j == 0 else "last names"
            ax.set_title(f"{r['model']}: {name} ({len(counts)} distinct of {len(r[key])})", fontsize=9)
            if counts:
                cloud = WordCloud(width=600, height=300, background_color="white", random_state=0,
                                  collocations=False).generate_from_frequencies(counts)
                ax.imshow(cloud.to_array(), interpolation="bilinear")
    return _save(fig, plt, path)
