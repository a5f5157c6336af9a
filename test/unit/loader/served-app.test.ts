/**
 * loadServedApp: which calling convention (`gateway`, `node`, `fetch`) an
 * app is served with, and why. Against real Express 5, Koa 3, Fastify 5 and
 * Hono 4 apps in test/fixtures/apps/loader/: marks left by fromNodeHandler
 * and fromFetch, framework apps known by their members, objects with a fetch
 * method, bare functions under each --interface, the default-export
 * fallback, factories, and the one-line error when --interface does not fit.
 *
 * Each node and fetch result is also served once, to show that what the
 * loader hands over is callable as it says.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GatewayError } from '../../../src/errors.js';
import type { Body, Chunk, Environ, StartResponse } from '../../../src/gateway/types.js';
import type { InterfaceSetting, ServedApp } from '../../../src/interop/kinds.js';
import { loadServedApp } from '../../../src/loader/load-app.js';
import { listen } from '../../helpers/http.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const FIXTURES = path.join(ROOT, 'test/fixtures/apps/loader');

type Kind<K extends ServedApp['kind']> = Extract<ServedApp, { kind: K }>;

function load(target: string, iface?: InterfaceSetting): Promise<ServedApp> {
  return loadServedApp(target, { cwd: FIXTURES, ...(iface === undefined ? {} : { interface: iface }) });
}

async function loadAs<K extends ServedApp['kind']>(kind: K, target: string, iface?: InterfaceSetting): Promise<Kind<K>> {
  const served = await load(target, iface);
  assert.equal(served.kind, kind, `${target}: ${served.why}`);
  return served as Kind<K>;
}

/** The GW_APP_LOAD error loadServedApp rejects with; checks it is one line without a stack. */
async function loadFailure(target: string, iface?: InterfaceSetting): Promise<string> {
  let served: ServedApp;
  try {
    served = await load(target, iface);
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
    assert.equal(err.code, 'GW_APP_LOAD');
    assert.doesNotMatch(err.message, /\n/, 'the message is one line');
    return err.message;
  }
  assert.fail(`expected loading "${target}" to fail, but got ${served.kind} (${served.why})`);
}

/** Serves a node handler on a real node:http server for one GET. */
async function getNode(handler: Kind<'node'>['handler'], urlPath = '/'): Promise<string> {
  const served = await listen((req, res) => void handler(req, res));
  try {
    const res = await fetch(`${served.url}${urlPath}`);
    assert.equal(res.status, 200);
    return await res.text();
  } finally {
    await served.close();
  }
}

async function getFetch(served: Kind<'fetch'>, urlPath = '/'): Promise<string> {
  const res = await served.fetch(new Request(`http://app.example${urlPath}`));
  assert.equal(res.status, 200);
  return res.text();
}

async function callGateway(served: Kind<'gateway'>): Promise<string> {
  const startResponse: StartResponse = () => async () => {};
  const body: Body = await served.app({ PATH_INFO: '/' } as unknown as Environ, startResponse);
  const chunks: Iterable<Chunk> | AsyncIterable<Chunk> = typeof body === 'string' || body instanceof Uint8Array ? [body] : body;
  let text = '';
  for await (const chunk of chunks) text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  return text;
}

async function fixture<T>(name: string): Promise<T> {
  return (await import(pathToFileURL(path.join(FIXTURES, name)).href)) as T;
}

describe('loader: loadServedApp detects the interface', () => {
  it('an Express app is node, served as is', async () => {
    const served = await loadAs('node', 'express-app.js:default');
    assert.equal(served.why, 'an Express/Connect app: handle and use');
    assert.equal(await getNode(served.handler), 'express says hi');
  });

  it('a Koa app is node, through its callback()', async () => {
    const served = await loadAs('node', 'koa-app.js:default');
    assert.equal(served.why, 'a Koa app: callback and middleware');
    assert.equal(await getNode(served.handler), 'koa says hi');
  });

  it('a Fastify instance is node, with ready and close, and is not started by loading', async () => {
    const { booted, default: instance } = await fixture<{ booted: string[]; default: { server: http.Server } }>('fastify-app.js');
    const served = await loadAs('node', 'fastify-app.js:default');
    assert.equal(served.why, 'a Fastify instance: routing and ready');
    assert.equal(typeof served.ready, 'function');
    assert.equal(typeof served.close, 'function');
    assert.deepEqual(booted, [], 'loading does not make it ready');
    assert.equal(instance.server.listening, false);
    await served.ready!();
    assert.deepEqual(booted, ['fastify']);
    assert.equal(await getNode(served.handler), 'fastify says hi');
    await served.close!();
  });

  it('a Hono app is fetch, its fetch method bound', async () => {
    const served = await loadAs('fetch', 'hono-app.js:default');
    assert.equal(served.why, 'a Hono app: an object with a fetch method');
    assert.equal(await getFetch(served), 'hono says hi');
  });

  it('`export default { fetch }` is fetch, with `this` the object', async () => {
    const served = await loadAs('fetch', 'fetch-object.js:default');
    assert.equal(served.why, 'an object with a fetch method');
    assert.equal(await getFetch(served, '/there'), 'fetch-object.js says hi to /there');
  });

  it('the fetch method of an app with one, named by CALLABLE, is fetch under auto (not a gateway function)', async () => {
    for (const target of ['hono-app.js:fetch', 'hono-app.js:default.fetch']) {
      const served = await loadAs('fetch', target);
      assert.equal(served.why, 'the fetch method of a Hono app');
      assert.equal(await getFetch(served), 'hono says hi', target);
    }
    assert.equal(await getFetch(await loadAs('fetch', 'fetch-object.js:default.fetch'), '/x'), 'fetch-object.js says hi to /x');
    // Named explicitly, another interface is still the user's call.
    assert.equal((await loadAs('gateway', 'hono-app.js:fetch', 'gateway')).why, '--interface gateway');
  });

  it('a function with a fetch method is fetch under auto', async () => {
    const served = await loadAs('fetch', 'bare.js:both');
    assert.equal(served.why, 'a function with a fetch method');
    assert.equal(await getFetch(served), 'bare.js both.fetch');
  });

  it('any other function is a gateway app, saying how to change that', async () => {
    const served = await loadAs('gateway', 'bare.js:default');
    assert.equal(served.why, 'a function: the default for functions; --interface node or fetch to change');
    assert.equal(await callGateway(served), 'bare.js default');
  });

  it('a method is bound to its object, as loadApp does', async () => {
    assert.equal(await callGateway(await loadAs('gateway', 'class-app.js:app.handler')), 'class-app.js says hello to /');
    assert.equal(await getNode((await loadAs('node', 'express-app.js:server.app')).handler), 'server.app says hi');
  });
});

describe('loader: loadServedApp honours marks', () => {
  it('an app marked by fromNodeHandler is served as its node handler, with upgrade and onServer', async () => {
    const m = await fixture<Record<string, unknown>>('marked.js');
    const served = await loadAs('node', 'marked.js:node');
    assert.equal(served.why, 'marked by fromNodeHandler');
    assert.equal(served.handler, m.nodeHandler);
    assert.equal(served.upgrade, m.upgrade);
    assert.equal(served.onServer, m.onServer);
    assert.equal(await getNode(served.handler), 'marked.js native node');
    assert.equal((await loadAs('node', 'marked.js:node', 'node')).handler, m.nodeHandler);
  });

  it('an app marked by fromFetch is served as its fetch handler', async () => {
    const served = await loadAs('fetch', 'marked.js:fetch');
    assert.equal(served.why, 'marked by fromFetch');
    assert.equal(await getFetch(served), 'marked.js native fetch');
    assert.equal((await loadAs('fetch', 'marked.js:fetch', 'fetch')).why, 'marked by fromFetch');
  });

  it('reads the mark before anything else about the value', async () => {
    assert.equal((await loadAs('node', 'marked.js:markedWithFetch')).why, 'marked by fromNodeHandler');
  });

  it('with --interface gateway, serves the wrapper itself', async () => {
    const node = await loadAs('gateway', 'marked.js:node', 'gateway');
    assert.equal(node.why, '--interface gateway (the app fromNodeHandler made, served through it)');
    assert.equal(await callGateway(node), 'marked.js node through the wrapper');
    assert.equal(await callGateway(await loadAs('gateway', 'marked.js:fetch', 'gateway')), 'marked.js fetch through the wrapper');
  });

  it('a factory\'s marked result is honoured too', async () => {
    assert.equal((await loadAs('node', 'marked.js:createMarked()')).why, 'marked by fromNodeHandler');
  });
});

describe('loader: loadServedApp and --interface on bare functions', () => {
  it('--interface node makes a bare function a node handler', async () => {
    const served = await loadAs('node', 'bare.js:nodeHandler', 'node');
    assert.equal(served.why, '--interface node');
    assert.equal(await getNode(served.handler, '/x'), 'bare.js nodeHandler /x');
  });

  it('--interface fetch makes a bare function a fetch handler', async () => {
    const served = await loadAs('fetch', 'bare.js:fetchHandler', 'fetch');
    assert.equal(served.why, '--interface fetch');
    assert.equal(await getFetch(served, '/y'), 'bare.js fetchHandler /y');
  });

  it('--interface gateway makes it a gateway app, as auto does', async () => {
    assert.equal((await loadAs('gateway', 'bare.js:default', 'gateway')).why, '--interface gateway');
  });

  it('a function with a fetch method is still callable: gateway and node take the function', async () => {
    assert.equal(await callGateway(await loadAs('gateway', 'bare.js:both', 'gateway')), 'bare.js both as a gateway app');
    assert.equal((await loadAs('node', 'bare.js:both', 'node')).why, '--interface node');
  });

  it('framework apps keep their interface when it is named', async () => {
    assert.equal((await loadAs('node', 'express-app.js:default', 'node')).why, 'an Express/Connect app: handle and use');
    assert.equal((await loadAs('node', 'koa-app.js:default', 'node')).why, 'a Koa app: callback and middleware');
    assert.equal((await loadAs('fetch', 'hono-app.js:default', 'fetch')).why, 'a Hono app: an object with a fetch method');
  });
});

describe('loader: loadServedApp falls back to the default export', () => {
  it('serves the default export of a module named without CALLABLE that has no "application"', async () => {
    assert.equal((await loadAs('node', 'express-app.js')).why, 'an Express/Connect app: handle and use');
    assert.equal((await loadAs('node', 'koa-app')).why, 'a Koa app: callback and middleware');
    assert.equal((await loadAs('node', 'fastify-app.js')).why, 'a Fastify instance: routing and ready');
    assert.equal(await getFetch(await loadAs('fetch', 'hono-app.js')), 'hono says hi');
    assert.equal(await getFetch(await loadAs('fetch', 'fetch-object.js')), 'fetch-object.js says hi to /');
    assert.equal(await callGateway(await loadAs('gateway', 'bare.js')), 'bare.js default');
  });

  it('takes module.exports of a CommonJS module', async () => {
    assert.equal(await callGateway(await loadAs('gateway', 'cjs-default.cjs')), 'cjs-default.cjs');
  });

  it('prefers "application" when the module has one', async () => {
    assert.equal(await callGateway(await loadAs('gateway', 'esm-app.js')), 'esm-app.js');
  });

  it('does not fall back when CALLABLE is given, even as "application"', async () => {
    assert.match(await loadFailure('express-app.js:application'), /^module "express-app\.js" has no attribute "application" \(it exports: /);
  });

  it('a default export that is no application: the exports, what the default export is, and what an application is', async () => {
    assert.equal(
      await loadFailure('config-default.js'),
      'module "config-default.js" has no attribute "application" (it exports: default, handlerName, port, host), and its default export is not an application (it is an object): the application must be a function (environ, startResponse), an Express, Koa or Fastify app, or an object with a fetch method',
    );
    assert.equal(
      await loadFailure('instance-default.js'),
      'module "instance-default.js" has no attribute "application" (it exports: default, handle, start), and its default export is not an application (it is an instance of Server): the application must be a function (environ, startResponse), an Express, Koa or Fastify app, or an object with a fetch method; to serve one of its methods (handle, start), name it, e.g. "instance-default.js:default.handle"',
    );
  });

  it('awaits a promise exported as the app (`export default createApp()` of an async factory)', async () => {
    assert.equal(await getFetch(await loadAs('fetch', 'promise-default.js')), 'promised says hi');
    assert.equal(await getFetch(await loadAs('fetch', 'promise-default.js:default')), 'promised says hi');
  });

  it('a promise that rejects: its error, where it arose', async () => {
    const message = await loadFailure('promise-rejects.js');
    assert.equal(message, `"promise-rejects.js:default" is a promise that rejected: Error: no database at db:5432 (at ${path.join(FIXTURES, 'promise-rejects.js')}:3:9)`);
  });

  it('names the app a module exports under another name', async () => {
    assert.equal(await loadFailure('named-app.js'), 'module "named-app.js" has no attribute "application" (it exports: app); "app" is an Express/Connect app: use "named-app.js:app"');
    assert.equal(await getNode((await loadAs('node', 'named-app.js:app')).handler), 'named-app.js says hi');
    assert.equal(
      await loadFailure('cjs-named-app.cjs'),
      'module "cjs-named-app.cjs" has no attribute "application" (it exports: app, default), and its default export is not an application (it is an object): the application must be a function (environ, startResponse), an Express, Koa or Fastify app, or an object with a fetch method; "app" is an Express/Connect app: use "cjs-named-app.cjs:app"',
    );
    assert.equal(await getNode((await loadAs('node', 'cjs-named-app.cjs:app')).handler), 'cjs-named-app.cjs says hi');
    assert.equal(
      await loadFailure('named-apps.js'),
      'module "named-apps.js" has no attribute "application" (it exports: api, makeHono, web); it exports these apps: "named-apps.js:api" (a Hono app), "named-apps.js:web" (an Express/Connect app): name one',
    );
  });

  it('a module with one function and no app: name it, or call it if it is the factory', async () => {
    assert.equal(
      await loadFailure('factory-only.js'),
      'module "factory-only.js" has no attribute "application" (it exports: build); to serve "build", name it: "factory-only.js:build", or "factory-only.js:build()" if it is a factory that returns the app',
    );
    assert.equal(await getFetch(await loadAs('fetch', 'factory-only.js:build()')), 'built says hi');
  });

  it('takes "application" from module.exports of a CommonJS module before its default', async () => {
    assert.equal(await callGateway(await loadAs('gateway', 'cjs-dynamic.cjs')), 'cjs-dynamic.cjs');
  });

  it('applies --interface to the default export', async () => {
    assert.equal((await loadAs('node', 'bare.js', 'node')).why, '--interface node');
  });
});

describe('loader: loadServedApp with factories', () => {
  it('applies the same detection to what a factory returns', async () => {
    assert.equal(await getNode((await loadAs('node', 'express-app.js:createApp("made")')).handler), 'made says hi');
    assert.equal(await getNode((await loadAs('node', 'koa-app.js:createApp("made")')).handler), 'made says hi');
    assert.equal(await getFetch(await loadAs('fetch', 'hono-app.js:createApp("made")')), 'made says hi');
    assert.equal(await callGateway(await loadAs('gateway', 'factory.js:createApp("prod", 2)')), 'createApp "prod" 2');
  });

  it('awaits an async factory', async () => {
    assert.equal(await getFetch(await loadAs('fetch', 'hono-app.js:createAppAsync()')), 'hono async says hi');
    const served = await loadAs('node', 'fastify-app.js:createAppAsync()');
    assert.equal(served.why, 'a Fastify instance: routing and ready');
    await served.ready!();
    assert.equal(await getNode(served.handler), 'fastify async says hi');
    await served.close!();
  });

  it('does not await a Fastify instance a factory returns (awaiting one boots it)', async () => {
    const { booted } = await fixture<{ booted: string[] }>('fastify-app.js');
    const before = booted.length;
    const served = await loadAs('node', 'fastify-app.js:createApp("lazy")');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(booted.length, before);
    await served.ready!();
    assert.ok(booted.includes('lazy'));
    assert.equal(await getNode(served.handler), 'lazy says hi');
    await served.close!();
  });

  it('applies --interface to what a factory returns', async () => {
    assert.equal((await loadAs('node', 'factory.js:createApp()', 'node')).why, '--interface node');
    assert.match(await loadFailure('hono-app.js:createApp()', 'node'), /^"hono-app\.js:createApp\(\)" is a Hono app \(fetch\)/);
  });

  it('fails when a factory is not a function, or is a class', async () => {
    assert.equal(
      await loadFailure('esm-app:config()'),
      '"esm-app:config" is not a function (it is an object), so "esm-app:config()" cannot call it: name a factory function',
    );
    assert.match(await loadFailure('esm-app:App()'), /^"esm-app:App" is a class, which cannot be called without new/);
  });

  it('keeps the factory messages of loadApp', async () => {
    assert.match(await loadFailure('factory.js:failing()'), /^factory "factory\.js:failing\(\)" threw: Error: config file app\.toml is missing/);
    assert.equal(
      await loadFailure('factory.js:returnsObject()'),
      '"factory.js:returnsObject()" did not return an application (it returned an object): the application must be a function (environ, startResponse), an Express, Koa or Fastify app, or an object with a fetch method',
    );
  });
});

describe('loader: loadServedApp refuses what --interface cannot serve, in one line', () => {
  const cases: Array<[string, InterfaceSetting, string]> = [
    ['express-app.js', 'fetch', '"express-app.js:default" is an Express/Connect app (node), not a fetch handler: use --interface node or auto'],
    ['express-app.js', 'gateway', '"express-app.js:default" is an Express/Connect app (node), not a gateway application (environ, startResponse): use --interface node or auto'],
    ['koa-app.js:default', 'fetch', '"koa-app.js:default" is a Koa app (node), not a fetch handler: use --interface node or auto'],
    ['fastify-app.js', 'gateway', '"fastify-app.js:default" is a Fastify instance (node), not a gateway application (environ, startResponse): use --interface node or auto'],
    ['hono-app.js', 'node', '"hono-app.js:default" is a Hono app (fetch), not a node:http handler (req, res): use --interface fetch or auto'],
    ['fetch-object.js', 'gateway', '"fetch-object.js:default" is an object with a fetch method (fetch), not a gateway application (environ, startResponse): use --interface fetch or auto'],
    ['marked.js:node', 'fetch', '"marked.js:node" is an app made by fromNodeHandler (node), not a fetch handler: use --interface node, auto or gateway'],
    ['marked.js:fetch', 'node', '"marked.js:fetch" is an app made by fromFetch (fetch), not a node:http handler (req, res): use --interface fetch, auto or gateway'],
  ];
  for (const [target, iface, message] of cases) {
    it(`${target} with --interface ${iface}`, async () => {
      assert.equal(await loadFailure(target, iface), message);
    });
  }

  it('what is no application is refused whatever --interface says, keeping the method hint', async () => {
    for (const iface of ['auto', 'gateway', 'node', 'fetch'] as const) {
      assert.equal(
        await loadFailure('esm-app.js:config', iface),
        '"esm-app.js:config" is not an application (it is an object): the application must be a function (environ, startResponse), an Express, Koa or Fastify app, or an object with a fetch method',
      );
    }
    assert.match(await loadFailure('class-app.js:app', 'node'), /is not an application \(it is an instance of Greeter\).*; to serve one of its methods \(handler\), name it, e.g. "class-app\.js:app\.handler"$/);
    assert.match(await loadFailure('fetch-object.js:notAnApp'), /^"fetch-object\.js:notAnApp" is not an application \(it is an object\)/);
  });

  it('a class is refused as loadApp refuses it', async () => {
    assert.match(await loadFailure('esm-app:App', 'node'), /^"esm-app:App" is a class, which cannot be called without new/);
  });
});
