// Pareto set and chart points shared by the live view and the results view.

/** Non-dominated points: smaller size and p95, higher accuracy (missing accuracy ignored). */
export function markFront(points) {
  const better = (a, b) => a.size_mb <= b.size_mb && a.p95_ms <= b.p95_ms && (a.accuracy ?? 0) >= (b.accuracy ?? 0);
  const strictly = (a, b) => a.size_mb < b.size_mb || a.p95_ms < b.p95_ms || (a.accuracy ?? 0) > (b.accuracy ?? 0);
  return points.map((p) => ({ ...p, on_front: !points.some((q) => q !== p && better(q, p) && strictly(q, p)) }));
}

/** ParetoPoint-like records → the two scatter series (size vs latency, accuracy vs latency). */
export function chartSeries(points) {
  const title = (p) => `${p.label} ${p.technique || ""}: ${p.size_mb} MB, p95 ${p.p95_ms} ms` +
    (p.accuracy !== null && p.accuracy !== undefined ? `, accuracy ${(p.accuracy * 100).toFixed(2)} %` : "") +
    (p.on_front ? " — Pareto set" : "") + (p.feasible ? "" : " — violates a constraint");
  const size = points.map((p) => ({ x: p.p95_ms, y: p.size_mb, label: p.label, front: p.on_front, feasible: p.feasible, title: title(p) }));
  const accuracy = points.filter((p) => p.accuracy !== null && p.accuracy !== undefined)
    .map((p) => ({ x: p.p95_ms, y: p.accuracy * 100, label: p.label, front: p.on_front, feasible: p.feasible, title: title(p) }));
  return { size, accuracy };
}
