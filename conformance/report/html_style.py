"""The inline stylesheet of report.html: screen and print (no web fonts, no external resources)."""

CSS = """
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --band: #f6f8fa;
        --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --info: #0969da; --none: #6e7781; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       color: var(--fg); margin: 0 auto; max-width: 1200px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
p.sub, .muted { color: var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
thead th { background: var(--band); }
tbody th.group { background: #eaeef2; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 6px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; font-weight: 600;
         color: #fff; background: var(--none); white-space: nowrap; }
.o-pass { background: var(--pass); } .o-fail, .o-error, .o-unexpected-pass { background: var(--fail); }
.o-expected-fail { background: var(--warn); } .o-unsupported, .o-skip { background: var(--info); }
.o-untested { background: var(--none); }
.verdict { font-size: 22px; padding: 2px 14px; text-transform: uppercase; }
.headline { font-size: 16px; margin: 0 0 10px; }
.o-interrupted { background: var(--warn); }
.totals td, .totals th { text-align: center; }
.msg { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere;
       white-space: pre-wrap; }
ul.fails { margin: 0; padding-left: 16px; }
td.id { white-space: nowrap; }
td.test { overflow-wrap: anywhere; }
.like { font-weight: 600; }
#deviations code { overflow-wrap: anywhere; }
ul.why { padding-left: 18px; } ul.why li { margin-bottom: 4px; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  @page { margin: 14mm 12mm; }
  h2 { break-after: avoid; }
  tr, dl.facts { break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
  .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.tests { break-before: page; }
}
"""
