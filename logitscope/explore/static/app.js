// logitscope explore: the page's interaction only. Every number and view comes from the server
// (the Python API's records and logitscope.views' HTML); this script asks, waits and places them.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = { models: [], columns: [], tasks: {}, canLoad: false };
  window.explore = state;                         // for tests and the curious: the records shown

  function showError(msg) { const e = $("error"); e.textContent = msg || ""; e.hidden = !msg; }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  const shown = (s) => s ? s.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5") : "\u2205";

  async function call(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (e) { throw new Error(`${path}: HTTP ${res.status}`); }
    if (!res.ok) throw new Error(data && data.error ? data.error : `${path}: HTTP ${res.status}`);
    return data;
  }

  function progress(key, text) {                  // one line per running job
    if (text) state.tasks[key] = text; else delete state.tasks[key];
    $("progress").innerHTML = Object.values(state.tasks).map((t) => `<div class="busy">${esc(t)}</div>`).join("");
  }

  async function runJob(key, path, body, label, first) {
    progress(key, `${label}: ${first || "starting"}`);
    try {
      let job = await call("POST", path, body);
      while (job.state === "running") {
        progress(key, `${label}: ${job.progress} (${job.seconds} s)`);
        await sleep(150);
        job = await call("GET", `/api/jobs/${job.job}`);
      }
      if (job.state === "error") throw new Error(job.error);
      return job.result;
    } finally { progress(key, null); }
  }

  function settings() {
    return { prompt: $("prompt").value, format: $("format").value, infix: $("infix").value,
             temperature: Number($("temperature").value), top_p: Number($("top-p").value) };
  }

  // ---- columns: one per model ----
  function addColumn(info) {
    const i = state.columns.length;
    const el = document.createElement("div");
    el.className = "column";
    el.dataset.model = i;
    el.innerHTML = `<h2>${esc(info.name)}</h2>
      <div class="branch"><button type="button" class="back" title="undo the last chosen token">&#9664; back</button>
        <button type="button" class="reset">back to the prompt</button> <span class="crumbs"></span></div>
      <div class="col-body"><div><h3>Next token</h3><div class="next"><p class="placeholder">waiting for the model</p></div></div>
      <div><h3>Exact answers</h3><div class="answers"><p class="placeholder">press Read exact answers</p></div>
      <div class="paths"></div>
      <h3>Sampled continuation</h3><div class="sample-view"><p class="placeholder">press Sample a continuation</p></div></div></div>`;
    $("columns").appendChild(el);
    const col = { model: i, info, el, branch: [], pieces: [], next: null, answers: null, chosen: null, sample: null,
                  reqs: 0, epoch: 0 };
    state.columns.push(col);
    el.querySelector(".next").addEventListener("click", (ev) => {
      const row = ev.target.closest("tr.ls-pick");
      if (row) choose(col, row);
    });
    el.querySelector(".next").addEventListener("keydown", (ev) => {
      const row = ev.target.closest("tr.ls-pick");
      if (row && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); choose(col, row); }
    });
    el.querySelector(".answers").addEventListener("click", (ev) => {
      const row = ev.target.closest("tr.ls-answer-row");
      if (row) showPaths(col, row.dataset.answer);
    });
    el.querySelector(".back").addEventListener("click", () => setBranch(col, col.branch.length - 1));
    el.querySelector(".reset").addEventListener("click", () => setBranch(col, 0));
    el.querySelector(".crumbs").addEventListener("click", (ev) => {
      const s = ev.target.closest("span[data-n]");
      if (s) setBranch(col, Number(s.dataset.n));
    });
    return col;
  }

  function choose(col, row) {
    col.branch.push(Number(row.dataset.id));
    col.pieces.push(row.querySelector(".ls-piece").textContent);
    invalidate(col);
    refreshNext(col);
  }

  function setBranch(col, n) {
    if (n < 0 || n === col.branch.length) return;
    col.branch = col.branch.slice(0, n);
    col.pieces = col.pieces.slice(0, n);
    invalidate(col);
    refreshNext(col);
  }

  function renderCrumbs(col) {
    const parts = [`<span data-n="0" title="back to here">prompt</span>`];
    col.pieces.forEach((p, j) => parts.push(`<span data-n="${j + 1}" title="back to here">${esc(p)}</span>`));
    col.el.querySelector(".crumbs").innerHTML = col.branch.length ? "steps: " + parts.join(" \u25b8 ") : "";
    col.el.querySelector(".back").disabled = !col.branch.length;
    col.el.querySelector(".reset").disabled = !col.branch.length;
  }

  function invalidate(col) {                      // answers and samples belong to one prompt and setting
    col.epoch += 1;
    col.answers = null; col.sample = null; col.chosen = null;
    col.el.querySelector(".answers").innerHTML = '<p class="placeholder">press Read exact answers</p>';
    col.el.querySelector(".paths").innerHTML = "";
    col.el.querySelector(".sample-view").innerHTML = '<p class="placeholder">press Sample a continuation</p>';
  }

  async function refreshNext(col) {
    const my = ++col.reqs;
    renderCrumbs(col);
    try {
      const r = await call("POST", "/api/next", { model: col.model, ...settings(), branch: col.branch, k: Number($("k").value) });
      if (my !== col.reqs) return;
      col.next = r.record;
      col.el.querySelector(".next").innerHTML = r.html;
      showError("");
    } catch (e) {
      if (my === col.reqs) showError(`${col.info.name}: ${e.message}`);
    }
  }

  function refreshAll(resetBranch) {
    state.columns.forEach((col) => {
      if (resetBranch) { col.branch = []; col.pieces = []; }
      invalidate(col);
      refreshNext(col);
    });
  }

  function showPaths(col, answer) {
    if (!col.answers) return;
    col.chosen = answer;
    col.el.querySelectorAll("tr.ls-answer-row").forEach((r) => r.classList.toggle("ls-chosen", r.dataset.answer === answer));
    col.el.querySelector(".paths").innerHTML = `<h3>Token paths of ${esc(answer)}</h3>` + col.answers.paths_html[answer];
  }

  async function readAnswers() {
    showError("");
    const body = { ...settings(), answers: $("answers").value, min_mass: Number($("min-mass").value) };
    await Promise.all(state.columns.map(async (col) => {
      const epoch = col.epoch;
      try {
        const r = await runJob(`answers${col.model}`, "/api/answers", { model: col.model, branch: col.branch, ...body },
                               `${col.info.name}: exact answers`,
                               "checking the answer set against the vocabulary");
        if (epoch !== col.epoch) return;
        col.answers = r;
        col.el.querySelector(".answers").innerHTML = r.html;
        const best = Object.entries(r.record.answers).sort((a, b) => b[1] - a[1])[0];
        if (best) showPaths(col, best[0]);
      } catch (e) { showError(`${col.info.name}: ${e.message}`); }
    }));
  }

  async function sample() {
    showError("");
    const body = { ...settings(), seed: Number($("seed").value), max_new_tokens: Number($("max-new").value) };
    await Promise.all(state.columns.map(async (col) => {
      const epoch = col.epoch;
      try {
        const r = await runJob(`sample${col.model}`, "/api/sample", { model: col.model, branch: col.branch, ...body },
                               `${col.info.name}: sampling`);
        if (epoch !== col.epoch) return;
        col.sample = r;
        col.el.querySelector(".sample-view").innerHTML = r.html;
      } catch (e) { showError(`${col.info.name}: ${e.message}`); }
    }));
  }

  // ---- export ----
  function records() {                            // per model: probe dist --json's record, + the sample
    return state.columns.map((c) => ({ ...(c.next || {}), ...(c.answers ? c.answers.record : {}),
      ...(c.sample ? { sample: c.sample.record } : {}), model: c.info.name, branch: c.branch }));
  }

  async function snapshotHtml() {
    const css = (await Promise.all(["/views.css", "/static/app.css"].map((u) => fetch(u).then((r) => r.text())))).join("\n");
    const cols = $("columns").cloneNode(true);
    cols.querySelectorAll("button").forEach((b) => b.remove());
    cols.querySelectorAll("[tabindex]").forEach((x) => { if (!x.classList.contains("tok")) x.removeAttribute("tabindex"); });
    const s = settings();
    const line = `prompt ${JSON.stringify(s.prompt)}, format ${s.format}` + (s.infix ? `, infix ${JSON.stringify(s.infix)}` : "")
      + `, T = ${s.temperature}, top-p = ${s.top_p}; saved ${new Date().toISOString()}`;
    return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>logitscope explore snapshot</title>`
      + `<style>${css}</style></head><body><header><h1>logitscope explore: snapshot</h1><span class="muted">${esc(line)}</span>`
      + `</header><main id="columns" data-colour="${cols.dataset.colour}">${cols.innerHTML}</main></body></html>`;
  }
  state.records = records;
  state.snapshotHtml = snapshotHtml;

  function download(name, text, type) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type }));
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  // ---- models ----
  function setFormats() {                        // "default": each model's own format (base raw, aligned chat)
    const sel = $("format");
    const keep = sel.value;
    const formats = state.models.length ? state.models.map((m) => m.formats).reduce((a, b) => a.filter((f) => b.includes(f)))
      : ["raw"];
    const own = state.models.map((m) => m.format).join(" | ") || "raw";
    sel.innerHTML = `<option value="default">each model's own (${esc(own)})</option>`
      + formats.map((f) => `<option value="${f}">${f}</option>`).join("");
    sel.value = keep && [...sel.options].some((o) => o.value === keep) ? keep : "default";
  }

  async function loadState() {
    const s = await call("GET", "/api/state");
    state.models = s.models;
    state.canLoad = s.can_load;
    $("load-form").hidden = !s.can_load;
    $("models-line").textContent = s.models.length
      ? s.models.map((m) => `${m.name} (${m.vocab.toLocaleString()} tokens)`).join("  |  ")
      : "no model loaded: load one";
    setFormats();
    while (state.columns.length < s.models.length) {
      const col = addColumn(s.models[state.columns.length]);
      refreshNext(col);
    }
    $("columns").classList.toggle("one", state.columns.length === 1);     // one model: its parts side by side
  }

  async function loadModel(ev) {
    ev.preventDefault();
    showError("");
    const spec = $("load-spec").value.trim();
    try {
      await runJob("load", "/api/load", { spec }, `loading ${spec}`);
      $("load-spec").value = "";
      await loadState();
    } catch (e) { showError(e.message); }
  }

  // ---- wiring ----
  let timer = null;
  const later = (fn) => { clearTimeout(timer); timer = setTimeout(fn, 250); };
  function pair(rangeId, numId) {
    $(rangeId).addEventListener("input", () => { $(numId).value = $(rangeId).value; later(() => refreshAll(false)); });
    $(numId).addEventListener("input", () => { $(rangeId).value = $(numId).value; later(() => refreshAll(false)); });
  }
  pair("temperature-range", "temperature");
  pair("top-p-range", "top-p");
  ["prompt", "infix"].forEach((id) => $(id).addEventListener("input", () => later(() => refreshAll(true))));
  $("format").addEventListener("change", () => refreshAll(true));
  $("k").addEventListener("input", () => later(() => state.columns.forEach(refreshNext)));
  $("read-answers").addEventListener("click", readAnswers);
  $("sample").addEventListener("click", sample);
  $("colour").addEventListener("change", () => { $("columns").dataset.colour = $("colour").value; });
  $("load-form").addEventListener("submit", loadModel);
  $("export-json").addEventListener("click", () =>
    download("logitscope-explore.json", JSON.stringify(records(), null, 1), "application/json"));
  $("export-html").addEventListener("click", async () =>
    download("logitscope-explore.html", await snapshotHtml(), "text/html"));
  loadState().catch((e) => showError(`cannot reach the explorer's server: ${e.message}`));
})();
