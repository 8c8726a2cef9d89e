/**
 * Model inspection, shared by the API (`inspectModel`) and the CLI (`clafusion inspect`): what the recogniser sees in
 * a model — its units (kind, shapes, width, parameters, segment, residual structure) and a summary with the depth as
 * CLAFusion counts it (hidden weight layers: every conv including shortcut convs, and every hidden dense layer; the
 * classifier excluded).
 */
import { requireArg } from '../errors.js';
import { readNetwork } from '../graph/recognise.js';
import { networkShapes, type SampleShape } from '../graph/shapes.js';
import { activationName } from '../ir/activation.js';
import { allLayers, parameterCount, type Layer, type Network } from '../ir/network.js';

export interface InspectLayer {
  name: string;
  /** 'dense', or 'conv KhxKw sS pP' (stride, pads when not zero, dilation when not one). */
  kind: string;
  width: number;
  parameters: number;
  batchNorm: boolean;
  activation: Layer['activation'];
  /** e.g. 'max 2x2 s2'. */
  pool?: string;
}

export interface InspectUnit extends InspectLayer {
  /** 1-based position among hidden units; the classifier is last. */
  index: number;
  type: 'layer' | 'residual' | 'classifier';
  /** 0-based segment index (the classifier has none). */
  segment?: number;
  /** Per-sample shapes (batch left out). */
  inputShape: SampleShape;
  outputShape: SampleShape;
  /** For 'residual': the branch layers and the shortcut ('identity' or a projection layer). */
  residual?: { branch: InspectLayer[]; shortcut: InspectLayer | 'identity' };
  /** Set on the unit that a flatten precedes: the global pool used ('none' = plain flatten). */
  flattenBefore?: 'avg' | 'max' | 'none';
}

export interface InspectReport {
  source: string;
  input: { name: string; shape: (number | string)[]; layout: string };
  output: { name: string; shape: (number | string)[]; transform: string };
  opset: number;
  irVersion: number;
  producer: string;
  units: InspectUnit[];
  summary: {
    /** Hidden weight layers: convs (shortcut convs included) and hidden dense layers. */
    depth: number;
    /** Hidden units of the IR (a residual block counts once). */
    hiddenUnits: number;
    /** Output channels / features summed over the hidden weight layers. */
    hiddenNeurons: number;
    segments: number;
    parameters: number;
  };
}

function layerParameters(layer: Layer): number {
  return layer.op.weight.data.length + (layer.op.bias?.length ?? 0) + (layer.batchNorm ? 2 * layer.batchNorm.scale.length : 0);
}

function describeLayer(layer: Layer): InspectLayer {
  let kind: string = layer.op.kind;
  if (layer.op.kind === 'conv') {
    const [, , kh, kw] = layer.op.weight.shape;
    const { stride, pads, dilations } = layer.op;
    kind = `conv ${kh}x${kw} s${stride[0] === stride[1] ? stride[0] : stride.join('x')}`;
    if (pads.some((p) => p !== 0)) kind += ` p${pads.every((p) => p === pads[0]) ? pads[0] : pads.join(',')}`;
    if (dilations.some((d) => d !== 1)) kind += ` d${dilations.join('x')}`;
  }
  const info: InspectLayer = {
    name: layer.name,
    kind,
    width: layer.op.weight.shape[0],
    parameters: layerParameters(layer),
    batchNorm: layer.batchNorm !== undefined,
    activation: layer.activation,
  };
  if (layer.pool) info.pool = `${layer.pool.kind} ${layer.pool.kernel.join('x')} s${layer.pool.stride[0]}`;
  return info;
}

/** Builds the report of a recognised network. */
export function inspectNetwork(network: Network, source = '<bytes>'): InspectReport {
  const shapes = networkShapes(network);
  const units: InspectUnit[] = [];
  let position = 0;
  network.segments.forEach((segment, segmentIndex) => {
    segment.units.forEach((unit, i) => {
      const unitShapes = shapes.units[position++];
      const base = { index: position, segment: segmentIndex, inputShape: unitShapes.input, outputShape: unitShapes.output };
      const entry: InspectUnit = unit.type === 'layer'
        ? { ...describeLayer(unit), ...base, type: 'layer' }
        : {
          ...base,
          type: 'residual',
          name: unit.name,
          kind: 'residual',
          width: unit.branch[unit.branch.length - 1].op.weight.shape[0],
          parameters: [...unit.branch, ...(unit.shortcut ? [unit.shortcut] : [])].reduce((n, l) => n + layerParameters(l), 0),
          batchNorm: unit.branch.some((l) => l.batchNorm !== undefined),
          activation: unit.activation,
          ...(unit.pool ? { pool: `${unit.pool.kind} ${unit.pool.kernel.join('x')} s${unit.pool.stride[0]}` } : {}),
          residual: { branch: unit.branch.map(describeLayer), shortcut: unit.shortcut ? describeLayer(unit.shortcut) : 'identity' },
        };
      if (i === 0 && segment.flatten) entry.flattenBefore = segment.flatten.globalPool;
      units.push(entry);
    });
  });
  const classifier: InspectUnit = {
    ...describeLayer(network.classifier),
    index: position + 1,
    type: 'classifier',
    inputShape: shapes.classifier.input,
    outputShape: shapes.classifier.output,
    ...(network.classifierFlatten ? { flattenBefore: network.classifierFlatten.globalPool } : {}),
  };
  units.push(classifier);
  const hiddenLayers = allLayers(network).slice(0, -1);
  return {
    source,
    input: { ...network.input },
    output: { ...network.output },
    opset: network.meta.opset,
    irVersion: network.meta.irVersion,
    producer: network.meta.producerName,
    units,
    summary: {
      depth: hiddenLayers.length,
      hiddenUnits: units.length - 1,
      hiddenNeurons: hiddenLayers.reduce((n, l) => n + l.op.weight.shape[0], 0),
      segments: network.segments.length,
      parameters: parameterCount(network),
    },
  };
}

/** Reads and recognises a model (path or bytes) and reports what it holds. */
export function inspectModel(source: string | Uint8Array): InspectReport {
  return inspectNetwork(readNetwork(source), typeof source === 'string' ? source : '<bytes>');
}

const shapeText = (shape: SampleShape): string => shape.join('x');

function notes(layer: InspectLayer): string {
  const activation = layer.activation === 'none' ? '' : activationName(layer.activation);
  return [layer.batchNorm ? 'bn' : '', activation, layer.pool ?? ''].filter(Boolean).join(', ');
}

/** An aligned text table of the units, then a one-line summary. */
export function formatInspect(report: InspectReport): string {
  requireArg(Array.isArray(report?.input?.shape) && Array.isArray(report.units), 'formatInspect: pass a report from inspectModel or inspectNetwork');
  const rows: string[][] = [['#', 'unit', 'kind', 'seg', 'in', 'out', 'width', 'params', 'notes']];
  let previousOutput = report.input.shape.slice(1) as SampleShape;
  for (const unit of report.units) {
    if (unit.flattenBefore) {
      const kind = unit.flattenBefore === 'none' ? 'flatten' : `global ${unit.flattenBefore} pool + flatten`;
      rows.push(['', 'flatten', kind, '', shapeText(previousOutput), shapeText(unit.inputShape), '', '', '']);
    }
    previousOutput = unit.outputShape;
    const name = unit.type === 'classifier' ? `${unit.name} (classifier)` : unit.name;
    const unitNotes = unit.residual ? [notes(unit), `shortcut: ${unit.residual.shortcut === 'identity' ? 'identity' : unit.residual.shortcut.name}`].filter(Boolean).join('; ') : notes(unit);
    rows.push([String(unit.index), name, unit.kind, unit.segment === undefined ? '-' : String(unit.segment), shapeText(unit.inputShape), shapeText(unit.outputShape), String(unit.width), String(unit.parameters), unitNotes]);
    if (!unit.residual) continue;
    const inner = [...unit.residual.branch.map((l) => ['  ', l]), ...(unit.residual.shortcut === 'identity' ? [] : [['  ↳', unit.residual.shortcut]])] as [string, InspectLayer][];
    for (const [mark, layer] of inner) rows.push(['', `${mark}${layer.name}`, layer.kind, '', '', '', String(layer.width), String(layer.parameters), notes(layer)]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const numeric = new Set([0, 6, 7]);
  const lines = rows.map((r) => r.map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd());
  const s = report.summary;
  const input = `${report.input.name} [${report.input.shape.join(', ')}]`;
  const output = `${report.output.name} [${report.output.shape.join(', ')}]${report.output.transform === 'none' ? '' : ` (${report.output.transform})`}`;
  lines.push(`depth ${s.depth} (hidden weight layers), ${s.hiddenUnits} hidden units, ${s.hiddenNeurons} hidden neurons, ${s.segments} segments, ${s.parameters} parameters; ${input} -> ${output}; opset ${report.opset}`);
  return `${lines.join('\n')}\n`;
}
