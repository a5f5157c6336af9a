/**
 * A port for a server that cannot listen on port 0 (nginx,
 * systemd-socket-activate): one nobody listened on a moment ago. Another
 * process may take it in between: callers retry on EADDRINUSE.
 */
import net from 'node:net';

/** A port bound on 127.0.0.1:0, then closed. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
