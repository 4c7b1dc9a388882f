// Admin: health, workers, the queue (with cancel), backups (trigger one, list them).
import { api } from "../lib/api.js";
import { $, badge, bytes, clear, h, keyValues, section, showError, table, when } from "../lib/dom.js";

let ctxRef;

export async function mount(el, ctx) {
  ctxRef = ctx;
  el.append(
    h("div", { class: "grid-2" }, section("Health", h("div", { id: "admin-health" })), section("Queue", h("div", { id: "queue" }))),
    section("Recent jobs", h("div", { id: "recent-jobs" })),
    section("Backups", h("p", { class: "muted" }, "An online snapshot of the database, compressed and shipped to the configured directory or S3 bucket."),
      h("div", { class: "actions" }, h("button", { type: "button", id: "backup-now", onclick: () => backup() }, "Back up now")),
      h("div", { class: "error", id: "backup-error", hidden: true }), h("div", { id: "backup-result" }), h("div", { id: "backups" })));
}

export async function show() {
  const health = await api("/health", { raw: true });
  // Every field /health reports (status first), so new ones show up without a page change.
  const { status, ...rest } = health;
  clear($("#admin-health"), keyValues([["status", badge(status, status === "ok" ? "succeeded" : "failed")],
    ...Object.entries(rest).map(([k, v]) => [k.replaceAll("_", " "), typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)])]));
  await Promise.all([queue(), backups(), recent()]);
}

async function recent() {
  const jobs = (await api("/jobs?limit=20")).data;
  clear($("#recent-jobs"), jobs.length ? table(["job", "kind", "model", "status", "duration", "created", "error"], jobs.map((j) => [
    j.kind === "optimize" ? h("a", { href: `#/results/${j.id}` }, j.id.slice(0, 8)) : j.id.slice(0, 8), j.kind, String(j.model_id ?? "–"), badge(j.status),
    j.duration_s === null ? "–" : `${j.duration_s.toFixed(1)} s`, when(j.created_at), j.error ? `${j.error.message}` : ""]))
    : h("p", { class: "muted" }, "No jobs yet."));
}

async function queue() {
  const [queued, running] = await Promise.all([api("/jobs?status=queued&limit=100"), api("/jobs?status=running&limit=100")]);
  const jobs = [...running.data, ...queued.data];
  clear($("#queue"), jobs.length ? table(["job", "kind", "status", "progress", "stage", "worker", ""], jobs.map((j) => [
    j.id.slice(0, 8), j.kind, badge(j.status), `${Math.round(j.progress)} %`, j.stage || "–", [j.executor, j.worker_node, j.worker_pid ? `pid ${j.worker_pid}` : null].filter(Boolean).join(" · ") || "–",
    h("button", { type: "button", class: "secondary", onclick: async () => {
      if (!(await ctxRef.confirm("Cancel this job?", `Job ${j.id.slice(0, 8)} (${j.kind}) is stopped.`))) return;
      try { await api(`/jobs/${j.id}/cancel`, { method: "POST" }); } catch (error) { ctxRef.notify(error.message, "error"); }
      queue();
    } }, "Cancel")])) : h("p", { class: "muted" }, "Queue empty: no job queued or running."));
}

async function backups() {
  try {
    const list = await api("/admin/backups");
    clear($("#backups"), list.count ? table(["backup"], list.data.map((b) => [h("code", {}, b.key)])) : h("p", { class: "muted" }, "No backups yet."));
  } catch (error) {
    clear($("#backups"), h("p", { class: "muted" }, `${error.message}${error.hint ? " — " + error.hint : ""}`));
  }
}

async function backup() {
  const err = $("#backup-error");
  err.hidden = true;
  try {
    const b = await api("/admin/backup", { method: "POST" });
    clear($("#backup-result"), h("p", { id: "backup-done" }, badge("backed up", "succeeded"), ` ${b.key} → ${b.destination} (${bytes(b.size_bytes)}, sha256 ${b.sha256.slice(0, 12)}…) at ${when(b.created_at)}`,
      b.pruned.length ? ` · pruned ${b.pruned.join(", ")}` : ""));
    await backups();
  } catch (error) {
    showError(err, error);
  }
}
