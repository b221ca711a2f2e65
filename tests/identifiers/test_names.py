import pytest

from xinyong.identifiers.names import normalize_org_name, normalize_person_name


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("沁阳市（焦作）宏达机械有限责任公司", "沁阳市(焦作)宏达机械有限公司"),
        ("沁阳市【焦作】宏达机械有限公司", "沁阳市〔焦作〕宏达机械有限公司"),
        ("沁阳市[焦作]宏达机械有限公司", "沁阳市（焦作）宏达机械有限公司"),
        ("焦作 宏达 机械 股份有限公司", "焦作宏达机械股份公司"),
        ("焦作宏达机械股份有限责任公司", "焦作宏达机械股份有限公司"),
        ("焦作宏达机械责任有限公司", "焦作宏达机械有限责任公司"),
        ("沁阳市张三五金个体工商户", "沁阳市张三五金个体户"),
        ("沁阳市绿源蔬菜种植农民专业合作社", "沁阳市绿源蔬菜种植专业合作社"),
        ("ＡＢＣ科技有限公司", "abc科技有限公司"),
        ("焦作\u3000宏达\u200b机械有限公司", "焦作宏达机械有限公司"),
    ],
)
def test_org_name_variants_match(a, b):
    assert normalize_org_name(a) == normalize_org_name(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("焦作宏达机械有限公司", "焦作宏远机械有限公司"),
        ("焦作宏达机械有限公司", "焦作宏达机械股份公司"),
        ("沁阳市(焦作)宏达机械有限公司", "沁阳市宏达机械有限公司"),
    ],
)
def test_different_org_names_stay_different(a, b):
    assert normalize_org_name(a) != normalize_org_name(b)


def test_org_name_canonical_form():
    assert normalize_org_name("沁阳市（焦作）宏达机械有限责任公司") == "沁阳市(焦作)宏达机械有限公司"
    assert normalize_org_name(normalize_org_name("【沁阳】ABC 股份有限公司")) == normalize_org_name(
        "【沁阳】ABC 股份有限公司"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("阿卜杜·热合曼", "阿卜杜•热合曼"),
        ("阿卜杜·热合曼", "阿卜杜・热合曼"),
        ("阿卜杜·热合曼", "阿卜杜.热合曼"),
        ("张 三", "张三"),
        ("John SMITH", "john smith"),
        ("Ｊｏｈｎ", "john"),
    ],
)
def test_person_name_variants_match(a, b):
    assert normalize_person_name(a) == normalize_person_name(b)


def test_person_names_stay_different():
    assert normalize_person_name("张三") != normalize_person_name("张山")
