"""The HTML report's stylesheet (reports/render_html.py inlines it): screen and A4 print."""

from __future__ import annotations

__all__ = ["STYLE"]

STYLE = """
@page { size: A4; margin: 14mm 12mm; }
:root { --ink: #1a202c; --muted: #4a5568; --line: #e2e8f0; --soft: #f7fafc; --accent: #2b6cb0;
  --ok: #276749; --ok-bg: #f0fff4; --warn: #975a16; --warn-bg: #fffaf0;
  --alert: #c53030; --alert-bg: #fff5f5; }
* { box-sizing: border-box; }
body { margin: 0; background: #edf2f7; color: var(--ink); font: 15px/1.5 system-ui,
  -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 32px 32px 40px; background: #fff; }
h1 { font-size: 26px; margin: 0; }
.period { margin: 4px 0 0; color: var(--muted); }
section { margin-top: 36px; }
h2 { display: flex; justify-content: space-between; align-items: baseline; gap: 12px;
  margin: 0 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--line); font-size: 19px; }
h3 { margin: 14px 0 4px; color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .05em; }
.tiles { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; margin-top: 24px; }
.tile { display: block; padding: 10px 14px; border: 1px solid var(--line);
  border-left: 5px solid var(--accent); border-radius: 6px; background: var(--soft);
  color: inherit; text-decoration: none; }
.tile.ok { border-left-color: var(--ok); }
.tile.alert { border-left-color: var(--alert); background: var(--alert-bg); }
.tile .label { display: block; color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .05em; }
.tile .value { display: block; font-size: 28px; font-weight: 700; line-height: 1.3; }
.tile.ok .value { color: var(--ok); }
.tile.alert .value { color: var(--alert); }
.tile .note { display: block; color: var(--muted); font-size: 13px; }
.findings { margin: 16px 0 0; padding: 0; list-style: none; }
.findings li { display: flex; align-items: baseline; gap: 8px; margin: 6px 0; }
.findings .badge { flex: none; min-width: 76px; margin: 0; }
.badge { display: inline-block; margin-right: 8px; padding: 0 8px;
  border: 1px solid; border-radius: 999px; font-size: 12px; font-weight: 700;
  text-align: center; letter-spacing: .04em; white-space: nowrap; }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); }
.badge.alert { color: #fff; background: var(--alert); border-color: var(--alert); }
.badge.quiet { color: var(--muted); background: var(--soft); }
.grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px 28px;
  align-items: start; }
.split { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 28px; align-items: start; }
.split.wide { grid-template-columns: 1fr 2fr; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: baseline; }
thead th { color: var(--muted); font-size: 12px; font-weight: 600; border-bottom-width: 2px; }
td:first-child, .nobr { white-space: nowrap; }
.num { text-align: right; }
.share { color: var(--muted); font-size: 12px; }
.breakdown td { padding: 4px 5px; }
.bar { width: 25%; vertical-align: middle; }
.bar span { display: block; height: 0; border-top: 8px solid #90b4dc; border-radius: 2px; }
.facts th { width: 1%; padding-right: 28px; color: var(--muted); font-weight: 600;
  white-space: nowrap; }
.num .badge { margin: 0; }
figure { margin: 18px 0 0; }
figcaption { color: var(--muted); font-size: 13px; font-weight: 600; }
svg.chart { display: block; width: 100%; height: auto; }
code { padding: 1px 4px; border-radius: 3px; background: var(--soft); overflow-wrap: anywhere;
  font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
.problem { color: var(--alert); font-weight: 600; }
dl.policy { display: grid; grid-template-columns: 190px 1fr; gap: 10px 20px; margin: 0; }
dl.policy dt { font-weight: 700; }
dl.policy dd { margin: 0; }
footer { margin-top: 40px; padding-top: 8px; border-top: 1px solid var(--line);
  color: var(--muted); font-size: 12px; }
@media screen and (max-width: 760px) {
  .grid, .split, .split.wide, dl.policy { grid-template-columns: 1fr; }
}
@media print {
  body { background: none; font-size: 10pt; }
  main { max-width: none; padding: 0; }
  section, figure, table, .tile { break-inside: avoid; }
  h2, h3, figcaption { break-after: avoid; }
  .tile, .tile.alert, code, .badge { background: none; }
  .badge.alert { color: var(--alert); background: none; }
  .bar { display: none; }
  th, td { padding: 3px 6px; }
  code { font-size: 11px; }
}
"""
