"""The risk warnings' weights and thresholds: ``analytics/data/risk.yaml``, overridable by the file named in
``XINYONG_ANALYTICS_RISK_CONFIG`` (same keys; missing keys keep the defaults), so a city tunes them without code."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from xinyong.analytics.collusion import Settings
from xinyong.core.errors import ConfigurationError

DEFAULT = Path(__file__).parent / "data" / "risk.yaml"
ENV = "XINYONG_ANALYTICS_RISK_CONFIG"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


@cache
def _load(path: str | None) -> dict[str, Any]:
    config = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    if path:
        try:
            override = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"无法读取风险预警配置 {path}：{exc}", code="risk_config_unreadable") from exc
        if not isinstance(override, dict):
            raise ConfigurationError(f"风险预警配置 {path} 应为 YAML 映射", code="risk_config_invalid")
        config = _merge(config, override)
    return config


def risk_config() -> dict[str, Any]:
    return _load(os.environ.get(ENV) or None)


def trading_settings() -> Any:
    try:
        return Settings.from_config(risk_config()["trading"])
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"风险预警配置的 trading 部分有误：{exc}", code="risk_config_invalid") from exc
