import pytest

from xinyong.identifiers import masking


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("410882199001011234", "410882********1234"),
        ("41088219900101123X", "410882********123X"),
        ("41088219900101123x", "410882********123X"),
        ("410882 19900101 123X", "410882********123X"),
        ("410882900101123", "410882******123"),
        ("not an id", "*******"),
        ("4108821990010112", "****************"),
        ("", ""),
    ],
)
def test_mask_resident_id(raw, masked):
    assert masking.mask_resident_id(raw) == masked


def test_mask_resident_id_shows_at_most_first_6_and_last_4():
    out = masking.mask_resident_id("11010519491231002X")
    assert sum(ch != "*" for ch in out) <= 10 and "19491231" not in out


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("张三", "张*"),
        ("张小明", "张*明"),
        ("欧阳小明", "欧阳**"),
        ("欧阳修", "欧阳*"),
        ("诸葛亮", "诸葛*"),
        ("张", "*"),
        (" 张 小 明 ", "张*明"),
        ("阿卜杜·热合曼", "阿*****曼"),
        ("", ""),
    ],
)
def test_mask_name(raw, masked):
    assert masking.mask_name(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("8613812345678", "138****5678"),
        ("0391-5551234", "039****1234"),
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_mask_phone(raw, masked):
    assert masking.mask_phone(raw) == masked
