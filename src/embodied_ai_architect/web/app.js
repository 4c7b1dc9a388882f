// Dashboard: plain JS against the REST API and /ws/jobs/{id}. No build step.
"use strict";
const $ = (sel) => document.querySelector(sel);
const API = "/api/v1";
let socket = null;

function token() { return localStorage.getItem("eaa-token") || ""; }
function headers(extra = {}) {
  const h = { ...extra };
  if (token()) h["Authorization"] = "Bearer " + token();
  return h;
}
async function api(path, options = {}) {
  const response = await fetch(API + path, { ...options, headers: headers(options.headers || {}) });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const error = body || { message: response.statusText, hint: "" };
    throw new Error(`${error.message}${error.hint ? " — " + error.hint : ""}`);
  }
  return body;
}
function cell(row, text) { const td = row.insertCell(); td.textContent = text; return td; }
function button(row, label, onClick) {
  const b = document.createElement("button"); b.textContent = label; b.onclick = onClick;
  row.insertCell().appendChild(b);
}

async function refreshModels() {
  const models = await api("/models?limit=100");
  const body = $("#models tbody"); body.replaceChildren();
  const select = $("#job-model"); const selected = select.value; select.replaceChildren();
  for (const m of models.data) {
    const row = body.insertRow(); row.dataset.modelId = m.id;
    cell(row, m.id); cell(row, m.name); cell(row, m.format);
    cell(row, (m.size_bytes / 1e6).toFixed(2) + " MB"); cell(row, m.analyzed ? "yes" : "no");
    button(row, "versions", () => showVersions(m.id));
    const option = new Option(`${m.id}: ${m.name}`, m.id); select.add(option);
  }
  if (selected) select.value = selected;
}

async function showVersions(modelId) {
  const versions = await api(`/models/${modelId}/versions`);
  $("#versions-panel").hidden = false; $("#versions-model").textContent = modelId;
  const body = $("#versions tbody"); body.replaceChildren();
  for (const v of versions.data) {
    const row = body.insertRow();
    cell(row, v.version); cell(row, v.technique || "original"); cell(row, v.parent_id ?? "");
    cell(row, Object.entries(v.metrics).filter(([, x]) => typeof x === "number")
      .map(([k, x]) => `${k}=${+x.toFixed(3)}`).join(" "));
    const actions = row.insertCell();
    const link = document.createElement("a");
    link.href = `${API}/models/${modelId}/versions/${v.version}/artifact`; link.textContent = "download";
    actions.appendChild(link);
    const restore = document.createElement("button"); restore.textContent = "restore";
    restore.onclick = async () => { await api(`/models/${modelId}/versions/${v.version}/restore`, { method: "POST" }); showVersions(modelId); };
    actions.appendChild(restore);
  }
}

async function refreshJobs() {
  const jobs = await api("/jobs?limit=50");
  const body = $("#jobs tbody"); body.replaceChildren();
  for (const j of jobs.data) {
    const row = body.insertRow(); row.dataset.jobId = j.id;
    cell(row, j.id.slice(0, 8)); cell(row, j.kind);
    cell(row, j.status).className = "status-" + j.status;
    cell(row, j.progress.toFixed(0) + "%"); cell(row, j.stage || "");
    cell(row, new Date(j.created_at).toLocaleTimeString());
    button(row, "watch", () => watch(j.id));
  }
}

function watch(jobId) {
  if (socket) socket.close();
  $("#live-job").textContent = jobId; $("#live-events").replaceChildren();
  $("#live-result").textContent = "(running)"; setProgress(0, "", "");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = token() ? "?token=" + encodeURIComponent(token()) : "";
  socket = new WebSocket(`${scheme}://${location.host}/ws/jobs/${jobId}${query}`);
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "event") {
      const e = data.event;
      setProgress(e.percent, e.stage, e.message);
      const li = document.createElement("li");
      li.textContent = `#${data.seq} ${e.percent.toFixed(0)}% [${e.stage}] ${e.message}`;
      const list = $("#live-events");
      list.appendChild(li);
      list.scrollTop = list.scrollHeight;  // follow the newest event
    } else if (data.type === "final") {
      setProgress(data.job.progress, data.job.status, data.job.error ? data.job.error.message : "");
      $("#live-result").textContent = JSON.stringify(data.result ?? data.job.error, null, 2).slice(0, 20000);
      $("#live-result").dataset.status = data.job.status;
      refreshJobs(); refreshModels();
    }
  };
}
function setProgress(percent, stage, message) {
  $("#live-bar").style.width = percent + "%"; $("#live-percent").textContent = percent.toFixed(0);
  $("#live-stage").textContent = stage; $("#live-message").textContent = message;
}

$("#token").value = token();
$("#token").onchange = (e) => { localStorage.setItem("eaa-token", e.target.value); refreshAll(); };

$("#upload-form").onsubmit = async (e) => {
  e.preventDefault();
  const file = $("#upload-file").files[0];
  $("#upload-status").textContent = "uploading…";
  try {
    const model = await api(`/models?filename=${encodeURIComponent(file.name)}`, {
      method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" } });
    $("#upload-status").textContent = `stored as model ${model.id} (${model.format})`;
    await refreshModels(); $("#job-model").value = model.id;
  } catch (error) { $("#upload-status").textContent = "upload refused: " + error.message; }
};

$("#job-form").onsubmit = async (e) => {
  e.preventDefault();
  const kind = $("#job-kind").value;
  const body = { kind, model_id: Number($("#job-model").value) };
  const shape = $("#job-shape").value.trim();
  if (shape) body.input_shapes = [shape.split(",").map(Number)];
  if (kind === "optimize") {
    const c = {};
    if ($("#c-size").value) c.max_size_mb = Number($("#c-size").value);
    if ($("#c-latency").value) c.max_latency_ms = Number($("#c-latency").value);
    if ($("#c-drop").value) c.max_accuracy_drop = Number($("#c-drop").value);
    body.constraints = c;
  }
  try {
    const job = await api("/jobs", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    $("#submit-status").textContent = `job ${job.job_id} ${job.status}`;
    watch(job.job_id); refreshJobs();
  } catch (error) { $("#submit-status").textContent = "refused: " + error.message; }
};

async function refreshAll() {
  try {
    const health = await (await fetch("/health")).json();
    $("#health").textContent = `${health.status} · ${health.workers} workers · ${health.running_jobs} running`;
    await Promise.all([refreshModels(), refreshJobs()]);
  } catch (error) { $("#health").textContent = error.message; }
}
refreshAll();
setInterval(refreshJobs, 3000);
