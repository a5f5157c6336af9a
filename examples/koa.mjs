/**
 * A Koa app, exported as is. gwserver sees a Koa app (`callback` and
 * `middleware`) and serves `app.callback()` natively.
 *
 *     npm install koa
 *     gwserver -w 4 examples/koa.mjs
 *
 * @module
 */
import Koa from 'koa';

const app = new Koa();
app.proxy = true;

app.use(async (ctx) => {
  if (ctx.path === '/json') ctx.body = { hello: 'world', ip: ctx.ip };
  else ctx.body = 'Hello from Koa under gwserver!\n';
});

export default app;
