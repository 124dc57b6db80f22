import pytest
from typer.testing import CliRunner

from activeloop.cli import app

COMMANDS = ["simulate", "init", "propose", "record", "status", "crds"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output and command in result.output


def test_cli_reports_bad_input_without_traceback(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("parentSequence: MKB\nlibrary: {sites: [1]}\n")
    result = CliRunner().invoke(app, ["init", str(bad), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "parentSequence" in result.output and "Traceback" not in result.output


def test_crds_command_writes_what_is_committed(tmp_path):
    from pathlib import Path

    result = CliRunner().invoke(app, ["crds", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    committed = Path(__file__).resolve().parents[1] / "crds"
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in committed.iterdir()) and len(written) == 4
    for name in written:
        assert (tmp_path / name).read_text() == (committed / name).read_text()


def test_library_command_sizes_a_constrained_library_site_by_site(tmp_path):
    spec = tmp_path / "c.yaml"
    spec.write_text(
        "kind: Campaign\nspec:\n  parentSequence: MNQSTCKLNAYSTG\n  library:\n"
        "    sites: [2, {position: 3, residues: ACDN}, 12]\n    maxSubstitutions: 2\n"
        "    forbidden: [C, 'N[^P][ST]']\n    exclude: [Q3A]\n")
    result = CliRunner().invoke(app, ["library", str(spec)])
    assert result.exit_code == 0, result.output
    # N2: 19 (no C), site 3: ADN (C forbidden, Q3 not in the set), S12: 19; 2 substitutions at most
    assert "ADN" in result.output and "19 x 3 x 19, at most 2 substitutions" in result.output
    assert "111 combinations" in result.output  # 3 (site 3 alone) + 3 x 18 x 2 (site 3 and one more)
    bad = tmp_path / "bad.yaml"
    bad.write_text("parentSequence: MNQSTCKLNAYSTG\nlibrary: {sites: [2, 40]}\n")
    result = CliRunner().invoke(app, ["library", str(bad)])
    assert result.exit_code == 2 and "library.sites[1]: site 40 is beyond the parent's 14 residues" in result.output
    assert "Traceback" not in result.output


def test_propose_takes_picks_from_the_command_line_and_a_file(tmp_path):
    import pandas as pd
    import yaml

    from activeloop.landscapes import GB1_PARENT

    spec = tmp_path / "c.yaml"
    spec.write_text(yaml.safe_dump({"parentSequence": GB1_PARENT, "library": {"sites": [39, 40]},
                                    "initialBatchSize": 6, "acquisition": {"batchSize": 4}, "rounds": 1}))
    run = tmp_path / "run"
    assert CliRunner().invoke(app, ["init", str(spec), "--run-dir", str(run)]).exit_code == 0
    picks = tmp_path / "picks.csv"
    picks.write_text("variant\nWA\n\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("name\nV39W\n")
    result = CliRunner().invoke(app, ["propose", "--run-dir", str(run), "--picks", str(bad)])
    assert result.exit_code == 2 and "bad.csv: the list has no 'variant' column" in result.output
    result = CliRunner().invoke(app, ["propose", "--run-dir", str(run), "--pick", "V39Y", "--picks", str(picks)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(run / "rounds/round-001/proposals.csv")
    assert list(table["variant"][:2]) == ["V39Y", "V39W:D40A"] and len(table) == 6
