"""What a careless or hostile upload can do to the service: nothing. Each finding of the probe of
the running service, reproduced: bodies bounded while they stream, workbooks read off the event
loop with their limits enforced as they are read, values that would overflow refused, files that
are not tables answered with what to do, wrong tokens slowed down, the OpenAPI document exact."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import zipfile

import httpx
import pytest
from fastapi.testclient import TestClient

from activeloop.testing.web import SPEC, TOKEN, make_campaign, plate_csv, start_round

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _variants(client) -> list[str]:
    start_round(client)
    return [p["variant"] for p in client.get("/api/v1/campaigns/gb1/rounds/1").json()["proposals"]]


def workbook(sheet_xml: bytes) -> bytes:
    """A minimal .xlsx whose first sheet is ``sheet_xml`` (inline strings: no shared-string table)."""
    parts = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                               b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                               b'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                               b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
                               b'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
                               b'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                               b'spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                       b'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                       b'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                           b'2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                           b'<sheets><sheet name="Plate" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                                      b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
                                      b'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
                                      b'Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet_xml,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return buf.getvalue()


def _sheet(rows: int) -> bytes:
    row = b'<row><c t="inlineStr"><is><t>V39A</t></is></c><c><v>1.5</v></c></row>'
    head = (b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<sheetData><row><c t="inlineStr"><is><t>variant</t></is></c><c t="inlineStr"><is><t>value</t></is>'
            b'</c></row>')
    return head + row * rows + b"</sheetData></worksheet>"


@pytest.fixture
def server(tmp_path):
    """The app served by uvicorn on loopback: one event loop, as in production."""
    import uvicorn

    from activeloop.service.rundir import RunDirService
    from activeloop.web.app import Settings, create_app
    from activeloop.web.auth import SharedToken
    from activeloop.web.uploads import Limits

    make_campaign(tmp_path, "gb1")
    app = create_app(RunDirService(tmp_path / "runs"), SharedToken(TOKEN),
                     Settings(limits=Limits(max_bytes=5 * 2**20, max_rows=20_000)))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_a_small_workbook_of_a_million_rows_is_refused_and_the_server_keeps_answering(server):
    bomb = workbook(_sheet(1_000_000))
    assert len(bomb) < 1_000_000  # a few hundred kilobytes, a million rows
    answers: dict = {}

    def upload():
        t0 = time.monotonic()
        answers["upload"] = httpx.post(f"{server}/api/v1/campaigns/gb1/results", headers=AUTH, timeout=120,
                                       files={"file": ("plate.xlsx", bomb, "application/octet-stream")})
        answers["upload_s"] = time.monotonic() - t0

    thread = threading.Thread(target=upload)
    thread.start()
    slowest = 0.0
    while thread.is_alive():  # meanwhile other requests are answered at once
        t0 = time.monotonic()
        assert httpx.get(f"{server}/healthz", timeout=5).status_code == 200
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.05)
    thread.join()
    assert slowest < 1.0
    res = answers["upload"]
    assert res.status_code == 413 and "more than 20,000 rows" in res.json()["detail"]
    assert answers["upload_s"] < 30


def test_a_workbook_that_unpacks_to_gigabytes_is_refused_before_it_is_opened(client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"<a>" + b" " * (120 * 2**20) + b"</a>")  # 120 kB zipped
    t0 = time.monotonic()
    res = client.post("/api/v1/campaigns/gb1/results", files={"file": ("plate.xlsx", buf.getvalue(), "x")})
    assert res.status_code == 413 and "unpacks to" in res.json()["detail"] and time.monotonic() - t0 < 5


def test_a_body_over_the_limit_is_cut_off_while_it_streams(app):
    """Driven as a server drives the app (ASGI): the app stops asking for the body at the limit
    (200 kB here) and answers 413, whatever is still to come; an anonymous body is not read at all."""
    import asyncio

    def run(headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
        chunk = b"variant,value\n" * 5000  # 70 kB
        delivered = 0
        sent: list[dict] = []

        async def receive() -> dict:
            nonlocal delivered
            delivered += 1
            return {"type": "http.request", "body": chunk, "more_body": delivered < 400}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/api/v1/campaigns/gb1/results", "raw_path": b"", "query_string": b"",
                 "root_path": "", "headers": [(b"content-type", b"text/csv"), (b"host", b"t"), *headers],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        asyncio.run(app(scope, receive, send))
        return next(m["status"] for m in sent if m["type"] == "http.response.start"), delivered

    status, delivered = run([(b"authorization", f"Bearer {TOKEN}".encode())])
    assert status == 413 and delivered <= 4  # 3 chunks reach the limit: not one more was asked for
    status, delivered = run([])
    assert status == 401 and delivered == 0


def test_a_body_that_stops_arriving_is_given_up(tmp_path):
    """A client that sends headers and then nothing holds no worker for long: 408."""
    import asyncio

    from activeloop.service.rundir import RunDirService
    from activeloop.web.app import Settings, create_app
    from activeloop.web.auth import SharedToken
    from activeloop.web.uploads import Limits

    make_campaign(tmp_path, "gb1")
    app = create_app(RunDirService(tmp_path / "runs"), SharedToken(TOKEN),
                     Settings(limits=Limits(stall_seconds=0.2)))
    sent: list[dict] = []

    async def receive() -> dict:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/v1/campaigns/gb1/results", "raw_path": b"", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"text/csv"), (b"authorization", f"Bearer {TOKEN}".encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    t0 = time.monotonic()
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    assert next(m["status"] for m in sent if m["type"] == "http.response.start") == 408
    assert time.monotonic() - t0 < 3


@pytest.mark.parametrize(("text", "status", "says"), [
    ("variant,value,value\n{v},1,2\n", 422, "column 'value' appears twice"),
    ("variant,value\n", 422, "no measurements: the table has a header and no rows"),
    ("variant,value\n{v},1e308\n", 422, "too large to be a measurement"),
    ("variant,value\n{v},1\n{v}," + "1" * 20_000 + "\n", 422, "longer than 10,000 characters"),
])
def test_tables_that_cannot_be_recorded_say_why_by_line(client, text, status, says):
    v = _variants(client)[0]
    res = client.post("/api/v1/campaigns/gb1/results", files={"file": ("p.csv", text.format(v=v), "text/csv")})
    assert res.status_code == status, res.text
    assert says in json.dumps(res.json())


def test_unicode_text_from_excel_is_read_and_binary_text_is_refused_with_what_to_do(client):
    variants = _variants(client)
    utf16 = plate_csv(variants[:3]).encode("utf-16")  # with its byte-order mark, as Excel writes it
    res = client.post("/api/v1/campaigns/gb1/results", files={"file": ("p.txt", utf16, "text/plain")})
    assert res.status_code == 200 and res.json()["rows"] == 3
    bare = plate_csv(variants[3:5]).encode("utf-16-le")
    res = client.post("/api/v1/campaigns/gb1/results", files={"file": ("p.txt", bare, "text/plain")})
    assert res.status_code == 422 and "save it as 'CSV UTF-8" in res.json()["problems"][0]["problem"]


def test_replicates_that_would_overflow_combine_to_a_finite_value(tmp_path):
    """Data recorded before values were bounded: two replicates of 1e308 average to 1e308, not inf."""
    import pandas as pd

    from activeloop.local.rundir import RunDirectory
    from activeloop.steps import ingest

    run = RunDirectory(make_campaign(tmp_path, "old"))
    rows = pd.DataFrame({"variant": ["V39A", "V39A"], "value": [1e308, 1e308], "failed": [False, False],
                         "replicate": pd.array([1, 2], dtype="Int64")})
    meta = ingest.StoredAssay(name="old", sha256="", rows=2, failed=0)
    ingest.store_assay(run.store, meta, rows)
    data = run.measurements()
    assert data["value"].iloc[0] == 1e308


def test_a_round_whose_pinned_inputs_hold_infinity_names_them_and_a_correction_recovers(tmp_path):
    import hashlib

    from activeloop.errors import StateError
    from activeloop.testing.workstation import Lab

    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    first = lab.propose()
    plate = tmp_path / "p1.csv"
    import pandas as pd

    variants = list(pd.read_csv(first.path)["variant"])
    plate.write_text(plate_csv(variants))
    lab.record(plate)
    lab.propose()  # round 2
    # a pin written by an earlier version, holding infinity (two replicates of 1e308), round 3 about to start
    run = lab.run_dir / "rounds" / "round-003"
    (run / "inputs").mkdir(parents=True)
    meas = ("variant,value,failed,n,assays,arrived_round\n"
            f"{variants[0]},inf,False,2,p1,1\n").encode()
    spec_bytes = (lab.run_dir / "campaign.yaml").read_bytes()
    (run / "inputs" / "measurements.csv").write_bytes(meas)
    (run / "inputs" / "campaign.yaml").write_bytes(spec_bytes)
    (run / "inputs.json").write_text(json.dumps({
        "round": 3, "spec_sha256": hashlib.sha256(spec_bytes).hexdigest(),
        "measurements_sha256": hashlib.sha256(meas).hexdigest(), "assays": [["p1", "x"]], "measured": 1,
        "failed": 0, "taken_at": "2026-01-01T00:00:00Z"}))
    with pytest.raises(StateError, match=rf"round 3's inputs hold a value that is not a finite number: {variants[0]} "
                                         r"\(plate p1"):
        lab.propose(force=True)
    assert lab.rounds()[-1].phase == "Failed"
    again = lab.propose()  # started again: no step had run, so its inputs are pinned again (finite now)
    assert again.round == 3 and again.new and len(pd.read_csv(again.path)) == 8


def test_specs_are_checked_strictly(client):
    for spec, field in ((dict(SPEC, rounds=True), "rounds"), (dict(SPEC, initialBatchSize="96"), "initialBatchSize"),
                        (dict(SPEC, initialBatchSize=1000, library={"sites": [39], "alphabet": "ACDEFGHIKW"}),
                         "initialBatchSize")):
        res = client.post("/api/v1/campaigns", json={"name": "strict", "spec": spec})
        assert res.status_code == 422 and field in res.json()["detail"], res.text


def test_wrong_tokens_are_slowed_down_per_client(app):
    with TestClient(app) as anon:
        for _ in range(10):
            assert anon.get("/api/v1/campaigns", headers={"Authorization": "Bearer wrong-token-123456"}).status_code == 401
        res = anon.get("/api/v1/campaigns", headers=AUTH)  # even the right one, for a while
        assert res.status_code == 401 and "too many failed sign-ins" in res.json()["detail"]


def test_tokens_are_long_and_never_on_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from activeloop.cli import app as cli
    from activeloop.errors import InputError
    from activeloop.web.auth import read_token

    with pytest.raises(InputError, match="at least 16 characters"):
        read_token(None, "a")
    (tmp_path / "token").write_text("a-long-enough-token-for-the-lab\n")
    assert read_token(tmp_path / "token", None) == "a-long-enough-token-for-the-lab"
    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "--token-file" in help_text and "--token " not in help_text


def test_the_openapi_document_resolves_and_its_choices_are_enums(client):
    doc = client.get("/api/v1/openapi.json").json()
    proposals = doc["paths"]["/api/v1/campaigns/{name}/rounds/{number}/proposals.{fmt}"]["get"]
    resolved = doc["components"]["schemas"]
    for name, choices in (("layout", [96, 384]), ("fmt", ["csv", "xlsx"])):
        (param,) = [p for p in proposals["parameters"] if p["name"] == name]
        schema = json.dumps(param["schema"])
        assert "enum" in schema or "$ref" in schema, (name, schema)
        ref = next((r for r in resolved if f"/{r}\"" in schema), None)
        assert (resolved[ref]["enum"] if ref else json.loads(schema)["enum"]) == choices


def test_a_plate_with_thousands_of_bad_rows_lists_the_first_hundred(tmp_path):
    from activeloop.errors import RecordError
    from activeloop.testing.workstation import Lab

    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    bad = tmp_path / "bad.csv"
    bad.write_text("variant,value\n" + "V39A,abc\n" * 5000)
    with pytest.raises(RecordError) as info:
        lab.record(bad)
    text = str(info.value)
    assert info.value.total == 5000 and len(info.value.problems) == 100
    assert "5,000 problem(s)" in text and "... and 4,900 more" in text and len(text.splitlines()) < 110
