/**
 * A fake NOTIFY_SOCKET: a real AF_UNIX datagram socket standing in for
 * systemd, so tests see exactly what gwserver (through systemd-notify) sends.
 *
 * Node cannot bind unix datagram sockets, so a small python3 program does:
 * it binds the socket, prints every datagram as a JSON line, and behaves as
 * PID 1 does where systemd-notify depends on it: systemd-notify (252) follows
 * each message with `BARRIER=1` carrying the write end of a pipe
 * (SCM_RIGHTS) and waits until the receiver closes it, failing after 5 s. The
 * listener closes every passed fd at once, so the barrier returns.
 * It also asks for SO_PASSCRED, so each record carries the sender's pid, uid
 * and gid as the kernel reports them (what systemd checks NotifyAccess= on),
 * and CLOCK_MONOTONIC at reception (to check MONOTONIC_USEC=).
 *
 * The listener is killed by pid in stop(); it also exits when its stdin
 * closes, so it cannot outlive a test run that died.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const LISTENER = `
import array, json, os, select, socket, struct, sys, time
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"listening": path}), flush=True)
anc_size = socket.CMSG_SPACE(253 * 4) + socket.CMSG_SPACE(12)
while True:
    readable, _, _ = select.select([s, sys.stdin], [], [])
    if sys.stdin in readable and not sys.stdin.buffer.read1(4096):
        break
    if s not in readable:
        continue
    data, anc, _, _ = s.recvmsg(65536, anc_size)
    rec = {"data": data.decode("utf-8", "replace"), "fds": 0, "pid": None, "uid": None, "gid": None,
           "monotonicUsec": time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(cdata[: len(cdata) - len(cdata) % fds.itemsize])
            rec["fds"] = len(fds)
            for fd in fds:
                os.close(fd)  # this is what answers systemd-notify's barrier
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            rec["pid"], rec["uid"], rec["gid"] = struct.unpack("iII", cdata[:12])
    print(json.dumps(rec), flush=True)
`;

/** One datagram as received. */
export interface Datagram {
  /** The payload: newline-separated assignments (`READY=1\nSTATUS=...`). */
  data: string;
  /** The sender as the kernel reports it (SCM_CREDENTIALS). */
  pid: number | null;
  uid: number | null;
  gid: number | null;
  /** How many fds came with it (1 for systemd-notify's BARRIER=1); all closed already. */
  fds: number;
  /** CLOCK_MONOTONIC at reception, in µs. */
  monotonicUsec: number;
}

export interface NotifyListener {
  /** The socket path: put it in NOTIFY_SOCKET. */
  path: string;
  /** Payloads received so far, in order, barrier messages included. */
  messages: string[];
  /** The same with sender credentials. */
  datagrams: Datagram[];
  /**
   * Resolves with the first payload at index `from` or later that matches
   * (already received or arriving before the deadline); rejects at the deadline.
   */
  waitFor(pred: (message: string) => boolean, timeoutMs?: number, from?: number): Promise<string>;
  /** Kills the listener (by pid) and removes its directory. */
  stop(): Promise<void>;
}

/** The assignments of one payload as a map (`READY=1\nSTATUS=x` -> {READY: '1', STATUS: 'x'}). */
export function parseNotify(message: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of message.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** Starts a listener and resolves once its socket is bound. */
export async function startNotifyListener(startTimeoutMs = 10_000): Promise<NotifyListener> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gwserver-notify-'));
  const socketPath = path.join(dir, 'notify.sock');
  const proc = spawn('python3', ['-u', '-c', LISTENER, socketPath], { stdio: ['pipe', 'pipe', 'pipe'] });
  const messages: string[] = [];
  const datagrams: Datagram[] = [];
  const waiters = new Set<() => void>();
  const wake = () => { for (const w of [...waiters]) w(); };
  let stderr = '';
  let exited = false;
  let bound = false;
  const exitedP = new Promise<void>((resolve) => {
    proc.on('close', () => { exited = true; wake(); resolve(); });
  });
  proc.on('error', (err) => { stderr += `${err.message}\n`; exited = true; wake(); });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d: string) => { stderr += d; });
  let buf = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const rec = JSON.parse(buf.slice(0, i)) as Partial<Datagram> & { listening?: string };
      buf = buf.slice(i + 1);
      if (rec.listening !== undefined) {
        bound = true;
      } else {
        datagrams.push(rec as Datagram);
        messages.push(rec.data!);
      }
    }
    wake();
  });

  const until = async (done: () => boolean, timeoutMs: number, what: string): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (exited) throw new Error(`the notify listener exited while waiting for ${what}; stderr: ${stderr.trim()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: ${JSON.stringify(messages)}`);
      await new Promise<void>((r) => {
        const done2 = () => { clearTimeout(t); waiters.delete(done2); r(); };
        const t = setTimeout(done2, left);
        waiters.add(done2);
      });
    }
  };

  const stop = async () => {
    if (!exited && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exitedP;
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await until(() => bound, startTimeoutMs, 'the listener to bind');
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    path: socketPath,
    messages,
    datagrams,
    async waitFor(pred, timeoutMs = 5000, from = 0) {
      let hit: string | undefined;
      await until(() => (hit = messages.slice(from).find(pred)) !== undefined, timeoutMs, 'a matching notify message');
      return hit!;
    },
    stop,
  };
}
