import type { Measure, ScenarioResult } from './scenario.js';

function num(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

const fmt = (m: Measure | undefined) => (m ? num(m.median) : '');

const HEADER = ['scenario', 'metric', 'unit', 'median', 'p99', 'baseline median', 'baseline p99', 'ratio', 'target', 'met?'];

export function tableRows(results: ScenarioResult[]): string[][] {
  const rows: string[][] = [];
  for (const r of results) {
    if (!r.available) {
      rows.push([r.id, `not available: ${r.reason}`, '', '', '', '', '', '', '', '']);
      continue;
    }
    for (const m of r.metrics) {
      rows.push([
        r.id,
        m.name,
        m.unit,
        fmt(m.product),
        num(m.product.p99),
        fmt(m.baseline),
        num(m.baseline?.p99),
        m.ratio === undefined ? '' : m.ratio.toFixed(2),
        m.target ?? '',
        m.met === undefined ? '' : m.met ? 'yes' : 'NO',
      ]);
    }
  }
  return rows;
}

export function plainTable(results: ScenarioResult[]): string {
  const rows = [HEADER, ...tableRows(results)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

export function markdownTable(results: ScenarioResult[]): string {
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const lines = [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`];
  for (const r of tableRows(results)) lines.push(`| ${r.map(esc).join(' | ')} |`);
  return lines.join('\n');
}
