"""The REST API over a workstation's run directory: a whole round through HTTP, uploads in every
form with every bad row reported, idempotency, limits, live updates, and the security basics."""

from __future__ import annotations

import io
import json
import re

import pytest
from fastapi.testclient import TestClient

from activeloop.errors import InputError
from activeloop.testing.web import SPEC, TOKEN, make_campaign, plate_csv, start_round


def test_without_a_token_every_route_is_401(app):
    with TestClient(app) as anon:
        for path in ("/api/v1/campaigns", "/api/v1/campaigns/gb1", "/api/v1/campaigns/gb1/rounds",
                     "/api/v1/campaigns/gb1/artifacts/campaign.yaml"):
            res = anon.get(path)
            assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer", path
        assert anon.post("/api/v1/campaigns/gb1/rounds:next").status_code == 401
        assert anon.get("/api/v1/campaigns", headers={"Authorization": "Bearer wrong"}).status_code == 401
        page = anon.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=/")


def test_a_round_through_the_api(client):
    (c,) = client.get("/api/v1/campaigns").json()
    assert (c["name"], c["phase"], c["currentRound"], c["roundsPlanned"]) == ("gb1", "Pending", 0, 3)
    started = start_round(client)
    assert started["nextRound"] == 1
    detail = client.get("/api/v1/campaigns/gb1").json()
    assert detail["phase"] == "WaitingForAssays" and detail["pending"] == 12 and detail["librarySize"] == 1000
    assert detail["spec"]["acquisition"]["batchSize"] == 8
    r1 = client.get("/api/v1/campaigns/gb1/rounds/1").json()
    variants = [p["variant"] for p in r1["proposals"]]
    assert len(variants) == 12 and r1["hashes"]["measurementsSha256"] and r1["hashes"]["proposalsSha256"]
    csv = client.get("/api/v1/campaigns/gb1/rounds/1/proposals.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    # the prediction in measured units with its interval, the model's score, and a column to fill in
    assert csv.text.splitlines()[0] == ("variant,rank,predicted,predicted_low,predicted_high,score,score_sd,"
                                        "picked_by,fitness")
    plate96 = client.get("/api/v1/campaigns/gb1/rounds/1/proposals.csv?layout=96").text.splitlines()
    assert plate96[0].startswith("plate,well,variant") and plate96[1].startswith("1,A1,") and plate96[2].startswith("1,B1,")
    assert client.get("/api/v1/campaigns/gb1/rounds/1/proposals.csv?layout=100").status_code == 422
    # the lab sends the plate: round 1 completes; the next round starts on request
    res = client.post("/api/v1/campaigns/gb1/results", content=plate_csv(variants), headers={"Content-Type": "text/csv"})
    assert res.status_code == 200 and res.json()["recorded"] and res.json()["rows"] == 12
    assert client.get("/api/v1/campaigns/gb1").json()["phase"] == "ReadyForNextRound"
    start_round(client)
    rounds = client.get("/api/v1/campaigns/gb1/rounds").json()
    assert [(r["round"], r["phase"]) for r in rounds] == [(1, "Completed"), (2, "WaitingForAssays")]
    r2 = client.get("/api/v1/campaigns/gb1/rounds/2").json()
    assert all(p["low"] <= p["predicted"] <= p["high"] and p["scoreSd"] > 0 for p in r2["proposals"])
    measured = [float(line.split(",")[1]) for line in plate_csv(variants).splitlines()[1:]]
    assert all(min(measured) <= p["predicted"] <= max(measured) for p in r2["proposals"])  # in measured units
    assert rounds[1]["steps"]["acquire"]["cost"]["wallSeconds"] > 0
    history = client.get("/api/v1/campaigns/gb1/history").json()
    assert history[0]["measured"] == 12 and history[0]["best"] == max(
        float(line.split(",")[1]) for line in plate_csv(variants).splitlines()[1:])


def test_a_plate_with_bad_rows_records_nothing_and_names_each(client, runs):
    start_round(client)
    variants = [p["variant"] for p in client.get("/api/v1/campaigns/gb1/rounds/1").json()["proposals"]]
    bad = plate_csv(variants, {2: "V39Z,1.0", 5: f"{variants[5]},abc", 7: "T44A,2"})
    res = client.post("/api/v1/campaigns/gb1/results", files={"file": ("plate1.csv", bad, "text/csv")})
    assert res.status_code == 422
    problems = res.json()["problems"]
    assert [(p["line"], p["column"]) for p in problems] == [(4, "variant"), (7, "value"), (9, "variant")]
    assert "'Z' is not one of the 20 amino acids" in problems[0]["problem"]
    assert not (runs / "gb1" / "assays").exists()
    # fixed and sent again: recorded; the same plate once more: recorded once
    good = plate_csv(variants)
    first = client.post("/api/v1/campaigns/gb1/results", files={"file": ("plate1.csv", good, "text/csv")}).json()
    assert first["recorded"] and first["rows"] == 12
    again = client.post("/api/v1/campaigns/gb1/results", files={"file": ("copy.csv", good, "text/csv")}).json()
    assert not again["recorded"] and again["duplicateOf"] == first["name"]
    assert len(list((runs / "gb1" / "assays").glob("*.json"))) == 1


def test_plates_as_excel_and_json_and_dry_runs(client, runs):
    from openpyxl import Workbook

    start_round(client)
    variants = [p["variant"] for p in client.get("/api/v1/campaigns/gb1/rounds/1").json()["proposals"]]
    wb = Workbook()
    wb.active.append(["Variant", "Fitness", "Status"])
    for v in variants[:4]:
        wb.active.append([v, 1.5, None])
    wb.active.append([variants[4], None, "failed"])
    buf = io.BytesIO()
    wb.save(buf)
    xlsx = ("plate.xlsx", buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    # a misspelt parameter is refused, never ignored (it would record the plate for real)
    typo = client.post("/api/v1/campaigns/gb1/results?dry_run=true", files={"file": xlsx})
    assert typo.status_code == 422 and typo.json()["problems"][0]["column"] == "query.dry_run"
    assert "dryRun" in typo.json()["detail"] and not (runs / "gb1" / "assays").exists()
    dry = client.post("/api/v1/campaigns/gb1/results?dryRun=true", files={"file": xlsx}).json()
    assert dry["dryRun"] and not dry["recorded"] and dry["rows"] == 5 and dry["failed"] == 1
    assert dry["preview"][4] == {"variant": variants[4], "value": None, "failed": True, "values": {},
                                 "replicate": None, "well": None, "control": None}
    assert not (runs / "gb1" / "assays").exists()
    assert client.post("/api/v1/campaigns/gb1/results", files={"file": xlsx}).json()["recorded"]
    rows = [{"variant": v, "value": 2.0} for v in variants[5:7]] + [{"variant": variants[7], "failed": True}]
    res = client.post("/api/v1/campaigns/gb1/results", json={"measurements": rows, "name": "json-plate"})
    assert res.status_code == 200 and res.json()["name"] == "json-plate" and res.json()["failed"] == 1
    bad = client.post("/api/v1/campaigns/gb1/results", json={"measurements": [{"variant": "V39A", "value": 1.0},
                                                                                {"variant": "Q99A", "value": 1}]})
    assert bad.status_code == 422
    assert bad.json()["problems"][0]["column"] == "measurements[1].variant"
    detail = client.get("/api/v1/campaigns/gb1").json()
    assert detail["measured"] == 6 and detail["failed"] == 2


def test_idempotency_keys_and_corrections(client):
    start_round(client)
    variants = [p["variant"] for p in client.get("/api/v1/campaigns/gb1/rounds/1").json()["proposals"]]
    body = plate_csv(variants[:3])
    headers = {"Content-Type": "text/csv", "Idempotency-Key": "plate-7-upload"}
    one = client.post("/api/v1/campaigns/gb1/results", content=body, headers=headers).json()
    two = client.post("/api/v1/campaigns/gb1/results", content=body, headers=headers).json()
    assert one["recorded"] and not two["recorded"] and two["duplicateOf"] == one["name"]
    other = client.post("/api/v1/campaigns/gb1/results", content=plate_csv(variants[3:5]), headers=headers)
    assert other.status_code == 409
    fix = f"variant,value\n{variants[0]},9.5\n"
    res = client.post(f"/api/v1/campaigns/gb1/results?supersedes={one['name']}", content=fix,
                      headers={"Content-Type": "text/csv"})
    assert res.json()["supersedes"] == [one["name"]]
    round1 = {p["variant"]: p for p in client.get("/api/v1/campaigns/gb1/rounds/1").json()["proposals"]}
    assert round1[variants[0]]["measured"] == 9.5 and round1[variants[1]]["measured"] is None


def test_uploads_over_the_limits_are_413(client):
    start_round(client)
    big = "variant,value\n" + "V39A,1.0\n" * 30_000
    res = client.post("/api/v1/campaigns/gb1/results", content=big, headers={"Content-Type": "text/csv"})
    assert res.status_code == 413 and "limit" in res.json()["detail"]
    rows = "variant,value\n" + "".join(f"V39A,{i}\n" for i in range(600))
    res = client.post("/api/v1/campaigns/gb1/results", content=rows, headers={"Content-Type": "text/csv"})
    assert res.status_code == 413 and "500" in res.json()["detail"]


def test_campaigns_are_created_from_json_or_yaml_and_bad_specs_name_the_field(client, runs):
    res = client.post("/api/v1/campaigns", json={"name": "tem1", "spec": SPEC})
    assert res.status_code == 201 and res.json()["name"] == "tem1" and res.json()["phase"] == "Pending"
    manifest = "apiVersion: activeloop.dev/v1alpha1\nkind: Campaign\nmetadata: {name: gfp}\nspec:\n" + "".join(
        f"  {line}\n" for line in json.dumps(SPEC).splitlines())
    res = client.post("/api/v1/campaigns", content=manifest, headers={"Content-Type": "application/yaml"})
    assert res.status_code == 201, res.text
    assert client.post("/api/v1/campaigns", json={"name": "tem1", "spec": SPEC}).status_code == 409
    bad = dict(SPEC, parentSequence="MKBV", acquisition={"strategy": "ei"})
    res = client.post("/api/v1/campaigns", json={"name": "broken", "spec": bad})
    assert res.status_code == 422
    text = res.json()["detail"]
    assert "parentSequence" in text and "residue 3 is 'B'" in text and "acquisition.strategy" in text
    assert not (runs / "broken").exists()
    res = client.post("/api/v1/campaigns", json={"name": "../escape", "spec": SPEC})
    assert res.status_code == 422 and "name" in res.json()["detail"]


def test_artifacts_are_served_but_nothing_outside_the_campaign(client):
    start_round(client)
    assert client.get("/api/v1/campaigns/gb1/artifacts/rounds/round-001/proposals.csv").status_code == 200
    assert client.get("/api/v1/campaigns/gb1/artifacts/campaign.yaml").text.startswith("parentSequence")
    for key in ("../../etc/passwd", "rounds/../../x.csv", "%2e%2e/secret", "assays/x.csv", "/etc/passwd"):
        assert client.get(f"/api/v1/campaigns/gb1/artifacts/{key}").status_code == 404, key
    assert client.get("/api/v1/campaigns/nope").status_code == 404


def test_events_stream_the_state_and_the_version_changes_with_it(client):
    first = client.get("/api/v1/campaigns/gb1/version").json()
    with client.stream("GET", "/api/v1/campaigns/gb1/events?timeout=0.5") as res:
        assert res.headers["content-type"].startswith("text/event-stream")
        text = "".join(res.iter_text())
    assert text.startswith("event: state\ndata: ") and json.loads(text.split("data: ")[1].split("\n")[0]) == first
    start_round(client)
    assert client.get("/api/v1/campaigns/gb1/version").json()["version"] != first["version"]


def test_a_page_carries_the_version_it_shows_so_a_change_before_listening_is_seen(client):
    """The page's script compares the events with the version the page was rendered from: a
    round that finishes between rendering and the first event still reloads the page."""
    def page_version() -> str:
        html = client.get("/campaigns/gb1", headers={"Accept": "text/html"}).text
        return re.search(r'data-version="([0-9a-f]+)"', html).group(1)

    shown = page_version()
    assert shown == client.get("/api/v1/campaigns/gb1/version").json()["version"]
    start_round(client)  # the campaign changes after the page was rendered
    assert client.get("/api/v1/campaigns/gb1/version").json()["version"] != shown
    assert page_version() == client.get("/api/v1/campaigns/gb1/version").json()["version"]


def test_responses_carry_security_headers(client):
    res = client.get("/api/v1/campaigns")
    csp = res.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert res.headers["x-content-type-options"] == "nosniff" and res.headers["x-frame-options"] == "DENY"
    assert res.headers["cache-control"] == "no-store"


def test_cookie_sessions_need_the_csrf_token_and_user_strings_are_escaped(app, runs, tmp_path):
    make_campaign(tmp_path / "x", "evil", dict(SPEC, objective={"name": "<script>alert(1)</script>"}))
    (runs / "evil-campaign").symlink_to(tmp_path / "x" / "runs" / "evil")
    with TestClient(app) as browser:
        res = browser.get(f"/login?token={TOKEN}", follow_redirects=False)
        assert res.status_code == 303 and "httponly" in res.headers["set-cookie"].lower()
        assert "samesite=strict" in res.headers["set-cookie"].lower()
        page = browser.get("/campaigns/evil-campaign")
        assert page.status_code == 200 and "<script>alert(1)</script>" not in page.text
        csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        # a form from another site cannot act: no CSRF token, no round
        assert browser.post("/api/v1/campaigns/gb1/rounds:next").status_code == 403
        assert browser.post("/api/v1/campaigns/gb1/rounds:next", headers={"X-CSRF-Token": "guess"}).status_code == 403
        res = browser.post("/api/v1/campaigns/gb1/rounds:next", headers={"X-CSRF-Token": csrf})
        assert res.status_code == 200
        app.state.service.wait("gb1")
        browser.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert browser.get("/api/v1/campaigns").status_code == 401
    with TestClient(app) as stranger:
        res = stranger.post("/login", data={"token": "nope"}, follow_redirects=False)
        assert res.status_code == 401 and "printed when the server started" in res.text
        assert stranger.get("/login?next=//evil.example/&token=" + TOKEN, follow_redirects=False).headers["location"] == "/"


def test_a_library_is_sized_under_its_constraints_before_a_campaign_starts(app, client):
    body = {"parentSequence": "MNQSTCKLNAYSTG",
            "library": {"sites": [2, {"position": 3, "residues": "ACDN"}, 12], "maxSubstitutions": 2,
                        "forbidden": ["C", "N[^P][ST]"]}}
    with TestClient(app) as anon:
        assert anon.post("/api/v1/library-size", json=body).status_code == 401
    res = client.post("/api/v1/library-size", json=body)
    assert res.status_code == 200, res.text
    size = res.json()
    assert size["combinations"] == 111 and size["variants"] == 111 - size["excluded"] and size["excluded"] > 0
    assert [s["residues"] for s in size["sites"]][1] == "ADN" and size["sites"][1]["parent"] == "Q"
    bad = client.post("/api/v1/library-size", json={**body, "library": {"sites": [2], "forbidden": ["N[^P"]}})
    assert bad.status_code == 422 and "library.forbidden" in bad.text and "column 2" in bad.text
    beyond = client.post("/api/v1/library-size", json={**body, "library": {"sites": [2, 99]}})
    assert beyond.status_code == 422 and beyond.json()["problems"][0]["column"] == "library.sites[1]"


def test_the_new_campaign_form_reads_per_site_residues_and_constraints():
    from activeloop.web.pages.campaigns import spec_from_form

    spec = spec_from_form({"parent": "MNQSTCKLNAYSTG", "sites": "2; 3:acdn, 12", "max_substitutions": "2",
                           "forbidden": "C, N[^P][ST]"})
    assert spec["library"] == {"sites": [2, {"position": 3, "residues": "ACDN"}, 12], "maxSubstitutions": 2,
                               "forbidden": ["C", "N[^P][ST]"]}
    with pytest.raises(InputError, match="library.sites: 'x:AV' \\(item 2\\)"):
        spec_from_form({"parent": "MNQ", "sites": "2, x:AV"})


def test_picks_start_a_round_through_the_api_and_a_bad_one_is_named(client):
    bad = client.post("/api/v1/campaigns/gb1/rounds:next", json={"picks": ["V39A", "V39Q"]})
    assert bad.status_code == 422 and bad.json()["problems"][0]["column"] == "picks[1]"
    assert client.get("/api/v1/campaigns/gb1").json()["currentRound"] == 0  # nothing started
    assert client.post("/api/v1/campaigns/gb1/rounds:next", json={"picks": "V39A"}).status_code == 422
    res = client.post("/api/v1/campaigns/gb1/rounds:next", json={"picks": ["V39A", "V39C:G41W"]})
    assert res.status_code == 200, res.text
    client.app.state.service.wait("gb1")
    props = client.get("/api/v1/campaigns/gb1/rounds/1").json()["proposals"]
    assert [(p["variant"], p["pickedBy"]) for p in props[:3]] == [("V39A", "lab"), ("V39C:G41W", "lab"), (props[2]["variant"], None)]
    csv = client.get("/api/v1/campaigns/gb1/rounds/1/proposals.csv").text.splitlines()
    assert csv[0].endswith(",picked_by,fitness") and csv[1].startswith("V39A,1,") and csv[1].endswith(",lab,")


def test_several_objectives_through_the_api_and_the_page(runs, client):
    from activeloop.testing.web import SPEC, make_campaign

    spec = SPEC | {"objectives": [{"name": "activity"}, {"name": "expression", "threshold": 0.2, "unit": "mg/L"}]}
    make_campaign(runs.parent, "two", spec)
    start_round(client, "two")
    variants = [p["variant"] for p in client.get("/api/v1/campaigns/two/rounds/1").json()["proposals"]]
    csv = client.get("/api/v1/campaigns/two/rounds/1/proposals.csv").text.splitlines()
    assert csv[0].endswith(",picked_by,activity,expression")  # a column to fill in per objective
    rows = [{"variant": v, "value": float(i), **({"values": {"expression": (i % 4) / 4}} if i % 3 else {})}
            for i, v in enumerate(variants)]
    bad = client.post("/api/v1/campaigns/two/results",
                      json={"measurements": [{"variant": variants[0], "value": 1, "values": {"colour": 2}}]})
    assert bad.status_code == 422 and bad.json()["problems"][0]["column"].endswith("values.colour")
    res = client.post("/api/v1/campaigns/two/results", json={"measurements": rows})
    assert res.status_code == 200, res.text
    front = client.get("/api/v1/campaigns/two/pareto").json()
    assert front["objectives"] == ["activity", "expression"] and front["complete"] == 8
    on_front = [(p["variant"], p["values"]["activity"], p["values"]["expression"]) for p in front["points"]]
    measured = [(r["variant"], r["value"], r["values"]["expression"]) for r in rows if r.get("values")]
    assert on_front == sorted([m for m in measured if not any(o[1] >= m[1] and o[2] >= m[2] and o != m
                                                              for o in measured)], key=lambda m: -m[1])
    assert front["reference"] == [0.0, 0.2] and front["hypervolume"] > 0
    assert client.get("/api/v1/campaigns/two").json()["hypervolume"] == pytest.approx(front["hypervolume"])
    start_round(client, "two")
    history = client.get("/api/v1/campaigns/two/history").json()
    assert history[0]["hypervolume"] == pytest.approx(front["hypervolume"])
    page = client.get("/campaigns/two", headers={"Accept": "text/html"}).text
    assert 'id="pareto-table"' in page and "expression (mg/L)" in page and "desirability" in page
    assert client.get("/api/v1/campaigns/gb1/pareto").json()["points"] == []  # one objective: no front


def test_the_new_campaign_form_reads_objectives():
    from activeloop.web.pages.campaigns import spec_from_form

    form = {"parent": "MNQSTCKLNAYSTG", "sites": "2, 3", "objective": "activity", "threshold": "",
            "objective2": "expression", "threshold2": "0,5", "weight2": "2", "objective3": "cost",
            "direction3": "minimize", "multi_objective": "pareto"}
    spec = spec_from_form(form)
    assert spec["objectives"] == [{"name": "activity"}, {"name": "expression", "threshold": 0.5, "weight": 2.0},
                                  {"name": "cost", "direction": "minimize"}]
    assert spec["acquisition"] == {"multiObjective": "pareto"} and "objective" not in spec
    assert spec_from_form({"parent": "MNQ", "sites": "2", "objective": "kcat", "weight": "3"})["objective"] == {
        "name": "kcat"}
    with pytest.raises(InputError, match=r"objectives\[1\].threshold"):
        spec_from_form(form | {"threshold2": "half"})
