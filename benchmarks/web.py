"""Web interface benchmark (issue 11), on the workstation backend.

* server time of the campaign page (``/campaigns/{name}``, HTML) and of the rounds API
  (``/api/v1/campaigns/{name}/rounds``) for a campaign of 20 rounds x 96 proposals (target: under
  300 ms median);
* a 384-well plate uploaded as a file, validated and recorded (target: under 2 s), and checked only
  (``dryRun``);
* the page weight of the campaign page: bytes of HTML, CSS and script, as sent (the API and static
  files gzip-compressed; HTML pages are not compressed, see ``web/app.py``).

    python benchmarks/web.py [--rounds 20] [--batch 96] [--repeats 30]

The campaign is real: each round is proposed by the default surrogate and its plate answered by a
synthetic lab through the API. Requests go through the ASGI app in-process (no network), so the
figures are the server's own time. Writes ``benchmarks/results/web.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def _timed(fn: Any, repeats: int) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_ms": round(1000 * statistics.median(times), 1), "max_ms": round(1000 * max(times), 1),
            "repeats": repeats}


def _campaign(client: Any, name: str, rounds: int) -> list[float]:
    from activeloop.testing.web import plate_csv, start_round

    done = client.get(f"/api/v1/campaigns/{name}").json()["currentRound"]  # --workdir: go on from there
    seconds = []
    for r in range(done + 1, rounds + 1):
        t0 = time.perf_counter()
        start_round(client, name)
        variants = [p["variant"] for p in client.get(f"/api/v1/campaigns/{name}/rounds/{r}").json()["proposals"]]
        res = client.post(f"/api/v1/campaigns/{name}/results", files={"file": (f"round{r}.csv", plate_csv(variants))})
        if res.status_code != 200:
            raise RuntimeError(res.text)
        seconds.append(round(time.perf_counter() - t0, 1))
        print(f"  round {r:2d}: {len(variants)} proposals answered ({seconds[-1]} s)", flush=True)
    return seconds


def main() -> None:
    """Build the campaign, time the pages and the upload, write the results file."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--workdir", type=Path, help="Keep the campaigns here (and reuse them if there)")
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from activeloop.service.rundir import RunDirService
    from activeloop.testing.web import SPEC, TOKEN, make_campaign, plate_csv, start_round
    from activeloop.web.app import create_app
    from activeloop.web.auth import SharedToken

    folder = args.workdir or Path(tempfile.mkdtemp(prefix="activeloop-web-bench-"))
    # GB1 at three sites, 20 amino acids: 8,000 variants (page and API times depend on the rounds
    # and proposals, not on the library); every round 96 proposals
    spec = {**SPEC, "library": {"sites": [39, 40, 41]}, "rounds": args.rounds - 1,
            "initialBatchSize": args.batch, "acquisition": {"batchSize": args.batch}}
    if not (folder / "runs" / "gb1").exists():
        make_campaign(folder, "gb1", spec)
    shutil.rmtree(folder / "runs" / "plate384", ignore_errors=True)
    make_campaign(folder, "plate384", {**spec, "initialBatchSize": 384})
    app = create_app(RunDirService(folder / "runs"), SharedToken(TOKEN))
    out: dict[str, Any] = {"rounds": args.rounds, "batch": args.batch, "library": 8_000}
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}", "Accept-Encoding": "gzip"}) as client:
        print(f"building a campaign of {args.rounds} rounds x {args.batch} (the default surrogate, a synthetic lab)")
        # seconds per round to propose (the default surrogate's fit grows with the data) and record
        out["round_seconds"] = _campaign(client, "gb1", args.rounds) or "reused (--workdir)"
        detail = client.get("/api/v1/campaigns/gb1").json()
        assert detail["currentRound"] == args.rounds and detail["measured"] == args.rounds * args.batch, detail

        html = {"Accept": "text/html"}
        page = client.get("/campaigns/gb1", headers=html)
        assert page.status_code == 200 and "best" in page.text
        out["campaign_page"] = _timed(lambda: client.get("/campaigns/gb1", headers=html), args.repeats)
        out["rounds_api"] = _timed(lambda: client.get("/api/v1/campaigns/gb1/rounds"), args.repeats)
        out["round_api"] = _timed(lambda: client.get(f"/api/v1/campaigns/gb1/rounds/{args.rounds}"), args.repeats)
        out["campaigns_page"] = _timed(lambda: client.get("/", headers=html), args.repeats)

        # page weight: the HTML and what it links (CSS, script), as transferred
        weight = {"html": page.num_bytes_downloaded}
        for ref in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
            weight[ref] = client.get(ref).num_bytes_downloaded
        weight["total"] = sum(weight.values())
        out["campaign_page_bytes"] = weight

        # a 384-well plate: round 1 of the second campaign proposes 384 variants
        start_round(client, "plate384")
        variants = [p["variant"] for p in client.get("/api/v1/campaigns/plate384/rounds/1").json()["proposals"]]
        plate = plate_csv(variants)
        files = {"file": ("plate-384.csv", plate, "text/csv")}
        out["upload_384_dry_run"] = _timed(
            lambda: client.post("/api/v1/campaigns/plate384/results?dryRun=true", files=files), 5)
        t0 = time.perf_counter()
        res = client.post("/api/v1/campaigns/plate384/results", files=files)
        out["upload_384_recorded_ms"] = round(1000 * (time.perf_counter() - t0), 1)
        assert res.status_code == 200 and res.json()["recorded"] and res.json()["rows"] == 384, res.text
        out["upload_384_resent"] = _timed(lambda: client.post("/api/v1/campaigns/plate384/results", files=files), 5)

    out["targets"] = {"pages_median_ms": 300, "upload_384_s": 2}
    print(json.dumps(out, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "web.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
