/**
 * Inline SVG pieces of the fusion report: heatmaps (one <rect class="cell"> per matrix entry, its value in a
 * <title> tooltip, an optional path of visited cells) and horizontal bar charts. Pure string builders; every text is
 * escaped, every document is well-formed XML.
 */

/** Text safe inside XML elements and attribute values. */
export function escapeXml(text: string): string {
  const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  return text.replace(/[&<>"']/g, (c) => entities[c]);
}

/** `<name a="v" ...>content</name>` (self-closing without content); attribute values are escaped, content is not. */
export function element(name: string, attributes: Record<string, string | number>, content?: string): string {
  const attrs = Object.entries(attributes).map(([key, value]) => ` ${key}="${escapeXml(String(value))}"`).join('');
  return content === undefined ? `<${name}${attrs}/>` : `<${name}${attrs}>${content}</${name}>`;
}

/** Four significant digits, plain notation for ordinary magnitudes. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}

/** Viridis at 9 stops (dark purple = low, yellow = high), linearly interpolated. */
const VIRIDIS = [
  [68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137], [53, 183, 121],
  [110, 206, 88], [253, 231, 37],
];

/** The colour of t in [0, 1] (clamped). */
export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const k = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - k;
  const channel = (c: number) => Math.round(VIRIDIS[k][c] + f * (VIRIDIS[k + 1][c] - VIRIDIS[k][c]));
  return `#${[0, 1, 2].map((c) => channel(c).toString(16).padStart(2, '0')).join('')}`;
}

export interface HeatmapOptions {
  /** Labels of the rows and the columns (shortened when long). */
  rowLabels?: string[];
  colLabels?: string[];
  /** Cells visited by a path, [row, column] in order: outlined and joined by a line. */
  path?: [number, number][];
  /** Longest side of the grid in pixels (cells are 4..40 px). */
  size?: number;
  /** Accessible name of the picture. */
  title: string;
}

const LABEL_CHARS = 14;
/** Average glyph width of the label font, as a share of its size (system sans-serif fonts are ~0.55-0.6). */
const GLYPH = 0.62;
/** Room for the colour-scale line under the grid. */
const SCALE_WIDTH = 200;

function shortLabel(label: string): string {
  return label.length <= LABEL_CHARS ? label : `…${label.slice(label.length - LABEL_CHARS + 1)}`;
}

function cellSize(rows: number, cols: number, size: number): number {
  return Math.max(4, Math.min(40, Math.floor(size / Math.max(rows, cols))));
}

/** Margins that fit the labels: row labels to the left, column labels above, rotated 45° (reaching to the right). */
function margins(options: HeatmapOptions, font: number): { left: number; top: number; right: number } {
  const longest = (labels?: string[]) => (labels?.length ? Math.max(...labels.map((l) => shortLabel(l).length)) : 0);
  const colReach = Math.SQRT1_2 * GLYPH * font * longest(options.colLabels);
  return {
    left: options.rowLabels ? Math.ceil(8 + GLYPH * font * longest(options.rowLabels)) : 4,
    top: options.colLabels ? Math.ceil(8 + colReach + font) : 4,
    right: options.colLabels ? Math.ceil(colReach) : 4,
  };
}

/** A rows x cols matrix (row-major) as a heatmap with a colour scale from its minimum to its maximum. */
export function heatmapSvg(values: ArrayLike<number>, rows: number, cols: number, options: HeatmapOptions): string {
  const cell = cellSize(rows, cols, options.size ?? 320);
  const font = Math.min(11, Math.max(7, cell - 2));
  const { left, top, right } = margins(options, font);
  const finite = Array.from(values).filter(Number.isFinite);
  const lo = finite.length ? Math.min(...finite) : 0;
  const hi = finite.length ? Math.max(...finite) : 0;
  const scale = (v: number) => (hi > lo ? (v - lo) / (hi - lo) : 0.5);
  const width = Math.ceil(Math.max(left + cols * cell + right, left + SCALE_WIDTH) + 4);
  const height = Math.ceil(top + rows * cell + 22);
  const parts: string[] = [];
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = values[i * cols + j];
      const box = { x: left + j * cell, y: top + i * cell, width: cell, height: cell };
      parts.push(element('rect', { class: 'cell', 'data-i': i, 'data-j': j, ...box, fill: viridis(scale(v)) },
        `<title>[${i}, ${j}] ${formatNumber(v)}</title>`));
    }
  }
  const rowLabel = { class: 'label', 'font-size': font, 'text-anchor': 'end', 'dominant-baseline': 'middle' };
  options.rowLabels?.forEach((label, i) => {
    parts.push(element('text', { ...rowLabel, x: left - 4, y: top + (i + 0.5) * cell }, escapeXml(shortLabel(label))));
  });
  options.colLabels?.forEach((label, j) => {
    const x = left + (j + 0.5) * cell;
    const y = top - 4;
    const rotated = { class: 'label', x, y, 'font-size': font, transform: `rotate(-45 ${x} ${y})` };
    parts.push(element('text', rotated, escapeXml(shortLabel(label))));
  });
  if (options.path?.length) parts.push(pathSvg(options.path, left, top, cell));
  const swatch = (t: number) => element('tspan', { fill: viridis(t) }, '■');
  parts.push(element('text', { class: 'scale', x: left, y: height - 6, 'font-size': 10 },
    `min ${formatNumber(lo)} ${swatch(0)} → ${swatch(1)} max ${formatNumber(hi)}`));
  return svgDocument({ class: 'heatmap', 'data-rows': rows, 'data-cols': cols }, width, height, options.title, parts);
}

/** A standalone SVG element of the given size, with an accessible title. */
function svgDocument(attributes: Record<string, string | number>, width: number, height: number, title: string,
  parts: string[]): string {
  const size = { width, height, viewBox: `0 0 ${width} ${height}` };
  const frame = { xmlns: 'http://www.w3.org/2000/svg', ...attributes, role: 'img', ...size };
  return element('svg', frame, `<title>${escapeXml(title)}</title>${parts.join('')}`);
}

const PATH_RED = '#e8384f';

function pathSvg(path: [number, number][], left: number, top: number, cell: number): string {
  const points = path.map(([i, j]) => `${left + (j + 0.5) * cell},${top + (i + 0.5) * cell}`).join(' ');
  const size = { width: cell - 2, height: cell - 2 };
  const outline = { class: 'step', ...size, fill: 'none', stroke: PATH_RED, 'stroke-width': 2.5 };
  const steps = path.map(([i, j]) => element('rect', {
    ...outline, 'data-i': i, 'data-j': j, x: left + j * cell + 1, y: top + i * cell + 1,
  }));
  // A white casing under the red line keeps it visible on dark and on bright cells.
  const casing = element('polyline', { points, fill: 'none', stroke: 'white', 'stroke-width': 4, opacity: 0.7 });
  const line = element('polyline', { class: 'path', points, fill: 'none', stroke: PATH_RED, 'stroke-width': 2 });
  return casing + line + steps.join('');
}

const BAR_BLUE = viridis(0.35);

export interface Bar {
  label: string;
  value: number;
  /** Shown instead of the value. */
  text?: string;
}

/** Horizontal bars scaled to the largest value (or to `max`). */
export function barChartSvg(bars: Bar[], options: { title: string; max?: number; width?: number }): string {
  const labelWidth = 8 + 6.5 * Math.max(1, ...bars.map((b) => b.label.length));
  const barWidth = options.width ?? 320;
  const row = 18;
  const max = options.max ?? Math.max(0, ...bars.map((b) => b.value));
  const width = labelWidth + barWidth + 90;
  const height = bars.length * row + 6;
  const parts = bars.map((bar, k) => {
    const y = 3 + k * row;
    const w = max > 0 ? Math.max(0, (bar.value / max) * barWidth) : 0;
    const middle = { y: y + row / 2, 'font-size': 11, 'dominant-baseline': 'middle' };
    return element('text', { x: labelWidth - 6, ...middle, 'text-anchor': 'end' }, escapeXml(bar.label)) +
      element('rect', { class: 'bar', x: labelWidth, y: y + 2, width: w.toFixed(1), height: row - 5, fill: BAR_BLUE }) +
      element('text', { x: labelWidth + w + 4, ...middle }, escapeXml(bar.text ?? formatNumber(bar.value)));
  });
  return svgDocument({ class: 'bars' }, width, height, options.title, parts);
}
