"""`probe explore`: a local web page for token-level distributions, on one or two loaded models.

`app.create_app(runners)` is a Starlette app (served by uvicorn on 127.0.0.1): the page and its
script ship in `static/` (no build step, no network); the JSON routes answer with the records the
Python API returns (`NextToken`, `AnswerDist`, `Sample` as `to_json()`) and the HTML views of
`logitscope.views` rendered from them, so the page and a notebook show the same thing. `guard.Guard`
stands in front of every route: only its own address, its own page (or a program), and its token
where one is needed.
"""
