"""A scientist's round in a real browser (Debian's Chromium, headless, driven by Playwright): sign
in with the token, create a campaign, start round 1, download its proposals, upload a plate with a
bad row (see it, nothing recorded), fix it, record it, start round 2, see the curve and the new
proposals. Screenshots of each page go to $ACTIVELOOP_SCREENSHOTS (else a temporary folder)."""

from __future__ import annotations

import io
import os
import re
import socket
import threading
import time
from contextlib import contextmanager
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


@contextmanager
def serving(app):
    """``app`` served by uvicorn on a free local port, in a thread."""
    import uvicorn

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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture
def server(tmp_path):
    from activeloop.service.rundir import RunDirService
    from activeloop.web.app import Settings, create_app
    from activeloop.web.auth import SharedToken

    runs = tmp_path / "runs"
    runs.mkdir()
    app = create_app(RunDirService(runs), SharedToken(TOKEN), Settings(poll_seconds=0.5))
    with serving(app) as url:
        yield url, app, runs


AXE = Path(__file__).resolve().parents[2] / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def axe_check(page, where: str) -> None:
    """axe-core (from npm: `make axe`) on the page as it is: no serious or critical violation.
    It is evaluated through the DevTools protocol, which the page's CSP does not govern."""
    if not AXE.is_file():
        if os.environ.get("ACTIVELOOP_REQUIRE_BROWSER"):
            raise RuntimeError(f"axe-core is missing ({AXE}): make axe")
        pytest.skip(f"axe-core is not installed ({AXE}): make axe (npm install axe-core)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.filter(v => ["serious", "critical"].includes(v.impact))
          .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.html)}));
    }""")
    assert found == [], f"accessibility violations on {where}: {found}"


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
        missing: list[str] = []
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 and "/nope" not in r.url else None)

        try:
            _a_round(page, url, runs, shots, tmp_path)
        except Exception as exc:  # the page as it was, for whoever reads the CI log
            page.screenshot(path=shots / "failure.png", full_page=True)
            raise AssertionError(f"{exc}\n--- the page at {page.url}:\n{page.inner_text('body')[:3000]}") from exc
        assert errors == [] and missing == []  # no script error, no missing file (a favicon included)
        browser.close()


def _a_round(page, url, runs, shots, tmp_path) -> None:
    from playwright.sync_api import expect

    # a first visit: the sign-in page, with no error on it
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator(".error")).to_have_count(0)
    page.screenshot(path=shots / "login.png")
    axe_check(page, "the sign-in page")
    page.fill("#token", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("not known here")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Campaigns")

    # a new GB1 campaign: the parent pasted as FASTA, sites picked on the sequence
    page.click("text=New campaign")
    axe_check(page, "the new-campaign page")
    page.fill("#name", "Not A Name!")
    assert page.eval_on_selector("#name", "e => e.checkValidity()") is False  # the browser checks the pattern
    page.fill("#name", "gb1-lab")
    assert page.eval_on_selector("#name", "e => e.checkValidity()") is True
    page.fill("#parent", ">GB1 protein G domain B1\n" + GB1_PARENT[:30] + "\n" + GB1_PARENT[30:])
    page.fill("#alphabet", "ACDEFGHIKW")
    for site in (39, 40, 41):
        page.locator("#sequence span").nth(site - 1).click()
    expect(page.locator("#sites")).to_have_value("39, 40, 41")
    # the size under the constraints, counted by the server as they are typed
    expect(page.locator("#library-size")).to_contain_text("1,000 variants (10^3)")
    page.fill("#max_substitutions", "2")  # V39 is not in the alphabet: every variant changes it
    expect(page.locator("#library-size")).to_contain_text("190 variants (10^3, at most 2 substitutions)")
    page.fill("#sites", "39, 40:DEW, 41")
    expect(page.locator("#library-sites li").nth(1)).to_have_text("D40: DEW (3)")
    page.fill("#forbidden", "N[^P")
    expect(page.locator("#library-size")).to_contain_text("the '[' at column 2 is never closed")
    page.fill("#forbidden", "")
    page.fill("#max_substitutions", "")
    page.fill("#sites", "39, 40, 41")
    expect(page.locator("#library-size")).to_contain_text("1,000 variants (10^3)")
    page.fill("#initial", "12")
    page.fill("#batch", "8")
    page.fill("#rounds", "2")
    page.screenshot(path=shots / "new-campaign.png", full_page=True)
    page.click("text=Create campaign")
    expect(page.locator("h1")).to_have_text("gb1-lab")
    expect(page.locator("#phase")).to_have_text("Pending")
    expect(page.locator("#next-round")).to_have_class(re.compile("primary"))

    # round 1: started here; the page updates itself when the proposals are ready
    page.click("#next-round")
    expect(page.locator("#proposals h2")).to_have_text("Proposals of round 1", timeout=60_000)
    # with results pending, recording is the primary action, starting a round a secondary one
    expect(page.locator("#primary-action")).to_have_text("Record a plate")
    expect(page.locator("#next-round")).to_have_class(re.compile("secondary"))
    axe_check(page, "a campaign waiting for results")
    with page.expect_download() as download:
        page.locator("#proposals a", has_text="CSV").first.click()
    csv = Path(download.value.path()).read_text().splitlines()
    variants = [line.split(",")[0] for line in csv[1:]]
    assert csv[0].startswith("variant,rank,predicted") and len(variants) == 12

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
    axe_check(page, "an upload's problems")
    assert not (runs / "gb1-lab" / "assays").exists()

    # fixed: checked, previewed, recorded; the confirmation stays, on the plate's own page
    good = tmp_path / "plate1-fixed.csv"
    good.write_text("\n".join(["variant,value"] + [f"{v},{LAB.fitness(v):.5f}" for v in variants]) + "\n")
    page.set_input_files("#file", str(good))
    expect(page.locator("#upload-outcome")).to_contain_text("All 12 rows of plate1-fixed.csv are good")
    page.click("#record-button")
    expect(page.locator("#recorded-notice")).to_contain_text("Recorded 12 measurements as plate1-fixed")
    time.sleep(1.5)  # the confirmation is not taken away by a refresh
    expect(page.locator("#recorded-notice")).to_be_visible()
    page.click("text=Back to the campaign")
    expect(page.locator("#phase")).to_have_text("ReadyForNextRound", timeout=30_000)
    expect(page.locator("#plate-table")).to_contain_text("plate1-fixed")
    expect(page.locator("#next-round")).to_have_class(re.compile("primary"))

    # round 2: the model's proposals, with predictions; the curve has a point per round
    page.click("#next-round")
    expect(page.locator("#proposals h2")).to_have_text("Proposals of round 2", timeout=120_000)
    expect(page.locator("svg.chart").first).to_be_visible()
    predicted = page.locator("#proposal-table tbody tr").first.locator("td").nth(2)
    assert predicted.inner_text() not in ("", "—")
    # times are shown in the browser's own time zone (the server writes UTC)
    assert "UTC" not in page.locator("#activity time").first.inner_text()
    page.screenshot(path=shots / "campaign.png", full_page=True)
    page.goto(url + "/")
    expect(page.locator("#campaigns tbody tr")).to_have_count(1)
    expect(page.locator("#campaigns")).to_contain_text("2 of 3")
    axe_check(page, "the campaigns list")
    page.screenshot(path=shots / "campaigns.png")
    page.goto(url + "/campaigns/nope")
    axe_check(page, "an error page")


@pytest.fixture
def hook():
    """A webhook receiver on 127.0.0.1 (a lab's Slack channel, as far as the test knows)."""
    from activeloop.testing.receivers import webhook

    with webhook() as receiver:
        yield receiver.url, receiver.got


@pytest.fixture
def lab_server(tmp_path, hook):
    """A workstation with two named people, and a campaign whose plates carry parent and blank
    control wells, normalised by their parent wells, telling the lab's webhook of its events."""
    from activeloop.lifecycle.notify import Notifier, Settings
    from activeloop.service.rundir import RunDirService
    from activeloop.testing.web import SPEC, make_campaign
    from activeloop.web.app import Settings as WebSettings
    from activeloop.web.app import create_app
    from activeloop.web.auth import NamedTokens, add_user, read_users

    users = tmp_path / "users.txt"
    tokens = {name: add_user(users, name) for name in ("alice", "bob")}
    spec = {**SPEC, "plates": {"controls": [{"kind": "parent", "wells": ["H11", "H12"]},
                                            {"kind": "blank", "wells": ["G12"]}], "normalize": "parentRatio"},
            "notify": {"webhook": hook[0]}}
    make_campaign(tmp_path, "gb1", spec)
    service = RunDirService(tmp_path / "runs", notifier=Notifier(Settings(page_url="http://lab.example")))
    app = create_app(service, NamedTokens(read_users(users)), WebSettings(poll_seconds=0.5))
    with serving(app) as url:
        yield url, tokens, tmp_path / "runs", service


def reader_export(placed: dict[str, tuple[str | None, str | None]], brightness: float, title: str,
                  change: dict[str, str] | None = None) -> str:
    """What a plate reader writes: a title row, every well of the plate by name (A01 .. H12), values
    with decimal commas; the parent wells read ``brightness``, the variants ``brightness x fitness``."""
    lines = [title, "Well;Value"]
    for row in "ABCDEFGH":
        for col in range(1, 13):
            variant, control = placed.get(f"{row}{col}", (None, None))
            value = (brightness if control == "parent" else 0.02 if control == "blank" else
                     brightness * LAB.fitness(variant) if variant else 0.0)
            text = (change or {}).get(f"{row}{col}", f"{value:.6f}".replace(".", ","))
            lines.append(f"{row}{col:02d};{text}")
    return "\n".join(lines) + "\n"


def test_the_lab_record_in_the_browser(lab_server, hook, shots, tmp_path):
    from openpyxl import load_workbook
    from playwright.sync_api import expect, sync_playwright
    from typer.testing import CliRunner

    from activeloop.cli import app as cli

    url, tokens, runs, _ = lab_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
        page.on("dialog", lambda dialog: dialog.accept())
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            # alice signs in with her own token; round 1 starts, and the lab's channel hears of it
            page.goto(url + "/login")
            page.fill("#token", tokens["alice"])
            page.click("button[type=submit]")
            expect(page.locator("header .who")).to_contain_text("alice")
            page.goto(url + "/campaigns/gb1")
            page.click("#next-round")
            expect(page.locator("#proposals h2")).to_have_text("Proposals of round 1", timeout=60_000)
            deadline = time.monotonic() + 10
            while not hook[1] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert [m["event"] for m in hook[1]] == ["proposalsReady"] and "round 1" in hook[1][0]["text"]

            # the plate map to pipette from, as a workbook: controls in their wells, a column to fill
            with page.expect_download() as download:
                page.locator("#proposals a", has_text="96-well plate map (Excel)").click()
            ws = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
            rows = list(ws.iter_rows(values_only=True))
            assert rows[0][:4] == ("plate", "well", "variant", "control") and rows[0][-1] == "fitness"
            placed = {r[1]: (r[2], r[3]) for r in rows[1:]}
            assert placed["H11"] == ("WT", "parent") and placed["G12"] == (None, "blank")

            # the reader's export, by well, read on a bright day: recorded with the plate map
            export = tmp_path / "reader-day1.csv"
            export.write_text(reader_export(placed, 2.0, "SpectraMax M5 export 2026-12-02"))
            page.select_option("#layout", "96")
            page.set_input_files("#file", str(export))
            outcome = page.locator("#upload-outcome")
            expect(outcome).to_contain_text("All 15 rows of reader-day1.csv are good")
            expect(outcome).to_contain_text("1 title row(s) above the header skipped")
            expect(outcome).to_contain_text("81 well(s) the plate map leaves empty left out")
            expect(outcome).to_contain_text("Control parent: 2 wells, mean 2.000")
            page.click("#record-button")
            notice = page.locator("#recorded-notice")
            expect(notice).to_contain_text("Recorded 15 measurements as reader-day1")
            expect(page.locator("svg.plate")).to_be_visible()
            expect(page.locator("#control-table")).to_contain_text("parent")
            expect(page.locator("dl.facts")).to_contain_text("alice")
            page.screenshot(path=shots / "plate-map.png", full_page=True)
            axe_check(page, "a plate's page")
            plate_url = page.url.split("?")[0]
            # normalised by the parent wells: the bright day divided out
            wells = {r.locator("td").nth(1).inner_text(): r.locator("td").nth(3).inner_text()
                     for r in page.locator("#well-table tbody tr").all()}
            variant = next(v for v, _ in placed.values() if v and v != "WT")
            assert float(wells[variant]) == pytest.approx(LAB.fitness(variant), rel=1e-3)

            # bob corrects a misread well: what changes is shown before anything is recorded
            page.click("form[action='/logout'] button")
            page.goto(url + "/login")
            page.fill("#token", tokens["bob"])
            page.click("button[type=submit]")
            page.goto(plate_url)
            well = next(w for w, (v, c) in placed.items() if v and not c)
            fixed = tmp_path / "reader-day1-fixed.csv"
            fixed.write_text(reader_export(placed, 2.0, "SpectraMax M5 export 2026-12-02 (re-read)",
                                           change={well: "9,5"}))
            page.select_option("#layout", "96")
            page.set_input_files("#file", str(fixed))
            changes = page.locator("#upload-outcome table.changes")
            expect(changes.locator("tbody tr")).to_have_count(1)
            expect(changes).to_contain_text(placed[well][0])
            expect(page.locator("#upload-outcome")).to_contain_text("leaves 11 as they were")
            page.screenshot(path=shots / "correction-preview.png", full_page=True)
            axe_check(page, "a correction's preview")
            page.click("#record-button")
            expect(page.locator("#recorded-notice")).to_contain_text("correcting reader-day1")

            # the campaign's plate list: both plates, who recorded each, which corrects which
            page.click("text=Back to the campaign")
            table = page.locator("#plate-table")
            expect(table.locator("tbody tr")).to_have_count(2)
            expect(table).to_contain_text("alice")
            expect(table).to_contain_text("bob")
            expect(table).to_contain_text("corrected by reader-day1-fixed")
            expect(page.locator("#activity")).to_contain_text("corrected reader-day1")
            page.screenshot(path=shots / "plates.png", full_page=True)

            # exports, opened back: the measurements as a workbook, the campaign as an archive
            with page.expect_download() as download:
                page.locator("#campaign a", has_text="Excel").click()
            sheet = list(load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active.iter_rows(values_only=True))
            assert sheet[0][:3] == ("variant", "value", "failed") and len(sheet) == 13
            with page.expect_download() as download:
                page.locator("#campaign a", has_text="archive").click()
            archive = tmp_path / "gb1.zip"
            download.value.save_as(archive)
            res = CliRunner().invoke(cli, ["init", "--from", str(archive), "--run-dir", str(tmp_path / "again")])
            assert res.exit_code == 0, res.output
            from activeloop.service.rundir import RunDirService, local_user

            carried = RunDirService(tmp_path / "again").plates(local_user(), "again")
            assert {v.name: v.recorded_by for v in carried} == {"reader-day1": "alice", "reader-day1-fixed": "bob"}

            # the REST API's page, served by the server itself
            page.goto(url + "/api/v1/docs")
            expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
            expect(page.locator("body")).to_contain_text("/api/v1/campaigns/{name}/plates")
            page.screenshot(path=shots / "api-docs.png")
        except Exception as exc:
            page.screenshot(path=shots / "failure-record.png", full_page=True)
            raise AssertionError(f"{exc}\n--- the page at {page.url}:\n{page.inner_text('body')[:3000]}") from exc
        assert errors == []
        browser.close()


def test_a_plate_is_recorded_with_the_keyboard_alone(lab_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from activeloop.testing.web import plate_csv

    url, tokens, runs, service = lab_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(url + "/login")
        page.keyboard.type(tokens["alice"])  # the token field has the focus
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Campaigns")
        page.goto(url + "/campaigns/gb1")

        def tab_to(selector: str, limit: int = 60) -> None:
            for _ in range(limit):
                page.keyboard.press("Tab")
                if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
                    return
            raise AssertionError(f"{selector} cannot be reached with Tab")

        tab_to("#next-round")
        page.keyboard.press("Enter")
        expect(page.locator("#proposals h2")).to_have_text("Proposals of round 1", timeout=60_000)
        service.wait("gb1")  # the round's last files written: the page will not refresh under the keys
        page.reload()
        variants = [r.locator("td").nth(1).inner_text() for r in page.locator("#proposal-table tbody tr").all()]
        rows = plate_csv(variants).splitlines()
        plate = tmp_path / "keyboard.csv"  # by variant name, with its parent wells in a control column
        plate.write_text("\n".join([rows[0] + ",control"] + [r + "," for r in rows[1:]] + ["WT,1.0,parent"]) + "\n")
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        for attempt in range(2):  # on a loaded machine Chromium has once missed the first key press
            tab_to("#file")
            try:
                with page.expect_file_chooser(timeout=15_000) as chooser:
                    page.keyboard.press("Space")
                break
            except PlaywrightTimeout:
                if attempt:
                    raise
        chooser.value.set_files(str(plate))
        expect(page.locator("#upload-outcome")).to_contain_text("All 13 rows of keyboard.csv are good")
        tab_to("#record-button")
        page.keyboard.press("Enter")
        expect(page.locator("#recorded-notice")).to_contain_text("Recorded 13 measurements as keyboard")
        browser.close()


def test_two_objectives_in_the_browser(server, shots, tmp_path):
    """A campaign with activity and expression: a plate with a column for each (a well missing
    expression), then the Pareto front, its chart and the hypervolume by round on the page."""
    from playwright.sync_api import expect, sync_playwright

    from activeloop.testing.web import SPEC, make_campaign, plate_csv

    url, app, runs = server
    make_campaign(runs.parent, "two", SPEC | {"objectives": [
        {"name": "activity"}, {"name": "expression", "threshold": 0.25, "unit": "mg/L"}]})
    service = app.state.service
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(url + "/login")
        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        page.goto(url + "/campaigns/two")
        page.click("#next-round")
        expect(page.locator("#proposals h2")).to_have_text("Proposals of round 1", timeout=60_000)
        service.wait("two")
        page.reload()
        variants = [r.locator("td").nth(1).inner_text() for r in page.locator("#proposal-table tbody tr").all()]
        values = [line.split(",")[1] for line in plate_csv(variants).splitlines()[1:]]
        rows = [f"{v},{a},{'' if i == 0 else round(1 - (i % 6) / 5, 2)}" for i, (v, a) in enumerate(zip(variants, values))]
        plate = tmp_path / "two.csv"
        plate.write_text("variant,activity,expression (mg/L)\n" + "\n".join(rows) + "\n")
        page.set_input_files("#file", str(plate))
        expect(page.locator("#upload-outcome")).to_contain_text("All 12 rows of two.csv are good")
        page.click("#record-button")
        expect(page.locator("#recorded-notice")).to_contain_text("Recorded 12 measurements as two")
        page.goto(url + "/campaigns/two")
        expect(page.locator("#pareto h2")).to_have_text("Objectives: the Pareto front")
        expect(page.locator("#pareto svg.chart")).to_be_visible()
        front = page.locator("#pareto-table tbody tr")
        assert front.count() >= 1
        expect(page.locator("#hypervolume-table tbody tr").first.locator("td").nth(2)).not_to_have_text("—")
        page.click("#next-round")
        expect(page.locator("#proposals h2")).to_have_text("Proposals of round 2", timeout=120_000)
        axe_check(page, "a campaign with two objectives")
        page.locator("#pareto").screenshot(path=shots / "pareto.png")
        browser.close()
