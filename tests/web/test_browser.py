"""A scientist's round in a real browser (Debian's Chromium, headless, driven by Playwright): sign
in with the token, create a campaign, start round 1, download its proposals, upload a plate with a
bad row (see it, nothing recorded), fix it, record it, start round 2, see the curve and the new
proposals. Screenshots of each page go to $ACTIVELOOP_SCREENSHOTS (else a temporary folder)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from activeloop.landscapes import GB1_PARENT
from activeloop.testing.web import LAB, TOKEN

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file() and os.environ.get("ACTIVELOOP_REQUIRE_BROWSER"):  # CI: never skip silently
    raise RuntimeError("ACTIVELOOP_REQUIRE_BROWSER is set but /usr/bin/chromium is missing: make system-deps")
pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=(
    "Debian's chromium is not installed (/usr/bin/chromium): make system-deps (apt-get install chromium)"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture
def server(tmp_path):
    import uvicorn

    from activeloop.service.rundir import RunDirService
    from activeloop.web.app import Settings, create_app
    from activeloop.web.auth import SharedToken

    runs = tmp_path / "runs"
    runs.mkdir()
    app = create_app(RunDirService(runs), SharedToken(TOKEN), Settings(poll_seconds=0.5))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app, runs
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("ACTIVELOOP_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_scientist_runs_a_round_in_the_browser(server, shots, tmp_path):
    from playwright.sync_api import sync_playwright

    url, app, runs = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("dialog", lambda dialog: dialog.accept())
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        try:
            _a_round(page, url, runs, shots, tmp_path)
        except Exception as exc:  # the page as it was, for whoever reads the CI log
            page.screenshot(path=shots / "failure.png", full_page=True)
            raise AssertionError(f"{exc}\n--- the page at {page.url}:\n{page.inner_text('body')[:3000]}") from exc
        assert errors == []
        browser.close()


def _a_round(page, url, runs, shots, tmp_path) -> None:
    from playwright.sync_api import expect

    # sign in with the token the server printed
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.screenshot(path=shots / "login.png")
    page.fill("#token", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("not this server's")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Campaigns")

    # a new GB1 campaign: the parent pasted as FASTA, sites picked on the sequence
    page.click("text=New campaign")
    page.fill("#name", "gb1-lab")
    page.fill("#parent", ">GB1 protein G domain B1\n" + GB1_PARENT[:30] + "\n" + GB1_PARENT[30:])
    page.fill("#alphabet", "ACDEFGHIKW")
    for site in (39, 40, 41):
        page.locator("#sequence span").nth(site - 1).click()
    expect(page.locator("#sites")).to_have_value("39,40,41")
    expect(page.locator("#library-size")).to_contain_text("10^3 = 1,000 variants")
    page.fill("#initial", "12")
    page.fill("#batch", "8")
    page.fill("#rounds", "2")
    page.screenshot(path=shots / "new-campaign.png", full_page=True)
    page.click("text=Create campaign")
    expect(page.locator("h1")).to_have_text("gb1-lab")
    expect(page.locator("#phase")).to_have_text("Pending")

    # round 1: started here; the page updates itself when the proposals are ready
    page.click("#next-round")
    expect(page.locator("#proposals h2")).to_have_text("Proposals of round 1", timeout=60_000)
    with page.expect_download() as download:
        page.locator("#proposals a.button", has_text="CSV").click()
    csv = Path(download.value.path()).read_text().splitlines()
    variants = [line.split(",")[0] for line in csv[1:]]
    assert csv[0].startswith("variant,rank") and len(variants) == 12

    # a plate with one bad row: every problem shown with line and column; nothing recorded
    lines = ["variant,value"] + [f"{v},{LAB.fitness(v):.5f}" for v in variants]
    lines[4] = "V39Z,1.0"
    bad = tmp_path / "plate1.csv"
    bad.write_text("\n".join(lines) + "\n")
    page.set_input_files("#file", str(bad))
    problems = page.locator("#upload-outcome table.problems")
    expect(problems).to_contain_text("variant")
    expect(problems.locator("tbody tr")).to_have_count(1)
    expect(problems.locator("tbody tr td").first).to_have_text("5")
    page.screenshot(path=shots / "upload-problems.png", full_page=True)
    assert not (runs / "gb1-lab" / "assays").exists()

    # fixed: checked, previewed, recorded
    good = tmp_path / "plate1-fixed.csv"
    good.write_text("\n".join(["variant,value"] + [f"{v},{LAB.fitness(v):.5f}" for v in variants]) + "\n")
    page.set_input_files("#file", str(good))
    expect(page.locator("#upload-outcome")).to_contain_text("All 12 rows of plate1-fixed.csv are good")
    page.click("#record-button")
    expect(page.locator("#phase")).to_have_text("ReadyForNextRound", timeout=30_000)

    # round 2: the model's proposals, with predictions; the curve has a point per round
    page.click("#next-round")
    expect(page.locator("#proposals h2")).to_have_text("Proposals of round 2", timeout=120_000)
    expect(page.locator("svg.chart").first).to_be_visible()
    predicted = page.locator("#proposal-table tbody tr").first.locator("td").nth(2)
    assert predicted.inner_text() not in ("", "—")
    page.screenshot(path=shots / "campaign.png", full_page=True)
    page.goto(url + "/")
    expect(page.locator("#campaigns tbody tr")).to_have_count(1)
    expect(page.locator("#campaigns")).to_contain_text("2 of 3")
    page.screenshot(path=shots / "campaigns.png")
