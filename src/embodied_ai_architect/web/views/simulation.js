// Simulation: the suites, and policies' success before/after from optimize runs with eval_sim.
import { api } from "../lib/api.js";
import { pairChart } from "../lib/charts.js";
import { $, badge, clear, h, section, table } from "../lib/dom.js";

export async function mount(el) {
  el.append(section("Suites", h("div", { id: "suites" })),
    section("Policies: success before → after", h("div", { id: "sim-runs" })),
    section("Rendered episodes", h("p", { class: "muted" },
      "The API does not serve rendered episodes yet; render one with ",
      h("code", {}, "branes sim rollout --render episode.mp4"), ".")));
}

export async function show(el, ctx) {
  const suites = (await api("/sim/suites")).data;
  clear($("#suites"), table(["suite", "family", "scenes", "steps", "description", ""], suites.map((s) => [
    h("code", {}, s.id), s.family, String(s.scenes), String(s.max_steps), s.description,
    h("button", { type: "button", class: "secondary", onclick: () => ctx.go("optimize", `suite-${s.id}`), "aria-label": `Optimize on ${s.id}` }, "Optimize on it")])));
  const jobs = (await api("/jobs?kind=optimize&status=succeeded&limit=200")).data.filter((j) => j.request.eval_sim);
  const results = await Promise.all(jobs.map((j) => api(`/jobs/${j.id}/result`)));
  const rows = results.map((r) => r.optimize).filter(Boolean);
  clear($("#sim-runs"), rows.length ? [
    table(["run", "suite", "before", "after", "status"], rows.map((r) => {
      const a = r.baseline.metrics.accuracy, b = (r.best || r.baseline).metrics.accuracy;
      return [h("a", { href: `#/results/${r.run_id}` }, r.run_id.slice(0, 8)), r.request.eval_sim, a === null ? "–" : `${(a * 100).toFixed(1)} %`, b === null ? "–" : `${(b * 100).toFixed(1)} %`, badge(r.status)];
    })),
    pairChart(rows.map((r) => ({ label: `${r.run_id.slice(0, 8)} ${r.request.eval_sim}`, a: (r.baseline.metrics.accuracy ?? 0) * 100, b: ((r.best || r.baseline).metrics.accuracy ?? 0) * 100, unit: " %" })),
      { names: ["success before", "success after"], label: "success rate before and after" })]
    : h("p", { class: "muted" }, "No optimize runs evaluated in simulation yet: pick a suite in Optimize."));
}
