/**
 * Charts for docs/benchmarks.md from a results file of `npm run bench` (hand-rolled SVG, no dependencies):
 *
 *   docs/bench-latency.svg   throughput vs latency (p50 and p99): the in-process closed-loop load sweep at
 *                            n = 4 and the open-loop half-peak run, with the baseline and http runs and
 *                            the issue's goals; log-log so every mode fits.
 *   docs/bench-n.svg         throughput vs n (in-process, and http where measured), log y, with the goals.
 *
 * Usage: npx tsx infra/bench/charts.ts [results.json ...] [--out docs]
 * Without files it uses the newest file in bench-results/. Several files are merged (e.g. a full run and a
 * later baseline + http run, whose results replace the full run's for those modes).
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchDocument, BenchResult } from './main.ts';
import type { InProcessResult } from './inprocess.ts';

interface Point {
  x: number;
  y: number;
  label?: string;
}

interface Series {
  name: string;
  color: string;
  points: Point[];
  line?: boolean;
  dash?: string;
  shape?: 'circle' | 'square' | 'diamond';
}

interface ChartSpec {
  title: string;
  subtitle: string;
  xLabel: string;
  yLabel: string;
  xLog: boolean;
  yLog: boolean;
  xRange: [number, number];
  yRange: [number, number];
  xTicks?: number[];
  series: Series[];
  /** Goal boxes: the region where a goal is met (x >= minX and y <= maxY), drawn as dashed corner lines. */
  goals?: { x?: number; y?: number; label: string }[];
}

const W = 820;
const H = 480;
const M = { l: 80, r: 230, t: 64, b: 60 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function fmt(v: number): string {
  if (v >= 1000 && v % 1000 === 0) return `${v / 1000}k`;
  if (v >= 1000) return `${(v / 1000).toFixed(1)}k`;
  return String(Number(v.toPrecision(3)));
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    const v = 10 ** e;
    if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
  }
  return out;
}

function linTicks(lo: number, hi: number): number[] {
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= 8)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi; v += nice) out.push(v);
  return out;
}

export function renderChart(c: ChartSpec): string {
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
  const sx = (v: number) => {
    const [a, b] = c.xRange;
    const f = c.xLog ? (Math.log10(v) - Math.log10(a)) / (Math.log10(b) - Math.log10(a)) : (v - a) / (b - a);
    return M.l + Math.max(0, Math.min(1, f)) * pw;
  };
  const sy = (v: number) => {
    const [a, b] = c.yRange;
    const f = c.yLog ? (Math.log10(v) - Math.log10(a)) / (Math.log10(b) - Math.log10(a)) : (v - a) / (b - a);
    return M.t + ph - Math.max(0, Math.min(1, f)) * ph;
  };
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  o.push(`<text x="${M.l}" y="24" font-size="16" font-weight="bold">${esc(c.title)}</text>`);
  o.push(`<text x="${M.l}" y="44" fill="#555">${esc(c.subtitle)}</text>`);
  // grid and ticks
  const xt = c.xTicks ?? (c.xLog ? logTicks(...c.xRange) : linTicks(...c.xRange));
  const yt = c.yLog ? logTicks(...c.yRange) : linTicks(...c.yRange);
  for (const v of xt) {
    o.push(`<line x1="${sx(v)}" y1="${M.t}" x2="${sx(v)}" y2="${M.t + ph}" stroke="#e5e5e5"/>`);
    o.push(`<text x="${sx(v)}" y="${M.t + ph + 18}" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (const v of yt) {
    o.push(`<line x1="${M.l}" y1="${sy(v)}" x2="${M.l + pw}" y2="${sy(v)}" stroke="#e5e5e5"/>`);
    o.push(`<text x="${M.l - 8}" y="${sy(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  o.push(`<rect x="${M.l}" y="${M.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  o.push(`<text x="${M.l + pw / 2}" y="${H - 16}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  o.push(`<text transform="translate(20 ${M.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  // goals
  for (const g of c.goals ?? []) {
    const x = g.x !== undefined ? sx(g.x) : M.l;
    const y = g.y !== undefined ? sy(g.y) : M.t;
    if (g.x !== undefined) o.push(`<line x1="${x}" y1="${g.y !== undefined ? y : M.t}" x2="${x}" y2="${M.t + ph}" stroke="#2a9d2a" stroke-dasharray="6 4"/>`);
    if (g.y !== undefined) o.push(`<line x1="${g.x !== undefined ? x : M.l}" y1="${y}" x2="${M.l + pw}" y2="${y}" stroke="#2a9d2a" stroke-dasharray="6 4"/>`);
    if (g.x !== undefined) o.push(`<text x="${x - 4}" y="${(g.y !== undefined ? y : M.t) + 14}" text-anchor="end" fill="#2a9d2a">${esc(g.label)}</text>`);
    else o.push(`<text x="${M.l + 4}" y="${y - 5}" fill="#2a9d2a">${esc(g.label)}</text>`);
  }
  // series
  const legendY = M.t + 8;
  c.series.forEach((s, i) => {
    const pts = s.points.filter((p) => p.x > 0 && p.y > 0);
    if (s.line && pts.length > 1) {
      const d = [...pts].sort((a, b) => a.x - b.x).map((p, k) => `${k === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
      o.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    }
    const byX = [...pts].sort((a, b) => a.x - b.x);
    for (const p of pts) {
      const below = byX.indexOf(p) % 2 === 1;
      const x = sx(p.x);
      const y = sy(p.y);
      if (s.shape === 'square') o.push(`<rect x="${x - 5}" y="${y - 5}" width="10" height="10" fill="${s.color}"/>`);
      else if (s.shape === 'diamond') o.push(`<path d="M${x},${y - 7} L${x + 7},${y} L${x},${y + 7} L${x - 7},${y} Z" fill="${s.color}"/>`);
      else o.push(`<circle cx="${x}" cy="${y}" r="4.5" fill="${s.color}"/>`);
      if (p.label) o.push(`<text x="${x + 7}" y="${below ? y + 15 : y - 6}" font-size="10" fill="#333">${esc(p.label)}</text>`);
    }
    const ly = legendY + i * 20;
    const lx = M.l + pw + 16;
    o.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    o.push(`<circle cx="${lx + 11}" cy="${ly}" r="3.5" fill="${s.color}"/>`);
    o.push(`<text x="${lx + 28}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}

const inproc = (rs: BenchResult[]) => rs.filter((r): r is InProcessResult => r.mode === 'in-process' && !('threads' in r));

function range(vals: number[], lo: number, hi: number): [number, number] {
  const v = vals.filter((x) => x > 0);
  const a = Math.min(lo, ...v);
  const b = Math.max(hi, ...v);
  return [10 ** Math.floor(Math.log10(a)), 10 ** Math.ceil(Math.log10(b))];
}

export function latencyChart(doc: BenchDocument): string {
  const rs = doc.results;
  const sweep = inproc(rs).filter((r) => r.n === 4 && r.load.kind === 'closed' && r.max_batch === inproc(rs)[0]?.max_batch);
  const bigger = inproc(rs).filter((r) => r.n === 4 && r.load.kind === 'closed' && r.max_batch !== inproc(rs)[0]?.max_batch);
  const half = inproc(rs).filter((r) => r.n === 4 && r.load.kind === 'open');
  const others = rs.filter((r) => r.mode !== 'in-process');
  const lbl = (r: InProcessResult) => (r.load.kind === 'closed' ? `${r.load.inflight}` : `${r.load.rate}/s`);
  const series: Series[] = [
    { name: 'in-process n=4 p50', color: '#1f77b4', line: true, points: sweep.map((r) => ({ x: r.throughput_rps, y: r.latency_ms.p50, label: lbl(r) })) },
    { name: 'in-process n=4 p99', color: '#1f77b4', line: true, dash: '4 3', points: sweep.map((r) => ({ x: r.throughput_rps, y: r.latency_ms.p99 })) },
    { name: 'bigger batches p50', color: '#2ca02c', shape: 'diamond', points: bigger.map((r) => ({ x: r.throughput_rps, y: r.latency_ms.p50, label: `maxBatch ${r.max_batch}` })) },
    { name: 'open loop p50', color: '#9467bd', shape: 'diamond', points: half.map((r) => ({ x: r.throughput_rps, y: r.latency_ms.p50, label: r.label === 'half-peak' ? `half peak ${lbl(r)}` : r.label === 'overload' ? 'overload' : lbl(r) })) },
    { name: 'baseline p50 (1 server)', color: '#ff7f0e', shape: 'square', points: others.filter((r) => r.mode === 'baseline').map((r) => ({ x: r.throughput_rps, y: r.latency_ms.p50 })) },
    { name: 'http n=4 p50 (local clusters)', color: '#d62728', shape: 'square', points: others.filter((r) => r.mode === 'http').map((r) => ({ x: r.throughput_rps, y: r.latency_ms.p50, label: httpLabel(r) })) },
  ];
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  return renderChart({
    title: 'Throughput vs latency',
    subtitle: `in-process n=4 closed loop labelled by requests in flight; ${doc.machine.cpus} x ${doc.machine.cpu_model.slice(0, 30)}, load avg ${doc.machine.loadavg_start[0]}`,
    xLabel: 'requests/s (sustained, log scale)',
    yLabel: 'latency to a certified receipt, ms (log scale)',
    xLog: true,
    yLog: true,
    xRange: range(xs, 1, 100_000),
    yRange: range(ys, 10, 1000),
    series,
    goals: [
      { x: 50_000, label: 'goal 50k/s (n=4)' },
      { y: 500, label: 'goal p50 < 500 ms at half peak' },
    ],
  });
}

export function nChart(doc: BenchDocument): string {
  const rs = doc.results;
  const sweep = inproc(rs)
    .filter((r) => r.label === 'n-sweep')
    .sort((a, b) => a.n - b.n);
  const best = new Map<number, InProcessResult>();
  for (const r of inproc(rs).filter((r) => r.label !== 'n-sweep' && r.load.kind === 'closed')) {
    const b = best.get(r.n);
    if (!b || r.throughput_rps > b.throughput_rps) best.set(r.n, r);
  }
  const mb = sweep[0]?.max_batch;
  const http = rs.filter((r) => r.mode === 'http');
  const base = rs.filter((r) => r.mode === 'baseline');
  const series: Series[] = [
    { name: `in-process, maxBatch ${mb ?? '?'}`, color: '#1f77b4', line: true, points: sweep.map((r) => ({ x: r.n, y: r.throughput_rps, label: `${r.throughput_rps}` })) },
    { name: 'same, per CPU-second', color: '#17becf', line: true, dash: '4 3', points: sweep.map((r) => ({ x: r.n, y: r.requests_per_cpu_second })) },
    { name: 'in-process, bigger batches', color: '#9467bd', shape: 'diamond', points: [...best.values()].filter((r) => r.max_batch !== mb).map((r) => ({ x: r.n, y: r.throughput_rps, label: `${r.throughput_rps} (maxBatch ${r.max_batch})` })) },
    { name: 'http (local clusters)', color: '#d62728', shape: 'square', points: http.map((r) => ({ x: r.n, y: r.throughput_rps, label: `${r.throughput_rps} ${httpLabel(r)}` })) },
    { name: 'baseline (1 server)', color: '#ff7f0e', shape: 'square', points: base.map((r) => ({ x: 1, y: r.throughput_rps, label: `${r.throughput_rps}` })) },
  ];
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  return renderChart({
    title: 'Throughput vs number of replicas',
    subtitle: `sustained requests/s, 2n full batches in flight; ${doc.machine.cpus} x ${doc.machine.cpu_model.slice(0, 30)}, shared machine`,
    xLabel: 'replicas n',
    yLabel: 'requests/s (log scale)',
    xLog: false,
    yLog: true,
    xRange: [0, 17],
    xTicks: [1, 4, 7, 10, 13, 16],
    yRange: range(ys, 1, 100_000),
    series,
    goals: [
      { y: 50_000, label: 'goal n=4: 50k/s' },
      { y: 10_000, label: 'goal n=16: 10k/s' },
    ],
  });
}

/** 'miniflare', or e.g. 'node x100' (cluster, requests per POST); older results have neither field. */
function httpLabel(r: BenchResult): string {
  if (r.mode === 'in-process') return '';
  const cluster = r.mode === 'http' ? (r.cluster ?? 'miniflare') : 'baseline';
  return `${cluster}${(r.requests_per_post ?? 1) > 1 ? ` x${r.requests_per_post}` : ''}`;
}

/**
 * Merges results files; an http or baseline result of a later file replaces an earlier one with the same n,
 * cluster and requests per POST.
 */
export function mergeDocuments(docs: BenchDocument[]): BenchDocument {
  const results: BenchResult[] = [];
  for (const d of docs) {
    for (const r of d.results) {
      if (r.mode !== 'in-process') {
        const i = results.findIndex((x) => x.mode === r.mode && x.n === r.n && httpLabel(x) === httpLabel(r));
        if (i >= 0) results.splice(i, 1);
      }
      results.push(r);
    }
  }
  return { machine: docs[0]!.machine, command: docs.map((d) => d.command).join(' + '), results };
}

if (process.argv[1]?.endsWith('charts.ts')) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string', default: 'docs' } } });
  let files = positionals;
  if (files.length === 0) {
    const dir = 'bench-results';
    const newest = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().pop();
    if (!newest) throw new Error('no results in bench-results/: run npm run bench first');
    files = [join(dir, newest)];
  }
  const doc = mergeDocuments(files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as BenchDocument));
  writeFileSync(join(values.out!, 'bench-latency.svg'), latencyChart(doc));
  writeFileSync(join(values.out!, 'bench-n.svg'), nChart(doc));
  console.error(`wrote ${join(values.out!, 'bench-latency.svg')} and ${join(values.out!, 'bench-n.svg')} from ${files.join(', ')}`);
}
