"""Pure rules over frozen dataclasses: no database, no CLI, no clock."""
