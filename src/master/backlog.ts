/**
 * The listen backlog of the master's TCP sockets: how many connections the
 * kernel has accepted that no worker has taken yet, for adaptive workers
 * (--workers-max). Linux says it in /proc/net/tcp and /proc/net/tcp6: for a
 * socket in the LISTEN state, `rx_queue` is the length of its accept queue.
 * The master's sockets are found there by inode (the inode of each
 * descriptor, read once from /proc/self/fd). Elsewhere, and for unix
 * sockets, there is nothing to read: undefined.
 *
 * Read once a second at most: those files list every TCP socket of the
 * host, which on a busy one is long.
 *
 * @module
 */
import { readFileSync, readlinkSync } from 'node:fs';
import type { ListenSocket } from './sockets.js';

/** The inode of descriptor `fd` of this process, if it is a socket. */
function socketInode(fd: number): string | undefined {
  try {
    return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  } catch {
    return undefined;
  }
}

/** Sums the accept queues of the listening sockets with these inodes in one /proc/net/tcp* file's text. */
export function backlogIn(text: string, inodes: ReadonlySet<string>): number {
  let n = 0;
  for (const line of text.split('\n')) {
    // sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue;
    const rx = f[4]!.split(':')[1];
    if (rx !== undefined) n += Number.parseInt(rx, 16) || 0;
  }
  return n;
}

/** A reader of the sockets' backlog: connections waiting now, or undefined where it cannot be read. */
export function backlogReader(sockets: readonly ListenSocket[]): () => number | undefined {
  const inodes = new Set<string>();
  for (const s of sockets) {
    if (s.kind === 'unix') continue;
    const inode = socketInode(s.fd);
    if (inode !== undefined) inodes.add(inode);
  }
  if (inodes.size === 0) return () => undefined;
  return () => {
    let n = 0;
    let read = false;
    for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
      try {
        n += backlogIn(readFileSync(file, 'latin1'), inodes);
        read = true;
      } catch {
        // No IPv6, or not Linux.
      }
    }
    return read ? n : undefined;
  };
}
