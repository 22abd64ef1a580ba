// 64 simultaneous SSE streams: every one completes ([DONE] seen by the
// client, a finish_reason) and its text equals the greedy output of the same
// prompt sent alone, so batching never changes a request's result.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, assets, health, metrics, metric } from './helpers.mjs';

let server;
let client;
const reference = JSON.parse(fs.readFileSync(path.join(assets, 'reference/stories260K-greedy.json'), 'utf8'));

before(async () => {
  server = await startServer();
  client = server.client();
});
after(async () => { await server?.stop(); });

const MAX_TOKENS = 48;
const messagesFor = (i) => [{ role: 'user', content: reference[i % reference.length].prompt }];

async function streamChat(i) {
  const stream = await client.chat.completions.create({
    model: 'stories', messages: messagesFor(i), max_tokens: MAX_TOKENS, temperature: 0, stream: true,
  });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    text += c.delta.content ?? '';
    finish = c.finish_reason ?? finish;
  }
  return { text, finish };
}

async function streamCompletion(i) {
  const stream = await client.completions.create({
    model: 'stories', prompt: reference[i % reference.length].prompt, max_tokens: MAX_TOKENS, temperature: 0, stream: true,
  });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  return { text, finish };
}

test('64 simultaneous streams are complete and equal to single-request greedy output', async () => {
  // Expected: each prompt alone, one at a time.
  const expectedChat = [];
  const expectedCompletion = [];
  for (let i = 0; i < reference.length; i++) {
    const r = await client.chat.completions.create({ model: 'stories', messages: messagesFor(i), max_tokens: MAX_TOKENS, temperature: 0 });
    expectedChat.push({ text: r.choices[0].message.content, finish: r.choices[0].finish_reason });
    const c = await client.completions.create({ model: 'stories', prompt: reference[i].prompt, max_tokens: MAX_TOKENS, temperature: 0 });
    expectedCompletion.push({ text: c.choices[0].text, finish: c.choices[0].finish_reason });
  }
  const before = metric(await metrics(server), 'vllm:request_success_total');
  const t0 = Date.now();
  const jobs = Array.from({ length: 64 }, (_, i) => (i % 2 ? streamChat(i) : streamCompletion(i)));
  const results = await Promise.all(jobs);
  const seconds = (Date.now() - t0) / 1000;
  let tokens = 0;
  results.forEach((r, i) => {
    const exp = (i % 2 ? expectedChat : expectedCompletion)[i % reference.length];
    assert.ok(r.finish === 'stop' || r.finish === 'length', `stream ${i} finished (${r.finish})`);
    assert.equal(r.text, exp.text, `stream ${i} (${i % 2 ? 'chat' : 'completion'}, prompt ${i % reference.length})`);
    assert.equal(r.finish, exp.finish, `stream ${i} finish_reason`);
    tokens += r.text.length;
  });
  const after = metric(await metrics(server), 'vllm:request_success_total');
  assert.ok(after - before >= 64);
  const h = await health(server);
  assert.equal(h.running, 0);
  assert.equal(h.waiting, 0);
  console.log(`# 64 streams in ${seconds.toFixed(2)} s (${tokens} characters)`);
});
