"""Settings: the declared defaults, then a --config file, then environment, then CLI options.

`load_settings` is the only reader. It validates every key up front and returns frozen
dataclasses; an unknown key or a bad value raises ConfigError naming the key.

- settings.py: the declarations, one per key (check, default, comment, variable), from which
  config/default.toml is rendered (`python -m retention.config > config/default.toml`);
  operations.py: those of running the jobs (schedules, scheduler, status, metrics, logs);
- schema.py: `setting`, `secret`, `table` and the walks over a tree of declared sections;
- checks.py: the checks of raw values;
- loader.py: `load_settings`, the merge of defaults, file, environment and CLI options.
"""

from __future__ import annotations

from retention.config.loader import load_settings
from retention.config.operations import LOG_FORMATS, LOG_LEVELS, LoggingSettings
from retention.config.settings import (
    MIN_KEY_LENGTH,
    AuditSettings,
    DatabaseSettings,
    ErasureSettings,
    ImportSettings,
    PurgeSettings,
    RetentionSettings,
    Settings,
    SubjectSettings,
    mask_url,
    render_default_toml,
)

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "MIN_KEY_LENGTH",
    "AuditSettings",
    "DatabaseSettings",
    "ErasureSettings",
    "ImportSettings",
    "LoggingSettings",
    "PurgeSettings",
    "RetentionSettings",
    "Settings",
    "SubjectSettings",
    "load_settings",
    "mask_url",
    "render_default_toml",
]
