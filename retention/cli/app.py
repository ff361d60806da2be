"""What every command receives: the settings, and the store opened on demand."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
from sqlalchemy import Engine

from retention.config import Settings
from retention.errors import ConfigError
from retention.storage.engine import check_schema_current, create_store_engine

__all__ = ["App", "pass_app"]


@dataclass(slots=True)
class App:
    _settings: Settings | None
    config_error: ConfigError | None = None  # raised when a command asks for the settings
    _engines: list[Engine] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            assert self.config_error is not None
            raise self.config_error
        return self._settings

    def store(self) -> Engine:
        """The engine of a store whose schema is current (exit 3 otherwise)."""
        engine = self.raw_engine(must_exist=True)
        check_schema_current(engine)
        return engine

    def raw_engine(self, *, must_exist: bool) -> Engine:
        engine = create_store_engine(self.settings.database, must_exist=must_exist)
        self._engines.append(engine)
        return engine

    @staticmethod
    def exit_normally() -> None:
        """Ask for the interpreter's normal exit at the end (retention.cli.main): for a
        command that runs a scheduler or threads for long, not a one-off command."""
        _EXIT["normal"] = True

    @staticmethod
    def normal_exit_wanted() -> bool:
        return _EXIT["normal"]

    def close(self) -> None:
        for engine in self._engines:
            engine.dispose()
        self._engines.clear()


# Process-wide: how this process ends is decided once, by the command it runs.
_EXIT = {"normal": False}

pass_app = click.make_pass_decorator(App)
