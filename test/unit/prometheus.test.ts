/**
 * GET /metrics: the Prometheus text exposition format (0.0.4), checked line by line against its grammar
 * (a parser written here from the format's description: parse-prometheus-text-format 1.1.1 merges the
 * series of a labelled histogram into one, so it could not check ours), with the same numbers as
 * /v1/metrics and HTTP latencies by route pattern.
 */
import { describe, expect, it } from 'vitest';
import { replicaApp } from '../../workers/core/app.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import { MemoryStore } from '../../workers/core/store.ts';
import { testGroup } from '../helpers/group.ts';

const { group, secrets } = testGroup(4);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

/** Parses the text format strictly: HELP and TYPE before a family's samples, names and labels by the grammar. */
function parseExposition(text: string): Map<string, Family> {
  expect(text.endsWith('\n')).toBe(true);
  const families = new Map<string, Family>();
  let current: Family | null = null;
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  for (const line of text.slice(0, -1).split('\n')) {
    const help = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line);
    const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    if (help) {
      expect(families.has(help[1]!), `family ${help[1]} declared twice`).toBe(false);
      current = { name: help[1]!, help: help[2]!, type: '', samples: [] };
      families.set(current.name, current);
      continue;
    }
    if (type) {
      expect(current?.name, line).toBe(type[1]);
      current!.type = type[2]!;
      continue;
    }
    const m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`).exec(line);
    expect(m, `sample line: ${line}`).not.toBeNull();
    const [, name, labelText, value] = m!;
    const labels: Record<string, string> = {};
    if (labelText) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let at = 0;
      while (at < labelText.length) {
        re.lastIndex = at;
        const l = re.exec(labelText);
        expect(l, `labels of: ${line}`).not.toBeNull();
        labels[l![1]!] = l![2]!;
        at = re.lastIndex;
      }
    }
    expect(current, `sample before HELP/TYPE: ${line}`).not.toBeNull();
    const base = current!.type === 'histogram' ? name!.replace(/_(bucket|sum|count)$/, '') : name;
    expect(base, line).toBe(current!.name);
    expect(value === '+Inf' || value === '-Inf' || value === 'NaN' || Number.isFinite(Number(value)), line).toBe(true);
    current!.samples.push({ name: name!, labels, value: Number(value) });
  }
  for (const f of families.values()) expect(f.type, f.name).not.toBe('');
  return families;
}

describe('GET /metrics (Prometheus text format)', () => {
  it('parses, matches /v1/metrics, and counts HTTP latencies by route pattern', async () => {
    let clock = 1_000_000;
    const host = new ReplicaHost(group, secrets[0]!, new MemoryStore(), { post: async () => ({ status: 503, body: {} }) }, () => clock, { bootstrap: true });
    const app = replicaApp(host, { now: () => clock, afterChange: () => undefined });
    for (const text of ['a', 'b', 'c']) {
      const r = await app.request('/v1/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
      expect(r.status).toBe(202);
      clock += 7;
    }
    await app.request('/v1/requests/00');
    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    const by = parseExposition(text);
    const json = (await (await app.request('/v1/metrics')).json()) as { engine: { epoch: number; logSize: number; pending: number }; outbox: number[] };

    expect(by.get('sintra_pending_requests')).toMatchObject({ type: 'gauge', samples: [{ value: json.engine.pending, labels: { replica: secrets[0]!.id } }] });
    expect(json.engine.pending).toBe(3);
    expect(by.get('sintra_epoch')!.samples[0]!.value).toBe(json.engine.epoch);
    expect(by.get('sintra_log_size')!.samples[0]!.value).toBe(json.engine.logSize);
    expect(by.get('sintra_mode')!.samples.find((m) => m.labels['mode'] === 'active')!.value).toBe(1);
    expect(by.get('sintra_outbox_messages')!.samples.map((m) => m.value)).toEqual(json.outbox);
    expect(by.get('sintra_link_failures_total')!.type).toBe('counter');
    // Loaded at the first request (no checkpoint yet), 21 ms of fake time ago.
    expect(by.get('sintra_checkpoint_age_seconds')).toMatchObject({ type: 'gauge', samples: [{ value: 0.021 }] });
    expect(by.get('sintra_rejoins_total')!.samples[0]!.value).toBe(0);
    expect(by.get('sintra_rejoin_passive_until')!.samples[0]!.value).toBe(-1);

    const hist = by.get('sintra_http_request_duration_seconds')!;
    expect(hist.type).toBe('histogram');
    const series = (route: string, method: string, status: string) =>
      hist.samples.filter((m) => m.labels['route'] === route && m.labels['method'] === method && m.labels['status'] === status);
    const posts = series('/v1/requests', 'POST', '2xx');
    expect(posts.find((m) => m.name.endsWith('_count'))!.value).toBe(3);
    const buckets = posts.filter((m) => m.name.endsWith('_bucket'));
    expect(buckets.at(-1)!.labels['le']).toBe('+Inf');
    expect(buckets.at(-1)!.value).toBe(3);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    // a path with an id is counted under its pattern, not the path (bounded label values)
    expect(series('/v1/requests/:id', 'GET', '4xx').length).toBeGreaterThan(0);
    expect(text).not.toContain('/v1/requests/00');
  });
});
