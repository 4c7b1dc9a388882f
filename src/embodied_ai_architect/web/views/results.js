// Results: before/after with the API's numbers, per-constraint verdicts, attempts, downloads.
import { API, api, download } from "../lib/api.js";
import { pairChart, scatterChart } from "../lib/charts.js";
import { $, badge, clear, h, num, section, showError, table, when } from "../lib/dom.js";
import { chartSeries } from "../lib/pareto.js";

let ctxRef;
const METRICS = [
  ["size", "size (MB)", (m) => m.size_bytes / 1e6],
  ["parameters", "parameters", (m) => m.parameters],
  ["p50_ms", "p50 latency (ms)", (m) => m.p50_ms],
  ["p95_ms", "p95 latency (ms)", (m) => m.p95_ms],
  ["throughput", "throughput (/s)", (m) => m.throughput_per_s],
  ["peak_memory_mb", "peak memory (MB)", (m) => m.peak_memory_mb],
  ["accuracy", "accuracy / success (%)", (m) => (m.accuracy === null || m.accuracy === undefined ? null : m.accuracy * 100)],
];
const precise = (v) => (v === null || v === undefined ? "–" : String(+Number(v).toPrecision(4)));

export async function mount(el, ctx) {
  ctxRef = ctx;
  const select = h("select", { id: "results-job" });
  select.addEventListener("change", () => select.value && ctx.go("results", select.value));
  el.append(section("Optimize run", h("label", { for: "results-job" }, "Run "), select), h("div", { id: "results-body" }));
}

export async function show(el, ctx, jobId) {
  const jobs = await api("/jobs?kind=optimize&limit=200");
  const select = $("#results-job");
  clear(select, h("option", { value: "" }, jobs.data.length ? "choose a run…" : "no optimize runs yet"),
    jobs.data.map((j) => h("option", { value: j.id }, `${j.id.slice(0, 8)} · model ${j.model_id} · ${j.status} · ${when(j.created_at)}`)));
  // Without a run in the URL, show the newest finished one.
  const shown = jobId || jobs.data.find((j) => j.status === "succeeded")?.id;
  if (shown) { select.value = shown; await render(shown); } else clear($("#results-body"));
}

function downloadLink(label, url, filename, id) {
  const err = h("span", { class: "error inline", hidden: true });
  return h("li", {}, h("a", { href: url, id, download: filename, onclick: async (e) => {
    e.preventDefault();
    try { await download(url, filename); } catch (error) { showError(err, error); }
  } }, label), " ", err);
}

async function render(jobId) {
  const body = $("#results-body");
  clear(body, h("p", { class: "muted" }, "loading…"));
  const job = await api(`/jobs/${jobId}`);
  if (job.status !== "succeeded") {
    const err = h("div", { class: "error" });
    clear(body, section(`Run ${jobId.slice(0, 8)}`, h("p", {}, "status ", badge(job.status), job.stage ? ` · stage ${job.stage}` : ""), err,
      ["queued", "running"].includes(job.status) ? h("button", { type: "button", id: "watch-live", onclick: () => ctxRef.go("optimize", `job-${jobId}`) }, "Watch live") : null));
    if (job.error) showError(err, job.error); else err.remove();
    return;
  }
  const [result, run] = await Promise.all([api(`/jobs/${jobId}/result`), api(`/runs/${jobId}`)]);
  const report = result.optimize;
  const before = report.baseline.metrics;
  const best = report.best || report.baseline;
  const after = best.metrics;
  const rows = METRICS.filter(([, , get]) => get(before) !== null || get(after) !== null).map(([key, label, get]) => {
    const a = get(before), b = get(after);
    const change = a && b !== null ? (key === "accuracy" ? `${(b - a) >= 0 ? "+" : ""}${precise(b - a)} points` : `${precise(b / a)}×`) : "–";
    return [label, h("span", { "data-metric": key, "data-which": "before", "data-value": a ?? "" }, precise(a)),
      h("span", { "data-metric": key, "data-which": "after", "data-value": b ?? "" }, precise(b)), change];
  });
  const versions = await api(`/models/${report.model_id}/versions?limit=1000`).catch(() => ({ data: [] }));
  const stored = [...run.versions, ...versions.data].find((v) => v.artifact_sha256 === best.sha256);
  const downloads = h("ul", { id: "downloads", class: "downloads" },
    stored ? downloadLink(`artifact (${best.id}, ${best.technique || "original"})`, `${API}/models/${stored.model_id}/versions/${stored.version}/artifact`, `model-${stored.model_id}-v${stored.version}`, "dl-artifact") : null,
    downloadLink("report.html", `${API}/runs/${jobId}/report.html`, `report-${jobId.slice(0, 8)}.html`, "dl-report-html"),
    downloadLink("report.json", `${API}/runs/${jobId}/report.json`, `report-${jobId.slice(0, 8)}.json`, "dl-report-json"),
    downloadLink("events.jsonl", `${API}/jobs/${jobId}/events.jsonl`, `job-${jobId.slice(0, 8)}-events.jsonl`, "dl-events"));
  const series = chartSeries(report.points);
  const pairs = [["size (MB)", (m) => m.size_bytes / 1e6, " MB"], ["p95 (ms)", (m) => m.p95_ms, " ms"], ["p50 (ms)", (m) => m.p50_ms, " ms"],
    ["accuracy (%)", (m) => (m.accuracy ?? null) === null ? null : m.accuracy * 100, " %"]]
    .filter(([, get]) => get(before) !== null).map(([label, get, unit]) => ({ label, a: get(before), b: get(after), unit }));
  clear(body,
    section(`Run ${jobId.slice(0, 8)} · model ${report.model_id}`,
      h("p", { id: "results-summary" }, badge(report.status), " ", report.summary),
      h("p", { class: "muted" }, `family ${report.model_family || "?"} · ${report.attempts.length} attempts · ${num(report.timings.total_s)} s (technique ${num(report.timings.technique_s)} s, measuring ${num(report.timings.measurement_s)} s)`),
      h("h4", {}, "Downloads"), downloads),
    h("div", { class: "grid-2" },
      section(`Before (v0) → after (${best.id}${best.technique ? ", " + best.technique : ""})`,
        h("div", { id: "before-after" }, table(["metric", "before", "after", "change"], rows))),
      section("Per-constraint verdicts", report.best_verdicts.length
        ? h("ul", { id: "verdicts", class: "verdicts" }, report.best_verdicts.map((v) =>
          h("li", { "data-constraint": v.constraint, "data-passed": String(v.passed) }, badge(v.passed ? "pass" : "fail", v.passed ? "succeeded" : "failed"), ` ${v.constraint}: ${v.reason}`)))
        : h("p", { class: "muted" }, "no verdicts"),
        report.evidence.length ? [h("h4", {}, "Evidence"), h("ul", {}, report.evidence.map((e) => h("li", {}, e)))] : null)),
    section("Before / after", h("div", { id: "chart-before-after" }, pairChart(pairs, { names: ["before (v0)", `after (${best.id})`] }))),
    h("div", { class: "grid-2" },
      section("Size vs latency", h("div", { id: "results-chart-size", class: "chart-box" }, scatterChart(series.size, { label: "size vs latency", xLabel: "p95 latency (ms)", yLabel: "size (MB)" }))),
      section("Accuracy vs latency", h("div", { id: "results-chart-accuracy", class: "chart-box" }, series.accuracy.length
        ? scatterChart(series.accuracy, { label: "accuracy vs latency", xLabel: "p95 latency (ms)", yLabel: "accuracy (%)", linearY: true, yMax: 100 })
        : h("p", { class: "muted" }, "no accuracy figures")))),
    section("Attempts", table(["#", "step", "technique", "status", "p95 ms", "size MB", "accuracy", "reason"],
      report.attempts.map((a) => [String(a.index), a.step_id, a.technique, badge(a.status),
        precise(a.metrics?.p95_ms), a.metrics ? precise(a.metrics.size_bytes / 1e6) : "–",
        a.metrics?.accuracy !== null && a.metrics?.accuracy !== undefined ? precise(a.metrics.accuracy * 100) + " %" : "–", a.reason]),
      { rowAttrs: (cells) => ({ "data-attempt": cells[0] }) })),
  );
}
