// Tiny DOM and formatting helpers (no framework).

/** h("div", {class: "x", onclick: fn}, child, "text", [children]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function clear(el, ...children) { el.replaceChildren(); append(el, children); return el; }

/** A table; rows are arrays of cells (Node or text); options.rowAttrs(row, i) adds attributes. */
export function table(headers, rows, { caption, className = "data", rowAttrs } = {}) {
  return h("div", { class: "table-wrap" },
    h("table", { class: className },
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows.map((cells, i) => h("tr", rowAttrs ? rowAttrs(cells, i) : {},
        cells.map((c) => h("td", {}, c)))))));
}

export function num(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (typeof value !== "number") return String(value);
  if (value !== 0 && (Math.abs(value) >= 1e6 || Math.abs(value) < 1e-3)) return value.toPrecision(digits);
  return String(+value.toPrecision(digits));
}

export function count(value) {
  if (value === null || value === undefined) return "–";
  if (value >= 1e9) return (value / 1e9).toFixed(2) + " G";
  if (value >= 1e6) return (value / 1e6).toFixed(2) + " M";
  if (value >= 1e3) return (value / 1e3).toFixed(1) + " k";
  return String(value);
}

export function bytes(value) {
  if (value === null || value === undefined) return "–";
  if (value >= 1e9) return (value / 1e9).toFixed(2) + " GB";
  if (value >= 1e6) return (value / 1e6).toFixed(2) + " MB";
  if (value >= 1e3) return (value / 1e3).toFixed(1) + " kB";
  return value + " B";
}

export function pct(fraction) {
  return fraction === null || fraction === undefined ? "–" : (fraction * 100).toFixed(2) + " %";
}

export function when(iso) { return iso ? new Date(iso).toLocaleString() : "–"; }

export function badge(text, kind = text) { return h("span", { class: `badge badge-${kind}` }, text); }

/** Show an ApiError (message, hint) or any error in `el`. */
export function showError(el, error) {
  clear(el, h("strong", {}, error.message || String(error)), error.hint ? h("span", { class: "hint" }, " — " + error.hint) : null);
  el.hidden = false;
  el.setAttribute("role", "alert");
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h3", {}, title), ...children);
}

export function keyValues(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}
