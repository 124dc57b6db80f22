"""The lab's record through the REST API on a workstation: plates listed with who recorded them
and their files as sent, corrections previewed before they are recorded, a reader's export by
well with controls and normalisation, exports opened back (Excel with openpyxl, the archive
started again with `init --from`), named people, and the activity feed."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from activeloop.testing.web import LAB, SPEC, TOKEN, make_campaign, plate_csv, start_round


def proposals_of(client, n: int = 1, name: str = "gb1") -> list[str]:
    return [p["variant"] for p in client.get(f"/api/v1/campaigns/{name}/rounds/{n}").json()["proposals"]]


def test_plates_are_listed_with_who_recorded_them_and_their_files_as_sent(client):
    start_round(client)
    variants = proposals_of(client)
    sent = ("Plate reader export 2026-12-02, GB1 binding assay\n" + plate_csv(variants[:6])).encode()
    res = client.post("/api/v1/campaigns/gb1/results", files={"file": ("day1 plate.csv", sent, "text/csv")})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["recorded"] and body["skippedRows"] == 1 and body["name"] == "day1-plate"
    (plate,) = client.get("/api/v1/campaigns/gb1/plates").json()
    assert (plate["name"], plate["recordedBy"], plate["rows"], plate["round"], plate["original"]) == (
        "day1-plate", "lab", 6, 1, True)
    assert plate["source"] == "day1 plate.csv" and plate["recordedAt"].endswith("Z")
    original = client.get("/api/v1/campaigns/gb1/plates/day1-plate/file")
    assert original.status_code == 200 and original.content == sent
    assert 'filename="day1-plate.csv"' in original.headers["content-disposition"]
    detail = client.get("/api/v1/campaigns/gb1/plates/day1-plate").json()
    assert [w["variant"] for w in detail["wellsDetail"]] == variants[:6]
    # rows sent as JSON have no file: the rows are the record
    client.post("/api/v1/campaigns/gb1/results", json={"measurements": [{"variant": variants[7], "value": 1.0}],
                                                      "name": "json-rows"})
    assert client.get("/api/v1/campaigns/gb1/plates/json-rows/file").status_code == 404
    assert client.get("/api/v1/campaigns/gb1/plates/nope").status_code == 404


def test_a_correction_shows_what_it_changes_before_it_is_recorded(client):
    start_round(client)
    variants = proposals_of(client)
    client.post("/api/v1/campaigns/gb1/results", files={"file": ("p1.csv", plate_csv(variants[:4]), "text/csv")})
    # one value as it was, one changed, one failed after all, one dropped, one added
    fixed = (f"variant,value\n{variants[0]},{LAB.fitness(variants[0]):.6f}\n{variants[1]},9.5\n"
             f"{variants[3]},failed\n{variants[5]},0.25\n")
    preview = client.post("/api/v1/campaigns/gb1/results?dryRun=true&supersedes=p1",
                          files={"file": ("p1-fixed.csv", fixed, "text/csv")}).json()
    changes = {c["variant"]: c for c in preview["changes"]}
    assert changes[variants[1]]["kind"] == "changed" and changes[variants[1]]["after"] == 9.5
    assert changes[variants[3]]["afterFailed"] and changes[variants[2]]["kind"] == "removed"
    assert changes[variants[5]] == {"variant": variants[5], "before": None, "after": 0.25, "beforeFailed": False,
                                    "afterFailed": False, "kind": "added"}
    assert preview["unchanged"] == 1 and not preview["recorded"]
    assert len(client.get("/api/v1/campaigns/gb1/plates").json()) == 1  # nothing recorded yet
    done = client.post("/api/v1/campaigns/gb1/results?supersedes=p1",
                       files={"file": ("p1-fixed.csv", fixed, "text/csv")}).json()
    assert done["recorded"] and len(done["changes"]) == 4
    plates = {p["name"]: p for p in client.get("/api/v1/campaigns/gb1/plates").json()}
    assert plates["p1"]["supersededBy"] == "p1-fixed" and plates["p1"]["phase"] == "Superseded"
    assert plates["p1-fixed"]["supersedes"] == ["p1"]
    feed = client.get("/api/v1/campaigns/gb1/activity").json()
    assert feed[0]["kind"] == "correction" and feed[0]["who"] == "lab" and "corrected p1" in feed[0]["text"]
    # a correction of a plate that does not exist names the ones that do
    res = client.post("/api/v1/campaigns/gb1/results?supersedes=p9", files={"file": ("x.csv", fixed, "text/csv")})
    assert res.status_code == 422 and "p9" in res.json()["detail"] and "p1" in res.json()["detail"]


def test_a_reader_export_by_well_with_controls_is_normalised_by_its_parent_wells(tmp_path):
    from activeloop.service.rundir import RunDirService
    from activeloop.web.app import Settings, create_app
    from activeloop.web.auth import SharedToken

    spec = {**SPEC, "plates": {"controls": [{"kind": "parent", "wells": ["H11", "H12"]},
                                            {"kind": "blank", "wells": ["G12"]}],
                               "normalize": "parentRatio", "controlTolerance": 0.2}}
    make_campaign(tmp_path, "wells", spec)
    app = create_app(RunDirService(tmp_path / "runs"), SharedToken(TOKEN), Settings())
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        start_round(client, "wells")
        # the plate map ActiveLoop gives out: controls in their wells, an empty column to fill
        sheet = client.get("/api/v1/campaigns/wells/rounds/1/proposals.xlsx?layout=96")
        assert sheet.headers["content-type"].startswith("application/vnd.openxmlformats")
        ws = load_workbook(io.BytesIO(sheet.content)).active
        rows = list(ws.iter_rows(values_only=True))
        header = list(rows[0])
        assert header[:4] == ["plate", "well", "variant", "control"] and header[-1] == "fitness"
        placed = {r[1]: (r[2], r[3]) for r in rows[1:]}
        assert placed["H11"] == ("WT", "parent") and placed["G12"] == (None, "blank") and len(placed) == 15
        assert all(r[-1] is None for r in rows[1:])  # the value column, empty
        # the reader writes every well by its name, with decimal commas and a title row
        day = 2.0  # a brighter day: everything reads twice as high
        lines = ["SpectraMax export;GB1", "Well;Value"]
        for row in range(8):
            for col in range(1, 13):
                well = f"{'ABCDEFGH'[row]}{col:02d}"
                variant, control = placed.get(well.replace("0", "", 1) if col < 10 else well, (None, None))
                if control == "parent":
                    value = day * 1.0
                elif control == "blank":
                    value = 0.01
                elif variant:
                    value = day * LAB.fitness(variant)
                else:
                    value = 0.0
                lines.append(f"{well};{str(round(value, 6)).replace('.', ',')}")
        body = ("\n".join(lines) + "\n").encode()
        res = client.post("/api/v1/campaigns/wells/results?layout=96", files={"file": ("reader.csv", body, "text/csv")})
        assert res.status_code == 200, res.text
        out = res.json()
        assert out["recorded"] and out["decimal"] == "," and out["skippedRows"] == 1 and out["skippedWells"] == 96 - 15
        assert [c["kind"] for c in out["controls"]] == ["parent", "blank"] and out["controls"][0]["mean"] == 2.0
        measured = {m: v for m, v in (line.split(",")[:2] for line in
                                      client.get("/api/v1/campaigns/wells/measurements.csv").text.splitlines()[1:])}
        assert len(measured) == 12 and "WT" not in measured  # controls are not measurements
        for variant, value in measured.items():  # the day's brightness divided out
            assert float(value) == pytest.approx(LAB.fitness(variant), abs=1e-5)
        plate = client.get(f"/api/v1/campaigns/wells/plates/{out['name']}").json()
        assert plate["wells"] and plate["normalize"] == "parentRatio" and plate["drift"] == []
        assert {w["well"] for w in plate["wellsDetail"] if w["control"] == "parent"} == {"H11", "H12"}
        # a second plate whose parent wells disagree is flagged
        drift = body.decode().replace("H11;2,0", "H11;3,0").replace("H12;2,0", "H12;1,2").encode()
        res = client.post("/api/v1/campaigns/wells/results?layout=96&dryRun=true",
                          files={"file": ("reader2.csv", drift, "text/csv")}).json()
        assert any("parent wells vary by" in d for d in res["drift"]), res["drift"]
        # a plate without parent wells cannot be normalised: refused, nothing recorded
        res = client.post("/api/v1/campaigns/wells/results", content=plate_csv(proposals_of(client, 1, "wells")[:2]),
                          headers={"Content-Type": "text/csv"})
        assert res.status_code == 422 and "no parent well" in res.json()["problems"][0]["problem"]


def test_exports_open_back_and_the_archive_starts_the_campaign_again(client, runs, tmp_path):
    from typer.testing import CliRunner

    from activeloop.cli import app as cli

    start_round(client)
    variants = proposals_of(client)
    client.post("/api/v1/campaigns/gb1/results", files={"file": ("p1.csv", plate_csv(variants), "text/csv")})
    start_round(client)
    xlsx = client.get("/api/v1/campaigns/gb1/measurements.xlsx")
    ws = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("variant", "value", "failed") and len(rows) == 13
    assert {r[0]: r[1] for r in rows[1:]} == pytest.approx({v: round(LAB.fitness(v), 6) for v in variants})
    archive = client.get("/api/v1/campaigns/gb1/archive.zip")
    assert archive.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert {"manifest.json", "campaign.yaml", "assays/p1.csv", "assays/originals/p1.csv",
            "rounds/round-002/proposals.csv"} <= set(names)
    assert not any("/model/" in n for n in names)
    (tmp_path / "gb1.zip").write_bytes(archive.content)
    res = CliRunner().invoke(cli, ["init", "--from", str(tmp_path / "gb1.zip"), "--run-dir", str(tmp_path / "again")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["status", "--run-dir", str(tmp_path / "again")])
    assert "round 2 of 3" in res.output and "12 variants measured" in res.output and "8 proposals pending" in res.output
    # an altered archive is refused, naming the file
    altered = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive.content)) as src, zipfile.ZipFile(altered, "w") as dst:
        for n in src.namelist():
            dst.writestr(n, src.read(n) + (b"V39A,99\n" if n == "assays/p1.csv" else b""))
    (tmp_path / "bad.zip").write_bytes(altered.getvalue())
    res = CliRunner().invoke(cli, ["init", "--from", str(tmp_path / "bad.zip"), "--run-dir", str(tmp_path / "bad")])
    assert res.exit_code != 0 and "assays/p1.csv" in res.output and "SHA-256" in res.output
    assert not (tmp_path / "bad" / "campaign.yaml").exists()


def test_each_person_signs_in_with_their_own_token_and_is_recorded(runs, tmp_path):
    from typer.testing import CliRunner

    from activeloop.cli import app as cli
    from activeloop.service.rundir import RunDirService
    from activeloop.web.app import Settings, create_app
    from activeloop.web.auth import NamedTokens, read_users

    users = tmp_path / "users.txt"
    tokens = {}
    for name in ("alice", "bob"):
        res = CliRunner().invoke(cli, ["users", "add", name, "--file", str(users)])
        assert res.exit_code == 0, res.output
        tokens[name] = res.output.strip().rsplit(" ", 1)[-1]
    text = users.read_text()
    assert all(t not in text for t in tokens.values()) and "alice sha256:" in text  # never in clear
    assert (users.stat().st_mode & 0o777) == 0o600
    app = create_app(RunDirService(runs), NamedTokens(read_users(users)), Settings())
    with TestClient(app, headers={"Authorization": f"Bearer {tokens['alice']}"}) as alice, \
            TestClient(app, headers={"Authorization": f"Bearer {tokens['bob']}"}) as bob:
        start_round(alice)
        variants = proposals_of(alice)
        alice.post("/api/v1/campaigns/gb1/results", files={"file": ("a.csv", plate_csv(variants[:6]), "text/csv")})
        bob.post("/api/v1/campaigns/gb1/results", files={"file": ("b.csv", plate_csv(variants[6:]), "text/csv")})
        by = {p["name"]: p["recordedBy"] for p in bob.get("/api/v1/campaigns/gb1/plates").json()}
        assert by == {"a": "alice", "b": "bob"}
        feed = alice.get("/api/v1/campaigns/gb1/activity").json()
        started = next(e for e in feed if e["kind"] == "roundStarted")
        assert started["who"] == "alice" and started["round"] == 1
        assert [e["kind"] for e in feed][-1] == "created"
        with TestClient(app, headers={"Authorization": "Bearer not-a-token"}) as stranger:
            assert stranger.get("/api/v1/campaigns").status_code == 401
    res = CliRunner().invoke(cli, ["users", "remove", "bob", "--file", str(users)])
    assert res.exit_code == 0 and set(read_users(users)) == {"alice"}
    users.write_text("alice sha256:abc\n")
    res = CliRunner().invoke(cli, ["users", "list", "--file", str(users)])
    assert res.exit_code != 0 and "users.txt:1" in res.output


def test_a_workbook_keeps_text_as_text_and_numbers_as_numbers():
    import pandas as pd

    from activeloop.service.exports import table_bytes

    table = pd.DataFrame({"note": ["=HYPERLINK(\"http://x\")", "plain"], "value": [1.5, float("nan")]})
    ws = load_workbook(io.BytesIO(table_bytes(table, "xlsx", "t"))).active
    cell = ws["A2"]
    assert cell.value == "=HYPERLINK(\"http://x\")" and cell.data_type == "s"  # never a formula
    assert ws["B2"].value == 1.5 and ws["B3"].value is None and ws.freeze_panes == "A2"
