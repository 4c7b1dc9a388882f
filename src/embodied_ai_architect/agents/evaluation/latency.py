"""Latency and memory measurement for any ModelHandle: warm-up, fixed threads, p50/p95."""

from __future__ import annotations

import contextlib
import gc
import math
import os
import threading
import time

import numpy as np

from embodied_ai_architect.errors import EvaluationError
from embodied_ai_architect.modelio.handle import Feeds, Framework, ModelHandle, torch_threads
from embodied_ai_architect.schemas.profile import LatencyStats


def measure_latency(
    handle: ModelHandle,
    *,
    threads: int = 2,
    warmup: int = 5,
    runs: int = 50,
    max_seconds: float = 20.0,
    feeds: Feeds | None = None,
    batch: int = 1,
    reference_ms: float | None = None,
) -> LatencyStats:
    """Time ``handle.run`` on fixed inputs; stops early after ``max_seconds`` (at least 5 runs).

    Adaptive: from ``MIN_ADAPTIVE_RUNS`` on, timing stops once the median is pinned down
    (its 95 % confidence interval within ±``TIGHT`` of it) or, given ``reference_ms`` (the
    parent's p50), once the whole interval lies beyond the noise margin on one side of it —
    the ranking is then clear and more runs would not change a decision. A candidate clearly
    slower than the parent stops after ``MIN_SLOWER_RUNS``; warm-up stops after two runs once
    it has taken ``WARMUP_SECONDS`` (``LatencyStats.warmup`` says how many ran).

    Torch handles run with ``torch.set_num_threads(threads)``; ONNX handles must have been
    created with the same thread count (``OnnxModelHandle(threads=...)``).
    """
    if runs < 1 or warmup < 0:
        raise EvaluationError(f"invalid runs={runs} / warmup={warmup}", hint="runs ≥ 1, warmup ≥ 0")
    feeds = feeds if feeds is not None else handle.example_inputs(batch=batch, seed=0)
    with torch_threads(threads, handle):
        warmed = 0
        warm_end = time.perf_counter() + WARMUP_SECONDS
        while warmed < warmup:
            handle.run(feeds)
            warmed += 1
            # A slow model is warm after two runs (session set-up, first allocations): its
            # remaining warm-ups would cost seconds and change no figure.
            if warmed >= 2 and time.perf_counter() > warm_end:
                break
        gc.collect()
        sampler = _PeakRss()
        sampler.start()
        timings: list[float] = []
        budget_end = time.perf_counter() + max_seconds
        for index in range(runs):
            started = time.perf_counter()
            handle.run(feeds)
            timings.append((time.perf_counter() - started) * 1000)
            if index >= 4 and time.perf_counter() > budget_end:
                break
            if (index + 1) % 5 == 0 and (
                clearly_slower(timings, reference_ms)
                or (index + 1 >= MIN_ADAPTIVE_RUNS and ranking_clear(timings, reference_ms))
            ):
                break
        peak_mb = sampler.stop()
    values = np.asarray(timings)
    return LatencyStats(
        runtime=_runtime_name(handle),
        p50_ms=float(np.percentile(values, 50)),
        p95_ms=float(np.percentile(values, 95)),
        mean_ms=float(values.mean()),
        runs=len(timings),
        warmup=warmed,
        threads=threads,
        batch_size=batch,
        peak_memory_mb=peak_mb,
    )


MIN_ADAPTIVE_RUNS = 15
# Five runs that all read slower than the parent beyond the noise margin decide a loser: it is
# rolled back whatever its exact figure, so it gets no more runs (a winner needs its 15: its
# figure ranks it against the other kept candidates).
MIN_SLOWER_RUNS = 5
WARMUP_SECONDS = 0.5  # past this, a model that has run twice is warm
TIGHT = 0.02  # a median known to ±2 % needs no more runs
MARGIN = 0.03  # the search's noise margin: a latency change under 3 % is not a gain


def median_interval(timings: list[float]) -> tuple[float, float, float]:
    """Median and its distribution-free ~95 % confidence interval (order statistics)."""
    ordered = sorted(timings)
    n = len(ordered)
    half = 1.96 * math.sqrt(n) / 2
    low = ordered[max(0, math.floor(n / 2 - half))]
    high = ordered[min(n - 1, math.ceil(n / 2 + half))]
    return float(np.median(ordered)), low, high


def ranking_clear(timings: list[float], reference_ms: float | None) -> bool:
    """Whether more runs could still change a decision (see :func:`measure_latency`)."""
    median, low, high = median_interval(timings)
    if high - low <= TIGHT * median:
        return True
    if reference_ms is None:
        return False
    return high < reference_ms * (1 - MARGIN) or low > reference_ms * (1 + MARGIN)


def clearly_slower(timings: list[float], reference_ms: float | None) -> bool:
    """Whether the median's interval lies wholly above the parent's p50 plus the noise margin
    (from ``MIN_SLOWER_RUNS`` runs on: with five, every run was that much slower)."""
    if reference_ms is None or len(timings) < MIN_SLOWER_RUNS:
        return False
    _, low, _ = median_interval(timings)
    return low > reference_ms * (1 + MARGIN)


def _runtime_name(handle: ModelHandle) -> str:
    return {"torch": "torch", "onnx": "onnxruntime"}.get(
        handle.framework.value, handle.framework.value
    )


class _PeakRss:
    """Samples the process RSS in a thread while the timed runs execute (native memory included)."""

    def __init__(self, interval: float = 0.002):
        import psutil

        self._process = psutil.Process(os.getpid())
        self._interval = interval
        self._peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._process.memory_info().rss)
            self._stop.wait(self._interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        return self._peak / 1e6


class InterleavedTiming:
    """Latencies of several models timed in alternation (see :func:`measure_interleaved`).

    ``rounds[i]`` holds model i's median of each round, so any two models have paired figures
    taken seconds apart under the same machine load.
    """

    def __init__(self, rounds: list[list[float]], samples: list[list[float]]):
        self.rounds = rounds
        self.samples = samples

    @property
    def p50_ms(self) -> list[float]:
        """Per model: the median of its per-round medians."""
        return [float(np.median(r)) for r in self.rounds]

    @property
    def p95_ms(self) -> list[float]:
        return [float(np.percentile(s, 95)) for s in self.samples]

    def ratios(self, index: int, reference: int) -> list[float]:
        """Model ``index``'s latency over ``reference``'s, round by round."""
        return [
            a / max(b, 1e-12)
            for a, b in zip(self.rounds[index], self.rounds[reference], strict=True)
        ]

    def ratio(self, index: int, reference: int) -> float:
        """The median paired ratio: < 1 means ``index`` is faster than ``reference``."""
        return float(np.median(self.ratios(index, reference)))

    def settled(self, index: int, reference: int, margin: float = MARGIN) -> bool:
        """Whether every round puts the pair on the same side of the noise band (faster,
        within it, or slower): more rounds would not change the decision."""
        sides = {
            -1 if r < 1 - margin else (1 if r > 1 + margin else 0)
            for r in self.ratios(index, reference)
        }
        return len(sides) == 1


def measure_interleaved(
    handles: list[ModelHandle],
    *,
    threads: int = 2,
    warmup: int = 3,
    min_rounds: int = 3,
    max_rounds: int = 9,
    block_ms: float = 25.0,
    max_seconds: float = 30.0,
    reference: int = 0,
) -> InterleavedTiming:
    """Time several models in rounds, each round running every model for a short block in a
    rotated order: a load spike on a shared CPU then hits all of them, not whichever happened
    to be timed during it. Sequential timing of one model after another ranked an OpenVINO IR
    1.9× faster than its ONNX original that interleaved timing found 2.9× slower.

    Each block runs a model about ``block_ms`` (at least once). After ``min_rounds`` rounds,
    timing stops once the ranking is clear: every model's round-by-round ratio to ``reference``
    and to the fastest model stays on one side of the noise band (:meth:`settled`), or after
    ``max_rounds`` rounds / ``max_seconds``.
    """
    if not handles:
        raise EvaluationError("measure_interleaved needs at least one model", hint="pass models")
    feeds = [h.example_inputs(batch=1, seed=0) for h in handles]
    runs: list[int] = []
    torch_handle = next((h for h in handles if h.framework is Framework.TORCH), None)
    with torch_threads(threads, torch_handle) if torch_handle else contextlib.nullcontext():
        for handle, feed in zip(handles, feeds, strict=True):
            started = time.perf_counter()
            for _ in range(max(1, warmup)):
                handle.run(feed)
            each_ms = (time.perf_counter() - started) * 1000 / max(1, warmup)
            runs.append(int(min(200, max(1, math.ceil(block_ms / max(each_ms, 1e-3))))))
        rounds: list[list[float]] = [[] for _ in handles]
        samples: list[list[float]] = [[] for _ in handles]
        deadline = time.perf_counter() + max_seconds
        order = list(range(len(handles)))
        for index in range(max_rounds):
            rotated = order[index % len(order) :] + order[: index % len(order)]
            for position in rotated:
                handle, feed = handles[position], feeds[position]
                block: list[float] = []
                for _ in range(runs[position]):
                    started = time.perf_counter()
                    handle.run(feed)
                    block.append((time.perf_counter() - started) * 1000)
                rounds[position].append(float(np.median(block)))
                samples[position].extend(block)
            timing = InterleavedTiming(rounds, samples)
            if index + 1 < min_rounds:
                continue
            if time.perf_counter() > deadline:
                break
            fastest = int(np.argmin(timing.p50_ms))
            if all(
                timing.settled(i, reference) and timing.settled(i, fastest)
                for i in range(len(handles))
            ):
                break
    return InterleavedTiming(rounds, samples)
