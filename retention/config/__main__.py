"""`python -m retention.config > config/default.toml`: writes default.toml as the declarations
in retention/config/settings.py and operations.py render it."""

from __future__ import annotations

import sys

from retention.config import render_default_toml

sys.stdout.write(render_default_toml())
