"""A campaign's variant list is one of its artifacts: read through its store (a run directory or
s3://), parsed once per content, and never read from outside the campaign's own store."""

from __future__ import annotations

import pytest

from activeloop.errors import ConfigError
from activeloop.landscapes import GB1_PARENT
from activeloop.service.rundir import parse_spec
from activeloop.steps.data import build_library
from activeloop.store.local import LocalStore


class CountingStore(LocalStore):
    reads = 0

    def get_bytes(self, key: str) -> bytes:
        CountingStore.reads += 1
        return super().get_bytes(key)


def spec(uri: str):
    return parse_spec({"parentSequence": GB1_PARENT, "library": {"variantsUri": uri}})


def test_a_variant_list_is_read_from_the_store_and_parsed_once_per_content(tmp_path):
    store = CountingStore(tmp_path / "c")
    store.put_bytes("library/variants.csv", b"variant\nV39A\nV39C:D40E\nWT\n")
    CountingStore.reads = 0
    lib = build_library(spec("library/variants.csv"), store)
    assert len(lib) == 3 and lib.contains("V39C:D40E")
    assert build_library(spec("library/variants.csv"), store) is lib and CountingStore.reads == 1
    # a URI inside the store names the same artifact
    assert len(build_library(spec(store.uri("library/variants.csv")), store)) == 3
    store.put_bytes("library/variants.csv", b"variant\nV39A\n")  # new content: parsed again
    assert len(build_library(spec("library/variants.csv"), store)) == 1


def test_a_list_outside_the_campaigns_store_is_refused_with_one_message(tmp_path):
    store = LocalStore(tmp_path / "c")
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("variant\nV39A\n")
    for uri in ("/etc/passwd", str(outside), "s3://other-bucket/x.csv", "../elsewhere.csv"):
        with pytest.raises(ConfigError, match=r"library.variantsUri: .* is not in the campaign's store"):
            build_library(spec(uri), store)
    with pytest.raises(ConfigError, match="library.variantsUri: no readable file 'library/none.csv'"):
        build_library(spec("library/none.csv"), store)
    store.put_bytes("bad.csv", b"name\nV39A\n")
    with pytest.raises(ConfigError, match="has no 'variant' column"):
        build_library(spec("bad.csv"), store)


def test_init_copies_a_list_beside_the_spec_into_the_run_directory(tmp_path):
    from typer.testing import CliRunner

    from activeloop.cli import app

    (tmp_path / "variants.csv").write_text("variant\nV39A\nV39C\nD40E\nWT\n")
    (tmp_path / "c.yaml").write_text(f"parentSequence: {GB1_PARENT}\nlibrary: {{variantsUri: variants.csv}}\n"
                                     "initialBatchSize: 2\nacquisition: {batchSize: 2}\n")
    res = CliRunner().invoke(app, ["init", str(tmp_path / "c.yaml"), "--run-dir", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "4 candidates" in res.output
    assert (tmp_path / "run" / "library" / "variants.csv").read_text() == (tmp_path / "variants.csv").read_text()
    assert "variantsUri: library/variants.csv" in (tmp_path / "run" / "campaign.yaml").read_text()
