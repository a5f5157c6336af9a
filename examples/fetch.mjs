/**
 * A bare fetch handler, as Bun, Deno, Cloudflare Workers and srvx take one:
 * `export default { fetch }`. No framework, no dependency.
 *
 *     gwserver -w 4 examples/fetch.mjs
 *
 * @module
 */
export default {
  /**
   * @param {Request} request
   * @returns {Promise<Response>}
   */
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/json') return Response.json({ hello: 'world', method: request.method });
    if (request.method === 'POST') return new Response(request.body, { headers: { 'Content-Type': 'application/octet-stream' } });
    return new Response('Hello from a fetch handler under gwserver!\n');
  },
};
