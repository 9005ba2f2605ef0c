/** Small helpers shared by the benchmark modes: percentiles, machine facts, formatting. */
import os from 'node:os';

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
}

/** Nearest-rank percentiles of an unsorted sample (ms, one decimal); zeros for an empty sample. */
export function percentiles(sample: ArrayLike<number>): Percentiles {
  const s = Float64Array.from(sample as ArrayLike<number>).sort();
  const at = (p: number) => (s.length === 0 ? 0 : round1(s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!));
  return { p50: at(50), p90: at(90), p99: at(99) };
}

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length === 0 ? 0 : s / xs.length;
}

export const round1 = (x: number) => Math.round(x * 10) / 10;
export const round3 = (x: number) => Math.round(x * 1000) / 1000;

export interface MachineInfo {
  node: string;
  platform: string;
  arch: string;
  cpus: number;
  cpu_model: string;
  memory_gb: number;
  /** 1/5/15-minute load averages when the run started and when it ended (the machine is shared). */
  loadavg_start: number[];
  loadavg_end?: number[];
  date: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: os.platform(),
    arch: os.arch(),
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? 'unknown',
    memory_gb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadavg_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
    date: new Date().toISOString(),
  };
}

export function loadavg(): number[] {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}

/** Peak resident set (VmHWM) and current RSS in MB of a Linux process, or null elsewhere. */
export async function processMemoryMb(pid: number): Promise<{ rss: number; hwm: number } | null> {
  try {
    const { readFile } = await import('node:fs/promises');
    const s = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rss: Math.round(kb('VmRSS') / 1024), hwm: Math.round(kb('VmHWM') / 1024) };
  } catch {
    return null;
  }
}

/** Descendant processes of `pid` (Linux /proc), with their command names. */
export async function descendants(pid: number): Promise<{ pid: number; comm: string }[]> {
  const { readFile, readdir } = await import('node:fs/promises');
  const out: { pid: number; comm: string }[] = [];
  const walk = async (p: number): Promise<void> => {
    let tasks: string[] = [];
    try {
      tasks = await readdir(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let kids = '';
      try {
        kids = await readFile(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.split(/\s+/).filter(Boolean).map(Number)) {
        let comm = '';
        try {
          comm = (await readFile(`/proc/${k}/comm`, 'utf8')).trim();
        } catch {
          // exited
        }
        out.push({ pid: k, comm });
        await walk(k);
      }
    }
  };
  await walk(pid);
  return out;
}

/** CPU time (user + system, ms) a Linux process has used so far, from /proc/<pid>/stat; null elsewhere. */
export async function processCpuMs(pid: number): Promise<number | null> {
  try {
    const { readFile } = await import('node:fs/promises');
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields[11] = utime, fields[12] = stime (clock ticks; 100 Hz on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

export function pad(s: string | number, w: number): string {
  const x = String(s);
  return x.length >= w ? x : ' '.repeat(w - x.length) + x;
}
