// Optimize: a constraints form with every field of the API's optimize request (evaluation and
// calibration data picked from the uploaded data files); the started job is followed live by
// ./live.js.
import { api, uploadFile } from "../lib/api.js";
import { $, $$, badge, bytes, clear, h, section, showError, table, when } from "../lib/dom.js";
import { follow } from "./live.js";

// key → [label, input kind, options]; keys are the request's JSON paths.
const FIELDS = [
  ["constraints.max_size_mb", "Max size (MB)", "number", { step: "any", min: "0", placeholder: "e.g. 10" }],
  ["constraints.max_latency_ms", "Max p95 latency (ms)", "number", { step: "any", min: "0", placeholder: "e.g. 20" }],
  ["constraints.min_accuracy", "Min accuracy / success (fraction 0–1)", "number", { step: "any", min: "0", max: "1", placeholder: "e.g. 0.95" }],
  ["constraints.max_accuracy_drop", "Max accuracy or success drop", "number", { step: "any", min: "0", placeholder: "e.g. 1" }],
  ["constraints.drop_unit", "Drop unit", "select", { choices: ["points", "percent"] }],
  ["constraints.objective", "Objective", "select", { choices: ["latency", "size", "balanced"] }],
  ["constraints.target", "Target", "select", { choices: ["cpu", "onnxruntime", "openvino", "tflite", "jetson", "jetson:orin-nano", "jetson:orin-nx", "jetson:agx-orin", "tflite:rpi5", "openvino:intel-nuc"] }],
  ["constraints.budget.max_attempts", "Budget: max attempts", "number", { step: "1", min: "1", placeholder: "unlimited" }],
  ["constraints.budget.max_wall_seconds", "Budget: max seconds", "number", { step: "any", min: "0", placeholder: "unlimited" }],
  ["eval_sim", "Simulation suite (evaluate by success)", "select", { choices: [""] }],
  ["eval_data_id", "Evaluation data", "dataset", { empty: "none (random inputs)" }],
  ["calibration_data_id", "Calibration data (INT8)", "dataset", { empty: "none (evaluation inputs)" }],
  ["train_data_id", "Training data (x + labels y: pruning, distillation, NAS)", "dataset", { empty: "none (no retraining)" }],
  ["max_eval_samples", "Evaluation samples", "number", { step: "1", min: "1", placeholder: "2000" }],
  ["latency_runs", "Latency runs", "number", { step: "1", min: "5", placeholder: "60" }],
  ["seed", "Seed", "number", { step: "1", min: "0", placeholder: "0" }],
  ["input_shapes", "Input shapes", "text", { placeholder: "1,3,224,224; 1,7 (one per input)" }],
];
const GROUPS = [
  ["Limits", ["constraints.max_size_mb", "constraints.max_latency_ms", "constraints.min_accuracy", "constraints.max_accuracy_drop", "constraints.drop_unit"]],
  ["Search", ["constraints.objective", "constraints.target", "constraints.budget.max_attempts", "constraints.budget.max_wall_seconds", "seed"]],
  ["Evaluation", ["eval_sim", "eval_data_id", "calibration_data_id", "train_data_id", "max_eval_samples", "latency_runs", "input_shapes"]],
];
const fieldId = (key) => "f-" + key.replaceAll(".", "-").replaceAll("_", "-");

let ctxRef;
let schema = null;

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
  if (kind === "dataset") {
    // Filled from GET /datasets by refreshData(); the value is the data file's id.
    input = h("select", { id, name: key, class: "dataset-select", "data-empty": options.empty, "aria-describedby": id + "-error" }, h("option", { value: "" }, options.empty));
  } else if (kind === "select") {
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
  el.append(section("Constraints", form), dataSection(), h("div", { id: "live", hidden: true }));
}

/** Upload evaluation / calibration data (.npz / .npy) and list what is there. */
function dataSection() {
  const input = h("input", { id: "data-file", type: "file", accept: ".npz,.npy", "aria-describedby": "data-upload-error" });
  const progress = h("progress", { id: "data-progress", max: "1", value: "0", hidden: true, "aria-label": "data upload progress" });
  const status = h("p", { id: "data-upload-status", class: "muted", "aria-live": "polite" });
  const error = h("div", { id: "data-upload-error", class: "field-error", hidden: true });
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    error.hidden = true;
    input.removeAttribute("aria-invalid");
    progress.hidden = false;
    status.textContent = `uploading ${file.name} (${bytes(file.size)})…`;
    try {
      const data = await uploadFile("datasets", file, (fraction) => { progress.value = fraction; });
      status.textContent = `stored as data ${data.id}: ${data.samples} samples${data.labelled ? " with labels" : ""}`;
      await refreshData();
    } catch (exc) {
      status.textContent = "";
      input.setAttribute("aria-invalid", "true");
      showError(error, exc);
    } finally {
      progress.hidden = true;
      input.value = "";
    }
  });
  return section("Evaluation and calibration data",
    h("p", { class: "muted" }, "An .npz with x (inputs) and y (integer labels: accuracy is measured), arrays named after the model's inputs, or an .npy of inputs (fidelity to the original). Pickled and non-numeric arrays are refused."),
    h("div", { class: "field" }, h("label", { for: "data-file" }, "Upload a data file (.npz / .npy)"), input, progress, error),
    status, h("div", { id: "datasets" }));
}

/** The data list and the options of every data select (keeping what was picked). */
async function refreshData() {
  const data = (await api("/datasets?limit=1000")).data;
  clear($("#datasets"), data.length
    ? table(["id", "name", "samples", "labels", "arrays", "size", "uploaded"], data.map((d) => [
      String(d.id), d.name, String(d.samples), d.labelled ? badge("labelled", "succeeded") : badge("inputs only", "queued"),
      d.arrays.map((a) => `${a.name} ${a.dtype}[${a.shape.join("×")}]`).join(", "), bytes(d.size_bytes), when(d.created_at)]),
    { rowAttrs: (_, i) => ({ "data-dataset-id": data[i].id }) })
    : h("p", { class: "muted" }, "No data files yet."));
  for (const select of $$("#optimize-form select.dataset-select")) {
    const picked = select.value;
    clear(select, h("option", { value: "" }, select.dataset.empty),
      data.map((d) => h("option", { value: d.id }, `${d.id}: ${d.name} (${d.samples} samples${d.labelled ? ", labelled" : ""})`)));
    if (data.some((d) => String(d.id) === picked)) select.value = picked;
  }
}

/** arg: a model id to preselect, "job-<id>" to follow a job, "suite-<id>" to evaluate on a suite. */
export async function show(el, ctx, arg) {
  const select = $("#f-model");
  const job = arg?.startsWith("job-") ? arg.slice(4) : null;
  const suite = arg?.startsWith("suite-") ? arg.slice(6) : null;
  const followed = job ? await api(`/jobs/${job}`) : null;
  const previous = followed ? followed.model_id : suite ? select.value : arg || select.value;
  const models = await ctx.models();
  clear(select, models.map((m) => h("option", { value: m.id }, `${m.id}: ${m.name}`)));
  if (!models.length) select.append(h("option", { value: "" }, "upload a model first"));
  if (previous && models.some((m) => String(m.id) === String(previous))) select.value = previous;
  await loadVersions();
  await refreshData();
  const evalSim = document.getElementById(fieldId("eval_sim"));
  if (suite && evalSim && [...evalSim.options].some((o) => o.value === suite)) evalSim.value = suite;
  if (job && $("#live").dataset.jobId !== job) follow(job, ctx);
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
    else if (kind === "number" || kind === "dataset") value = Number.isFinite(Number(value)) ? Number(value) : value;
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

/** A submit-time refusal (details.field) as shown under its field: the message without the
 * field name it starts with, then the hint. */
function refusal(error) {
  const message = error.message.replace(new RegExp(`^${error.details.field}: `), "");
  return error.hint ? `${message} — ${error.hint}` : message;
}

async function submit() {
  clearErrors();
  $("#constraints-error").hidden = true;
  const button = $("#optimize-submit");
  button.disabled = true;
  try {
    const job = await api("/jobs", { method: "POST", json: buildRequest() });
    ctxRef.notify(`optimize job ${job.job_id.slice(0, 8)} ${job.status}`);
    follow(job.job_id, ctxRef);
  } catch (error) {
    if (error.status === 422 && error.fieldErrors.length) showFieldErrors(error);
    else if (error.status === 422 && error.details.field && fieldError(error.details.field, refusal(error))) $("#optimize-form [aria-invalid]")?.focus();
    else if (error.status === 404 && /model/i.test(error.message)) { fieldError("model_id", error.message); }
    else showError($("#optimize-error"), error);
  } finally {
    button.disabled = false;
  }
}
