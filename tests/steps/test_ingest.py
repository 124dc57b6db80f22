"""The one ingestion path: plates as labs write them, checks with line and column, replicates,
failed wells and corrections combined the same way everywhere."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from activeloop.api.campaign import CampaignSpec
from activeloop.api.resources import AssayResultSpec
from activeloop.errors import RecordError
from activeloop.landscapes import GB1_PARENT
from activeloop.steps import ingest, tables
from activeloop.steps.data import build_library
from activeloop.store import LocalStore

SPEC = CampaignSpec.model_validate({"parentSequence": GB1_PARENT, "library": {"sites": [39, 40, 41, 54]},
                                    "objective": {"name": "Enrichment"}})
LIB = build_library(SPEC)


def rows(path, **kw) -> pd.DataFrame:
    return ingest.plate_rows(path, SPEC, LIB, **kw)


@pytest.mark.parametrize(("name", "text"), [
    ("comma.csv", "variant,value\nFWAA,8.76\nV39A,0.5\n"),
    ("semicolon.csv", "variant;value\nFWAA;8.76\nV39A;0.5\n"),
    ("tabs.tsv", "variant\tvalue\nFWAA\t8.76\nV39A\t0.5\n"),
    ("tabs.txt", "variant\tvalue\nFWAA\t8.76\nV39A\t0.5\n"),
    ("excel-trailing.csv", "\ufeffVariant,Value\r\nFWAA,8.76\r\nV39A,0.5\r\n,\r\n,,\r\n"),
])
def test_plates_in_the_formats_labs_export(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")
    df = rows(tmp_path / name)
    assert list(df["variant"]) == ["V39F:D40W:G41A:V54A", "V39A"]
    assert list(df["value"]) == [8.76, 0.5]


def test_excel_workbooks(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Variant", "Enrichment", "Replicate"])
    ws.append(["FWAA", 8.76, 1])
    ws.append(["FWAA", 8.5, 2])
    ws.append(["V39A", 0.25, None])
    ws.append([None, None, None])
    other = wb.create_sheet("raw")
    other.append(["variant", "value"])
    other.append(["V39C", 1])
    wb.save(tmp_path / "plate.xlsx")
    df = rows(tmp_path / "plate.xlsx")
    assert list(df["variant"]) == ["V39F:D40W:G41A:V54A", "V39F:D40W:G41A:V54A", "V39A"]
    assert list(df["value"]) == [8.76, 8.5, 0.25] and list(df["replicate"]) == [1, 2, pd.NA]
    assert list(rows(tmp_path / "plate.xlsx", sheet="raw")["variant"]) == ["V39C"]


def test_decimal_commas(tmp_path):
    plate = tmp_path / "de.csv"
    plate.write_text("variant;value\nFWAA;8,76\nV39A;0,5\n")
    assert list(rows(plate)["value"]) == [8.76, 0.5]  # found: commas, and no value written 8.76
    assert list(rows(plate, decimal=",")["value"]) == [8.76, 0.5]
    with pytest.raises(RecordError, match=r"line 2: value: '8,76' is not a number \(a decimal comma\? pass --decimal ,\)"):
        rows(plate, decimal=".")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("variant;value\nFWAA;8,76\nV39A;0.5\n")  # both marks: nothing is guessed
    with pytest.raises(RecordError, match="line 2: value: '8,76' is not a number"):
        rows(mixed)
    unquoted = tmp_path / "comma.csv"
    unquoted.write_text("variant,value\nFWAA,8,76\n")
    with pytest.raises(RecordError, match="line 2: 3 fields where the header has 2 .a decimal comma"):
        rows(unquoted)


def test_column_errors_name_the_columns_found_and_how_to_pick_one(tmp_path):
    plate = tmp_path / "p.csv"
    plate.write_text("variant,OD600,signal\nFWAA,1.0,2.0\n")
    with pytest.raises(RecordError) as info:
        rows(plate)
    text = str(info.value)
    assert "no value column" in text and "['variant', 'OD600', 'signal']" in text and "--value-column" in text
    assert text.count("'fitness'") == 1  # each name the reader looks for, once
    # the objective's name is a value column; names match whatever their case
    assert list(rows(plate, value_column="od600")["value"]) == [1.0]
    with pytest.raises(RecordError, match="line 1: absorbance: no column 'absorbance'"):
        rows(plate, value_column="absorbance")


def test_failed_wells_by_status_column_or_marker(tmp_path):
    plate = tmp_path / "p.csv"
    plate.write_text("variant,value,status\nFWAA,,failed\nV39A,failed,\nV39C,0.5,ok\nV39D,1,maybe\n")
    with pytest.raises(RecordError, match=r"line 5: status: 'maybe' is not a well status"):
        rows(plate)
    plate.write_text("variant,value,status\nFWAA,,failed\nV39A,failed,\nV39C,0.5,ok\n")
    df = rows(plate)
    assert list(df["failed"]) == [True, True, False] and math.isnan(df["value"].iloc[0])
    plate.write_text("variant,value,failed\nFWAA,,yes\nV39C,0.5,no\n")
    assert list(rows(plate)["failed"]) == [True, False]


def test_every_problem_is_reported_with_line_and_column(tmp_path):
    plate = tmp_path / "p.csv"
    plate.write_text("variant,value,replicate\nFWAA,1,1\nV39Z,2,\nFWAA,abc,2\nV39A,1,zero\nFWAA,3,1\nG41B,,\n")
    with pytest.raises(RecordError) as info:
        rows(plate)
    problems = [(p.line, p.column) for p in info.value.problems]
    assert problems == [(3, "variant"), (4, "value"), (5, "replicate"), (6, "variant"), (7, "value"), (7, "variant")]
    assert "line 6: variant: replicate 1 of V39F:D40W:G41A:V54A repeats line 2" in str(info.value)


def test_assay_results_are_checked_by_the_same_rules_with_field_paths():
    spec = AssayResultSpec.model_validate({"campaign": "gb1", "measurements": [
        {"variant": "FWAA", "value": 1.0}, {"variant": "G41Z", "value": 2.0}, {"variant": "V39A", "failed": True}]})
    with pytest.raises(RecordError) as info:
        ingest.check_rows(ingest.assay_spec_rows(spec), SPEC, LIB, "plate1")
    assert [(p.column, p.problem) for p in info.value.problems] == [
        ("spec.measurements[1].variant", "G41Z: 'Z' is not one of the 20 amino acids")]


def store_plate(store, name, text, tmp_path, **meta):
    path = tmp_path / f"{name}.csv"
    path.write_text(text)
    r = rows(path)
    return ingest.store_assay(store, ingest.StoredAssay(name=name, sha256="", rows=0, failed=0, **meta), r)


def test_measurements_combine_replicates_plates_corrections_and_failures(tmp_path):
    store = LocalStore(tmp_path / "s")
    store_plate(store, "p1", "variant,value,replicate\nFWAA,8,1\nFWAA,9,2\nFWAA,10,3\nV39A,1,\nV39C,,\n"
                             .replace("V39C,,", "V39C,failed,"), tmp_path, replicates="median")
    store_plate(store, "p2", "variant,value\nFWAA,6\nV39D,2\n", tmp_path, arrived_round=2)
    store_plate(store, "p2-fix", "variant,value\nFWAA,7\nV39D,3\n", tmp_path, supersedes=("p2",), arrived_round=2)
    df = ingest.measurements(store).set_index("variant")
    # median of three replicates on p1 (9), then p1 and the correction of p2 count once each
    assert df.loc["V39F:D40W:G41A:V54A", "value"] == (9 + 7) / 2
    assert df.loc["V39F:D40W:G41A:V54A", "n"] == 4 and df.loc["V39F:D40W:G41A:V54A", "assays"] == "p1 p2-fix"
    assert df.loc["V39D", "value"] == 3 and df.loc["V39D", "arrived_round"] == 2
    assert bool(df.loc["V39C", "failed"]) and math.isnan(df.loc["V39C", "value"])
    assert list(ingest.fitted(df.reset_index())["variant"]) == ["V39A", "V39D", "V39F:D40W:G41A:V54A"]


def test_storing_the_same_assay_twice_writes_nothing_new(tmp_path):
    store = LocalStore(tmp_path / "s")
    a = store_plate(store, "p1", "variant,value\nFWAA,8\n", tmp_path)
    stamp = (store.root / "assays" / "p1.json").stat().st_mtime_ns
    b = store_plate(store, "p1", "variant,value\nFWAA,8.0\n", tmp_path)
    assert a == b and (store.root / "assays" / "p1.json").stat().st_mtime_ns == stamp
    assert len(a.sha256) == 64 and a.rows == 1


def test_manifests_split_large_plates_keeping_replicates_together():
    names = LIB.names_of(range(4100))
    df = pd.DataFrame({"variant": names + [names[4095]], "value": [1.0] * 4101, "failed": False,
                       "replicate": pd.array([None] * 4095 + [1] + [None] * 4 + [2], dtype="Int64")})
    docs = ingest.assay_manifests("gb1", df, name="Big Plate #1", round_number=2)
    assert [d["metadata"]["name"] for d in docs] == ["big-plate-1-1", "big-plate-1-2"]
    sizes = [len(d["spec"]["measurements"]) for d in docs]
    assert sum(sizes) == 4101 and max(sizes) <= 4096
    by_doc = [{m["variant"] for m in d["spec"]["measurements"]} for d in docs]
    assert not by_doc[0] & by_doc[1]  # both replicates of one variant are in one object


def test_title_rows_units_and_markers_as_plate_readers_write_them(tmp_path):
    plate = tmp_path / "reader.csv"
    plate.write_text("Plate reader export 2026-12-02, GB1 binding assay\nInstrument: SpectraMax\n\n"
                     "Variant,Fitness (a.u.),Status\nFWAA,8.76,\nV39A,n.d.,\nV39C,0.5,OVERFLOW\nV39D,NA,\n")
    table = tables.read_table(plate)
    assert table.skipped == 2 and table.header_line == 4 and table.units == {"Fitness (a.u.)": "a.u."}
    df = rows(plate)
    assert list(df["variant"]) == ["V39F:D40W:G41A:V54A", "V39A", "V39C", "V39D"]
    assert list(df["failed"]) == [False, True, True, True] and df["value"].iloc[0] == 8.76
    assert len(rows(plate, skip_rows=3)) == 4  # the rows to skip, said
    with pytest.raises(RecordError, match=r"line 2: value: no value column .* the file has \['Instrument: SpectraMax'\]"):
        rows(plate, skip_rows=1)  # a wrong count says which row it took for the header


def test_workbook_with_a_title_row(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Plate reader export 2026-12-02"])
    ws.append([])
    ws.append(["Well", "Variant", "Enrichment [RFU]"])
    ws.append(["A1", "FWAA", 8.5])
    wb.save(tmp_path / "reader.xlsx")
    table = tables.read_table(tmp_path / "reader.xlsx")
    assert table.header_line == 3 and table.columns == ["Well", "Variant", "Enrichment [RFU]"]
    df = rows(tmp_path / "reader.xlsx")  # the objective's own name, its unit in brackets
    assert list(df["value"]) == [8.5] and list(df["well"]) == ["A1"]


def test_by_well_with_the_round_plate_map_and_controls(tmp_path):
    from activeloop.steps import layout

    spec = CampaignSpec.model_validate({
        "parentSequence": GB1_PARENT, "library": {"sites": [39, 40, 41, 54]},
        "plates": {"controls": [{"kind": "parent", "wells": ["H11", "H12"]}, {"kind": "blank", "wells": ["G12"]}],
                   "normalize": "parentRatio"}})
    props = pd.DataFrame({"variant": ["V39A", "V39C", "V39D"], "rank": [1, 2, 3]})
    mapped = layout.plate_map(props, 96, spec.plates)
    assert list(mapped["well"]) == ["A1", "B1", "C1", "H11", "G12", "H12"]  # pipetting order: column by column
    assert list(mapped["control"]) == ["", "", "", "parent", "blank", "parent"]
    # the reader's export: every well of the plate, by well, values with decimal commas
    lines = ["Well;Value"] + [f"{w};{v}" for w, v in [("A01", "2,0"), ("B01", "4,0"), ("C01", "n.d."),
                                                        ("D01", "0,1"), ("G12", "0,05"), ("H11", "0,9"), ("H12", "1,1")]]
    (tmp_path / "wells.csv").write_text("\n".join(lines) + "\n")
    table = tables.read_table(tmp_path / "wells.csv")
    with pytest.raises(RecordError, match="gives values by well and names no variant"):
        ingest.plate_rows(table, spec, build_library(spec))
    df = ingest.plate_rows(table, spec, build_library(spec), plate_map=ingest.PlateMap(mapped))
    assert list(df["well"]) == ["A1", "B1", "C1", "G12", "H11", "H12"]  # D1 is empty on the map: left out
    assert list(df["control"]) == ["", "", "", "blank", "parent", "parent"]
    assert list(df["variant"][:3]) == ["V39A", "V39C", "V39D"] and df["failed"].tolist()[2]
    values = ingest.variant_values(df, "mean", "parentRatio")
    assert dict(zip(values["variant"], values["value"].round(6))) == {"V39A": 2.0, "V39C": 4.0, "V39D": pytest.approx(float("nan"), nan_ok=True)}


def test_normalising_needs_parent_wells_and_is_stored_with_each_plate():
    from activeloop.service.plates import RecordOptions, check_plate

    spec = CampaignSpec.model_validate({
        "parentSequence": GB1_PARENT, "library": {"sites": [39, 40, 41, 54]},
        "plates": {"controls": [{"kind": "parent", "wells": ["H12"]}], "normalize": "parentDifference"}})
    lib = build_library(spec)
    plain = tables.read_table_bytes(b"variant,value\nV39A,2\n", "p.csv")
    with pytest.raises(RecordError, match="no parent well with a value"):
        check_plate(plain, spec, lib, RecordOptions())
    with_parent = tables.read_table_bytes(b"variant,value,control\nV39A,2\nWT,0.5,parent\n,0.1,blank\n", "p.csv")
    checked = check_plate(with_parent, spec, lib, RecordOptions())
    assert [c.kind for c in checked.controls] == ["parent", "blank"] and checked.controls[0].mean == 0.5
    assert ingest.variant_values(checked.rows, "mean", "parentDifference")["value"].tolist() == [1.5]


def test_a_well_twice_and_a_bad_control_are_named(tmp_path):
    table = tables.read_table_bytes(b"variant,value,well,control\nV39A,2,A1,\nV39C,3,A01,\nV39D,1,B1,wild\n",
                                    "p.csv")
    with pytest.raises(RecordError) as info:
        ingest.plate_rows(table, SPEC, LIB)
    text = str(info.value)
    assert "line 3: well: well A1 repeats line 2" in text and "line 4: control: 'wild' is not a control" in text


def test_stored_rows_keep_their_hash_when_they_have_no_wells():
    plain = ingest.check_rows([ingest.RawRow(1, "V39A", "1.5")], SPEC, LIB, "x")
    assert ingest.assay_bytes(plain).decode().splitlines()[0] == "variant,value,failed,replicate"
    placed = ingest.check_rows([ingest.RawRow(1, "V39A", "1.5", well="B2")], SPEC, LIB, "x")
    assert ingest.assay_bytes(placed).decode().splitlines()[0] == "variant,value,failed,replicate,well"
    back = ingest.parse_assay_rows(ingest.assay_bytes(placed))
    assert back["well"].tolist() == ["B2"] and back["control"].tolist() == [""]
