// textgen explorer: plain JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const TITLES = {  // both vocabularies, as the CLI prints them
  forget: "forget gate (forget gate f)", ignore: "ignore factor (input gate i)", use: "use gate (output gate o)",
  update: "update gate (z)", reset: "reset gate (r)",
};
const MEMORY_TITLES = { ltm: "LTM, long-term memory (cell state c)", stm: "STM, short-term memory (hidden state h)" };
const BLAMES = {  // what a verdict of textgen/analysis/attribution.py means
  model: "the model ranked the word first, so greedy decoding writes it too",
  sampling: "an unlikely word the sampler drew",
  both: "a likely-enough word the sampler drew",
};
let models = [];
let nextTimer = null;
let nextRequest = 0;
let generation = null;
let lastGates = null;
let storyVersion = 0;  // counts the changes of the story (and of the model): an answer about an older one is dropped

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.detail || response.statusText);
  return data;
}

function status(message) { $("status").textContent = message; }
function model() { return $("model").value || null; }
function percent(p) { return (100 * p).toFixed(2) + "%"; }

// --- errors: one at a time, each owned by the action that made it ------------------------------

function showError(source, message) {
  const box = $("error");
  box.textContent = message;
  box.dataset.source = source;
  box.hidden = false;
}

function clearError(...sources) {  // the error goes when the action that made it runs again (or its input changes)
  const box = $("error");
  if (box.hidden || !sources.includes(box.dataset.source)) return;
  box.hidden = true;
  box.textContent = "";
  delete box.dataset.source;
}

// --- the story changed: the diagnosis and the memory view were about the old one -----------------

function storyChanged(reason = "The story has changed") {
  storyVersion++;
  clearError("diagnose", "gates");  // about the old text; "next" runs again on its own
  if (!$("diagnosis").hidden && !$("diagnosis-results").hidden) {
    $("diagnosis-results").hidden = true;
    $("diagnosed").innerHTML = "";
    $("finding-detail").textContent = "";
    $("diagnosis-summary").textContent = `${reason} since this diagnosis: press “diagnose” to diagnose it again.`;
  }
  if (!$("memory").hidden && !$("memory-results").hidden) {
    $("memory-results").hidden = true;
    $("heatmaps").innerHTML = "";
    $("memory-legends").innerHTML = "";
    $("word-detail").innerHTML = "";
    lastGates = null;
    $("memory-summary").textContent = `${reason} since this memory view: press “memory view” to read it again.`;
  }
}

async function loadModels() {
  const data = await api("/api/models");
  models = data.models;
  $("model").innerHTML = "";
  for (const entry of models) {
    const option = document.createElement("option");
    option.value = entry.name;
    option.textContent = entry.name;
    $("model").appendChild(option);
  }
  $("model").value = data.default;
  const limits = data.limits;
  $("story").maxLength = limits.max_text;
  $("max_tokens").max = limits.max_new_tokens;
  $("limits").textContent = `the server reads at most ${limits.max_tokens.toLocaleString("en")} tokens of a story`;
  modelChanged();
}

function modelChanged() {
  const entry = models.find((m) => m.name === model());
  $("model-summary").textContent = entry ? entry.summary : "";
  // the sampling fields start at this model's defaults (its own where its textgen.json has some: tune-cast writes them)
  for (const [name, value] of Object.entries(entry ? entry.sampling : {})) {
    if ($(name)) $(name).value = value;
  }
  const own = entry ? Object.keys(entry.own_sampling) : [];
  $("own-sampling").textContent = own.length ? `this model's own defaults: ${own.map((k) => k.replaceAll("_", " ")).join(", ")}` : "";
  $("layer").innerHTML = "";
  for (let layer = 1; layer <= (entry ? entry.layers : 1); layer++) {
    const option = document.createElement("option");
    option.value = layer;
    option.textContent = layer;
    $("layer").appendChild(option);
  }
  storyChanged("The model has changed");
  scheduleNext(0);
}

// --- next words ------------------------------------------------------------------------------

function scheduleNext(delay = 250) {
  clearTimeout(nextTimer);
  nextTimer = setTimeout(showNext, delay);
}

async function showNext() {
  const text = $("story").value;
  const ticket = ++nextRequest;
  if (!text.trim()) { $("bars").innerHTML = ""; $("coverage").textContent = ""; clearError("next"); return; }
  try {
    const data = await api("/api/next", { model: model(), text: text, top: 10 });
    if (ticket !== nextRequest) return;  // a newer request is on its way
    clearError("next");
    renderBars(data);
  } catch (error) {
    if (ticket !== nextRequest) return;
    $("bars").innerHTML = "";  // the bars were for an older text
    $("coverage").textContent = "";
    showError("next", error.message);
  }
}

function renderBars(data) {
  const bars = $("bars");
  bars.innerHTML = "";
  const largest = Math.max(...data.words.map((w) => w.probability), 1e-9);
  for (const entry of data.words) {
    const item = document.createElement("li");
    item.dataset.word = entry.word;
    item.dataset.probability = entry.probability;
    item.title = entry.pieces.length > 1 ? "pieces: " + entry.pieces.join(" + ") : "";
    const word = document.createElement("span");
    word.className = "word";
    word.textContent = entry.word === "\n" ? "↵" : entry.word;
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = (100 * entry.probability / largest).toFixed(1) + "%";
    const probability = document.createElement("span");
    probability.className = "probability";
    probability.textContent = percent(entry.probability);
    item.append(word, bar, probability);
    item.addEventListener("click", () => takeWord(entry.word));
    bars.appendChild(item);
  }
  $("coverage").textContent = `(these cover ${(100 * data.coverage).toFixed(1)}%${data.exact ? "" : ", search stopped early"})`;
}

function takeWord(word) {
  if (word === "</s>") { status("the model would end the story here"); return; }
  const story = $("story");
  const text = story.value;
  const glued = /^[.,!?;:'’)\]\n]/.test(word) || text === "" || /[\s“"(\[]$/.test(text);
  story.value = text + (glued ? "" : " ") + word;
  storyChanged();
  scheduleNext(0);
}

// --- continue (streamed) ---------------------------------------------------------------------

function settings() {
  const number = (id) => Number($(id).value);
  const cache = $("cache").value;
  return {
    model: model(), prompt: $("story").value, max_tokens: number("max_tokens"), temperature: number("temperature"),
    top_k: number("top_k"), top_p: number("top_p"), min_p: number("min_p"),
    repetition_penalty: number("repetition_penalty"), no_repeat_ngram: number("no_repeat_ngram"),
    dry_multiplier: number("dry_multiplier"), keep_cast: number("keep_cast"),
    cast_opening: number("cast_opening"), cast_size: number("cast_size"), stray_capitals: number("stray_capitals"),
    real_words: number("real_words"),
    double_words: number("double_words"), seed: number("seed"),
    cache: cache === "" ? null : cache === "true",
  };
}

async function continueStory() {
  if (generation) return;
  const controller = new AbortController();
  generation = controller;
  $("continue").disabled = true;
  $("stop").disabled = false;
  clearError("continue");
  status("writing…");
  const story = $("story");
  try {
    const response = await fetch("/api/generate", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(settings()),
      signal: controller.signal,
    });
    if (!response.ok) throw new Error((await response.json()).detail || response.statusText);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const kind = (block.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || "{}");
        if (kind === "token") { story.value += data.text; storyChanged(); }
        else if (kind === "done") status(`done (${data.stop_reason.replace(/_/g, " ")}, ${data.tokens.length} tokens)`);
        else if (kind === "error") throw new Error(data.detail);
      }
    }
  } catch (error) {
    if (error.name === "AbortError") status("stopped");
    else { status(""); showError("continue", error.message); }
  } finally {
    generation = null;
    $("continue").disabled = false;
    $("stop").disabled = true;
    scheduleNext(0);
  }
}

// --- diagnosis -------------------------------------------------------------------------------

async function diagnose() {
  const text = $("story").value;
  const version = storyVersion;
  clearError("diagnose");
  status("diagnosing…");
  try {
    const data = await api("/api/diagnose", { model: model(), text: text });
    if (version !== storyVersion) return;  // the story changed while the server worked: this answer is about the old one
    renderDiagnosis(text, data);
  } catch (error) {
    if (version === storyVersion) showError("diagnose", error.message);
  } finally {
    if ($("status").textContent === "diagnosing…") status("");
  }
}

function describeRank(a) {
  if (a.rank) return `rank ${a.rank} among its next words`;
  // rank null: the word is below every word the model listed (the JSON's ranked_words)
  return a.ranked_words ? `not among its ${a.ranked_words.toLocaleString("en")} likeliest next words` : "";
}

function describeFinding(finding) {
  const lines = [finding.explanation];
  const a = finding.attribution;
  if (a) {
    const rank = describeRank(a);
    lines.push(`the model gave “${a.word}” ${percent(a.probability)}${rank ? ` (${rank})` : ""}`);
    lines.push(`verdict: ${a.blame}${BLAMES[a.blame] ? ": " + BLAMES[a.blame] : ""}`);
    lines.push(a.alternatives.length
      ? "it would rather have written: " + a.alternatives.map((w) => `${w.word} ${percent(w.probability)}`).join(", ")
      : "no other word listed");
  } else {
    lines.push("no model's view: the text before it has words this model's tokenizer does not know");
  }
  return lines.join("\n");
}

// the story metrics a reader recognises, beside what one human story measures (the reference)
const STORY_METRICS = [
  ["invented_per_1000_words", "invented words per 1,000", 2],
  ["names_per_story", "names", 2],
  ["speech_aware_names_per_story", "names (quotes read as sentence starts)", 2],
  ["seq_rep_4", "seq-rep-4 (repeated 4-word runs)", 3],
  ["immediate-repeat_per_1000_words", "doubled words per 1,000", 2],
  ["distinct_2", "distinct-2 (new word pairs)", 3],
  ["distinct_3", "distinct-3", 3],
  ["words", "words", 0],
];

function renderStoryMetrics(metrics, reference) {
  const table = $("story-metrics");
  table.innerHTML = "";
  const head = table.insertRow();
  for (const title of ["", "this text", reference ? "one human story (mean)" : "human stories"]) {
    const cell = document.createElement("th");
    cell.textContent = title;
    head.append(cell);
  }
  for (const [key, label, digits] of STORY_METRICS) {
    const row = table.insertRow();
    row.insertCell().textContent = label;
    const value = key === "words" ? metrics.words : metrics[key];
    row.insertCell().textContent = value === undefined || value === null ? "–" : Number(value).toFixed(digits);
    row.insertCell().textContent = reference ? Number(reference.metrics[key]).toFixed(digits) : "–";
  }
  $("story-metrics-source").textContent = reference
    ? `human values: ${reference.source}. distinct-n falls as a text grows: compare texts of about the same length.`
    : "no human value for this model: run `textgen tune MODEL --valid FILE` (it records one), or keep its training corpus where training found it.";
}

function renderDiagnosis(text, data) {
  $("diagnosis").hidden = false;
  $("diagnosis-results").hidden = false;
  const findings = data.findings.filter((f) => f.story === 0).sort((a, b) => a.start - b.start);
  const m = data.metrics;
  $("diagnosis-summary").textContent =
    `${findings.length} finding${findings.length === 1 ? "" : "s"}; names in the first 150 words: ` +
    `${m.names_per_story} (late: ${m.late_names_per_story}); seq-rep-4 ${m.seq_rep_4.toFixed(3)}.`;
  renderStoryMetrics(m, data.reference);
  for (const item of document.querySelectorAll("#diagnosis-legend li")) {
    const count = findings.filter((f) => f.kind === item.dataset.kind).length;
    item.querySelector(".count").textContent = `(${count} here)`;
  }
  $("finding-detail").textContent = "";
  const out = $("diagnosed");
  out.innerHTML = "";
  let at = 0;
  for (const finding of findings) {
    if (finding.start < at) continue;  // overlapping findings: the first one is marked
    out.append(document.createTextNode(text.slice(at, finding.start)));
    const mark = document.createElement("span");
    mark.className = "finding " + finding.kind;
    mark.dataset.kind = finding.kind;
    mark.title = describeFinding(finding);
    mark.tabIndex = 0;
    mark.addEventListener("click", () => { $("finding-detail").textContent = mark.title; });  // a touch screen has no hover
    mark.addEventListener("keydown", (event) => { if (event.key === "Enter") mark.click(); });
    mark.textContent = text.slice(finding.start, finding.end);
    out.append(mark);
    at = finding.end;
  }
  out.append(document.createTextNode(text.slice(at)));
}

// --- memory view -----------------------------------------------------------------------------

function colour(value, low, high, diverging) {
  if (diverging) {  // blue (negative) .. white .. red (positive)
    const t = Math.max(-1, Math.min(1, value / Math.max(Math.abs(low), Math.abs(high), 1e-6)));
    const fade = Math.round(255 * (1 - Math.abs(t)));
    return t >= 0 ? `rgb(255,${fade},${fade})` : `rgb(${fade},${fade},255)`;
  }
  const t = Math.max(0, Math.min(1, (value - low) / (high - low)));  // shut (dark) .. open (bright)
  return `rgb(${Math.round(30 + 225 * t)},${Math.round(40 + 200 * t)},${Math.round(90 + 40 * t)})`;
}

function range(rows, diverging) {
  const flat = rows.flat();
  return diverging ? [Math.min(...flat, 0), Math.max(...flat, 0)] : [0, 1];
}

function scale(label, low, high, diverging, left, right) {
  // a colour legend: the same colour() as the cells, from one end of the scale to the other
  const box = document.createElement("div");
  box.className = "scale";
  const name = document.createElement("span");
  name.textContent = label + ":";
  const strip = document.createElement("span");
  strip.className = "strip";
  const from = diverging ? -Math.max(Math.abs(low), Math.abs(high), 1e-6) : low;
  const to = diverging ? -from : high;
  for (let step = 0; step <= 10; step++) {
    const swatch = document.createElement("span");
    swatch.style.background = colour(from + (to - from) * step / 10, low, high, diverging);
    strip.appendChild(swatch);
  }
  const ends = [left(from), right(to)].map((text) => {
    const end = document.createElement("span");
    end.className = "end";
    end.textContent = text;
    return end;
  });
  box.append(name, ends[0], strip, ends[1]);
  return box;
}

function heatmap(title, words, units, rows, diverging) {
  const box = document.createElement("div");
  box.className = "heatmap";
  const heading = document.createElement("h3");
  heading.textContent = title;
  box.appendChild(heading);
  const table = document.createElement("table");
  const [low, high] = range(rows, diverging);
  const head = document.createElement("thead");
  const top = document.createElement("tr");
  const corner = document.createElement("th");
  corner.className = "corner";
  corner.textContent = "word ↓ unit →";
  top.appendChild(corner);
  for (const unit of units) {
    const th = document.createElement("th");
    th.className = "unit";
    th.textContent = unit;
    th.title = `unit ${unit}`;
    top.appendChild(th);
  }
  head.appendChild(top);
  const body = document.createElement("tbody");
  rows.forEach((row, index) => {
    const tr = document.createElement("tr");
    tr.dataset.word = index;
    const th = document.createElement("th");
    th.textContent = words[index] === "\n" ? "↵" : words[index];
    th.addEventListener("click", () => showWord(index));
    tr.appendChild(th);
    row.forEach((value, column) => {
      const td = document.createElement("td");
      td.style.background = colour(value, low, high, diverging);
      td.title = `${words[index]}, unit ${units[column]}: ${value.toFixed(3)}`;
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  table.append(head, body);
  box.appendChild(table);
  return box;
}

async function showGates() {
  const version = storyVersion;
  clearError("gates");
  status("reading…");
  try {
    const data = await api("/api/gates", { model: model(), text: $("story").value, layer: Number($("layer").value || 1) });
    if (version !== storyVersion) return;  // about a story that has changed since
    renderGates(data);
  } catch (error) {
    if (version === storyVersion) showError("gates", error.message);
  } finally {
    if ($("status").textContent === "reading…") status("");
  }
}

function renderGates(data) {
  lastGates = data;
  $("memory").hidden = false;
  $("memory-results").hidden = false;
  const maps = data.heatmaps;
  $("memory-summary").textContent =
    `${data.cell} layer ${data.layer} of ${data.layers}: ${maps.units.length} of ${data.units} units (the most varied), ` +
    `${maps.words.length} words`;
  const memoryName = data.memory.toUpperCase();
  const [low, high] = range(maps.memory, true);
  const signed = (value) => (value > 0 ? "+" : value < 0 ? "−" : "") + Math.abs(value).toFixed(2);
  const legends = $("memory-legends");
  legends.innerHTML = "";
  legends.append(
    scale(`${memoryName}, what a unit holds after the word: blue negative, white 0, red positive`, low, high, true, signed, signed),
    scale("gates, the share a gate lets through: dark shut, bright open", 0, 1, false, () => "0 shut", () => "1 open"),
  );
  const box = $("heatmaps");
  box.innerHTML = "";
  box.appendChild(heatmap(MEMORY_TITLES[data.memory], maps.words, maps.units, maps.memory, true));
  for (const name of Object.keys(data.gate_names)) {
    box.appendChild(heatmap(TITLES[name] || name, maps.words, maps.units, maps.gates[name], false));
  }
  $("word-detail").innerHTML = "";
}

function showWord(index) {
  const data = lastGates;
  if (!data) return;
  const word = data.words[index];
  document.querySelectorAll(".heatmap tbody tr").forEach((tr) => tr.classList.toggle("chosen", Number(tr.dataset.word) === index));
  const detail = $("word-detail");
  detail.innerHTML = "";
  const heading = document.createElement("p");
  heading.textContent = `“${word.word}” (pieces: ${word.pieces.join(" + ")}); mean change of memory: ${word.memory_change.toFixed(3)}`;
  detail.appendChild(heading);
  const table = document.createElement("table");
  table.innerHTML = "<tr><th>gate</th><th>mean over the units (0 shut, 1 open)</th></tr>";
  for (const [name, value] of Object.entries(word.gates)) {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td>${TITLES[name] || name}</td><td>${value.toFixed(3)}</td>`;
    table.appendChild(tr);
  }
  const units = document.createElement("table");
  units.innerHTML = `<tr><th>unit</th><th>${data.memory.toUpperCase()} before</th><th>after</th><th>change</th></tr>`;
  for (const unit of word.top_units) {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td>${unit.unit}</td><td>${unit.before.toFixed(3)}</td><td>${unit.after.toFixed(3)}</td>` +
      `<td>${unit.change >= 0 ? "+" : ""}${unit.change.toFixed(3)}</td>`;
    units.appendChild(tr);
  }
  detail.append(table, units);
}

// --- wiring ------------------------------------------------------------------------------------

$("story").addEventListener("input", () => { storyChanged(); scheduleNext(); });
$("model").addEventListener("change", modelChanged);
$("continue").addEventListener("click", continueStory);
$("stop").addEventListener("click", () => generation && generation.abort());
$("diagnose").addEventListener("click", diagnose);
$("gates").addEventListener("click", showGates);
$("layer").addEventListener("change", showGates);
loadModels().catch((error) => showError("models", error.message));
