// Hand-written SVG charts: horizontal bars, scatter (with the Pareto set marked), lines.
import { num } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
// Narrow screens get a narrower drawing, so its text is not scaled down to a squint.
const narrow = () => window.innerWidth < 600;
const chartWidth = () => (narrow() ? 380 : 620);
const COLORS = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#dc2626", "#0891b2"];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function svg(width, height, label) {
  // Never drawn larger than its own size: text stays readable in wide cards.
  return s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": label,
    preserveAspectRatio: "xMinYMin meet", style: `max-width: ${width}px` }, s("title", {}, label));
}

function tick(value) {
  const text = String(+value.toPrecision(6));
  return text.length > 8 ? value.toExponential(1) : text;
}

function short(text, max = narrow() ? 14 : 22) { return text.length > max ? text.slice(0, max - 1) + "…" : text; }

/** Horizontal bars: items [{label, value, title?}], one scale. */
export function barChart(items, { label = "bar chart", format = num, unit = "", color = COLORS[0] } = {}) {
  const row = 22, left = narrow() ? 110 : 170, right = narrow() ? 70 : 90, width = chartWidth();
  const height = Math.max(row, items.length * row) + 8;
  const chart = svg(width, height, label);
  const max = Math.max(...items.map((d) => d.value || 0), 1e-12);
  items.forEach((d, i) => {
    const y = 4 + i * row;
    const w = Math.max(1, ((d.value || 0) / max) * (width - left - right));
    chart.append(
      s("text", { x: left - 6, y: y + 14, "text-anchor": "end", class: "axis-label" }, short(d.label)),
      s("rect", { x: left, y: y + 3, width: w, height: row - 8, fill: d.color || color, rx: 2, class: "bar",
        "data-label": d.label, "data-value": d.value }, s("title", {}, d.title || `${d.label}: ${format(d.value)}${unit}`)),
      s("text", { x: left + w + 4, y: y + 14, class: "value-label" }, format(d.value) + unit));
  });
  return chart;
}

/** Pairs of bars (before / after) per metric, each metric on its own scale. */
export function pairChart(items, { label = "before and after", names = ["before", "after"] } = {}) {
  const row = 44, left = narrow() ? 100 : 150, right = narrow() ? 90 : 110, width = chartWidth();
  const chart = svg(width, items.length * row + 28, label);
  items.forEach((d, i) => {
    const y = 6 + i * row;
    const max = Math.max(d.a ?? 0, d.b ?? 0, 1e-12);
    chart.append(s("text", { x: left - 6, y: y + 22, "text-anchor": "end", class: "axis-label" }, short(d.label)));
    [[d.a, 0], [d.b, 1]].forEach(([v, k]) => {
      const w = Math.max(1, ((v ?? 0) / max) * (width - left - right));
      chart.append(
        s("rect", { x: left, y: y + 3 + k * 18, width: w, height: 15, fill: COLORS[k], rx: 2, class: "bar",
          "data-metric": d.label, "data-which": names[k], "data-value": v ?? "" },
          s("title", {}, `${d.label} ${names[k]}: ${num(v)}${d.unit || ""}`)),
        s("text", { x: left + w + 4, y: y + 15 + k * 18, class: "value-label" }, `${num(v)}${d.unit || ""}`));
    });
  });
  const ly = items.length * row + 16;
  names.forEach((n, k) => chart.append(
    s("rect", { x: left + k * 110, y: ly - 10, width: 12, height: 12, fill: COLORS[k] }),
    s("text", { x: left + k * 110 + 16, y: ly, class: "axis-label" }, n)));
  return chart;
}

function scale(values, lo, hi, forceLinear = false, ceiling = Infinity) {
  const finite = values.filter((v) => Number.isFinite(v));
  let min = Math.min(...finite), max = Math.max(...finite);
  if (!finite.length) { min = 0; max = 1; }
  const log = !forceLinear && min > 0 && max / min > 20;
  if (log) {
    const a = Math.log10(min) - 0.1, b = Math.log10(max) + 0.1;
    return { log, map: (v) => lo + ((Math.log10(v) - a) / (b - a)) * (hi - lo), ticks: logTicks(a, b) };
  }
  const top = Math.max(ceiling, max); // e.g. 100 %: padding never goes past it
  if (min === max) { min -= Math.abs(min) * 0.1 || 1; max += Math.abs(max) * 0.1 || 1; }
  const pad = (max - min) * 0.08;
  min = Math.max(min - pad, min >= 0 ? 0 : -Infinity); max = Math.min(max + pad, top);
  return { log, map: (v) => lo + ((v - min) / (max - min)) * (hi - lo), ticks: linTicks(min, max) };
}
function linTicks(min, max) {
  const step = Math.pow(10, Math.floor(Math.log10((max - min) / 4 || 1)));
  const mult = [1, 2, 5, 10].find((m) => (max - min) / (step * m) <= 6) || 10;
  const out = [];
  for (let t = Math.ceil(min / (step * mult)) * step * mult; t <= max + 1e-12; t += step * mult) out.push(+t.toPrecision(6));
  return out;
}
function logTicks(a, b) {
  const out = [];
  for (let e = Math.ceil(a); e <= Math.floor(b); e++) out.push(Math.pow(10, e));
  return out.length ? out : [Math.pow(10, (a + b) / 2)];
}

/**
 * Scatter: points [{x, y, label, front, feasible, title}]. Pareto points get class "front"
 * (filled, ringed, joined by a dashed line); infeasible ones are hollow.
 */
export function scatterChart(points, { label = "scatter", xLabel = "x", yLabel = "y", linearY = false, yMax = Infinity } = {}) {
  const width = chartWidth(), height = narrow() ? 240 : 300, m = { l: 62, r: 16, t: 24, b: 44 };
  const chart = svg(width, height, label);
  const usable = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const sx = scale(usable.map((p) => p.x), m.l, width - m.r);
  const sy = scale(usable.map((p) => p.y), height - m.b, m.t, linearY, yMax);
  const axes = s("g", { class: "axes" },
    s("line", { x1: m.l, y1: height - m.b, x2: width - m.r, y2: height - m.b }),
    s("line", { x1: m.l, y1: m.t, x2: m.l, y2: height - m.b }),
    s("text", { x: (m.l + width - m.r) / 2, y: height - 6, "text-anchor": "middle", class: "axis-title" }, xLabel + (sx.log ? " (log)" : "")),
    s("text", { x: 14, y: (m.t + height - m.b) / 2, "text-anchor": "middle", class: "axis-title",
      transform: `rotate(-90 14 ${(m.t + height - m.b) / 2})` }, yLabel + (sy.log ? " (log)" : "")));
  for (const t of sx.ticks) {
    const x = sx.map(t);
    if (x < m.l - 1 || x > width - m.r + 1) continue;
    axes.append(s("line", { x1: x, y1: height - m.b, x2: x, y2: height - m.b + 4 }),
      s("text", { x, y: height - m.b + 16, "text-anchor": "middle", class: "tick" }, tick(t)));
  }
  for (const t of sy.ticks) {
    const y = sy.map(t);
    if (y < m.t - 1 || y > height - m.b + 1) continue;
    axes.append(s("line", { x1: m.l - 4, y1: y, x2: m.l, y2: y, class: "tick-line" }),
      s("line", { x1: m.l, y1: y, x2: width - m.r, y2: y, class: "grid" }),
      s("text", { x: m.l - 6, y: y + 4, "text-anchor": "end", class: "tick" }, tick(t)));
  }
  chart.append(axes);
  const front = usable.filter((p) => p.front).sort((a, b) => a.x - b.x);
  if (front.length > 1) {
    chart.append(s("polyline", { class: "front-line", points: front.map((p) => `${sx.map(p.x)},${sy.map(p.y)}`).join(" ") }));
  }
  const placed = [];
  const labels = s("g", { class: "labels" }); // drawn last, so no dot or ring hides a label
  for (const p of usable) {
    const cx = sx.map(p.x), cy = sy.map(p.y);
    // Label above-right; if that overlaps a placed label, above-left, then lower and lower.
    const w = 7 * p.label.length + 4;
    const spots = [0, 1, 2, 3].flatMap((k) => [[cx + 8, cy - 8 + 14 * k, "start"], [cx - 8 - w, cy - 8 + 14 * k, "end"]]);
    const free = (x, y) => !placed.some(([px, py, pw]) => x < px + pw && px < x + w && Math.abs(py - y) < 12);
    const [x, y, anchor] = spots.find(([sx0, sy0]) => free(sx0, sy0)) || spots[0];
    placed.push([x, y, w]);
    labels.append(s("text", { x: anchor === "end" ? x + w : x, y, "text-anchor": anchor, class: "point-label" }, p.label));
    const classes = ["point", p.front ? "front" : "", p.feasible === false ? "infeasible" : "feasible"].join(" ").trim();
    const g = s("g", { class: classes, "data-label": p.label, "data-front": p.front ? "true" : "false" },
      s("title", {}, p.title || `${p.label}: ${num(p.x)}, ${num(p.y)}`));
    if (p.front) g.append(s("circle", { cx, cy, r: 10, class: "ring" }));
    g.append(s("circle", { cx, cy, r: 5.5, class: "dot" }));
    chart.append(g);
  }
  chart.append(labels);
  if (!usable.length) chart.append(s("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "tick" }, "no points yet"));
  return chart;
}

/** Lines: series [{name, points: [[x, y], ...]}]. */
export function lineChart(series, { label = "lines", xLabel = "x", yLabel = "y" } = {}) {
  const width = chartWidth(), height = 240, m = { l: 62, r: 16, t: 14, b: 44 };
  const chart = svg(width, height, label);
  const all = series.flatMap((d) => d.points);
  const sx = scale(all.map((p) => p[0]), m.l, width - m.r, true);
  const sy = scale(all.map((p) => p[1]), height - m.b, m.t, true);
  chart.append(s("g", { class: "axes" },
    s("line", { x1: m.l, y1: height - m.b, x2: width - m.r, y2: height - m.b }),
    s("line", { x1: m.l, y1: m.t, x2: m.l, y2: height - m.b }),
    s("text", { x: (m.l + width - m.r) / 2, y: height - 6, "text-anchor": "middle", class: "axis-title" }, xLabel),
    s("text", { x: 14, y: (m.t + height - m.b) / 2, "text-anchor": "middle", class: "axis-title",
      transform: `rotate(-90 14 ${(m.t + height - m.b) / 2})` }, yLabel),
    ...sy.ticks.map((t) => s("text", { x: m.l - 6, y: sy.map(t) + 4, "text-anchor": "end", class: "tick" }, tick(t)))));
  series.forEach((d, k) => {
    if (!d.points.length) return;
    chart.append(s("polyline", { class: "series", stroke: COLORS[k % COLORS.length], fill: "none", "data-series": d.name,
      points: d.points.map((p) => `${sx.map(p[0])},${sy.map(p[1])}`).join(" ") }));
    chart.append(s("text", { x: width - m.r - 4, y: m.t + 12 + 14 * k, "text-anchor": "end", fill: COLORS[k % COLORS.length], class: "axis-label" }, d.name));
  });
  return chart;
}
