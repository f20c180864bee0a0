"""Report sections for West & Potts 2025's single answers: answer distributions (Figure 2),
paraphrases and letters (Tables 3, 5, 6), temperature and top-p (Figure 7, Table 4). A model's runs
in different prompt formats (chat, raw) or settings are separate rows, labelled by what tells them
apart. Each function returns a Section, or None when there are no results of its kind."""
from __future__ import annotations

from . import references, study
from .collect import differing, run_format
from .numbers import mode_text, prob
from .page import Section
from .plots import model_colour
from .sections_random import _f, _plt, _units


def _label(r, diff) -> str:
    """A run's row label: the model, its prompt format, and any setting that tells its runs apart."""
    extra = diff.get(r.path, "")
    return f"{r.model} ({run_format(r)}" + (f"; {extra})" if extra else ")")


def _n(r, u):
    """The valid samples a unit's chi-squares are for (the run's --samples)."""
    return u.get("samples", r.config.get("samples"))


def _samples(pairs) -> str:
    """'200 valid samples' (or '200 / 1500 valid samples, per run in column n') for (run, unit) pairs."""
    ns = sorted({_n(r, u) for r, u in pairs}, key=lambda x: (x is None, x or 0))
    return f"{' / '.join(str(n) for n in ns)} valid samples" + (", per run in column n" if len(ns) > 1 else "")


def answers(res) -> Section | None:
    runs = res.of("integers", "letters")
    if not _units(runs):
        return None
    s = Section("answers", "Answer distributions (Figure 2)")
    s.text("Exact answer distributions P(answer | valid), every tokenisation counted; both chi-squares are for "
           "the run's own number of valid samples (column n, the run's --samples), the sampled one drawn from the "
           "exact distribution with the run's seed.")
    plt = _plt()
    diff = differing(runs)
    for task in ("integers", "letters"):
        first = {}
        for r, u in _units(res.of(task)):
            if u["paraphrase"] == 0 and u["temperature"] == 1.0 and u["top_p"] == 1.0:
                first.setdefault(r.path, (r, u))
        if not first:
            continue
        labels = list(next(iter(first.values()))[1]["probs"])
        fig, ax = plt.subplots(figsize=(max(6, len(labels) * 0.75), 3.4))
        width = 0.8 / len(first)
        seen: dict = {}
        for j, (r, u) in enumerate(first.values()):
            k = seen[r.model] = seen.get(r.model, -1) + 1          # a model's second run hatched
            ax.bar([i + j * width for i in range(len(labels))], [u["probs"][a] for a in labels], width,
                   color=model_colour(r.model), hatch=("", "//", "..", "xx")[k % 4], edgecolor="white",
                   label=f"{_label(r, diff)}; valid {prob(u['valid_mass'], 2)}")
        ax.axhline(1 / len(labels), color="gray", ls="--", lw=0.8, label="uniform")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels)
        ax.set_ylabel("P(answer | valid)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.set_title(f"{task}: the study's prompt, T=1, top-p=1", fontsize=9)
        s.figure(fig, f"{task}: exact answer distribution per model and format", f"answers-{task}")
    rows = [[r.model, run_format(r), r.task, u["paraphrase"], f"{u['temperature']:g}",
             f"{u['top_p']:g}", prob(u["valid_mass"]), _f(u["entropy_bits"], ".3f"), _n(r, u), _f(u["chi2_expected"]),
             _f(u["chi2_sampled"]), mode_text(u)] for r, u in _units(runs)]
    s.table(["model", "format", "task", "paraphrase", "T", "top-p", "valid", "H bits", "n", "E[chi2]", "chi2", "mode"],
            rows, "every setting of every run; n = valid samples the chi-squares are for")
    s.provenance(runs)
    return s


def paraphrases(res) -> Section | None:
    ints = [(r, u) for r, u in _units(res.of("integers")) if u["temperature"] == 1.0 and u["top_p"] == 1.0]
    lets = [(r, u) for r, u in _units(res.of("letters")) if u["temperature"] == 1.0 and u["top_p"] == 1.0]
    if not ints and not lets:
        return None
    s = Section("paraphrases", "Paraphrases and letters (Tables 3, 5, 6)")
    diff = differing(res.of("integers", "letters"))
    if ints:
        per: dict = {}
        for r, u in ints:                                  # one row per run: chat and raw runs apart
            per.setdefault(r.path, (r, {}, set()))[1][u["paraphrase"]] = u["chi2_sampled"]
            per[r.path][2].add(_n(r, u))
        n = max(p for _, v, _ in per.values() for p in v) + 1
        rows = []
        for r, by, ns in per.values():
            name = study.study_name(r.model)
            ref = study.TABLE3.get(name)
            rows.append([_label(r, diff), " / ".join(map(str, sorted(ns, key=str))),
                         *[_f(by.get(p), ".0f") for p in range(n)],
                         f"{_name(name)}: " + " ".join(map(str, ref[:n])) if ref else "-"])
        s.table(["model (format)", "n", *[f"paraphrase {p}" for p in range(n)],
                 "this model in the study (Table 3, n = 1500)"], rows,
                f"integers 0-10: sampled chi-square vs uniform ({_samples(ints)}; paraphrases 1-4 are ours)")
        references.integers(s)
    if lets:
        rows = []
        first = [(r, u) for r, u in lets if u["paraphrase"] == 0]
        for r, u in first:
            name = study.study_name(r.model)
            ref = study.TABLE6.get(name)
            rows.append([_label(r, diff), _n(r, u), _f(u["chi2_sampled"], ".0f"), mode_text(u),
                         f"{ref[0]} ({ref[1]})" if ref else "-"])
        s.table(["model (format)", "n", "chi2", "mode", "this model in the study (Table 6, n = 1500)"], rows,
                f"letters a-k: sampled chi-square vs uniform ({_samples(first)})")
        references.letters(s)
    s.provenance(list({str(r.path): r for r, _ in ints + lets}.values()))
    return s


def _name(key):
    return references.NAMES.get(key, key)


def _study_figure(task, model, t, p):
    """The study's chi-square for this model, task and setting: Table 4 (integers), Table 6 (letters
    at T = 1, top-p = 1); None where the study has none."""
    name = study.study_name(model)
    if task == "integers":
        return study.TABLE4.get((name, t, p))
    if task == "letters" and t == 1.0 and p == 1.0 and name in study.TABLE6:
        return study.TABLE6[name][0]
    return None


def temperature(res) -> Section | None:
    runs = res.of("integers", "letters")
    units = _units(runs)
    settings: dict = {}
    for r, u in units:
        settings.setdefault(r.path, set()).add((u["temperature"], u["top_p"]))
    if not any(len(v) > 1 for v in settings.values()):
        return None
    s = Section("temperature", "Temperature and top-p (Figure 7, Table 4)")
    s.text("Temperature and top-p act on every step's distribution before marginalising. Higher temperature "
           "raises entropy but sends mass outside the valid answers (the valid column).")
    plt = _plt()
    diff = differing(runs)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
    rows = []
    for r in runs:
        mine = [u for rr, u in units if rr is r and u["paraphrase"] == 0]
        pts = sorted((u["temperature"], u) for u in mine if u["top_p"] == 1.0)
        label = f"{_label(r, diff)} {r.task}"
        style = "-" if r.task == "integers" else "--"
        if len(pts) > 1:
            a1.plot([t for t, _ in pts], [u["entropy_bits"] for _, u in pts], marker="o", ls=style, label=label,
                    color=model_colour(r.model))
            a2.plot([t for t, _ in pts], [u["chi2_expected"] for _, u in pts], marker="o", ls=style, label=label,
                    color=model_colour(r.model))
        for u in mine:
            ref = _study_figure(r.task, r.model, u["temperature"], u["top_p"])
            rows.append([r.model, run_format(r), r.task, f"{u['temperature']:g}", f"{u['top_p']:g}",
                         prob(u["valid_mass"]), _f(u["next_token_entropy_bits"], ".2f"), _n(r, u),
                         _f(u["chi2_expected"], ".0f"), "-" if ref is None else str(ref)])
    a1.set_xlabel("temperature"), a1.set_ylabel("answer entropy (bits)")
    a2.set_xlabel("temperature"), a2.set_ylabel("expected chi-square"), a2.set_yscale("log")
    a2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    s.figure(fig, "answer entropy and expected chi-square against temperature (top-p 1; letters dashed)",
             "temperature")
    s.table(["model", "format", "task", "T", "top-p", "valid", "next-token H", "n", "E[chi2]",
             "this model in the study (integers: Table 4, letters: Table 6; n = 1500)"], rows,
            "the temperature x top-p grid; E[chi2] for n valid samples (the run's --samples)")
    references.temperature(s)
    s.provenance(runs)
    return s
