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
