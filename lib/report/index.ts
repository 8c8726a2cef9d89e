/**
 * The fusion report (`clafusion fuse --report fused.html`, the API's `fusionReport`): one self-contained HTML page
 * that explains a fusion — the inputs (names, sha256, architecture), the options, the layer-cost matrix of every
 * segment with the cross-layer alignment's DP path on it, the mapping, the OT cost of every transport map, pictures
 * of the first transport plans, the accuracy table and the timings. Inline CSS and SVG only: no script, no network,
 * nothing to fetch. Built purely from the FuseResult (and the Validation, when there is one).
 */
import { requireArg } from '../errors.js';
import type { GroupAlignment } from '../fusion/cla/index.js';
import type { FuseResult, FuseStage } from '../fusion/index.js';
import type { LayerDiagnostics } from '../fusion/otfuse/index.js';
import type { PlanPreview } from '../fusion/otfuse/preview.js';
import type { Validation } from '../fusion/validate.js';
import { parameterCount } from '../ir/network.js';
import { type Bar, barChartSvg, escapeXml, formatNumber, heatmapSvg } from './svg.js';

export interface ReportOptions {
  /** The accuracy table (validateFusion), when the fusion was validated. */
  validation?: Validation;
  /** Wall time of the whole run in ms (the stage timings do not count the gaps between stages). */
  totalMs?: number;
  /** Page title (default: 'clafusion fusion report'). */
  title?: string;
  /** The fused model's file name, when it was written. */
  output?: string;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; padding: 0 16px; color: #1d1d24; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 16px 0 6px; } .sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f4f4f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px ui-monospace, monospace; } .hash { font: 11px ui-monospace, monospace; color: #555; }
.grid { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
figure { margin: 0; } figcaption { font-size: 12px; color: #555; max-width: 420px; }
svg text { font-family: system-ui, sans-serif; fill: #1d1d24; }
`;

/** A table; `numeric` columns are right-aligned. Cells are HTML already (escaped by the caller). */
function table(head: string[], rows: (string | number)[][], numeric: number[] = []): string {
  const cell = (value: string | number, c: number) => `<td${numeric.includes(c) ? ' class="num"' : ''}>${value}</td>`;
  return `<table><thead><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</tbody></table>`;
}

/** The first 16 hex digits of a sha256, the whole one as a tooltip. */
function hash(sha256: string): string {
  return `<span class="hash" title="${sha256}">${sha256.slice(0, 16)}…</span>`;
}

function inputsSection(result: FuseResult, output: string | undefined): string {
  const rows = result.provenance.inputs.map(({ name, sha256, bytes, summary: s }, i) => [
    String(i), escapeXml(name) + (i === result.target ? ' (target)' : ''), hash(sha256), bytes,
    s.depth, s.hiddenUnits, s.hiddenNeurons, s.segments, s.parameters,
  ]);
  const fused = `fused${output ? ` → ${escapeXml(output)}` : ''}`;
  const { segments } = result.network;
  rows.push(['', fused, '', result.bytes.length, '', '', '', segments.length, parameterCount(result.network)]);
  const files = result.provenance.data ?? [];
  const fileList = files.map((f) => `${escapeXml(f.name)} ${hash(f.sha256)}`).join(', ');
  const data = files.length ? `<p>Activation data: ${fileList}</p>` : '';
  const head = ['#', 'model', 'sha256', 'bytes', 'depth', 'hidden units', 'hidden neurons', 'segments', 'parameters'];
  return `<h2>Inputs</h2>${table(head, rows, [3, 4, 5, 6, 7, 8])}<p class="sub">Depth counts hidden weight layers ` +
    `(every conv, shortcut convs included, and every hidden dense layer).</p>${data}`;
}

function optionsSection(result: FuseResult): string {
  const code = (text: string) => `<code>${escapeXml(text)}</code>`;
  const rows = Object.entries(result.options).map(([key, value]) => [code(key), code(JSON.stringify(value))]);
  return `<h2>Options</h2>${table(['option', 'value'], rows)}`;
}

/** The DP path of a segment: shallow unit k sits on deep unit mapping[k] (1-based) — cell (mapping[k] - 1, k). */
export function alignmentPath(group: GroupAlignment): [number, number][] {
  return group.mapping.map((deep, k): [number, number] => [deep - 1, k]);
}

function segmentFigure(group: GroupAlignment, deepName: string, shallowName: string): string {
  const m = group.deepUnits.length;
  const n = group.shallowUnits.length;
  const svg = heatmapSvg(group.cost.flat(), m, n, {
    rowLabels: group.deepUnits, colLabels: group.shallowUnits, path: alignmentPath(group),
    title: `segment ${group.segment}: layer cost, rows ${deepName} units, columns ${shallowName} units`,
  });
  const matched = (k: number) => escapeXml(group.deepUnits[group.mapping[k] - 1]);
  const pairs = group.shallowUnits.map((name, k) => `${escapeXml(name)} → ${matched(k)}`);
  const kind = group.kind === 'layer' ? 'layers' : 'residual blocks';
  const caption = `Segment ${group.segment} (${kind}, ${m} deep × ${n} shallow): ` +
    `mapping [${group.mapping.join(', ')}], ` +
    `total cost ${formatNumber(group.totalCost)}.<br/>${pairs.join(', ')}`;
  return `<figure class="segment">${svg}<figcaption>${caption}</figcaption></figure>`;
}

function alignmentSection(result: FuseResult): string {
  const heading = '<h2>Cross-layer alignment</h2>';
  if (result.alignments.length === 0) {
    return `${heading}<p>The models have the same depth: no cross-layer alignment was needed.</p>`;
  }
  const names = result.provenance.inputs.map((i) => i.name);
  const pairs = result.alignments.map(({ deep, shallow, alignment }) =>
    `<h3>${escapeXml(names[deep])} (deep, rows) ↔ ${escapeXml(names[shallow])} (shallow, columns): ` +
    `${escapeXml(alignment.cost)} cost</h3>` +
    `<p>Hidden-unit mapping (shallow unit k → deep unit): [${alignment.mapping.join(', ')}]</p>` +
    `<div class="grid">${alignment.groups.map((g) => segmentFigure(g, names[deep], names[shallow])).join('')}</div>`);
  return `${heading}<p class="sub">Layer-cost matrix of every segment (dark = low cost); the outlined cells joined ` +
    `by the red line are the dynamic-programming path (the mapping).</p>${pairs.join('')}`;
}

function planFigure(layer: LayerDiagnostics, plan: PlanPreview): string {
  const svg = heatmapSvg(plan.data, plan.rows, plan.cols, { size: 200, title: `transport plan of ${layer.layer}` });
  const shrunk = plan.rows < plan.sourceUnits || plan.cols < plan.targetUnits;
  const binned = shrunk ? `, shown as ${plan.rows} × ${plan.cols} block sums` : '';
  const units = `${plan.sourceUnits} source units (rows) × ${plan.targetUnits} target units`;
  const caption = `${escapeXml(layer.layer)}: ${units}${binned}`;
  return `<figure class="plan">${svg}<figcaption>${caption}</figcaption></figure>`;
}

function transportSection(result: FuseResult): string {
  const layers = result.layers;
  if (layers.length === 0) return '<h2>Transport maps</h2><p>No transport map was computed.</p>';
  const rows = layers.map((l) => [
    escapeXml(l.layer), l.source, `${l.rows} × ${l.cols}`, formatNumber(l.cost), l.iterations, escapeXml(l.method),
    formatNumber(l.ms),
  ]);
  const severalSources = layers.some((l) => l.source !== 0);
  const label = (l: LayerDiagnostics) => (severalSources ? `${l.layer} (source ${l.source})` : l.layer);
  const bars: Bar[] = layers.map((l) => ({ label: label(l), value: l.cost }));
  const previews = layers.flatMap((l) => (l.plan ? [planFigure(l, l.plan)] : []));
  const plans = previews.length === 0 ? '' : '<h3>Transport plans of the first maps</h3>' +
    `<p class="sub">Column-normalised plans T̂ (bright = more mass).</p><div class="grid">${previews.join('')}</div>`;
  return '<h2>Transport maps</h2>' +
    '<p class="sub">OT cost &lt;T, M&gt; of every map (0 for maps passed through or pinned).</p>' +
    barChartSvg(bars, { title: 'OT cost per transport map' }) +
    table(['layer', 'source', 'units', 'OT cost', 'iterations', 'method', 'ms'], rows, [1, 3, 4, 6]) + plans;
}

function accuracySection(result: FuseResult, validation: Validation | undefined): string {
  if (!validation) return '<h2>Accuracy</h2><p>Not validated (no evaluation data given).</p>';
  const bars: Bar[] = [
    ...result.provenance.inputs.map((input, i) => ({ label: input.name, value: validation.models[i] })),
    { label: 'fused', value: validation.fused },
    { label: 'ensemble (mean logits)', value: validation.ensemble },
    ...(validation.vanilla === null ? [] : [{ label: 'vanilla average', value: validation.vanilla }]),
  ].map((b) => ({ ...b, text: `${(100 * b.value).toFixed(2)}%` }));
  const vanillaNote = escapeXml(validation.vanillaNote ?? 'n/a');
  const note = validation.vanilla === null ? `<p>Vanilla average: ${vanillaNote}</p>` : '';
  const rows = bars.map((b) => [escapeXml(b.label), b.text!]);
  return `<h2>Accuracy</h2><p class="sub">Top-1 accuracy on ${validation.samples} samples.</p>` +
    barChartSvg(bars, { title: 'top-1 accuracy', max: 1 }) + table(['model', 'accuracy'], rows, [1]) + note;
}

function timingsSection(result: FuseResult, totalMs: number | undefined): string {
  const stages = Object.entries(result.timings) as [FuseStage, number][];
  const bars: Bar[] = stages.map(([stage, ms]) => ({ label: stage, value: ms, text: `${ms.toFixed(0)} ms` }));
  const total = totalMs === undefined ? '' : `<p>Total: ${totalMs.toFixed(0)} ms.</p>`;
  return `<h2>Timings</h2>${barChartSvg(bars, { title: 'milliseconds per stage' })}${total}`;
}

/** The report of a fusion as one self-contained HTML page (see the module comment). */
export function fusionReport(result: FuseResult, options: ReportOptions = {}): string {
  requireArg(Array.isArray(result?.provenance?.inputs), 'fusionReport: pass the result of fuse');
  const title = escapeXml(options.title ?? 'clafusion fusion report');
  const names = result.provenance.inputs.map((i) => i.name).join(' + ');
  const body = [
    `<h1>${title}</h1><p class="sub">${escapeXml(names)}, clafusion ${escapeXml(result.provenance.version)}</p>`,
    inputsSection(result, options.output),
    alignmentSection(result),
    transportSection(result),
    accuracySection(result, options.validation),
    timingsSection(result, options.totalMs),
    optionsSection(result),
  ].join('\n');
  // XHTML-compatible markup (every element closed, attributes quoted), so that XML tools read it too.
  const head = '<meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>' +
    `<title>${title}</title><style>${STYLE}</style>`;
  const html = `<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head>${head}</head>` +
    `<body>\n${body}\n</body></html>`;
  return `<!DOCTYPE html>\n${html}\n`;
}
