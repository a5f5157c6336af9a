/**
 * WebSockets with the `ws` package beside a plain node:http handler:
 * fromNodeHandler's `upgrade` option receives the worker's 'upgrade' events.
 * When a worker retires (HUP, TERM, max-requests), its open sockets may
 * finish for up to --graceful-timeout, then get a close frame 1001.
 *
 *     npm install ws
 *     gwserver -w 2 examples/websocket.mjs
 *     # then, e.g.: npx wscat -c ws://127.0.0.1:8000/
 *
 * @module
 */
import { WebSocketServer } from 'ws';
import { fromNodeHandler } from 'gwserver';

const wss = new WebSocketServer({ noServer: true });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

export const application = fromNodeHandler(
  (req, res) => {
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(`An echo WebSocket server (worker ${process.pid}): connect with a WebSocket client.\n`);
  },
  {
    upgrade: (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)),
  },
);
