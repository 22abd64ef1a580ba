// A client that goes away mid-stream cancels its request: the engine stops
// it ("abort" in vllm:request_success_total) and its KV blocks return, so
// /health and /metrics show the pool back at its idle value.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, health, metrics, metric, sleep } from './helpers.mjs';

let server;
let client;

before(async () => {
  server = await startServer();
  client = server.client();
});
after(async () => { await server?.stop(); });

async function waitIdle(idleBlocks, ms = 10_000) {
  const t0 = Date.now();
  let h;
  while (Date.now() - t0 < ms) {
    h = await health(server);
    if (h.running === 0 && h.waiting === 0 && h.kv_blocks_used === idleBlocks) return h;
    await sleep(20);
  }
  assert.fail(`KV not back to idle (${idleBlocks} blocks): ${JSON.stringify(h)}`);
}

const long = { model: 'stories', max_tokens: 1900, temperature: 0, ignore_eos: true, stream: true };

test('aborting streams mid-way cancels them and frees their KV blocks', async () => {
  const idle = (await health(server)).kv_blocks_used;
  const abortsBefore = metric(await metrics(server), 'vllm:request_success_total', 'finished_reason="abort"');
  const N = 8;
  const controllers = [];
  const runs = Array.from({ length: N }, async (_, i) => {
    const ac = new AbortController();
    controllers.push(ac);
    const stream = await client.chat.completions.create(
      { ...long, messages: [{ role: 'user', content: `Tell story number ${i}` }] }, { signal: ac.signal });
    let chunks = 0;
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content) chunks++;
        if (chunks === 3) ac.abort();
      }
    } catch (e) {
      if (!ac.signal.aborted) throw e;
    }
    return chunks;
  });
  const counts = await Promise.all(runs);
  assert.ok(counts.every((c) => c >= 3), `each stream got tokens before the abort: ${counts}`);
  const h = await waitIdle(idle);
  assert.equal(h.kv_cache_usage, idle / h.kv_blocks_total);
  const text = await metrics(server);
  assert.equal(metric(text, 'vllm:num_requests_running'), 0);
  const aborts = metric(text, 'vllm:request_success_total', 'finished_reason="abort"');
  assert.ok(aborts >= abortsBefore + N, `every aborted stream was cancelled: ${abortsBefore} -> ${aborts}`);
  assert.equal(metric(text, 'tern:kv_cache_usage_perc'), idle / h.kv_blocks_total);
});

test('a raw socket closed while the request is queued or running is cancelled too', async () => {
  const idle = (await health(server)).kv_blocks_used;
  const body = JSON.stringify({ ...long, messages: [{ role: 'user', content: 'Once upon a time' }] });
  await new Promise((resolve) => {
    const req = http.request(`${server.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      res.once('data', () => { req.destroy(); resolve(); });
    });
    req.on('error', () => resolve());
    req.end(body);
  });
  await waitIdle(idle);
  // The server still answers.
  const r = await client.chat.completions.create({ model: 'stories', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 });
  assert.equal(r.choices.length, 1);
});
