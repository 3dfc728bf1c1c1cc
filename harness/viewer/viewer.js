// The leaderboard viewer: one static page over leaderboard.json. No framework, no remote
// scripts; every text from the board is set with textContent, so a name holding HTML stays text.
"use strict";

const COLUMNS = [
  ["rank", "#", false], ["model", "model", false], ["task", "task", false], ["uar", "UAR %", false],
  ["war", "WAR %", false], ["macro_f1", "macro-F1 %", false], ["invalid_rate", "invalid %", false],
  ["n", "n", false], ["frame_protocol", "frames", false], ["modality", "input", false],
  ["trained_on", "trained on", false], ["prompt_template", "prompt", false],
  ["kind", "kind", true], ["per_class_recall", "per-class recall %", true], ["backend", "backend", true],
  ["model_revision", "revision", true], ["seconds_per_clip", "s / clip", true],
  ["visual_tokens_per_clip", "visual tokens / clip", true],
];
const state = {rows: [], task: "", kinds: new Set(["measured", "baseline", "reported"]), protocol: "",
               modality: "", trained_on: "", zeroShot: true, prompt: "", search: "", sortKey: "uar", sortDir: -1};
// what each modality means, for the input column's tooltip (the leaderboard schema's vocabulary)
const MODALITIES = {"video": "video frames only, no sound", "video+audio": "video frames and the clip's sound track",
                    "features": "pre-extracted features, not raw frames or sound"};
// what a row's model was trained on relative to its benchmark (the leaderboard schema's vocabulary)
const EXPOSURES = {"zero-shot": "no training on this benchmark", "train-split": "trained on this benchmark's train split",
                   "overlap": "trained on data that overlaps this benchmark", "not-stated": "the source does not say"};
// how a ranked row is marked when its model saw the benchmark
const MARKS = {"train-split": "trained on it", "overlap": "overlapping data"};
const SHORT = 24;  // filter options longer than this are cut (the full words are in the row's details)

function exposure(r) { return (r.kind || "measured") === "baseline" ? null : (r.trained_on || "not-stated"); }

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function pct(x) { return x === null || x === undefined ? "-" : (100 * x).toFixed(2); }

function uarText(r) {
  let text = pct(r.uar);
  if (r.classes_evaluated !== undefined && r.classes_total && r.classes_evaluated < r.classes_total) {
    text += `* (${r.classes_evaluated}/${r.classes_total})`;
  }
  if (r.uar_ci95) text += ` [${pct(r.uar_ci95[0])}-${pct(r.uar_ci95[1])}]`;
  else if (r.uar_std !== null && r.uar_std !== undefined) text += ` \u00b1${pct(r.uar_std)}`;
  return text;
}

function cell(r, key) {
  switch (key) {
    case "uar": return uarText(r);
    case "war": case "macro_f1": case "invalid_rate": return pct(r[key]);
    case "kind": return r.kind || "measured";
    case "trained_on": return exposure(r) || "-";
    // the release that produced it: transformers and vLLM releases have changed what a family sees
    case "backend": return r.backend ? (r.backend_version ? `${r.backend} ${r.backend_version}` : r.backend) : "-";
    case "per_class_recall":
      return r.per_class_recall ? Object.entries(r.per_class_recall).map(([c, v]) => `${c} ${pct(v)}`).join(", ") : "-";
    default: return r[key] === null || r[key] === undefined ? "-" : r[key];
  }
}

function sortValue(r, key) {
  const v = key === "kind" ? (r.kind || "measured") : key === "trained_on" ? exposure(r) : r[key];
  return v === null || v === undefined ? -Infinity : v;
}

function visible() {
  const q = state.search.toLowerCase();
  return state.rows.filter(r => (!state.task || r.task === state.task)
    && state.kinds.has(r.kind || "measured")
    && (!state.protocol || r.frame_protocol === state.protocol)
    && (!state.modality || r.modality === state.modality)
    && (!state.trained_on || exposure(r) === state.trained_on)
    // zero-shot only: the floors, which are no model, stay
    && (!state.zeroShot || exposure(r) === null || exposure(r) === "zero-shot")
    && (!state.prompt || r.prompt_template === state.prompt)
    && (!q || r.model.toLowerCase().includes(q)));
}

function render() {
  const started = performance.now();
  const rows = visible();
  const key = state.sortKey === "rank" ? "uar" : state.sortKey;
  rows.sort((a, b) => {
    const x = sortValue(a, key), y = sortValue(b, key);
    return (x < y ? -1 : x > y ? 1 : 0) * state.sortDir || a.model.localeCompare(b.model);
  });
  const head = document.querySelector("#board thead");
  head.replaceChildren();
  const tr = el("tr");
  for (const [k, label, extra] of COLUMNS) {
    const th = el("th", label, extra ? "extra" : "");
    th.dataset.key = k;
    if (k === state.sortKey) th.classList.add("sorted", ...(state.sortDir > 0 ? ["up"] : []));
    th.addEventListener("click", () => {
      state.sortDir = state.sortKey === k ? -state.sortDir : (k === "model" || k === "task" ? 1 : -1);
      state.sortKey = k;
      render();
    });
    tr.appendChild(th);
  }
  head.appendChild(tr);
  const body = document.querySelector("#board tbody");
  const fragment = document.createDocumentFragment();
  state.shown = rows;
  rows.forEach((r, i) => {
    const row = el("tr", null, (r.kind || "measured") + (MARKS[exposure(r)] ? " trained" : ""));
    row.dataset.index = i;
    for (const [k, , extra] of COLUMNS) {
      const td = el("td", k === "rank" ? i + 1 : cell(r, k), extra ? "extra" : "");
      td.dataset.key = k;
      if (k === "model") {
        td.dataset.value = r.model;
        td.appendChild(el("span", r.kind || "measured", `badge ${r.kind || "measured"}`));
        if (MARKS[exposure(r)]) {  // a row trained on its benchmark is marked wherever it ranks
          const mark = el("span", MARKS[exposure(r)], "badge trained");
          mark.title = r.trained_on_words || EXPOSURES[exposure(r)];
          td.appendChild(mark);
        }
        if (r.counts_source) td.appendChild(el("span", "computed", "badge computed"));
      }
      if (k === "trained_on") td.title = exposure(r) ? `${EXPOSURES[exposure(r)]}: ${r.trained_on_words || "-"}`
        : "no model: computed from class counts";
      if (k === "frame_protocol" && r.input) td.title = r.input;
      if (k === "task") td.title = r.task;  // a long task spec is cut to fit; the whole of it here
      if (k === "modality") td.title = r.kind === "baseline" ? "no input: computed from class counts"
        : r.input || MODALITIES[r.modality] || "not stated (a row of a board written before rows stated it)";
      row.appendChild(td);
    }
    fragment.appendChild(row);
  });
  body.replaceChildren(fragment);
  const hidden = state.zeroShot ? state.rows.filter(r => exposure(r) !== null && exposure(r) !== "zero-shot").length : 0;
  document.getElementById("status").textContent = state.rows.length
    ? `${rows.length} of ${state.rows.length} rows` + (hidden ? `; ${hidden} not zero-shot hidden (uncheck "zero-shot only" to rank them)` : "")
    : "No rows yet: add results with 'harness leaderboard add'.";
  state.renderMs = performance.now() - started;  // read by bench/viewer.py
}
window.harnessViewer = state;

function details(r) {
  const box = document.getElementById("details");
  box.replaceChildren(el("h2", `${r.model} on ${r.task}`));
  box.appendChild(el("p", `${r.kind || "measured"} row; UAR ${uarText(r)}, WAR ${pct(r.war)}`));
  if (r.modality) box.appendChild(el("p", `input: ${r.modality} (${MODALITIES[r.modality] || r.modality})`));
  if (exposure(r)) {
    box.appendChild(el("p", `trained on: ${exposure(r)} (${EXPOSURES[exposure(r)] || exposure(r)})`, "exposure"));
    if (r.trained_on_words) box.appendChild(el("blockquote", r.trained_on_words));
  }
  if (r.kind === "reported") {
    const dl = el("dl");
    for (const k of ["source", "protocol", "input", "answer_mapping", "status", "notes"]) {
      if (!r[k]) continue;
      dl.appendChild(el("dt", k.replace("_", " ")));
      const dd = el("dd");
      if (k === "source") {
        const link = el("a", r.source);
        const m = /^([\w.-]+\/[\w.-]+):(.+)$/.exec(r.source);
        link.href = /^https?:\/\//.test(r.source) ? r.source : m ? `https://github.com/${m[1]}/blob/HEAD/${m[2]}` : "#";
        link.rel = "noopener";
        dd.appendChild(link);
      } else dd.textContent = r[k];
      dl.appendChild(dd);
    }
    box.appendChild(dl);
  }
  if (r.basis) box.appendChild(el("p", r.basis.startsWith("computed") ? r.basis : `computed from ${r.basis}`));
  if (r.per_split) {
    const table = el("table", null, "splits");
    const head = el("tr");
    ["split", "n", "UAR %", "WAR %", "counts from"].forEach(h => head.appendChild(el("th", h)));
    table.appendChild(head);
    const floor = r.model.startsWith("chance") ? "chance" : "majority";
    for (const p of r.per_split) {
      const row = el("tr");
      [p.split, p.n, pct(p[`${floor}_uar`]), pct(p[`${floor}_war`]), p.file].forEach(v => row.appendChild(el("td", v)));
      table.appendChild(row);
    }
    box.appendChild(el("h3", "per split"));
    box.appendChild(table);
  }
  if (r.frames_words) box.appendChild(el("p", `frames: ${r.frames_words}`));
  if (r.per_class_recall) {
    const table = el("table", null, "recall");
    for (const [c, v] of Object.entries(r.per_class_recall)) {
      const row = el("tr");
      row.appendChild(el("td", c));
      const bar = el("td");
      const span = el("span", null, "bar");
      span.style.width = `${Math.round(200 * v)}px`;
      bar.appendChild(span);
      row.appendChild(bar);
      row.appendChild(el("td", `${pct(v)}% (n=${(r.class_support || {})[c] ?? "?"})`));
      table.appendChild(row);
    }
    box.appendChild(el("h3", "recall by class"));
    box.appendChild(table);
  }
  if (r.confusion) {
    const table = el("table", null, "confusion");
    const head = el("tr");
    head.appendChild(el("th", "label \u2193 / predicted \u2192"));
    r.confusion.columns.forEach(c => head.appendChild(el("th", c)));
    table.appendChild(head);
    r.confusion.matrix.forEach((values, i) => {
      const row = el("tr");
      row.appendChild(el("th", r.confusion.rows[i]));
      values.forEach(v => row.appendChild(el("td", v)));
      table.appendChild(row);
    });
    box.appendChild(el("h3", "confusion matrix"));
    box.appendChild(table);
  }
  box.hidden = false;
}

function options(id, values, all) {
  const select = document.getElementById(id);
  select.replaceChildren(el("option", all));
  select.firstChild.value = "";
  for (const v of values) {
    // a long name (a board written before reported rows had short ones) is cut; the row's details hold it all
    const o = el("option", v.length > SHORT ? `${v.slice(0, SHORT - 1)}\u2026` : v);
    o.value = v;
    o.title = v;
    select.appendChild(o);
  }
  select.addEventListener("change", () => { state[id] = select.value; render(); });
}

function init(board) {
  state.rows = board.rows || [];
  // one listener for every row (delegation): cheap to redraw thousands of rows
  document.querySelector("#board tbody").addEventListener("click", e => {
    const row = e.target.closest("tr");
    if (row) details(state.shown[Number(row.dataset.index)]);
  });
  const unique = key => [...new Set(state.rows.map(r => r[key]).filter(v => v !== undefined && v !== null))].sort();
  options("task", unique("task"), "all tasks");
  options("protocol", unique("frame_protocol"), "all");
  options("modality", unique("modality"), "all");
  options("trained_on", Object.keys(EXPOSURES).filter(k => state.rows.some(r => exposure(r) === k)), "all");
  document.getElementById("zeroshot").addEventListener("change", e => { state.zeroShot = e.target.checked; render(); });
  // tasks on the board without a floor: said instead of a number
  document.getElementById("floors").replaceChildren(...(board.floors_missing || []).map(m => el("p", `${m.task}: ${m.why}`)));
  options("prompt", unique("prompt_template"), "all");
  document.querySelectorAll("input.kind").forEach(box => box.addEventListener("change", () => {
    box.checked ? state.kinds.add(box.value) : state.kinds.delete(box.value);
    render();
  }));
  document.getElementById("search").addEventListener("input", e => { state.search = e.target.value; render(); });
  document.getElementById("extra").addEventListener("change", e => document.body.classList.toggle("show-extra", e.target.checked));
  render();
}

// ?board=PATH names another board of this site. Only a relative path on this very origin is taken:
// never a scheme (data:, http:, javascript:), a host (//host/...), an absolute path or a backslash,
// so no one can put made-up rows on the site's address with a crafted link.
function boardUrl(text) {
  if (text === null) return new URL("leaderboard.json", location.href);
  if (!/^[A-Za-z0-9._~\-][A-Za-z0-9._~\-\/]*$/.test(text) || text.split("/").includes("..")) return null;
  const url = new URL(text, location.href);
  return url.origin === location.origin && url.protocol === location.protocol ? url : null;
}

const requested = new URLSearchParams(location.search).get("board");
const source = boardUrl(requested);
if (source === null) {
  document.getElementById("status").textContent =
    `refusing board ${JSON.stringify(requested.slice(0, 60))}: only a relative path on this site is loaded (e.g. ?board=old/leaderboard.json)`;
} else {
  fetch(source, {credentials: "same-origin", redirect: "error"})
    .then(r => { if (!r.ok) throw new Error(`${requested || "leaderboard.json"}: HTTP ${r.status}`); return r.json(); })
    .then(init)
    .catch(err => { document.getElementById("status").textContent = `cannot load the board: ${err.message}`; });
}
