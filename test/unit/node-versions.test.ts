/**
 * The Node.js floor in one place (issue 17): package.json `engines` is the newest minimum any locked
 * package declares (@noble/* 2.x and vite say 20.19), README and docs/deploy.md state that floor and that
 * Node.js 22 is what the Lambda replicas run, terraform deploys that Lambda runtime, and every package the
 * Lambda bundle takes (the runtime dependencies) accepts Node 22. Read from package-lock.json, so adding a
 * package that needs a newer Node fails here until the floor moves with it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (f: string) => readFileSync(resolve(ROOT, f), 'utf8');

type Version = readonly [number, number, number];

function version(s: string): Version {
  const m = /^v?(\d+)(?:\.(\d+|x))?(?:\.(\d+|x))?$/.exec(s.trim());
  if (!m) throw new Error(`not a version: ${s}`);
  return [Number(m[1]), Number(m[2] === 'x' ? 0 : (m[2] ?? 0)), Number(m[3] === 'x' ? 0 : (m[3] ?? 0))];
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Whether `v` satisfies an npm `engines` range of the forms packages use (||, >=, >, <, ^, N.x, *, exact). */
function satisfies(v: Version, range: string): boolean {
  return range.split('||').some((alternative) =>
    alternative
      .trim()
      .replace(/(>=|<=|>|<|\^|~)\s+/g, '$1')
      .split(/\s+/)
      .filter((c) => c !== '' && c !== '*')
      .every((c) => {
        const m = /^(>=|<=|>|<|\^|~)?(.*)$/.exec(c)!;
        const w = version(m[2]!);
        const cmp = compare(v, w);
        switch (m[1]) {
          case '>=':
            return cmp >= 0;
          case '>':
            return cmp > 0;
          case '<=':
            return cmp <= 0;
          case '<':
            return cmp < 0;
          case '^':
            return cmp >= 0 && v[0] === w[0];
          case '~':
            return cmp >= 0 && v[0] === w[0] && v[1] === w[1];
          default:
            // 20.x or 20: that major; 20.19.0: exactly.
            return /^\d+(\.x)?$/.test(m[2]!) ? v[0] === w[0] : cmp === 0;
        }
      }),
  );
}

const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { dev?: boolean; optional?: boolean; engines?: { node?: string } | string[] }> };
const FLOOR_TEXT = /^>=(\d+\.\d+)$/.exec(pkg.engines.node)?.[1];
const FLOOR = version(FLOOR_TEXT ?? '0');
const LAMBDA_MAJOR = 22;

describe('Node.js versions agree', () => {
  it('engines is ">=MAJOR.MINOR"; this Node meets it', () => {
    expect(FLOOR_TEXT).toBeDefined();
    expect(satisfies(version(process.versions.node), pkg.engines.node)).toBe(true);
  });

  it('the floor is the newest minimum of the locked packages: each accepts it, and one needs it', () => {
    const refusing: string[] = [];
    let needsFloor = false;
    for (const [path, p] of Object.entries(lock.packages)) {
      const range = p.engines && !Array.isArray(p.engines) ? p.engines.node : undefined;
      if (!path || !range) continue;
      // Platform binaries that npm skips elsewhere (optional) follow their parent's range.
      if (p.optional) continue;
      if (!satisfies(FLOOR, range)) refusing.push(`${path}: ${range}`);
      if (!satisfies([FLOOR[0], FLOOR[1] - 1, 99], range)) needsFloor = true;
    }
    expect(refusing).toEqual([]);
    expect(needsFloor, `no package needs ${FLOOR_TEXT}: lower engines to what they need`).toBe(true);
  });

  it('terraform deploys Node.js 22 on Lambda; every runtime dependency accepts it', () => {
    expect(read('terraform/aws.tf')).toMatch(new RegExp(`runtime\\s*=\\s*"nodejs${LAMBDA_MAJOR}\\.x"`));
    expect(LAMBDA_MAJOR).toBeGreaterThanOrEqual(FLOOR[0]);
    const refusing = Object.entries(lock.packages)
      .filter(([path, p]) => path && !p.dev && !p.optional && p.engines && !Array.isArray(p.engines) && p.engines.node && !satisfies([LAMBDA_MAJOR, 0, 0], p.engines.node))
      .map(([path, p]) => `${path}: ${(p.engines as { node: string }).node}`);
    expect(refusing).toEqual([]);
  });

  it('README and docs/deploy.md state the floor and the Lambda runtime', () => {
    for (const doc of ['README.md', 'docs/deploy.md']) {
      const text = read(doc).replace(/\s+/g, ' ');
      expect(text, doc).toContain(`Node.js ${FLOOR_TEXT} or newer`);
      expect(text, doc).toContain(`Node.js ${LAMBDA_MAJOR}`);
    }
    expect(read('README.md').replace(/\s+/g, ' ')).toContain(`nodejs${LAMBDA_MAJOR}.x`);
  });

  it('satisfies reads the ranges packages use', () => {
    expect(satisfies([20, 19, 0], '^20.19.0 || >=22.12.0')).toBe(true);
    expect(satisfies([20, 18, 9], '^20.19.0 || >=22.12.0')).toBe(false);
    expect(satisfies([22, 0, 0], '^20.19.0 || >=22.12.0')).toBe(false);
    expect(satisfies([20, 19, 0], '>= 20.19.0')).toBe(true);
    expect(satisfies([20, 19, 0], '20.x || 22.x')).toBe(true);
    expect(satisfies([21, 0, 0], '20.x || 22.x')).toBe(false);
    expect(satisfies([20, 19, 0], '*')).toBe(true);
  });
});
