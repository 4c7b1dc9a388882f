// REST + WebSocket client: one place for the token, error bodies and uploads.
export const API = "/api/v1";
const TOKEN_KEY = "eaa-token";

export function getToken() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
}

/** An API refusal: the server's {code, message, hint, details} plus the HTTP status. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || "http_" + status;
    this.hint = body.hint || "";
    this.details = body.details || {};
  }
  /** [{loc: [...], msg}] of a 422 validation error (empty otherwise). */
  get fieldErrors() { return Array.isArray(this.details.errors) ? this.details.errors : []; }
}

function authHeaders(extra = {}) {
  const headers = { ...extra };
  if (getToken()) headers.Authorization = "Bearer " + getToken();
  return headers;
}

async function errorFrom(response) {
  let body = {};
  try { body = await response.json(); } catch { body = { message: response.statusText }; }
  if (typeof body !== "object" || body === null) body = { message: String(body) };
  return new ApiError(response.status, body);
}

/** JSON call against /api/v1 (or an absolute path starting with "/" when raw is set). */
export async function api(path, { method = "GET", json, raw = false } = {}) {
  const options = { method, headers: authHeaders() };
  if (json !== undefined) {
    options.body = JSON.stringify(json);
    options.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(raw ? path : API + path, options);
  } catch (error) {
    throw new ApiError(0, { code: "network", message: "the server cannot be reached", hint: String(error) });
  }
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

/** Upload a file as the raw body to a collection (models, datasets) with upload progress
 * (fetch cannot report it; XHR can). */
export function uploadFile(collection, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${API}/${collection}?filename=${encodeURIComponent(file.name)}`);
    for (const [k, v] of Object.entries(authHeaders({ "Content-Type": "application/octet-stream" }))) {
      xhr.setRequestHeader(k, v);
    }
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { body = { message: xhr.statusText }; }
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(1); resolve(body); }
      else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError(0, { code: "network", message: "upload interrupted" }));
    xhr.send(file);
  });
}

/** Upload a model file with upload progress. */
export function uploadModel(file, onProgress) { return uploadFile("models", file, onProgress); }

/** A protected file (sent with the token) as a blob: URL for <img>/<video>; revoke it when done. */
export async function blobUrl(url) {
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) throw await errorFrom(response);
  return URL.createObjectURL(await response.blob());
}

/** Download a protected file: fetch with the token, then save it from a blob URL. */
export async function download(url, filename) {
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) throw await errorFrom(response);
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/**
 * Follow a job over /ws/jobs/{id}: every stored event, then live ones, then "final".
 * A dropped connection (server restart, proxy timeout) is reopened a few times; the server
 * replays the stored events, and those already seen are skipped by their seq.
 * Returns a function that closes the socket (the job goes on).
 */
export function watchJob(jobId, { onEvent, onStatus, onFinal, onError } = {}) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let finished = false;
  let lastSeq = -1;
  let retries = 0;
  let socket = null;
  const open = () => {
    const query = getToken() ? "?token=" + encodeURIComponent(getToken()) : "";
    socket = new WebSocket(`${scheme}://${location.host}/ws/jobs/${jobId}${query}`);
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      retries = 0;
      if (data.type === "event") {
        if (data.seq <= lastSeq) return; // replayed after a reconnect
        lastSeq = data.seq;
        onEvent?.(data.event, data.seq);
      } else if (data.type === "status") onStatus?.(data.status);
      else if (data.type === "final") { finished = true; onFinal?.(data.job, data.result); }
      else if (data.type === "error") { finished = true; onError?.(new ApiError(404, data)); }
    };
    socket.onclose = (event) => {
      if (finished || event.code === 1000) return;
      if (event.code === 4401) {
        finished = true;
        onError?.(new ApiError(401, { code: "unauthorized", message: "unauthorized: enter the API token" }));
      } else if (retries < 5) {
        retries += 1;
        setTimeout(() => { if (!finished) open(); }, 500 * 2 ** retries);
      } else {
        finished = true;
        onError?.(new ApiError(0, { code: "websocket", message: `live updates lost (connection closed, code ${event.code})`, hint: "reload the page to follow the job again" }));
      }
    };
  };
  open();
  return () => { finished = true; socket.close(); };
}
