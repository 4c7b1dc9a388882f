// History: runs filterable by model, status and technique; compare runs side by side;
// versions as a lineage tree with rollback (after a confirmation).
import { API, api, download } from "../lib/api.js";
import { $, $$, badge, clear, h, num, section, showError, table, when } from "../lib/dom.js";

let ctxRef;
const runCache = new Map();
const picked = new Set(); // runs ticked for comparison, kept across filter changes
const STATUSES = ["", "queued", "running", "succeeded", "failed", "cancelled", "interrupted"];

async function runOf(jobId, status) {
  const cached = runCache.get(jobId);
  if (cached && cached.job.status === status) return cached;
  const run = await api(`/runs/${jobId}`);
  runCache.set(jobId, run);
  return run;
}

export async function mount(el, ctx) {
  ctxRef = ctx;
  const filters = h("form", { id: "history-filters", class: "filters" },
    h("div", { class: "field" }, h("label", { for: "hf-model" }, "Model"), h("select", { id: "hf-model" })),
    h("div", { class: "field" }, h("label", { for: "hf-status" }, "Status"), h("select", { id: "hf-status" }, STATUSES.map((s) => h("option", { value: s }, s || "any")))),
    h("div", { class: "field" }, h("label", { for: "hf-technique" }, "Technique"), h("select", { id: "hf-technique" }, h("option", { value: "" }, "any"))));
  filters.addEventListener("change", () => refreshRuns());
  filters.addEventListener("submit", (e) => e.preventDefault());
  const treeModel = h("select", { id: "tree-model" });
  treeModel.addEventListener("change", () => renderTree());
  el.append(
    section("Runs", filters, h("div", { id: "runs" }),
      h("div", { class: "actions" }, h("button", { type: "button", id: "compare-btn", onclick: () => compare() }, "Compare selected")),
      h("div", { class: "error", id: "compare-error", hidden: true })),
    h("div", { id: "compare" }),
    section("Versions", h("div", { class: "field" }, h("label", { for: "tree-model" }, "Model"), treeModel),
      h("div", { class: "error", id: "tree-error", hidden: true }), h("div", { id: "version-tree" })));
}

export async function show() {
  const models = await ctxRef.models();
  for (const [id, any] of [["#hf-model", true], ["#tree-model", false]]) {
    const select = $(id);
    const previous = select.value;
    clear(select, any ? h("option", { value: "" }, "any") : null, models.map((m) => h("option", { value: m.id }, `${m.id}: ${m.name}`)));
    if (previous && [...select.options].some((o) => o.value === previous)) select.value = previous;
  }
  await Promise.all([refreshRuns(), renderTree()]);
}

async function refreshRuns() {
  const params = new URLSearchParams({ kind: "optimize", limit: "100" });
  if ($("#hf-model").value) params.set("model_id", $("#hf-model").value);
  if ($("#hf-status").value) params.set("status", $("#hf-status").value);
  const jobs = (await api(`/jobs?${params}`)).data;
  const runs = await Promise.all(jobs.map((j) => runOf(j.id, j.status)));
  const techniqueSelect = $("#hf-technique");
  const chosen = techniqueSelect.value;
  const techniques = [...new Set(runs.flatMap((r) => r.attempts.map((a) => a.technique)))].sort();
  clear(techniqueSelect, h("option", { value: "" }, "any"), techniques.map((t) => h("option", { value: t }, t)));
  if (techniques.includes(chosen)) techniqueSelect.value = chosen;
  const shown = runs.filter((r) => !techniqueSelect.value || r.attempts.some((a) => a.technique === techniqueSelect.value));
  const list = $("#runs");
  if (!shown.length) { clear(list, h("p", { class: "muted" }, "No runs match.")); return; }
  clear(list, table(["compare", "run", "model", "status", "attempts", "kept", "started"], shown.map((r) => {
    const kept = r.versions.map((v) => `v${v.version} ${v.technique}`).join(", ") || "–";
    const box = h("input", { type: "checkbox", class: "compare-pick", value: r.job.id, checked: picked.has(r.job.id), "aria-label": `compare run ${r.job.id.slice(0, 8)}` });
    box.addEventListener("change", () => (box.checked ? picked.add(r.job.id) : picked.delete(r.job.id)));
    return [box,
      h("a", { href: `#/results/${r.job.id}` }, r.job.id.slice(0, 8)), String(r.job.model_id), badge(r.job.status),
      `${r.attempts.filter((a) => a.passed).length}/${r.attempts.length} passed`, kept, when(r.job.created_at)];
  }), { rowAttrs: (cells) => ({ "data-job-id": cells[0].value }) }));
}

async function compare() {
  const ids = $$(".compare-pick:checked").map((c) => c.value);
  const err = $("#compare-error");
  err.hidden = true;
  if (ids.length < 2) { showError(err, { message: "select two or more runs to compare" }); return; }
  try {
    // The API compares two runs; more are compared each against the first one.
    const pairs = await Promise.all(ids.slice(1).map((b) => api(`/runs/compare?a=${ids[0]}&b=${b}`)));
    const summaries = [pairs[0].a, ...pairs.map((p) => p.b)];
    const metrics = [...new Set(pairs.flatMap((p) => p.metrics.map((m) => m.metric)))];
    const value = (k, metric) => {
      const m = (k === 0 ? pairs[0].metrics : pairs[k - 1].metrics).find((x) => x.metric === metric);
      return m ? (k === 0 ? m.a : m.b) : null;
    };
    const delta = (k, metric) => {
      if (k === 0) return "";
      const m = pairs[k - 1].metrics.find((x) => x.metric === metric);
      return m && m.delta !== null ? ` (${m.delta >= 0 ? "+" : ""}${num(m.delta)})` : "";
    };
    const header = ["", ...summaries.map((s) => h("a", { href: `#/results/${s.job_id}` }, s.job_id.slice(0, 8)))];
    const rows = [
      ["status", ...summaries.map((s) => badge(s.status))],
      ["attempts", ...summaries.map((s) => `${s.passed_attempts}/${s.attempts} passed`)],
      ["final version", ...summaries.map((s) => (s.best ? `v${s.best.version} ${s.best.technique || "original"}` : "–"))],
      ...metrics.map((metric) => [metric, ...summaries.map((_, k) => h("span", { "data-metric": metric, "data-run": k }, num(value(k, metric), 4) + delta(k, metric)))]),
    ];
    clear($("#compare"), section(`Comparing ${ids.length} runs (deltas vs the first)`, h("div", { id: "compare-table" }, table(header, rows))));
  } catch (error) {
    showError(err, error);
  }
}

async function renderTree() {
  const modelId = $("#tree-model").value;
  const box = $("#version-tree");
  if (!modelId) { clear(box, h("p", { class: "muted" }, "No models yet.")); return; }
  const versions = (await api(`/models/${modelId}/versions?limit=1000`)).data;
  const children = new Map();
  for (const v of versions) {
    const key = v.parent_id ?? "root";
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(v);
  }
  const latest = Math.max(...versions.map((v) => v.version));
  const node = (v) => {
    const m = v.metrics || {};
    const facts = [m.size_bytes !== undefined ? `${num(m.size_bytes / 1e6)} MB` : null, m.p95_ms !== undefined ? `p95 ${num(m.p95_ms)} ms` : null,
      m.accuracy !== undefined && m.accuracy !== null ? `accuracy ${num(m.accuracy * 100)} %` : null].filter(Boolean).join(" · ");
    const kids = children.get(v.id) || [];
    const url = `${API}/models/${modelId}/versions/${v.version}/artifact`;
    return h("li", { "data-version": v.version, class: v.version === latest ? "latest" : "" },
      h("div", { class: "node" },
        h("strong", {}, `v${v.version}`), " ", v.technique || "original", v.version === latest ? badge("latest", "succeeded") : null,
        h("span", { class: "muted" }, facts ? ` · ${facts}` : "", v.note ? ` · ${v.note}` : "", ` · ${when(v.created_at)}`),
        h("span", { class: "row-actions" },
          h("a", { href: url, onclick: (e) => { e.preventDefault(); download(url, `model-${modelId}-v${v.version}`).catch((x) => showError($("#tree-error"), x)); } }, "download"),
          h("button", { type: "button", class: "secondary rollback", "data-version": v.version, onclick: () => rollback(modelId, v.version), "aria-label": `Roll back to version ${v.version}` }, `Roll back to v${v.version}`))),
      kids.length ? h("ul", {}, kids.map(node)) : null);
  };
  clear(box, h("ul", { class: "tree", role: "list" }, (children.get("root") || []).map(node)));
}

async function rollback(modelId, version) {
  const ok = await ctxRef.confirm(`Roll back to v${version}?`, `A new latest version is recorded with the artifact and metrics of v${version}; history stays as it is.`);
  if (!ok) return;
  try {
    const created = await api(`/models/${modelId}/versions/${version}/restore`, { method: "POST" });
    ctxRef.notify(`rolled back: v${created.version} now copies v${version}`, "success");
    await renderTree();
  } catch (error) {
    showError($("#tree-error"), error);
  }
}
