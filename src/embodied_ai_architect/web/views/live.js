// The optimize job live over the WebSocket: stage, the plan as a TODO list ticking off or
// failing with reasons, re-plans, every measured attempt on two charts with the Pareto set,
// distillation / NAS curves, the event log. Ends equal to the job's report.
import { api, watchJob } from "../lib/api.js";
import { lineChart, scatterChart } from "../lib/charts.js";
import { $, badge, clear, h, section, showError } from "../lib/dom.js";
import { chartSeries, markFront } from "../lib/pareto.js";
import { progressBar } from "../lib/progress.js";

let stopWatch = null;

/** Live view of one optimize job. */
export function follow(jobId, ctxRef) {
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
      ? scatterChart(series.accuracy, { label: "accuracy vs latency", xLabel: "p95 latency (ms)", yLabel: "accuracy (%)", linearY: true, yMax: 100 })
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

  let final = false;
  const onEvent = (e, seq) => {
    // Stored events replayed for a job that already runs: it is no longer queued.
    if (!final && status.textContent === "queued") status.replaceChildren(badge("running"));
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
      const index = e.data?.attempt ?? attempts;
      if (!attemptLi(index) && e.data?.technique) {
        // Skipped before it was tried (it could not beat what the step kept): no "trying" line.
        attempts = Math.max(attempts, index);
        li?.querySelector(".attempts").append(h("li", { class: "attempt", "data-attempt": index, "data-technique": e.data.technique },
          h("span", { class: "mark", "aria-hidden": "true" }, "…"), ` a${index} ${e.data.technique} `, h("span", { class: "outcome muted" })));
      }
      setStatus(attemptLi(index), kind, e.message);
    } else if (e.kind === "warning") {
      li?.querySelector(".attempts").append(h("li", { class: "warning" }, e.message));
    }
  };

  const onFinal = (job, result) => {
    final = true;
    status.replaceChildren(badge(job.status));
    cancel.hidden = true;
    bar.update(job.progress, job.status, job.error ? job.error.message : "");
    if (current) setStatus(stepLi(current), "done");
    const report = result?.optimize;
    if (report) {
      for (const s of report.chosen_plan?.steps || []) setStatus(stepLi(s.id), s.status, s.outcome || s.rationale);
      for (const a of report.attempts) setStatus(attemptLi(a.index), a.status, a.reason);
      // The report's re-plans replace the live lines (same decisions, with the step they followed).
      if (report.replans.length) clear(replans, report.replans.map((r) => h("li", { "data-after-step": r.after_step }, `after ${r.after_step}: ${r.reason}`)));
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
