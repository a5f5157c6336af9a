/**
 * Tests for examples/router.mjs with testClient: the app runs in-process,
 * under the validator, with no server and no port. Node's own test runner
 * is enough (any runner works the same way):
 *
 *     node --test examples/router.test.mjs
 *
 * @module
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testClient } from 'gwserver';
import { application } from './router.mjs';

const client = testClient(application);

test('the form is mounted under /base64/, its link back too', async () => {
  const res = await client.get('/base64/encode', { query: { mystring: 'héllo wörld' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(res.text, /<pre id="result">aMOpbGxvIHfDtnJsZA==<\/pre>/);
  assert.match(res.text, /<a href="\/base64\/">Encode another string<\/a>/);
});

test('/base64 redirects to /base64/, where relative links work', async () => {
  const res = await client.get('/base64');
  assert.equal(res.status, 308);
  assert.equal(res.headers.get('location'), '/base64/');
});

test('a missing mystring is a 400', async () => {
  const res = await client.get('/base64/encode');
  assert.equal(res.status, 400);
  assert.match(res.text, /Missing or empty parameter/);
});

test('the form takes GET only: POST is a 405 with Allow', async () => {
  const res = await client.post('/base64/', { form: { mystring: 'x' } });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET, HEAD, OPTIONS');
});

test('the JSON API takes the text from the path', async () => {
  const res = await client.get('/api/base64/hello%20world');
  assert.deepEqual(res.json(), { text: 'hello world', base64: 'aGVsbG8gd29ybGQ=' });
});

test('anything else is a 404', async () => {
  assert.equal((await client.get('/nope')).status, 404);
  assert.equal((await client.get('/api/base64')).status, 404);
});
