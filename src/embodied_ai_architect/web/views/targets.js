// Targets & deployments: availability with reasons; deploy a version and see its validation
// against the ONNX Runtime FP32 baseline.
import { api, watchJob } from "../lib/api.js";
import { pairChart } from "../lib/charts.js";
import { $, badge, bytes, clear, h, keyValues, num, section, showError, table, when } from "../lib/dom.js";
import { progressBar } from "../lib/progress.js";

let ctxRef;
let targets = [];
let stopWatch = null;

export async function mount(el, ctx) {
  ctxRef = ctx;
  const form = h("form", { id: "deploy-form", novalidate: true },
    h("div", { class: "field-grid" },
      h("div", { class: "field" }, h("label", { for: "d-model" }, "Model"), h("select", { id: "d-model" })),
      h("div", { class: "field" }, h("label", { for: "d-version" }, "Version"), h("select", { id: "d-version" }, h("option", { value: "" }, "latest"))),
      h("div", { class: "field" }, h("label", { for: "d-target" }, "Target"), h("select", { id: "d-target" })),
      h("div", { class: "field" }, h("label", { for: "d-precision" }, "Precision"), h("select", { id: "d-precision" })),
      h("div", { class: "field" }, h("label", { for: "d-int8-mode" }, "INT8 mode"), h("select", { id: "d-int8-mode" }, ["dynamic", "static"].map((m) => h("option", { value: m }, m)))),
      h("div", { class: "field" }, h("label", { for: "d-calibration" }, "Calibration data (static INT8)"),
        h("select", { id: "d-calibration", "aria-describedby": "d-calibration-error" }, h("option", { value: "" }, "none")),
        h("p", { class: "field-error", id: "d-calibration-error", hidden: true })),
      h("div", { class: "field" }, h("label", { for: "d-tolerance" }, "Tolerance (%)"), h("input", { id: "d-tolerance", type: "number", step: "any", min: "0", value: "1" })),
      h("div", { class: "field" }, h("label", { for: "d-threads" }, "Threads"), h("input", { id: "d-threads", type: "number", step: "1", min: "1", placeholder: "default" })),
      h("div", { class: "field checkbox" }, h("input", { id: "d-validate", type: "checkbox", checked: true }), h("label", { for: "d-validate" }, "Validate against the FP32 baseline"))),
    h("div", { class: "error", id: "deploy-error", hidden: true }),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "deploy-submit" }, "Deploy")));
  form.addEventListener("submit", (e) => { e.preventDefault(); deploy(); });
  $("#d-model", form).addEventListener("change", () => loadVersions());
  $("#d-target", form).addEventListener("change", () => precisions());
  el.append(section("Targets", h("div", { id: "targets" })), section("Deploy", form, h("div", { id: "deploy-live" })),
    section("Deployments", h("div", { id: "deployments" })));
}

export async function show() {
  targets = (await api("/deployments/targets")).data;
  clear($("#targets"), table(["target", "status", "precisions", "formats", "why"], targets.map((t) => [
    h("strong", {}, t.name), badge(t.available ? "available" : "unavailable", t.available ? "succeeded" : "failed"),
    t.capabilities.precisions.join(", "), t.capabilities.formats.join(", "), h("span", {}, t.reason, h("br"), h("small", { class: "muted" }, t.description))]),
  { rowAttrs: (cells) => ({ "data-target": cells[0].textContent }) }));
  const select = $("#d-target");
  const chosen = select.value || "onnxruntime";
  clear(select, targets.map((t) => h("option", { value: t.name, disabled: !t.available }, t.available ? t.name : `${t.name} (unavailable)`)));
  select.value = chosen;
  precisions();
  const models = await ctxRef.models();
  const model = $("#d-model");
  const previous = model.value;
  clear(model, models.map((m) => h("option", { value: m.id }, `${m.id}: ${m.name}`)));
  if (previous) model.value = previous;
  await Promise.all([loadVersions(), refreshDeployments(), loadData()]);
}

/** Uploaded data files (Optimize screen) as calibration choices. */
async function loadData() {
  const select = $("#d-calibration");
  const picked = select.value;
  const data = (await api("/datasets?limit=1000")).data;
  clear(select, h("option", { value: "" }, "none"), data.map((d) => h("option", { value: d.id }, `${d.id}: ${d.name} (${d.samples} samples)`)));
  if (data.some((d) => String(d.id) === picked)) select.value = picked;
}

function precisions() {
  const target = targets.find((t) => t.name === $("#d-target").value);
  clear($("#d-precision"), (target?.capabilities.precisions || ["fp32"]).map((p) => h("option", { value: p }, p)));
}

async function loadVersions() {
  const id = $("#d-model").value;
  const select = $("#d-version");
  clear(select, h("option", { value: "" }, "latest"));
  if (!id) return;
  for (const v of (await api(`/models/${id}/versions?limit=1000`)).data) select.append(h("option", { value: v.version }, `v${v.version} ${v.technique || "original"}`));
}

async function refreshDeployments() {
  const rows = (await api("/deployments?limit=50")).data;
  clear($("#deployments"), rows.length ? table(["job", "model", "target", "precision", "status", "validation", "when"], rows.map((d) => [
    d.job_id.slice(0, 8), String(d.model_id ?? "–"), d.target, d.precision, badge(d.status),
    d.result?.validation ? badge(d.result.validation.passed ? "passed" : "failed", d.result.validation.passed ? "succeeded" : "failed") : "–", when(d.created_at)]))
    : h("p", { class: "muted" }, "No deployments yet."));
}

async function deploy() {
  const err = $("#deploy-error");
  err.hidden = true;
  const calibration = $("#d-calibration");
  const calibrationError = $("#d-calibration-error");
  calibration.removeAttribute("aria-invalid");
  calibrationError.hidden = true;
  const body = { kind: "deploy", model_id: Number($("#d-model").value), target: $("#d-target").value, precision: $("#d-precision").value,
    int8_mode: $("#d-int8-mode").value, validate_outputs: $("#d-validate").checked };
  if ($("#d-version").value !== "") body.version = Number($("#d-version").value);
  if ($("#d-tolerance").value !== "") body.tolerance_percent = Number($("#d-tolerance").value);
  if ($("#d-threads").value !== "") body.threads = Number($("#d-threads").value);
  if (calibration.value !== "") body.calibration_data_id = Number(calibration.value);
  let job;
  try { job = await api("/jobs", { method: "POST", json: body }); } catch (error) {
    if (error.details?.field === "calibration_data_id") {
      // Next to its field: static INT8 without calibration data, or an id that is gone.
      calibration.setAttribute("aria-invalid", "true");
      calibrationError.textContent = error.message.replace(/^calibration_data_id: /, "") + (error.hint ? ` — ${error.hint}` : "");
      calibrationError.hidden = false;
      calibration.focus();
    } else showError(err, error);
    return;
  }
  const bar = progressBar("deploy-progress");
  const out = h("div", { id: "deploy-result" });
  clear($("#deploy-live"), bar.el, out);
  stopWatch?.();
  stopWatch = watchJob(job.job_id, {
    onEvent: (e) => bar.update(e.percent, e.stage, e.message),
    onError: (error) => showError(err, error),
    onFinal: (final, result) => {
      bar.update(final.progress, final.status, "");
      if (final.error) showError(err, final.error);
      if (result?.deployment) renderResult(out, result.deployment);
      refreshDeployments();
    },
  });
}

function renderResult(out, d) {
  const v = d.validation;
  const a = d.artifact;
  clear(out,
    h("p", { id: "deploy-status" }, badge(d.success ? "deployed" : "failed", d.success ? "succeeded" : "failed"), ` ${d.target} · ${d.precision}`),
    a ? keyValues([["artifact", `${a.format}, ${bytes(a.size_bytes)}`], ["runtime", `${a.runtime} ${a.runtime_version || ""}`],
      ["inputs", Object.entries(a.input_shapes || {}).map(([k, s]) => `${k} ${JSON.stringify(s)}`).join("; ")]]) : null,
    v ? [h("h4", {}, "Validation against the FP32 baseline"),
      h("p", { id: "validation" }, badge(v.passed ? "passed" : "failed", v.passed ? "succeeded" : "failed"), ` on ${v.num_samples} ${v.data_source}, tolerance ${v.tolerance_percent} %`),
      v.reasons.length ? h("ul", {}, v.reasons.map((r) => h("li", {}, r))) : null,
      table(["check", "value"], [["max abs diff", num(v.max_abs_diff)], ["max relative diff", num(v.max_relative_diff)],
        ["mean relative diff", num(v.mean_relative_diff)], ["top-1 agreement", v.top1_agreement === null ? "–" : num(v.top1_agreement * 100) + " %"],
        ["speed-up vs baseline", v.speedup ? num(v.speedup) + "×" : "–"]]),
      v.baseline_latency && v.deployed_latency ? pairChart([
        { label: "p50 (ms)", a: v.baseline_latency.p50_ms, b: v.deployed_latency.p50_ms, unit: " ms" },
        { label: "p95 (ms)", a: v.baseline_latency.p95_ms, b: v.deployed_latency.p95_ms, unit: " ms" }], { names: ["FP32 baseline", "deployed"], label: "latency: baseline vs deployed" }) : null]
      : h("p", { class: "muted" }, "not validated"),
    d.error ? h("p", { class: "error" }, typeof d.error === "string" ? d.error : JSON.stringify(d.error)) : null);
}
