// Starts `tern serve` on a free port for one test file and stops it after.
//
//   TERN_BIN     the tern binary (default: <repo>/build/release/tern)
//   TERN_E2E_THREADS  compute threads for the server (default 1: the suite
//                runs beside builds on small machines, where an oversubscribed
//                thread pool only adds latency)
//   TERN_ASSETS  shared assets (default: <repo>/../shared); the model is
//                $TERN_ASSETS/models/stories260K.gguf
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../../..');
export const assets = process.env.TERN_ASSETS || path.resolve(repo, '../shared');
export const modelPath = path.join(assets, 'models/stories260K.gguf');
export const ternBin = process.env.TERN_BIN || path.join(repo, 'build/release/tern');

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Returns { url, base, port, client(opts), stop(), logs() }.
export async function startServer(args = []) {
  const port = await freePort();
  const argv = ['serve', '-m', modelPath, '--port', String(port), '--alias', 'stories',
    '--threads', process.env.TERN_E2E_THREADS || '1', ...args];
  const proc = spawn(ternBin, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d.toString(); });
  let exited = null;
  proc.on('exit', (code, signal) => { exited = { code, signal }; });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (exited) throw new Error(`tern serve exited (${JSON.stringify(exited)}):\n${stderr}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    await sleep(50);
  }
  const server = {
    url,
    port,
    base: `${url}/v1`,
    proc,
    logs: () => stderr,
    exited: () => exited,
    client: (opts = {}) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0, timeout: 60_000, ...opts }),
    async stop() {
      if (exited) return exited;
      proc.kill('SIGTERM');
      for (let i = 0; i < 200 && !exited; i++) await sleep(50);
      if (!exited) proc.kill('SIGKILL');
      return exited;
    },
  };
  return server;
}

export async function health(server) {
  const r = await fetch(`${server.url}/health`);
  return r.json();
}

// The sum of the samples of `name` whose labels contain `labelFilter`
// (e.g. 'finished_reason="abort"'); undefined when there is none.
export function metric(text, name, labelFilter = '') {
  let sum;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = line.match(/^([^{ ]+)(\{[^}]*\})? (\S+)$/);
    if (m && m[1] === name && (m[2] ?? '').includes(labelFilter)) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

export async function metrics(server) {
  const r = await fetch(`${server.url}/metrics`);
  return r.text();
}

export { sleep };
