"""The compliance report: its figures (model) and their renderings (text, json, csv, html).

Pure: no database, no settings. services/report.py builds the figures.
"""
