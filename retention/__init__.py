"""lead-retention: keeps a store of real-estate seeker leads lawful under the GDPR."""

from __future__ import annotations

from retention.config import Settings, load_settings
from retention.errors import RetentionError

__all__ = ["RetentionError", "Settings", "load_settings"]
