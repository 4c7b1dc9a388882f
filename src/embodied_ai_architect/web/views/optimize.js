// Optimize: a constraints form with every field of the API's optimize request, then the job
// live over the WebSocket: stage, the plan as a TODO list, re-plans, attempts on charts, losses.
import { api, watchJob } from "../lib/api.js";
import { lineChart, scatterChart } from "../lib/charts.js";
import { $, $$, badge, clear, h, num, section, showError } from "../lib/dom.js";
import { chartSeries, markFront } from "../lib/pareto.js";
import { progressBar } from "../lib/progress.js";

// key → [label, input kind, options]; keys are the request's JSON paths.
const FIELDS = [
  ["constraints.max_size_mb", "Max size (MB)", "number", { step: "any", min: "0", placeholder: "e.g. 10" }],
  ["constraints.max_latency_ms", "Max p95 latency (ms)", "number", { step: "any", min: "0", placeholder: "e.g. 20" }],
  ["constraints.min_accuracy", "Min accuracy / success (fraction 0–1)", "number", { step: "any", min: "0", max: "1", placeholder: "e.g. 0.95" }],
  ["constraints.max_accuracy_drop", "Max accuracy or success drop", "number", { step: "any", min: "0", placeholder: "e.g. 1" }],
  ["constraints.drop_unit", "Drop unit", "select", { choices: ["points", "percent"] }],
  ["constraints.objective", "Objective", "select", { choices: ["latency", "size", "balanced"] }],
  ["constraints.target", "Target", "select", { choices: ["cpu"] }],
  ["constraints.budget.max_attempts", "Budget: max attempts", "number", { step: "1", min: "1", placeholder: "unlimited" }],
  ["constraints.budget.max_wall_seconds", "Budget: max seconds", "number", { step: "any", min: "0", placeholder: "unlimited" }],
  ["eval_sim", "Simulation suite (evaluate by success)", "select", { choices: [""] }],
  ["max_eval_samples", "Evaluation samples", "number", { step: "1", min: "1", placeholder: "2000" }],
  ["latency_runs", "Latency runs", "number", { step: "1", min: "5", placeholder: "60" }],
  ["seed", "Seed", "number", { step: "1", min: "0", placeholder: "0" }],
  ["input_shapes", "Input shapes", "text", { placeholder: "1,3,224,224; 1,7 (one per input)" }],
];
const GROUPS = [
  ["Limits", ["constraints.max_size_mb", "constraints.max_latency_ms", "constraints.min_accuracy", "constraints.max_accuracy_drop", "constraints.drop_unit"]],
  ["Search", ["constraints.objective", "constraints.target", "constraints.budget.max_attempts", "constraints.budget.max_wall_seconds", "seed"]],
  ["Evaluation", ["eval_sim", "max_eval_samples", "latency_runs", "input_shapes"]],
];
const fieldId = (key) => "f-" + key.replaceAll(".", "-").replaceAll("_", "-");

let ctxRef;
let schema = null;
let stopWatch = null;

async function loadSchema() {
  try {
    const spec = await api("/openapi.json", { raw: true });
    const schemas = spec.components?.schemas || {};
    const props = (name) => schemas[name]?.properties || null;
    // Enums are $refs (directly or inside allOf/anyOf): resolve them to their values.
    const enumOf = (prop) => {
      if (!prop) return null;
      if (prop.enum) return prop.enum;
      const ref = prop.$ref || [...(prop.allOf || []), ...(prop.anyOf || [])].find((x) => x.$ref)?.$ref;
      return ref ? schemas[ref.split("/").at(-1)]?.enum || null : null;
    };
    return { constraints: props("Constraints"), budget: props("Budget"), request: props("OptimizeJobRequest"), enumOf };
  } catch { return null; }
}

/** Whether the server's schema has this field (unknown: show it). */
function supported(key) {
  if (!schema) return true;
  const parts = key.split(".");
  if (parts[0] === "constraints" && parts[1] === "budget") return !schema.budget || parts[2] in schema.budget;
  if (parts[0] === "constraints") return !schema.constraints || parts[1] in schema.constraints;
  return !schema.request || parts[0] in schema.request;
}

function enumOf(key) {
  if (!schema?.constraints) return null;
  return schema.enumOf(schema.constraints[key.split(".")[1]]);
}

function field([key, label, kind, options]) {
  const id = fieldId(key);
  const err = h("p", { class: "field-error", id: id + "-error", hidden: true });
  let input;
  if (kind === "select") {
    const choices = enumOf(key) || options.choices;
    input = h("select", { id, name: key, "aria-describedby": id + "-error" }, choices.map((c) => h("option", { value: c }, c || "none (fidelity to the original)")));
    const fallback = schema?.constraints?.[key.split(".")[1]]?.default;
    if (key.startsWith("constraints.") && choices.includes(fallback)) input.value = fallback;
  } else {
    const { choices, ...attrs } = options;
    input = h("input", { id, name: key, type: kind, inputmode: kind === "number" ? "decimal" : undefined, "aria-describedby": id + "-error", ...attrs });
  }
  return h("div", { class: "field", "data-field": key }, h("label", { for: id }, label), input, err);
}

export async function mount(el, ctx) {
  ctxRef = ctx;
  schema = await loadSchema();
  const suites = await api("/sim/suites").catch(() => ({ data: [] }));
  const byKey = Object.fromEntries(FIELDS.map((f) => [f[0], f]));
  byKey.eval_sim[3] = { choices: ["", ...suites.data.map((s) => s.id)] };
  const form = h("form", { id: "optimize-form", novalidate: true },
    h("div", { class: "field-row" },
      h("div", { class: "field", "data-field": "model_id" }, h("label", { for: "f-model" }, "Model"),
        h("select", { id: "f-model", name: "model_id", required: true, "aria-describedby": "f-model-error" }),
        h("p", { class: "field-error", id: "f-model-error", hidden: true })),
      h("div", { class: "field", "data-field": "version" }, h("label", { for: "f-version" }, "Version"),
        h("select", { id: "f-version", name: "version", "aria-describedby": "f-version-error" }, h("option", { value: "" }, "latest")),
        h("p", { class: "field-error", id: "f-version-error", hidden: true }))),
    GROUPS.map(([legend, keys]) => h("fieldset", { "data-group": legend },
      h("legend", {}, legend), h("div", { class: "field-grid" }, keys.filter(supported).map((k) => field(byKey[k]))))),
    h("p", { class: "muted" }, "Set at least one limit. With a simulation suite the accuracy figures are success rates; the drop is the max success drop."),
    h("div", { class: "field-error", id: "constraints-error", hidden: true }),
    h("div", { class: "error", id: "optimize-error", hidden: true }),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "optimize-submit" }, "Start optimizing")));
  $("#f-constraints-max-accuracy-drop", form).value = "1";
  $("#f-model", form).addEventListener("change", () => loadVersions());
  form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
  el.append(section("Constraints", form), h("div", { id: "live", hidden: true }));
}

/** arg: a model id to preselect, "job-<id>" to follow a job, "suite-<id>" to evaluate on a suite. */
export async function show(el, ctx, arg) {
  const select = $("#f-model");
  const job = arg?.startsWith("job-") ? arg.slice(4) : null;
  const suite = arg?.startsWith("suite-") ? arg.slice(6) : null;
  const previous = job || suite ? select.value : arg || select.value;
  const models = await ctx.models();
  clear(select, models.map((m) => h("option", { value: m.id }, `${m.id}: ${m.name}`)));
  if (!models.length) select.append(h("option", { value: "" }, "upload a model first"));
  if (previous && models.some((m) => String(m.id) === String(previous))) select.value = previous;
  await loadVersions();
  const evalSim = document.getElementById(fieldId("eval_sim"));
  if (suite && evalSim && [...evalSim.options].some((o) => o.value === suite)) evalSim.value = suite;
  if (job && $("#live").dataset.jobId !== job) follow(job);
}

async function loadVersions() {
  const id = $("#f-model").value;
  const select = $("#f-version");
  clear(select, h("option", { value: "" }, "latest"));
  if (!id) return;
  const versions = await api(`/models/${id}/versions?limit=1000`);
  for (const v of versions.data) select.append(h("option", { value: v.version }, `v${v.version} ${v.technique || "original"}`));
}

function setPath(obj, path, value) {
  const parts = path.split(".");
  let node = obj;
  for (const p of parts.slice(0, -1)) node = node[p] ??= {};
  node[parts.at(-1)] = value;
}

/** The request body from the form; raw strings are kept as they are, so the API judges them. */
function buildRequest() {
  const body = { kind: "optimize", model_id: Number($("#f-model").value) || $("#f-model").value, constraints: {} };
  if ($("#f-version").value !== "") body.version = Number($("#f-version").value);
  for (const [key, , kind] of FIELDS) {
    const input = document.getElementById(fieldId(key));
    if (!input || input.value.trim() === "") continue;
    let value = input.value.trim();
    if (key === "input_shapes") value = value.split(";").map((s) => s.split(/[,x×]/).map((d) => Number(d.trim())));
    else if (kind === "number") value = Number.isFinite(Number(value)) ? Number(value) : value;
    setPath(body, key, value);
  }
  return body;
}

function clearErrors() {
  for (const el of $$("#optimize-form .field-error")) { el.hidden = true; el.textContent = ""; }
  for (const el of $$("#optimize-form [aria-invalid]")) el.removeAttribute("aria-invalid");
  $("#optimize-error").hidden = true;
}

function fieldError(key, message) {
  const id = key === "model_id" ? "f-model" : key === "version" ? "f-version" : fieldId(key);
  const input = document.getElementById(id);
  const err = document.getElementById(id + "-error");
  if (!input || !err) return false;
  input.setAttribute("aria-invalid", "true");
  err.textContent = err.textContent ? err.textContent + "; " + message : message;
  err.hidden = false;
  return true;
}

/** Put each 422 error next to its field (model-level constraint errors are split by field). */
function showFieldErrors(error) {
  const leftovers = [];
  for (const e of error.fieldErrors) {
    const loc = e.loc.filter((p, i) => !(i === 0 && p === "body") && p !== "optimize");
    const key = loc.join(".");
    const message = String(e.msg).replace(/^Value error, /, "");
    if (fieldError(key, message)) continue;
    if (key === "constraints" || key === "constraints.budget") {
      for (const part of message.split("; ")) {
        const named = FIELDS.map((f) => f[0]).find((k) => k.startsWith(key) && part.includes(k.split(".").at(-1)));
        if (!(named && fieldError(named, part))) leftovers.push(part);
      }
      continue;
    }
    leftovers.push(key ? `${key}: ${message}` : message);
  }
  if (leftovers.length) {
    const box = $("#constraints-error");
    box.textContent = leftovers.join("; ");
    box.hidden = false;
  }
  const first = $("#optimize-form [aria-invalid]");
  first?.focus();
}

async function submit() {
  clearErrors();
  $("#constraints-error").hidden = true;
  const button = $("#optimize-submit");
  button.disabled = true;
  try {
    const job = await api("/jobs", { method: "POST", json: buildRequest() });
    ctxRef.notify(`optimize job ${job.job_id.slice(0, 8)} ${job.status}`);
    follow(job.job_id);
  } catch (error) {
    if (error.status === 422 && error.fieldErrors.length) showFieldErrors(error);
    else if (error.status === 404 && /model/i.test(error.message)) { fieldError("model_id", error.message); }
    else showError($("#optimize-error"), error);
  } finally {
    button.disabled = false;
  }
}

/** Live view of one optimize job. */
export function follow(jobId) {
  stopWatch?.();
  const live = $("#live");
  live.hidden = false;
  live.dataset.jobId = jobId;
  const bar = progressBar("opt-progress");
  const status = h("span", { id: "live-status" }, badge("queued"));
  const cancel = h("button", { type: "button", class: "secondary", id: "cancel-job" }, "Cancel job");
  const plan = h("ol", { id: "plan", class: "plan" }, h("li", { class: "muted" }, "waiting for the plan…"));
  const replans = h("ul", { id: "replans", class: "replans" });
  const log = h("ol", { id: "events", class: "events" });
  const sizeChart = h("div", { id: "chart-size", class: "chart-box" });
  const accChart = h("div", { id: "chart-accuracy", class: "chart-box" });
  const lossBox = h("div", { id: "loss", hidden: true });
  const lossSection = section("Training curves (distillation / NAS)", lossBox);
  lossSection.hidden = true;
  const err = h("div", { class: "error", id: "live-error", hidden: true });
  const done = h("div", { id: "live-done" });
  clear(live,
    section(`Job ${jobId.slice(0, 8)}`, h("p", {}, "status ", status, " · stage ", h("strong", { id: "live-stage" }, "–"), " ", cancel), bar.el, err, done),
    h("div", { class: "grid-2" },
      section("Plan", plan, h("h4", {}, "Re-plans"), replans),
      section("Attempts", h("p", { class: "muted" }, "Every measured model; ringed = Pareto set, hollow = violates a constraint."), sizeChart, accChart)),
    lossSection,
    h("details", { class: "card" }, h("summary", {}, "Event log"), log));
  cancel.addEventListener("click", async () => {
    if (!(await ctxRef.confirm("Cancel the job?", "The worker is stopped; finished attempts stay recorded."))) return;
    try { await api(`/jobs/${jobId}/cancel`, { method: "POST" }); } catch (error) { showError(err, error); }
  });

  const points = [];
  const losses = { train: [], val: [], trial: [] };
  let attempts = 0;
  let steps = [];
  let current = null;
  const stepLi = (id) => plan.querySelector(`li.step[data-step="${CSS.escape(id)}"]`);
  const attemptLi = (n) => plan.querySelector(`li.attempt[data-attempt="${n}"]`);
  const setStatus = (li, value, text) => {
    if (!li) return;
    li.dataset.status = value;
    const mark = li.querySelector(":scope > .mark");
    if (mark) mark.textContent = { accepted: "✓", rejected: "✗", failed: "✗", skipped: "–", running: "…", measured: "•", done: "✓" }[value] || "○";
    if (text !== undefined) { const out = li.querySelector(":scope > .outcome"); if (out) out.textContent = text; }
  };
  const drawCharts = (pts) => {
    const series = chartSeries(pts);
    clear(sizeChart, scatterChart(series.size, { label: "size vs latency", xLabel: "p95 latency (ms)", yLabel: "size (MB)" }));
    clear(accChart, series.accuracy.length
      ? scatterChart(series.accuracy, { label: "accuracy vs latency", xLabel: "p95 latency (ms)", yLabel: "accuracy (%)", linearY: true })
      : h("p", { class: "muted" }, "no accuracy figures"));
  };
  const drawLoss = () => {
    const series = [];
    if (losses.train.length) series.push({ name: "train loss", points: losses.train }, { name: "held-out KD loss", points: losses.val });
    if (losses.trial.length) series.push({ name: "NAS trial score", points: losses.trial });
    if (!series.length) return;
    lossSection.hidden = false; lossBox.hidden = false;
    clear(lossBox, lineChart(series, { label: "training curves", xLabel: losses.trial.length && !losses.train.length ? "trial" : "epoch", yLabel: "loss / score" }));
  };
  drawCharts([]);

  const onEvent = (e, seq) => {
    bar.update(e.percent, e.stage, e.message);
    $("#live-stage").textContent = e.stage;
    log.append(h("li", { "data-kind": e.kind }, `#${seq} ${Math.round(e.percent)}% [${e.stage}] ${e.message}`));
    if (e.kind === "decision" && e.data?.plan) {
      steps = e.data.plan.steps;
      clear(plan, steps.map((s) => h("li", { class: "step", "data-step": s.id, "data-status": "pending" },
        h("span", { class: "mark", "aria-hidden": "true" }, "○"), " ", h("strong", {}, s.id), ` — improve ${s.objective}: `,
        h("span", { class: "muted" }, s.candidates.map((c) => c.technique).join(", ")),
        h("div", { class: "outcome muted" }, s.rationale), h("ul", { class: "attempts" }))));
      if (e.data.skipped?.length) plan.after(h("p", { class: "muted not-planned" }, "Not planned: " + e.data.skipped.join("; ")));
      return;
    }
    if (e.stage === "planning" && e.message.startsWith("re-plan")) {
      replans.append(h("li", {}, e.message));
      return;
    }
    if (e.kind === "metric" && e.data?.metrics) {
      const m = e.data.metrics;
      const label = e.step ? `a${attempts}` : "v0";
      points.push({ label, technique: e.step ? attemptLi(attempts)?.dataset.technique : "original", size_mb: m.size_bytes / 1e6,
        p95_ms: m.p95_ms, accuracy: m.accuracy, feasible: !e.step || e.message.includes("meets all constraints") });
      drawCharts(markFront(points));
      if (e.step) setStatus(attemptLi(attempts), "measured", e.message);
      return;
    }
    if (e.data?.epoch !== undefined && e.data.train_loss !== undefined) {
      losses.train.push([e.data.epoch, e.data.train_loss]);
      losses.val.push([e.data.epoch, e.data.val_kd_loss]);
      drawLoss();
    }
    if (e.data?.trial?.score !== undefined && e.data.trial.number !== undefined) {
      losses.trial.push([e.data.trial.number, e.data.trial.score]);
      drawLoss();
    }
    if (!e.step) return;
    const li = stepLi(e.step);
    if (e.message.startsWith(`step ${e.step}:`)) {
      if (current && current !== e.step) setStatus(stepLi(current), "done");
      current = e.step;
      setStatus(li, "running");
    } else if (e.data?.technique && e.message.includes("trying")) {
      attempts += 1;
      li?.querySelector(".attempts").append(h("li", { class: "attempt", "data-attempt": attempts, "data-status": "running", "data-technique": e.data.technique },
        h("span", { class: "mark", "aria-hidden": "true" }, "…"), ` a${attempts} ${e.data.technique} `, h("span", { class: "outcome muted" })));
    } else if (/ (rejected|skipped): /.test(e.message) || e.kind === "error") {
      const kind = e.kind === "error" ? "failed" : e.message.includes(" skipped: ") ? "skipped" : "rejected";
      setStatus(attemptLi(attempts), kind, e.message);
    } else if (e.kind === "warning") {
      li?.querySelector(".attempts").append(h("li", { class: "warning" }, e.message));
    }
  };

  const onFinal = (job, result) => {
    status.replaceChildren(badge(job.status));
    cancel.hidden = true;
    bar.update(job.progress, job.status, job.error ? job.error.message : "");
    if (current) setStatus(stepLi(current), "done");
    const report = result?.optimize;
    if (report) {
      for (const s of report.chosen_plan?.steps || []) setStatus(stepLi(s.id), s.status, s.outcome || s.rationale);
      for (const a of report.attempts) setStatus(attemptLi(a.index), a.status, a.reason);
      for (const r of report.replans) if (![...replans.children].some((li) => li.textContent.includes(r.reason))) replans.append(h("li", {}, `after ${r.after_step}: ${r.reason}`));
      drawCharts(report.points);
      clear(done, h("p", { id: "live-summary" }, badge(report.status), " ", report.summary),
        h("button", { type: "button", id: "open-results", onclick: () => ctxRef.go("results", jobId) }, "Open results"));
    }
    if (job.error) showError(err, job.error);
    if (!replans.children.length) replans.append(h("li", { class: "muted" }, "none"));
  };
  stopWatch = watchJob(jobId, {
    onEvent, onFinal,
    onStatus: (value) => status.replaceChildren(badge(value)),
    onError: (error) => showError(err, error),
  });
  live.scrollIntoView({ behavior: "smooth", block: "start" });
}
