// Models: drag-and-drop upload with progress, the model list, and a model's analysis.
import { api, uploadModel, watchJob } from "../lib/api.js";
import { barChart } from "../lib/charts.js";
import { $, badge, bytes, clear, count, h, keyValues, num, section, showError, table, when } from "../lib/dom.js";
import { progressBar } from "../lib/progress.js";

/** Analysis settings for jobs started here: quick but complete (latency, sensitivity). */
const ANALYZE = { kind: "analyze", measure_latency: true, runs: 20, warmup: 2, sensitivity_top_k: 10, top_layers: 10 };
let ctxRef;
let stopWatch = null;

export async function mount(el, ctx) {
  ctxRef = ctx;
  const input = h("input", { id: "upload-file", type: "file", class: "visually-hidden", tabindex: "-1" });
  const choose = h("button", { type: "button", id: "choose-file", onclick: () => input.click() }, "Choose a file");
  const zone = h("div", { id: "dropzone", class: "dropzone" },
    h("strong", {}, "Drop a model file here"), h("span", {}, "or ", choose),
    h("small", { class: "muted" }, "ONNX, TorchScript, torch.export, safetensors, TFLite, … — the format is detected from the bytes"));
  const progress = h("progress", { id: "upload-progress", max: "1", value: "0", hidden: true, "aria-label": "upload progress" });
  const status = h("p", { id: "upload-status", class: "muted", "aria-live": "polite" });
  const error = h("div", { id: "upload-error", class: "error", hidden: true });
  for (const type of ["dragenter", "dragover"]) zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); if (e.dataTransfer?.files?.length) upload(e.dataTransfer.files[0]); });
  input.addEventListener("change", () => { if (input.files.length) upload(input.files[0]); input.value = ""; });

  async function upload(file) {
    error.hidden = true;
    progress.hidden = false;
    progress.value = 0;
    status.textContent = `uploading ${file.name} (${bytes(file.size)})…`;
    try {
      const model = await uploadModel(file, (fraction) => { progress.value = fraction; });
      status.textContent = `stored as model ${model.id} (${model.format}, ${bytes(model.size_bytes)}); analyzing…`;
      await refreshList();
      await analyze(model.id);
    } catch (exc) {
      status.textContent = "";
      showError(error, exc);
    } finally {
      progress.hidden = true;
    }
  }

  el.append(
    section("Upload", zone, h("label", { for: "upload-file", class: "visually-hidden" }, "Model file"), input, progress, status, error),
    h("section", { class: "card" }, h("h3", {}, "Uploaded models"), h("div", { id: "models-list" })),
    h("div", { id: "analysis-job", hidden: true }),
    h("div", { id: "analysis", "aria-live": "polite" }),
  );
}

export async function show(el, ctx, arg) {
  await refreshList();
  if (arg) await showAnalysis(Number(arg));
}

async function refreshList() {
  const models = await ctxRef.models();
  const list = $("#models-list");
  if (!models.length) { clear(list, h("p", { class: "muted" }, "No models yet: upload one above.")); return; }
  clear(list, table(["id", "name", "format", "size", "uploaded", "analysis", ""],
    models.map((m) => [
      String(m.id), m.name, m.format, bytes(m.size_bytes), when(m.created_at),
      m.analyzed ? badge("analyzed", "succeeded") : badge("not analyzed", "queued"),
      h("div", { class: "row-actions" },
        m.analyzed
          ? h("button", { type: "button", onclick: () => ctxRef.go("models", m.id), "aria-label": `Show analysis of ${m.name}` }, "Analysis")
          : h("button", { type: "button", onclick: () => analyze(m.id), "aria-label": `Analyze ${m.name}` }, "Analyze"),
        h("button", { type: "button", class: "secondary", onclick: () => ctxRef.go("optimize", m.id), "aria-label": `Optimize ${m.name}` }, "Optimize")),
    ]), { rowAttrs: (cells) => ({ "data-model-id": cells[0] }) }));
}

async function analyze(modelId) {
  const box = $("#analysis-job");
  const bar = progressBar("analysis-progress");
  const err = h("div", { class: "error", hidden: true });
  clear(box, h("section", { class: "card" }, h("h3", {}, `Analyzing model ${modelId}`), bar.el, err));
  box.hidden = false;
  stopWatch?.();
  try {
    const job = await api("/jobs", { method: "POST", json: { ...ANALYZE, model_id: modelId } });
    await new Promise((resolve) => {
      stopWatch = watchJob(job.job_id, {
        onEvent: (e) => bar.update(e.percent, e.stage, e.message),
        onFinal: (final) => {
          bar.update(final.progress, final.status, final.error ? final.error.message : "");
          if (final.error) showError(err, final.error);
          resolve();
        },
        onError: (exc) => { showError(err, exc); resolve(); },
      });
    });
    if (err.hidden) {
      box.hidden = true;
      const status = $("#upload-status");
      if (status.textContent.startsWith(`stored as model ${modelId} `)) status.textContent = status.textContent.replace("analyzing…", "analyzed");
      await refreshList();
      if (location.hash === `#/models/${modelId}`) await showAnalysis(modelId); else ctxRef.go("models", modelId);
    }
  } catch (exc) {
    showError(err, exc);
  }
}

async function showAnalysis(modelId) {
  const target = $("#analysis");
  const model = await api(`/models/${modelId}`);
  if (!model.profile) {
    clear(target, section(`Model ${model.id}: ${model.name}`, h("p", {}, "Not analyzed yet. "),
      h("button", { type: "button", onclick: () => analyze(model.id) }, "Analyze now")));
    return;
  }
  const p = model.profile;
  target.dataset.modelId = model.id;
  const latency = p.latency.length
    ? table(["runtime", "p50 ms", "p95 ms", "mean ms", "runs", "threads", "peak MB"],
      p.latency.map((l) => [l.runtime, num(l.p50_ms), num(l.p95_ms), num(l.mean_ms), l.runs, l.threads, num(l.peak_memory_mb)]))
    : h("p", { class: "muted" }, "latency not measured");
  const byParams = [...p.layers].sort((a, b) => b.parameters - a.parameters).slice(0, 10);
  const byFlops = p.layers.filter((l) => l.macs !== null && l.macs !== undefined).sort((a, b) => b.macs - a.macs).slice(0, 10);
  const sensitivity = [...p.sensitivity].sort((a, b) => b.score - a.score);
  const runtimes = [...new Set(p.capabilities.map((c) => c.runtime))];
  const precisions = [...new Set(p.capabilities.map((c) => c.precision))];
  const cap = (r, q) => p.capabilities.find((c) => c.runtime === r && c.precision === q);
  clear(target,
    h("div", { class: "grid-2" },
      section(`Model ${model.id}: ${model.name}`, keyValues([
        ["format", `${model.format} (${p.framework})`],
        ["parameters", h("span", { id: "analysis-params", "data-value": p.parameters }, `${count(p.parameters)} (${p.parameters.toLocaleString("en")})`)],
        ["FLOPs", h("span", { id: "analysis-flops", "data-value": p.flops ?? "" }, p.flops === null ? "unknown" : count(p.flops))],
        ["MACs", p.macs === null ? "unknown" : count(p.macs)],
        ["weights", bytes(p.parameter_bytes) + " · " + p.by_dtype.map((d) => `${d.dtype} ${count(d.parameters)}`).join(", ")],
        ["file", bytes(p.file_bytes)],
        ["inputs", p.inputs.map((t) => `${t.name} ${JSON.stringify(t.shape)} ${t.dtype}`).join("; ")],
        ["outputs", p.outputs.map((t) => `${t.name} ${JSON.stringify(t.shape)} ${t.dtype}`).join("; ")],
        ["peak memory", p.peak_memory_mb ? num(p.peak_memory_mb) + " MB" : "–"],
        ["analysis time", num(p.analysis_seconds) + " s"],
      ]), h("div", { class: "actions" }, h("button", { type: "button", onclick: () => ctxRef.go("optimize", model.id) }, "Optimize this model"))),
      section("Family", h("p", { id: "family" }, h("strong", {}, p.family.family.replaceAll("_", " ")), ` — confidence ${(p.family.confidence * 100).toFixed(0)} %`),
        h("ul", { id: "family-evidence" }, p.family.evidence.map((e) => h("li", {}, e))),
        Object.keys(p.family.components).length ? keyValues(Object.entries(p.family.components)) : null)),
    p.warnings.length ? section("Warnings", h("ul", { class: "warnings" }, p.warnings.map((w) => h("li", {}, w)))) : null,
    h("div", { class: "grid-2" },
      section("Op census", h("div", { id: "op-census" }, barChart(p.op_census.map((o) => ({
        label: o.op_type, value: o.count, title: `${o.op_type}: ${o.count} ops, ${(o.parameter_share * 100).toFixed(1)} % of parameters` })),
      { label: "operators by count" }))),
      section("Latency on this host", latency)),
    h("div", { class: "grid-2" },
      section("Top layers by parameters", h("div", { id: "layers-params" }, barChart(byParams.map((l) => ({ label: l.name, value: l.parameters, title: `${l.name} (${l.op_type}): ${l.parameters} parameters` })),
        { label: "layers by parameters", format: count }))),
      section("Top layers by FLOPs", h("div", { id: "layers-flops" }, byFlops.length
        ? barChart(byFlops.map((l) => ({ label: l.name, value: 2 * l.macs, title: `${l.name} (${l.op_type}): ${count(2 * l.macs)} FLOPs` })), { label: "layers by FLOPs", format: count, color: "#d97706" })
        : h("p", { class: "muted" }, "no per-layer FLOPs for this format")))),
    h("div", { class: "grid-2" },
      section("INT8 sensitivity per layer", h("div", { id: "sensitivity" }, sensitivity.length
      ? [barChart(sensitivity.map((x) => ({ label: x.layer, value: x.score, title: `${x.layer} (${x.op_type}): ${x.score}` })), { label: "INT8 sensitivity", color: "#dc2626" }),
        h("p", { class: "muted" }, `score: ${sensitivity[0].metric}; higher = more damage when only this layer is INT8`)]
      : h("p", { class: "muted" }, "not measured"))),
      section("Host", keyValues([
        ["CPU", `${p.host.cpu_model} (${p.host.architecture})`],
        ["cores", `${p.host.cores_physical ?? "?"} physical / ${p.host.cores_logical} logical`],
        ["SIMD", p.host.cpu_flags.join(", ") || "–"],
        ["memory", num(p.host.memory_gb) + " GB"],
        ["GPU", p.host.gpu || "none"],
        ["runtimes", Object.entries(p.host.runtimes).map(([k, v]) => `${k} ${v}`).join(", ")],
      ]))),
    section("Host capability matrix", h("div", { id: "capabilities" }, table(["runtime", ...precisions], runtimes.map((r) => [r, ...precisions.map((q) => {
        const c = cap(r, q);
        if (!c) return "–";
        const kind = !c.available ? "failed" : c.fast ? "succeeded" : "queued";
        return h("div", { class: "cap", title: c.reason }, badge(!c.available ? "unavailable" : c.fast ? "fast" : "available", kind), h("small", {}, c.reason));
      })]), { className: "data matrix" }))),
    section("Opportunities (ranked)", p.opportunities.length
      ? h("ol", { id: "opportunities", class: "opportunities" }, [...p.opportunities].sort((a, b) => b.score - a.score).map((o) =>
        h("li", {}, h("strong", {}, o.title), " ", badge(o.technique, "technique"), h("span", { class: "muted" }, ` score ${num(o.score, 2)} · ${o.expected_gain}`), h("p", {}, o.rationale))))
      : h("p", { class: "muted" }, "none found")),
  );
}
