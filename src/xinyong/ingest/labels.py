"""Chinese names of the internal codes a person reads in batch reports (console pages, CLI text output).

The codes stay what they are in JSON and in the API (stable, for programs); a page or a text table shows the label,
and the code only beside it where support needs it. Pure: no database.
"""

from __future__ import annotations

KIND_LABELS = {"penalty": "行政处罚", "licence": "行政许可"}
STATUS_LABELS = {"accepted": "全部入库", "partial": "部分退回", "rejected": "整批退回", "processing": "处理中"}
CHANNEL_LABELS = {"api": "接口推送", "file": "文件上传"}

#: Row and cell problems of 双公示 files (``ingest.validate``, ``identifiers``, ``records``).
ISSUE_LABELS = {
    "required_missing": "必填项为空",
    "too_long": "内容过长",
    "formula_error": "公式计算错误",
    "date_invalid": "日期无效",
    "date_out_of_range": "日期超出范围",
    "date_in_future": "日期在未来",
    "date_order": "日期先后顺序错误",
    "enum_invalid": "取值不在标准代码中",
    "amount_unit_converted": "金额单位已换算",
    "amount_too_large": "金额过大",
    "party_kind_undetermined": "无法判断行政相对人类别",
    "party_code_missing": "缺少行政相对人代码",
    "party_kind_code_mismatch": "相对人类别与代码不符",
    "org_code_mismatch": "组织机构代码与统一社会信用代码不符",
    "id_type_missing": "缺少证件类型",
    "id_number_missing": "缺少证件号码",
    "legal_rep_missing": "缺少法定代表人",
    "fine_missing": "缺少罚款金额",
    "fine_not_positive": "罚款金额应大于 0",
    "fine_without_type": "有罚款金额但处罚类别不含罚款",
    "confiscation_missing": "缺少没收金额",
    "suspension_licence_missing": "缺少暂扣或吊销的证照",
    "valid_from_before_decision": "有效期早于决定日期",
    "duplicate_in_file": "文件内重复",
    "other_department": "不属于本部门报送",
    "department_mismatch": "决定机关不属于本部门",
    "name_mismatch": "名称与登记不一致",
    "record_refused": "记录被拒绝",
    "record_withdrawn": "记录已撤销",
    "already_withdrawn": "已撤销",
    "uscc_empty": "统一社会信用代码为空",
    "uscc_length": "统一社会信用代码位数错误",
    "uscc_charset": "统一社会信用代码含无效字符",
    "uscc_check_digit": "统一社会信用代码校验位错误",
    "uscc_authority": "统一社会信用代码登记管理部门码错误",
    "uscc_region_format": "统一社会信用代码行政区划码格式错误",
    "uscc_region_unknown": "统一社会信用代码行政区划码不存在",
    "org_code_empty": "组织机构代码为空",
    "org_code_length": "组织机构代码位数错误",
    "org_code_charset": "组织机构代码含无效字符",
    "org_code_check_digit": "组织机构代码校验位错误",
    "resident_id_empty": "身份证号码为空",
    "resident_id_length": "身份证号码位数错误",
    "resident_id_charset": "身份证号码含无效字符",
    "resident_id_birth_date": "身份证号码出生日期无效",
    "resident_id_check_digit": "身份证号码校验位错误",
    "resident_id_region_unknown": "身份证号码行政区划码不存在",
    "resident_id_legacy_15": "15 位旧身份证号码",
    "kind_ambiguous": "代码类型无法判断",
    "empty": "为空",
}


def issue_label(code: str | None) -> str:
    """The label of a problem code; an unknown code is shown as it is (never hidden)."""
    if not code:
        return ""
    return ISSUE_LABELS.get(code, code)
