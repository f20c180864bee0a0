// logitscope explore: the page's interaction only. Every number and view comes from the server
// (the Python API's records and logitscope.views' HTML); this script asks, waits and places them.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = { models: [], columns: [], tasks: {}, canLoad: false };
  window.explore = state;                         // for tests and the curious: the records shown

  // ---- errors: each kept under what it is about, a field of the page (until that input changes) or an
  // action ("action:next", ...: until that action succeeds or runs again), with the models it came from
  const FIELDS = { prompt: "prompt", format: "format", infix: "infix", temperature: "temperature", top_p: "top-p",
                   k: "k", answers: "answers", min_mass: "min-mass", seed: "seed", max_new_tokens: "max-new",
                   spec: "load-spec" };                  // the API's field -> the input the page labels
  const errors = new Map();                       // about -> Map(model name or "" -> message)
  state.errors = errors;
  function renderErrors() {
    const lines = [];
    const named = state.columns.length > 1;      // with one model, its name says nothing
    errors.forEach((byWho) => {                   // one line per message, naming the models that got it
      const same = new Map();
      byWho.forEach((msg, who) => same.set(msg, [...(same.get(msg) || []), named ? who : ""].filter(Boolean)));
      same.forEach((whos, msg) => lines.push(whos.length ? `${whos.join(", ")}: ${msg}` : msg));
    });
    $("error").innerHTML = lines.map((l) => `<div>${esc(l)}</div>`).join("");
    $("error").hidden = !lines.length;
    Object.entries(FIELDS).forEach(([field, id]) => {
      $(id).classList.toggle("invalid", errors.has(field));
      if (errors.has(field)) $(id).setAttribute("aria-invalid", "true"); else $(id).removeAttribute("aria-invalid");
    });
  }
  function failed(action, who, e) {               // an error about its field where it names one, else its action
    const about = e.field && FIELDS[e.field] ? e.field : `action:${action}`;
    if (!errors.has(about)) errors.set(about, new Map());
    errors.get(about).set(who || "", e.message);
    renderErrors();
  }
  function clearError(about, who) {               // who left out: for every model
    const byWho = errors.get(about);
    if (!byWho) return;
    if (who === undefined) byWho.clear(); else byWho.delete(who);
    if (!byWho.size) errors.delete(about);
    renderErrors();
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  const shown = (s) => s ? s.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5") : "\u2205";

  async function call(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (e) { throw new Error(`${path}: HTTP ${res.status}`); }
    if (!res.ok) throw fault(data && data.error ? data.error : `${path}: HTTP ${res.status}`, data && data.field);
    return data;
  }
  const fault = (message, field) => Object.assign(new Error(message), { field });

  // ---- jobs: one progress line each, with a Cancel button; the line is updated in place (a click lands)
  function progress(key, text, jobId) {
    let line = state.tasks[key];
    if (!text) { if (line) line.remove(); delete state.tasks[key]; return; }
    if (!line) {
      line = state.tasks[key] = document.createElement("div");
      line.className = "busy";
      line.innerHTML = '<span class="what"></span> <button type="button" class="cancel" hidden>Cancel</button>';
      line.querySelector(".cancel").addEventListener("click", (ev) => {
        ev.target.disabled = true;
        ev.target.textContent = "Cancelling";
        cancelJob(line.dataset.job);
      });
      $("progress").appendChild(line);
    }
    line.querySelector(".what").textContent = text;
    if (jobId) { line.dataset.job = jobId; line.querySelector(".cancel").hidden = false; }
  }

  function cancelJob(id) {
    if (id) call("POST", `/api/jobs/${id}/cancel`).catch((e) => failed("cancel", "", e));
  }

  // The job's result; a failed job throws its error (with its field), a cancelled one an error marked `cancelled`.
  async function runJob(key, path, body, label, first, started) {
    progress(key, `${label}: ${first || "starting"}`);
    try {
      let job = await call("POST", path, body);
      if (started) started(job.job);
      while (job.state === "running") {
        progress(key, `${label}: ${job.progress} (${job.seconds} s)`, job.job);
        await sleep(150);
        job = await call("GET", `/api/jobs/${job.job}`);
      }
      if (job.state === "cancelled") throw Object.assign(fault(job.error), { cancelled: true });
      if (job.state === "error") throw fault(job.error, job.field);
      return job.result;
    } finally { progress(key, null); }
  }

  function numberIn(id) {                         // a number as typed; anything else as text, for the server to name
    const text = $(id).value.trim();
    return text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
  }

  function settings() {
    return { prompt: $("prompt").value, format: $("format").value, infix: $("infix").value,
             temperature: numberIn("temperature"), top_p: numberIn("top-p") };
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
                  reqs: 0, epoch: 0, jobs: {} };
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
    Object.values(col.jobs).forEach(cancelJob);   // their results would be thrown away: free the model now
    col.jobs = {};
    col.answers = null; col.sample = null; col.chosen = null;
    col.el.querySelector(".answers").innerHTML = '<p class="placeholder">press Read exact answers</p>';
    col.el.querySelector(".paths").innerHTML = "";
    col.el.querySelector(".sample-view").innerHTML = '<p class="placeholder">press Sample a continuation</p>';
  }

  async function refreshNext(col) {
    const my = ++col.reqs;
    renderCrumbs(col);
    try {
      const r = await call("POST", "/api/next", { model: col.model, ...settings(), branch: col.branch, k: numberIn("k") });
      if (my !== col.reqs) return;
      col.next = r.record;
      col.el.querySelector(".next").innerHTML = r.html;
      clearError("action:next", col.info.name);   // only its own: an answer set's error stays
    } catch (e) {
      if (my === col.reqs) failed("next", col.info.name, e);
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

  // A job per column (`kind`: answers or sample) whose result `place` puts in the column; a cancelled
  // job says so where its result would have gone.
  async function perColumn(kind, path, body, label, first, place, area, again) {
    clearError(`action:${kind}`);
    await Promise.all(state.columns.map(async (col) => {
      const epoch = col.epoch;
      try {
        const r = await runJob(`${kind}${col.model}`, path, { model: col.model, branch: col.branch, ...body },
                               `${col.info.name}: ${label}`, first, (id) => { col.jobs[kind] = id; });
        if (epoch === col.epoch) place(col, r);
      } catch (e) {
        if (!e.cancelled) failed(kind, col.info.name, e);
        else if (epoch === col.epoch) col.el.querySelector(area).innerHTML = `<p class="placeholder">${esc(e.message)}; ${again}</p>`;
      } finally { if (epoch === col.epoch) delete col.jobs[kind]; }
    }));
  }

  function readAnswers() {
    return perColumn("answers", "/api/answers", { ...settings(), answers: $("answers").value, min_mass: numberIn("min-mass") },
                     "exact answers", "checking the answer set against the vocabulary", (col, r) => {
                       col.answers = r;
                       col.el.querySelector(".answers").innerHTML = r.html;
                       const best = Object.entries(r.record.answers).sort((a, b) => b[1] - a[1])[0];
                       if (best) showPaths(col, best[0]);
                     }, ".answers", "press Read exact answers");
  }

  function sample() {
    return perColumn("sample", "/api/sample", { ...settings(), seed: numberIn("seed"), max_new_tokens: numberIn("max-new") },
                     "sampling", null, (col, r) => {
                       col.sample = r;
                       col.el.querySelector(".sample-view").innerHTML = r.html;
                     }, ".sample-view", "press Sample a continuation");
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
    clearError("action:load");
    const spec = $("load-spec").value.trim();
    try {
      await runJob("load", "/api/load", { spec }, `loading ${spec}`);
      $("load-spec").value = "";
      await loadState();
    } catch (e) { if (!e.cancelled) failed("load", "", e); }
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
  Object.entries(FIELDS).forEach(([field, id]) => {   // a field's error stays until its input changes
    $(id).addEventListener("input", () => clearError(field));    // (not "change": leaving the input is no change)
  });
  $("temperature-range").addEventListener("input", () => clearError("temperature"));
  $("top-p-range").addEventListener("input", () => clearError("top_p"));
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
  loadState().catch((e) => failed("connect", "", fault(`cannot reach the explorer's server: ${e.message}`)));
})();
