/**
 * What /proc says about a process: its resident memory (VmRSS), its open
 * file descriptors, and a sampler that keeps the peak resident memory of
 * a few processes (a server's workers) while a test runs. Linux only.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Resident memory in bytes, from /proc/PID/status (VmRSS is in kB). */
export function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** The number of open file descriptors, from /proc/PID/fd. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The targets of a process's open descriptors (`3 -> /srv/a.txt`, `socket:[...]`), for a failure message. */
export function fdTargets(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(`${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
    } catch {
      // Closed meanwhile.
    }
  }
  return out;
}

const MiB = 1024 * 1024;
export const mib = (n: number) => (n / MiB).toFixed(1);

/** Samples the VmRSS of some processes every 100 ms until stopped; keeps each one's baseline and peak. */
export class RssSampler {
  readonly pids: number[];
  readonly baseline: Map<number, number>;
  readonly peak: Map<number, number>;
  samples = 0;
  #timer: NodeJS.Timeout;

  constructor(pids: number[]) {
    this.pids = pids;
    this.baseline = new Map(pids.map((p) => [p, vmRss(p)]));
    this.peak = new Map(this.baseline);
    this.#timer = setInterval(() => this.sample(), 100);
  }

  sample(): void {
    this.samples++;
    for (const p of this.pids) {
      try {
        const rss = vmRss(p);
        if (rss > this.peak.get(p)!) this.peak.set(p, rss);
      } catch {
        // The process is gone: the test will say why.
      }
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.sample();
  }

  /** The largest growth over its baseline of any of the processes. */
  get growth(): number {
    return Math.max(...this.pids.map((p) => this.peak.get(p)! - this.baseline.get(p)!));
  }

  /** "pid: baseline -> peak MiB" for each process. */
  describe(): string {
    return this.pids.map((p) => `${p}: ${mib(this.baseline.get(p)!)} -> ${mib(this.peak.get(p)!)} MiB`).join(', ');
  }
}
