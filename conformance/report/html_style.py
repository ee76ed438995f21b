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
.verdict-block { border: 1px solid var(--line); border-left: 12px solid var(--none); border-radius: 6px;
                 padding: 14px 18px; margin-bottom: 12px; }
.verdict-block.v-pass { border-left-color: var(--pass); } .verdict-block.v-fail { border-left-color: var(--fail); }
.verdict-block.v-interrupted { border-left-color: var(--warn); }
.verdict { display: inline-block; font-size: 40px; font-weight: 800; line-height: 1.1; padding: 2px 18px;
           border-radius: 8px; color: #fff; background: var(--none); text-transform: uppercase;
           vertical-align: middle; margin-right: 10px; }
.headline { font-size: 17px; margin: 0 0 8px; overflow-wrap: anywhere; }
.counts { margin: 2px 0; font-size: 15px; } .since-line { margin: 6px 0 0; }
.verdict-block h1 { margin-top: 10px; }
.verdict.o-pass { background: var(--pass); } .verdict.o-fail { background: var(--fail); }
.verdict.o-interrupted { background: var(--warn); } .verdict.o-untested { background: var(--none); }
.o-interrupted { background: var(--warn); }
ol.attention { padding-left: 22px; } ol.attention > li { margin-bottom: 10px; }
ul.att-tests { padding-left: 16px; margin: 4px 0; } ul.att-tests > li { margin: 4px 0; overflow-wrap: anywhere; }
pre.evidence { margin: 4px 0 0; padding: 6px 8px; background: var(--band); border: 1px solid var(--line);
               border-radius: 4px; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
pre.evidence .ev-diff { color: var(--fail); font-weight: 600; }
p.ok { color: var(--pass); font-weight: 600; }
div.chart svg { max-width: 100%; height: auto; } svg.chart text { font: 12px system-ui, sans-serif; }
.legend span { display: inline-block; margin-right: 12px; } .legend i { display: inline-block;
 width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
.mark { font-size: 12px; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 4px;
        white-space: nowrap; }
.mark.m-agrees { color: var(--fg); background: var(--band); }
section.deviations td { background: #fbfbfc; }
a { overflow-wrap: anywhere; }
.totals td, .totals th { text-align: center; }
.msg { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere;
       white-space: pre-wrap; }
ul.fails { margin: 0; padding-left: 16px; }
td.id { white-space: nowrap; }
td.test { overflow-wrap: anywhere; } td, th, dd, li { overflow-wrap: anywhere; }
table { table-layout: auto; }
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
  .badge, .verdict, .verdict-block, svg, .legend i { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .verdict-block { break-inside: avoid; }
  pre.evidence { break-inside: avoid; }
  #attention a::after, .links { display: none; }
  section.tests { break-before: page; }
}
"""
