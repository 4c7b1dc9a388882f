// Simulation: the suites, policies' success before/after from optimize runs with eval_sim, and
// rendered episodes: a rollout job films one suite scene and the GIF / MP4 plays in the page.
import { api, blobUrl, watchJob } from "../lib/api.js";
import { pairChart } from "../lib/charts.js";
import { $, badge, clear, h, keyValues, num, section, showError, table, when } from "../lib/dom.js";
import { progressBar } from "../lib/progress.js";

// Request field → form control id (422 refusals name the field).
const CONTROLS = { model_id: "r-model", version: "r-version", suite: "r-suite", scene: "r-scene", format: "r-format", max_steps: "r-max-steps" };
let ctxRef;
let bar;
let stopWatch = null;
let mediaUrl = null;

function fieldBox(id, label, input) {
  input.setAttribute("aria-describedby", id + "-error");
  return h("div", { class: "field" }, h("label", { for: id }, label), input, h("p", { class: "field-error", id: id + "-error", hidden: true }));
}

export async function mount(el, ctx) {
  ctxRef = ctx;
  bar = progressBar("render-progress");
  bar.el.hidden = true;
  const form = h("form", { id: "render-form", novalidate: true },
    h("div", { class: "field-grid" },
      fieldBox("r-model", "Policy", h("select", { id: "r-model", name: "model_id" })),
      fieldBox("r-version", "Version", h("select", { id: "r-version", name: "version" }, h("option", { value: "" }, "latest"))),
      fieldBox("r-suite", "Suite", h("select", { id: "r-suite", name: "suite" })),
      fieldBox("r-scene", "Scene (index in the suite)", h("input", { id: "r-scene", name: "scene", type: "number", min: "0", step: "1", value: "0", inputmode: "numeric" })),
      fieldBox("r-format", "Video", h("select", { id: "r-format", name: "format" }, h("option", { value: "gif" }, "GIF"), h("option", { value: "mp4" }, "MP4"))),
      fieldBox("r-max-steps", "Max steps", h("input", { id: "r-max-steps", name: "max_steps", type: "number", min: "1", step: "1", placeholder: "the suite's", inputmode: "numeric" }))),
    h("div", { class: "error", id: "render-error", hidden: true }),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "render-submit" }, "Render episode")));
  form.addEventListener("submit", (event) => { event.preventDefault(); render(); });
  $("#r-model", form).addEventListener("change", () => loadVersions());
  el.append(section("Suites", h("div", { id: "suites" })),
    section("Policies: success before → after", h("div", { id: "sim-runs" })),
    section("Render an episode",
      h("p", { class: "muted" }, "A policy version (or the suite's scripted expert) on one of the suite's seeded scenes, filmed from the scene's view camera. The scene is the same one the success rate counts."),
      form, bar.el, h("div", { id: "episode", "aria-live": "polite" })),
    section("Rendered episodes", h("div", { id: "episodes" })));
}

/** arg: a rollout job id to show. */
export async function show(el, ctx, arg) {
  const suites = (await api("/sim/suites")).data;
  clear($("#suites"), table(["suite", "family", "scenes", "steps", "description", ""], suites.map((s) => [
    h("code", {}, s.id), s.family, String(s.scenes), String(s.max_steps), s.description,
    h("button", { type: "button", class: "secondary", onclick: () => ctx.go("optimize", `suite-${s.id}`), "aria-label": `Optimize on ${s.id}` }, "Optimize on it")])));
  const suiteSelect = $("#r-suite");
  const pickedSuite = suiteSelect.value;
  clear(suiteSelect, suites.map((s) => h("option", { value: s.id }, `${s.id} (${s.scenes} scenes)`)));
  if (suites.some((s) => s.id === pickedSuite)) suiteSelect.value = pickedSuite;
  const modelSelect = $("#r-model");
  const pickedModel = modelSelect.value;
  clear(modelSelect, h("option", { value: "" }, "scripted expert"), (await ctx.models()).map((m) => h("option", { value: m.id }, `${m.id}: ${m.name}`)));
  if ([...modelSelect.options].some((o) => o.value === pickedModel)) modelSelect.value = pickedModel;
  await loadVersions();
  await Promise.all([showRuns(), listEpisodes()]);
  if (arg) await showEpisode(arg);
}

async function showRuns() {
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

async function loadVersions() {
  const id = $("#r-model").value;
  const select = $("#r-version");
  clear(select, h("option", { value: "" }, "latest"));
  select.disabled = !id;
  if (!id) return;
  const versions = await api(`/models/${id}/versions?limit=1000`);
  for (const v of versions.data) select.append(h("option", { value: v.version }, `v${v.version} ${v.technique || "original"}`));
}

async function listEpisodes() {
  const jobs = (await api("/jobs?kind=rollout&limit=20")).data;
  clear($("#episodes"), jobs.length
    ? table(["job", "policy", "suite", "scene", "status", "submitted", ""], jobs.map((j) => [
      h("code", {}, j.id.slice(0, 8)), j.request.model_id ? `model ${j.request.model_id}${j.request.version !== null && j.request.version !== undefined ? " v" + j.request.version : ""}` : "expert",
      j.request.suite, String(j.request.scene), badge(j.status), when(j.created_at),
      j.status === "succeeded" ? h("button", { type: "button", class: "secondary", onclick: () => ctxRef.go("simulation", j.id), "aria-label": `Play episode ${j.id.slice(0, 8)}` }, "Play") : ""]),
    { rowAttrs: (_, i) => ({ "data-job-id": jobs[i].id }) })
    : h("p", { class: "muted" }, "No rendered episodes yet."));
}

function clearErrors() {
  for (const id of Object.values(CONTROLS)) {
    document.getElementById(id).removeAttribute("aria-invalid");
    const err = document.getElementById(id + "-error");
    err.hidden = true;
    err.textContent = "";
  }
  $("#render-error").hidden = true;
}

function fieldError(field, message) {
  const id = CONTROLS[field];
  if (!id) return false;
  document.getElementById(id).setAttribute("aria-invalid", "true");
  const err = document.getElementById(id + "-error");
  err.textContent = message;
  err.hidden = false;
  return true;
}

function showRefusal(error) {
  let shown = false;
  for (const e of error.fieldErrors) {
    const field = e.loc.filter((p, i) => !(i === 0 && p === "body") && p !== "rollout")[0];
    shown = fieldError(field, String(e.msg).replace(/^Value error, /, "")) || shown;
  }
  const field = error.details.field;
  if (field) shown = fieldError(field, error.message.replace(new RegExp(`^${field}: `), "") + (error.hint ? ` — ${error.hint}` : "")) || shown;
  if (!shown) showError($("#render-error"), error);
  document.querySelector("#render-form [aria-invalid]")?.focus();
}

function buildRequest() {
  const body = { kind: "rollout", suite: $("#r-suite").value, format: $("#r-format").value };
  const number = (value) => (Number.isFinite(Number(value)) ? Number(value) : value);
  if ($("#r-model").value) body.model_id = Number($("#r-model").value);
  if ($("#r-model").value && $("#r-version").value !== "") body.version = Number($("#r-version").value);
  if ($("#r-scene").value.trim() !== "") body.scene = number($("#r-scene").value.trim());
  if ($("#r-max-steps").value.trim() !== "") body.max_steps = number($("#r-max-steps").value.trim());
  return body;
}

async function render() {
  clearErrors();
  const button = $("#render-submit");
  button.disabled = true;
  try {
    const job = await api("/jobs", { method: "POST", json: buildRequest() });
    ctxRef.notify(`rollout job ${job.job_id.slice(0, 8)} ${job.status}`);
    follow(job.job_id);
  } catch (error) {
    if (error.status === 422) showRefusal(error);
    else showError($("#render-error"), error);
  } finally {
    button.disabled = false;
  }
}

function follow(jobId) {
  stopWatch?.();
  bar.el.hidden = false;
  bar.update(0, "queued", "");
  $("#episode").dataset.jobId = jobId;
  stopWatch = watchJob(jobId, {
    onEvent: (e) => bar.update(e.percent, e.stage, e.message),
    onFinal: async (job, result) => {
      bar.update(job.progress, job.status, job.error ? job.error.message : "");
      await listEpisodes();
      if (job.status === "succeeded" && result?.rollout) await showEpisode(jobId, result.rollout);
      else if (job.error) showError($("#render-error"), job.error);
    },
    onError: (error) => showError($("#render-error"), error),
  });
}

/** Play a rendered episode: the video is fetched with the token, then shown from a blob: URL. */
async function showEpisode(jobId, episode) {
  const box = $("#episode");
  try {
    episode ??= (await api(`/jobs/${jobId}/result`)).rollout;
    const url = await blobUrl(`/api/v1/sim/episodes/${jobId}`);
    if (mediaUrl) URL.revokeObjectURL(mediaUrl);
    mediaUrl = url;
    const label = `${episode.policy} on ${episode.suite_id} scene ${episode.scene}: ${episode.success ? "success" : "failure"} in ${episode.steps} steps`;
    let media;
    if (episode.media_type === "image/gif") {
      media = h("img", { id: "episode-media", src: url, alt: label, width: episode.width, height: episode.height });
    } else {
      media = h("video", { id: "episode-media", src: url, controls: true, autoplay: true, loop: true, playsinline: true, width: episode.width, height: episode.height, "aria-label": label });
      media.muted = true; // autoplay needs the property, not only the attribute
    }
    box.dataset.jobId = jobId;
    clear(box, h("figure", { class: "episode" }, media, h("figcaption", {}, label)),
      keyValues([
        ["policy", episode.policy], ["suite", `${episode.suite_id}, scene ${episode.scene} (seed ${episode.seed})`],
        ["outcome", badge(episode.success ? "success" : "failure", episode.success ? "succeeded" : "failed")],
        ["steps", String(episode.steps)], ["final distance", `${num(episode.final_distance * 1000)} mm`],
        ["total reward", num(episode.total_reward)], ["video", `${episode.frames} frames, ${episode.width}×${episode.height} at ${episode.fps} fps (${episode.media_type})`],
      ]));
  } catch (error) {
    const err = h("div", { class: "error" });
    clear(box, err);
    showError(err, error);
  }
}
