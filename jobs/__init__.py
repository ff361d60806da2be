"""Scheduled jobs (purge, erasure, report), one function each, and the scheduler wiring."""
