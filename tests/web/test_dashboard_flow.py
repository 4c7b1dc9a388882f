"""The dashboard end to end in headless chromium against a real `branes serve`.

One path, as a user walks it: upload (drag and drop) → analysis → optimize with constraints
(API validation errors next to their fields first) → live events and plan steps → results equal
to the API's → every attempt on the chart with the Pareto set marked → compare two runs → roll
back a version → deploy to onnxruntime → admin backup → phone width → no console errors.

Screenshots for docs/dashboard.md: ``EAA_SCREENSHOTS=1 pytest tests/web``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from api.live import TOKEN, LiveServer, tiny_onnx_bytes, wait_job

from .helpers import screenshot

# A run that stays quick on a tiny MLP: few latency runs and samples, at most 3 attempts.
OPTIMIZE = {
    "constraints.max_accuracy_drop": "1",
    "constraints.budget.max_attempts": "3",
    "latency_runs": "5",
    "max_eval_samples": "32",
}
VIEWS = ["models", "optimize", "results", "history", "targets", "simulation", "admin"]


def field_id(key: str) -> str:
    return "#f-" + key.replace(".", "-").replace("_", "-")


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def drop_file(page: Any, name: str, data: bytes) -> None:
    """A real drag-and-drop: DragEvents carrying a DataTransfer with the file."""
    page.evaluate(
        """([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: "application/octet-stream"}));
            const zone = document.getElementById("dropzone");
            for (const type of ["dragenter", "dragover", "drop"]) {
              zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }
        }""",
        [name, list(data)],
    )


def test_dashboard_end_to_end(server: LiveServer, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: console_errors.append(f"page error: {exc}"))
    api = server.client()
    try:
        page.goto(server.url + "/")
        expect(page.locator("#health")).to_contain_text("ok", timeout=15_000)
        # The token is entered once and kept for the session (sessionStorage, not the field).
        page.fill("#token", TOKEN)
        page.click("#token-save")
        expect(page.locator("#token-state")).to_have_text("token set for this session")
        page.reload()
        assert page.evaluate("sessionStorage.getItem('eaa-token')") == TOKEN
        expect(page.locator("#token-state")).to_have_text("token set for this session")

        # 1. Upload by drag and drop; the analysis starts by itself.
        drop_file(page, "policy.onnx", tiny_onnx_bytes(seed=7))
        expect(page.locator("#upload-status")).to_contain_text("stored as model", timeout=15_000)
        expect(page.locator("#analysis[data-model-id]")).to_be_visible(timeout=90_000)
        model_id = int(page.locator("#analysis").get_attribute("data-model-id") or 0)
        assert api.get(f"/api/v1/models/{model_id}").json()["name"] == "policy.onnx"

        # 2. The analysis shows the API's profile.
        profile = api.get(f"/api/v1/models/{model_id}").json()["profile"]
        params = page.locator("#analysis-params")
        assert params.get_attribute("data-value") == str(profile["parameters"])
        assert page.locator("#analysis-flops").get_attribute("data-value") == str(profile["flops"])
        expect(page.locator("#family")).to_contain_text(
            profile["family"]["family"].replace("_", " ")
        )
        expect(page.locator("#family-evidence li")).to_have_count(
            len(profile["family"]["evidence"])
        )
        bars = page.locator("#op-census rect.bar")
        expect(bars).to_have_count(len(profile["op_census"]))
        census = {o["op_type"]: o["count"] for o in profile["op_census"]}
        for i in range(bars.count()):
            bar = bars.nth(i)
            assert census[bar.get_attribute("data-label") or ""] == int(
                bar.get_attribute("data-value") or -1
            )
        expect(page.locator("#sensitivity rect.bar")).to_have_count(len(profile["sensitivity"]))
        expect(page.locator("#layers-params rect.bar")).to_have_count(
            min(10, len(profile["layers"]))
        )
        runtimes = {c["runtime"] for c in profile["capabilities"]}
        expect(page.locator("#capabilities tbody tr")).to_have_count(len(runtimes))
        expect(page.locator("#opportunities > li")).to_have_count(len(profile["opportunities"]))
        screenshot(page, "models")

        # 3. Optimize: the API's validation errors appear next to their fields.
        page.click("text=Optimize this model")
        expect(page.locator("#f-model")).to_have_value(str(model_id))
        page.fill(field_id("constraints.max_size_mb"), "-1")
        page.fill(field_id("latency_runs"), "2")
        page.click("#optimize-submit")
        size_error = page.locator(field_id("constraints.max_size_mb") + "-error")
        expect(size_error).to_contain_text("max_size_mb must be positive")
        expect(page.locator(field_id("latency_runs") + "-error")).to_contain_text(
            "greater than or equal to 5"
        )
        expect(page.locator(field_id("constraints.max_size_mb"))).to_have_attribute(
            "aria-invalid", "true"
        )
        refused = [e for e in console_errors if "status of 422" in e]
        assert len(refused) == 1  # the browser logs the refused request itself; nothing else
        console_errors.remove(refused[0])

        # A second run of the same model goes through the API meanwhile (two workers).
        other = api.post(
            "/api/v1/jobs",
            json={
                "kind": "optimize",
                "model_id": model_id,
                "constraints": {"max_accuracy_drop": 5, "budget": {"max_attempts": 2}},
                "latency_runs": 5,
                "max_eval_samples": 32,
            },
        )
        assert other.status_code == 202, other.text
        other_id = other.json()["job_id"]

        page.fill(field_id("constraints.max_size_mb"), "")
        for key, value in OPTIMIZE.items():
            page.fill(field_id(key), value)
        page.click("#optimize-submit")
        # 4. Progress events and plan steps arrive live over the WebSocket.
        expect(page.locator("#plan li.step").first).to_be_visible(timeout=60_000)
        expect(page.locator("#live-summary")).to_be_visible(timeout=120_000)
        job_id = page.locator("#live").get_attribute("data-job-id") or ""
        stored = api.get(f"/api/v1/jobs/{job_id}/events").json()
        assert page.locator("#events li").count() == stored["count"] > 5
        assert page.locator("#opt-progress").get_attribute("aria-valuenow") == "100"
        result = api.get(f"/api/v1/jobs/{job_id}/result").json()["optimize"]
        steps = result["chosen_plan"]["steps"]
        expect(page.locator("#plan li.step")).to_have_count(len(steps))
        for step in steps:
            item = page.locator(f'#plan li.step[data-step="{step["id"]}"]')
            expect(item).to_have_attribute("data-status", step["status"])
            if step["outcome"]:
                expect(item.locator(":scope > .outcome")).to_have_text(step["outcome"])
        for attempt in result["attempts"]:
            item = page.locator(f'#plan li.attempt[data-attempt="{attempt["index"]}"]')
            expect(item).to_have_attribute("data-status", attempt["status"])
            expect(item.locator(".outcome")).to_have_text(attempt["reason"])
        # 6. Every attempt is a point; the Pareto set is marked.
        assert_points(page, "#chart-size", result["points"])
        screenshot(page, "optimize")

        # 5. Results: the numbers equal the API's; verdicts; downloads.
        page.click("#open-results")
        expect(page.locator("#results-summary")).to_contain_text(result["summary"])
        before, best = result["baseline"]["metrics"], (result["best"] or result["baseline"])
        after = best["metrics"]
        expected = {
            "size": (before["size_bytes"] / 1e6, after["size_bytes"] / 1e6),
            "p95_ms": (before["p95_ms"], after["p95_ms"]),
            "p50_ms": (before["p50_ms"], after["p50_ms"]),
            "throughput": (before["throughput_per_s"], after["throughput_per_s"]),
            "accuracy": (before["accuracy"] * 100, after["accuracy"] * 100),
        }
        for metric, pair in expected.items():
            for which, value in zip(("before", "after"), pair, strict=True):
                cell = page.locator(f'#before-after [data-metric="{metric}"][data-which="{which}"]')
                assert close(float(cell.get_attribute("data-value") or "nan"), value), metric
                assert math.isclose(float(cell.inner_text()), value, rel_tol=1e-3), metric
        verdicts = page.locator("#verdicts li")
        expect(verdicts).to_have_count(len(result["best_verdicts"]))
        for verdict in result["best_verdicts"]:
            item = page.locator(f'#verdicts li[data-constraint="{verdict["constraint"]}"]')
            expect(item).to_have_attribute("data-passed", str(verdict["passed"]).lower())
            expect(item).to_contain_text(verdict["reason"])
        assert_points(page, "#results-chart-size", result["points"])
        with page.expect_download() as report_download:
            page.click("#dl-report-json")
        report = json.loads(Path(report_download.value.path()).read_text(encoding="utf-8"))
        assert report["run_id"] == job_id and report["summary"] == result["summary"]
        with page.expect_download() as html_download:
            page.click("#dl-report-html")
        assert "<html" in Path(html_download.value.path()).read_text(encoding="utf-8").lower()
        if result["best"] and result["best"]["id"] != "v0":
            with page.expect_download() as artifact:
                page.click("#dl-artifact")
            data = Path(artifact.value.path()).read_bytes()
            assert len(data) == result["best"]["metrics"]["size_bytes"]
        screenshot(page, "results")

        # 7. History: both runs listed, filterable; compare them side by side.
        wait_job(api, other_id, {"succeeded", "failed"}, timeout=120)
        page.click('nav a[data-view="history"]')
        expect(page.locator("#runs tbody tr")).to_have_count(2, timeout=15_000)
        page.select_option("#hf-status", "failed")
        expect(page.locator("#runs")).to_contain_text("No runs match.")
        page.select_option("#hf-status", "succeeded")
        techniques = {a["technique"] for a in result["attempts"]}
        page.select_option("#hf-technique", sorted(techniques)[0])
        expect(page.locator(f'#runs tbody tr[data-job-id="{job_id}"]')).to_be_visible()
        page.select_option("#hf-technique", "")
        expect(page.locator("#runs tbody tr")).to_have_count(2)
        page.check(f'.compare-pick[value="{job_id}"]')
        page.check(f'.compare-pick[value="{other_id}"]')
        page.click("#compare-btn")
        expect(page.locator("#compare-table")).to_be_visible()
        ids = [
            page.locator(".compare-pick:checked").nth(i).get_attribute("value") for i in range(2)
        ]
        comparison = api.get("/api/v1/runs/compare", params={"a": ids[0], "b": ids[1]}).json()
        for delta in comparison["metrics"]:
            for k, value in enumerate((delta["a"], delta["b"])):
                cell = page.locator(
                    f'#compare-table [data-metric="{delta["metric"]}"][data-run="{k}"]'
                )
                text = cell.inner_text().split(" ")[0]
                if value is None:
                    assert text == "–"
                else:
                    assert math.isclose(float(text), value, rel_tol=1e-3, abs_tol=1e-9)

        # 8. Versions as a lineage tree; roll back with a confirmation (cancel first).
        page.select_option("#tree-model", str(model_id))
        versions = api.get(f"/api/v1/models/{model_id}/versions").json()
        expect(page.locator("#version-tree li[data-version]")).to_have_count(versions["count"])
        page.click('#version-tree button.rollback[data-version="0"]')
        expect(page.locator("#confirm")).to_be_visible()
        page.click("#confirm-cancel")
        time.sleep(0.3)
        assert api.get(f"/api/v1/models/{model_id}/versions").json()["count"] == versions["count"]
        page.click('#version-tree button.rollback[data-version="0"]')
        page.click("#confirm-ok")
        expect(page.locator("#version-tree li[data-version]")).to_have_count(versions["count"] + 1)
        restored = api.get(f"/api/v1/models/{model_id}/versions").json()["data"][-1]
        assert restored["technique"] == "restore" and restored["config"] == {
            "restored_from_version": 0
        }
        # The restored version hangs under v0 in the tree (its lineage).
        v0 = page.locator('#version-tree li[data-version="0"]')
        expect(v0.locator(f'li[data-version="{restored["version"]}"]')).to_be_visible()
        screenshot(page, "history")

        # 9. Targets: availability with reasons; deploy to onnxruntime, validated vs FP32.
        page.click('nav a[data-view="targets"]')
        targets = api.get("/api/v1/deployments/targets").json()["data"]
        for target in targets:
            row = page.locator(f'#targets tr[data-target="{target["name"]}"]')
            expect(row).to_contain_text("available" if target["available"] else "unavailable")
            expect(row).to_contain_text(target["reason"])
        page.select_option("#d-model", str(model_id))
        page.select_option("#d-target", "onnxruntime")
        page.select_option("#d-precision", "fp32")
        page.click("#deploy-submit")
        expect(page.locator("#validation")).to_contain_text("passed", timeout=90_000)
        deployed = api.get("/api/v1/deployments").json()["data"][0]
        assert deployed["target"] == "onnxruntime" and deployed["result"]["validation"]["passed"]
        expect(page.locator("#deployments tbody tr")).to_have_count(1)
        screenshot(page, "targets")

        # Simulation suites and admin (health, queue, a backup).
        page.click('nav a[data-view="simulation"]')
        suites = api.get("/api/v1/sim/suites").json()
        expect(page.locator("#suites tbody tr")).to_have_count(suites["count"])
        page.click('nav a[data-view="admin"]')
        expect(page.locator("#admin-health")).to_contain_text("sqlite")
        expect(page.locator("#recent-jobs")).to_contain_text(job_id[:8])
        page.click("#backup-now")
        expect(page.locator("#backup-done")).to_contain_text("backed up", timeout=30_000)
        keys = [b["key"] for b in api.get("/api/v1/admin/backups").json()["data"]]
        expect(page.locator("#backups")).to_contain_text(keys[0])
        screenshot(page, "admin")

        # 10. Phone width: no screen scrolls sideways.
        page.set_viewport_size({"width": 390, "height": 844})
        for view in VIEWS:
            page.click(f'nav a[data-view="{view}"]')
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.scrollingElement.scrollWidth")
            assert width <= 390, f"{view} overflows at 390 px: {width}"
        page.goto(f"{server.url}/#/results/{job_id}")
        expect(page.locator("#before-after")).to_be_visible()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        screenshot(page, "phone-results")

        assert console_errors == []
    finally:
        api.close()
        context.close()


def assert_points(page: Any, chart: str, points: list[dict[str, Any]]) -> None:
    drawn = page.locator(f"{chart} g.point")
    assert drawn.count() == len(points)
    labels = [drawn.nth(i).get_attribute("data-label") for i in range(drawn.count())]
    assert sorted(labels) == sorted(p["label"] for p in points)
    front = page.locator(f"{chart} g.point.front")
    assert sorted(front.nth(i).get_attribute("data-label") for i in range(front.count())) == sorted(
        p["label"] for p in points if p["on_front"]
    )
    assert front.count() >= 1
