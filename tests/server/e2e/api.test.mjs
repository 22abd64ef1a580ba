// The happy paths through the official openai client: models, chat and
// completions (stream and not), n, logprobs, usage with cached tokens,
// embeddings, /health and /metrics. Greedy output is checked against the
// independent llama.cpp reference in $TERN_ASSETS/reference.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, assets, metrics, metric, health } from './helpers.mjs';

let server;
let client;
const reference = JSON.parse(fs.readFileSync(path.join(assets, 'reference/stories260K-greedy.json'), 'utf8'));

before(async () => {
  server = await startServer();
  client = server.client();
});
after(async () => {
  const exit = await server?.stop();
  assert.equal(exit?.code, 0, `tern serve did not exit cleanly: ${JSON.stringify(exit)}\n${server?.logs()}`);
});

test('GET /v1/models lists the served model', async () => {
  const page = await client.models.list();
  assert.deepEqual(page.data.map((m) => m.id), ['stories']);
  assert.equal(page.data[0].object, 'model');
  const one = await client.models.retrieve('stories');
  assert.equal(one.id, 'stories');
});

test('completions: greedy text equals the llama.cpp reference', async () => {
  for (const ref of reference.slice(0, 3)) {
    const r = await client.completions.create({
      model: 'stories', prompt: ref.prompt, max_tokens: ref.greedy.length, temperature: 0,
    });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].text, ref.greedy_text, `prompt ${JSON.stringify(ref.prompt)}`);
    assert.equal(r.usage.prompt_tokens, ref.tokens.length);
    assert.ok(r.usage.completion_tokens <= ref.greedy.length);
  }
});

test('completions: token-id prompt, echo, stream equals non-stream', async () => {
  const ref = reference[0];
  const byIds = await client.completions.create({ model: 'stories', prompt: ref.tokens, max_tokens: 16, temperature: 0, echo: true });
  assert.ok(byIds.choices[0].text.includes('Once upon a time'), byIds.choices[0].text);
  const whole = await client.completions.create({ model: 'stories', prompt: ref.prompt, max_tokens: 24, temperature: 0 });
  const stream = await client.completions.create({ model: 'stories', prompt: ref.prompt, max_tokens: 24, temperature: 0, stream: true });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    text += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, whole.choices[0].text);
  assert.equal(finish, whole.choices[0].finish_reason);
});

test('chat: non-stream', async () => {
  const r = await client.chat.completions.create({
    model: 'stories', messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 20, temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 20);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, 'number');
});

test('chat: stream with include_usage matches non-stream', async () => {
  const params = { model: 'stories', messages: [{ role: 'user', content: 'Once upon a time' }], max_completion_tokens: 30, temperature: 0 };
  const whole = await client.chat.completions.create(params);
  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let role = null;
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    role = c.delta.role ?? role;
    text += c.delta.content ?? '';
    finish = c.finish_reason ?? finish;
  }
  assert.ok(chunks > 2);
  assert.equal(role, 'assistant');
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.ok(usage, 'a usage chunk');
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
  assert.equal(usage.prompt_tokens, whole.usage.prompt_tokens);
});

test('chat: n=3 with a seed gives three choices, reproducibly', async () => {
  const params = { model: 'stories', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 12, temperature: 1.0, seed: 7, n: 3 };
  const a = await client.chat.completions.create(params);
  const b = await client.chat.completions.create(params);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
  assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content));
  assert.ok(a.usage.completion_tokens >= 3);
});

test('chat: logprobs and top_logprobs', async () => {
  const r = await client.chat.completions.create({
    model: 'stories', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  for (const t of content) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    // Greedy: the chosen token is the most likely one.
    assert.ok(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-4);
  }
});

test('usage: a repeated long prompt reports cached tokens', async () => {
  const prompt = reference[4].prompt + ' ' + reference[2].prompt + ' ' + reference[3].prompt;
  await client.completions.create({ model: 'stories', prompt, max_tokens: 4, temperature: 0 });
  const r = await client.completions.create({ model: 'stories', prompt, max_tokens: 4, temperature: 0 });
  assert.ok(r.usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(r.usage));
  assert.ok(r.usage.prompt_tokens_details.cached_tokens < r.usage.prompt_tokens);
});

test('embeddings: base64 (client default) and float, unit norm', async () => {
  const a = await client.embeddings.create({ model: 'stories', input: ['Once upon a time', 'Zoo'] });
  assert.equal(a.data.length, 2);
  const b = await client.embeddings.create({ model: 'stories', input: 'Once upon a time', encoding_format: 'float' });
  const v = a.data[0].embedding;
  assert.ok(v.length > 0);
  assert.equal(b.data[0].embedding.length, v.length);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
  for (let i = 0; i < v.length; i++) assert.ok(Math.abs(v[i] - b.data[0].embedding[i]) < 1e-5);
  assert.ok(a.usage.prompt_tokens > 0);
});

test('/health and /metrics', async () => {
  const h = await health(server);
  assert.equal(h.status, 'ok');
  const text = await metrics(server);
  for (const name of ['vllm:time_to_first_token_seconds_count', 'vllm:inter_token_latency_seconds_count',
    'vllm:e2e_request_latency_seconds_count', 'vllm:request_queue_time_seconds_count', 'vllm:prompt_tokens_total',
    'vllm:generation_tokens_total', 'vllm:gpu_cache_usage_perc', 'tern:kv_cache_usage_perc',
    'vllm:prefix_cache_queries_total', 'vllm:prefix_cache_hits_total', 'vllm:num_preemptions_total',
    'vllm:num_requests_running', 'vllm:num_requests_waiting']) {
    assert.notEqual(metric(text, name), undefined, name);
  }
  assert.ok(metric(text, 'vllm:generation_tokens_total') > 0);
  assert.ok(metric(text, 'vllm:time_to_first_token_seconds_count') > 0);
});
