"""HTML views of the toolkit's results, from plain records (the `to_json()` dicts): pure strings, no
torch. The same views show in Jupyter (`_repr_html_`) and in `probe explore`'s page.

- `nexttoken.next_token_html(rec)`: the prompt with its token boundaries, the top next tokens with
  probability bars, full and top-5 entropy, the mass below the shown tokens;
- `answers.answers_html(rec)`: exact answer probabilities with valid / invalid / unexplored mass;
  `answers.paths_html(rec, answer)`: the token paths that carry one answer's probability;
- `tokens`: generated tokens coloured by probability or entropy with their top 5 on hover (`probe
  entropy`'s and the attractor's pages); `sample.sample_html(rec)`: one generated sample.

Every number is written with enough digits to read back exactly in a `data-` attribute of its element.
"""
