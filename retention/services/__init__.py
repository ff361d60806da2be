"""One module per use case. Each service takes settings and an engine, owns its transactions
and returns a typed result."""
