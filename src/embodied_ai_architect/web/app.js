// Dashboard entry: hash router, token kept for the session, shared helpers for the views.
import { api, getToken, setToken } from "./lib/api.js";
import { $, $$ } from "./lib/dom.js";
import * as models from "./views/models.js";
import * as optimize from "./views/optimize.js";
import * as results from "./views/results.js";
import * as historyView from "./views/history.js";
import * as targets from "./views/targets.js";
import * as simulation from "./views/simulation.js";
import * as admin from "./views/admin.js";

const VIEWS = { models, optimize, results, history: historyView, targets, simulation, admin };
const mounted = new Set();

/** What every view gets: navigation, notices, confirmation and the model list. */
export const ctx = {
  go(view, arg) { location.hash = `#/${view}` + (arg !== undefined && arg !== null ? `/${encodeURIComponent(arg)}` : ""); },
  notify(message, kind = "info") {
    const el = $("#notice");
    el.textContent = message;
    el.className = `notice notice-${kind}`;
    el.hidden = false;
    clearTimeout(ctx._noticeTimer);
    ctx._noticeTimer = setTimeout(() => { el.hidden = true; }, 8000);
  },
  confirm(title, text) {
    const dialog = $("#confirm");
    $("#confirm-title").textContent = title;
    $("#confirm-text").textContent = text;
    dialog.returnValue = "";
    dialog.showModal();
    $("#confirm-cancel").focus();
    return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
  },
  async models() { return (await api("/models?limit=1000")).data; },
};

async function route() {
  const [, name = "models", arg] = location.hash.split("/");
  const view = VIEWS[name] ? name : "models";
  for (const [key] of Object.entries(VIEWS)) $(`#view-${key}`).hidden = key !== view;
  for (const link of $$("nav.tabs a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  const el = $(`#view-${view}`);
  try {
    if (!mounted.has(view)) { mounted.add(view); await VIEWS[view].mount(el, ctx); }
    await VIEWS[view].show(el, ctx, arg ? decodeURIComponent(arg) : undefined);
  } catch (error) {
    ctx.notify(`${error.message}${error.hint ? " — " + error.hint : ""}`, "error");
    if (error.status === 401) $("#token").focus(); // reads need the token on this server
  }
}

function tokenState() {
  $("#token-state").textContent = getToken() ? "token set for this session" : "no token";
  $("#token-forget").hidden = !getToken();
}

async function health() {
  try {
    const body = await api("/health", { raw: true });
    $("#health").textContent = `${body.status} · v${body.version} · ${body.workers} worker(s) · ${body.running_jobs} running`;
  } catch (error) {
    $("#health").textContent = "server unreachable: " + error.message;
  }
}

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setToken($("#token").value.trim());
  $("#token").value = "";
  tokenState();
  ctx.notify(getToken() ? "token saved for this browser session" : "token cleared");
  route();
});
$("#token-forget").addEventListener("click", () => { setToken(""); tokenState(); ctx.notify("token cleared"); });
window.addEventListener("hashchange", route);
tokenState();
health();
setInterval(health, 10_000);
if (!location.hash) window.history.replaceState(null, "", "#/models");
route();
