import json

from typer.testing import CliRunner

from xinyong.cli import app

runner = CliRunner()


def test_valid_codes_exit_0():
    result = runner.invoke(app, ["validate", "91350100M000100Y43", "59467239-9"])
    assert result.exit_code == 0, result.output
    assert "91350100M000100Y43" in result.output and "有效" in result.output


def test_an_invalid_code_exits_1_and_says_why():
    result = runner.invoke(app, ["validate", "91350100M000100Y43", "91350211M00013FA1N"])
    assert result.exit_code == 1
    assert "第18位校验码" in result.output and "无效" in result.output


def test_allow_bad_check():
    result = runner.invoke(app, ["validate", "--allow-bad-check", "--json", "91350211M00013FA1N"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data[0]["valid"] is True and data[0]["warnings"][0]["code"] == "uscc_check_digit"


def test_json_output_is_parseable_and_masks_ids():
    codes = ["11010519491231002X", "00000000000000000X", "91350100M000100Y43"]
    result = runner.invoke(app, ["validate", "--json", *codes])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [d["kind"] for d in data] == ["resident_id", "resident_id", "uscc"]
    assert [d["valid"] for d in data] == [True, False, True]
    assert data[0]["input"] == "110105********002X"
    assert "11010519491231002X" not in result.stdout and "19491231" not in result.stdout


def test_table_output_masks_ids():
    result = runner.invoke(app, ["validate", "11010519491231002X"])
    assert result.exit_code == 0
    assert "11010519491231002X" not in result.output and "110105********002X" in result.output


def test_no_code_is_a_usage_error():
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2
