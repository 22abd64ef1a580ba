// Every error status of the API, in OpenAI's JSON shape: 400 (invalid JSON,
// wrong types, out-of-range values, prompt longer than the context), 401,
// 404 (model, route), 413 (body limit), 429 with Retry-After (queue full).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer } from './helpers.mjs';

const KEY = 'sk-test-secret';
let server;
let client;

before(async () => {
  server = await startServer(['--api-key', KEY, '--max-body', '64K']);
  client = server.client({ apiKey: KEY });
});
after(async () => { await server?.stop(); });

function assertErrorShape(body, status) {
  assert.ok(body.error, `an "error" object (status ${status}): ${JSON.stringify(body)}`);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  assert.equal(typeof body.error.type, 'string');
  assert.ok('param' in body.error && 'code' in body.error);
}

async function raw(path, { method = 'POST', body, headers = {} } = {}) {
  const r = await fetch(server.url + path, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body: typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, json, text };
}

async function expectApiError(promise, status, Class) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof OpenAI.APIError, `an APIError, got ${e}`);
    assert.equal(e.status, status, e.message);
    if (Class) assert.ok(e instanceof Class, `${e.constructor.name} is not ${Class.name}`);
    assert.ok(e.error?.message, 'error.message');
    return true;
  });
}

const chat = (extra = {}) => ({ model: 'stories', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, ...extra });

test('401: missing or wrong API key; /health stays open', async () => {
  await expectApiError(server.client({ apiKey: 'wrong' }).chat.completions.create(chat()), 401, OpenAI.AuthenticationError);
  const r = await raw('/v1/models', { method: 'GET', headers: { authorization: '' } });
  assert.equal(r.status, 401);
  assertErrorShape(r.json, 401);
  assert.equal(r.json.error.code, 'invalid_api_key');
  assert.equal((await fetch(server.url + '/health')).status, 200);
});

test('400: invalid JSON', async () => {
  const r = await raw('/v1/chat/completions', { body: '{"model": "stories", "messages": [' });
  assert.equal(r.status, 400);
  assertErrorShape(r.json, 400);
  assert.equal(r.json.error.type, 'invalid_request_error');
});

test('400: wrong types name the parameter', async () => {
  for (const [extra, param] of [[{ temperature: 'hot' }, 'temperature'], [{ max_tokens: 'ten' }, 'max_tokens'],
    [{ stop: 5 }, 'stop'], [{ messages: 'hello' }, 'messages'], [{ n: 1.5 }, 'n']]) {
    const r = await raw('/v1/chat/completions', { body: chat(extra) });
    assert.equal(r.status, 400, JSON.stringify(extra));
    assertErrorShape(r.json, 400);
    assert.equal(r.json.error.param, param);
  }
  await expectApiError(client.chat.completions.create(chat({ temperature: 'hot' })), 400, OpenAI.BadRequestError);
});

test('400: out-of-range values', async () => {
  for (const extra of [{ temperature: 5 }, { top_p: 1.5 }, { n: 0 }, { max_tokens: 0 }, { presence_penalty: 9 },
    { logprobs: true, top_logprobs: 50 }]) {
    await expectApiError(client.chat.completions.create(chat(extra)), 400, OpenAI.BadRequestError);
  }
  await expectApiError(client.completions.create({ model: 'stories', prompt: [100000] }), 400, OpenAI.BadRequestError);
});

test('400: prompt longer than the context', async () => {
  const prompt = 'Once upon a time there was a little dog. '.repeat(300);  // ~3000 tokens, > n_ctx
  const r = await raw('/v1/completions', { body: { model: 'stories', prompt, max_tokens: 4 } });
  assert.equal(r.status, 400, r.text);
  assertErrorShape(r.json, 400);
  await expectApiError(client.chat.completions.create(chat({ messages: [{ role: 'user', content: prompt }] })), 400,
    OpenAI.BadRequestError);
});

test('404: unknown model and unknown route', async () => {
  await expectApiError(client.chat.completions.create(chat({ model: 'gpt-9' })), 404, OpenAI.NotFoundError);
  await expectApiError(client.completions.create({ model: 'gpt-9', prompt: 'x' }), 404, OpenAI.NotFoundError);
  await expectApiError(client.embeddings.create({ model: 'gpt-9', input: 'x' }), 404, OpenAI.NotFoundError);
  const r = await raw('/v1/nothing-here', { body: {} });
  assert.equal(r.status, 404);
  assertErrorShape(r.json, 404);
});

test('413: body over --max-body', async () => {
  const prompt = 'x'.repeat(100 * 1024);
  await expectApiError(client.completions.create({ model: 'stories', prompt }), 413);
  const r = await raw('/v1/completions', { body: { model: 'stories', prompt } });
  assert.equal(r.status, 413);
  assertErrorShape(r.json, 413);
  // The server is still there.
  assert.equal((await fetch(server.url + '/health')).status, 200);
});

test('429 with Retry-After when the queue is full', async () => {
  const small = await startServer(['--max-seqs', '1', '--max-queue', '1']);
  try {
    const body = JSON.stringify({ model: 'stories', prompt: 'Once upon a time', max_tokens: 400, temperature: 0, ignore_eos: true });
    const results = await Promise.all(Array.from({ length: 32 }, () => fetch(small.url + '/v1/completions', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body,
    }).then(async (r) => ({ status: r.status, retry: r.headers.get('retry-after'), json: await r.json() }))));
    const full = results.filter((r) => r.status === 429);
    const ok = results.filter((r) => r.status === 200);
    assert.ok(full.length > 0, `some 429s: ${results.map((r) => r.status)}`);
    assert.equal(full.length + ok.length, results.length, `only 200 and 429: ${results.map((r) => r.status)}`);
    for (const r of full) {
      assert.ok(Number(r.retry) > 0, 'Retry-After');
      assertErrorShape(r.json, 429);
    }
  } finally {
    await small.stop();
  }
});

test('the server survives garbage and keeps answering', async () => {
  for (const body of ['', 'null', '[]', '{"messages": 1}', '\u0000\u0001', '{"a":' + '['.repeat(5000)]) {
    const r = await raw('/v1/chat/completions', { body });
    assert.equal(r.status, 400, body.slice(0, 20));
  }
  const ok = await client.chat.completions.create(chat());
  assert.ok(ok.choices.length === 1);
});
