import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as undici from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from '../src/http-client.js';

/** src/http-client.ts: undici's Agent and request from its own files, without its index (issue #8). */

let server: Server;
let base: string;
const seen: { method: string; url: string; body: string; type: string | undefined }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString(), type: req.headers['content-type'] });
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ n: seen.length }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

describe('http-client', () => {
  it('is the package’s own Agent', () => {
    expect(Agent).toBe(undici.Agent);
  });

  it('sends method, path with query, headers and body, and reads the answer', async () => {
    const agent = new Agent();
    try {
      const post = await request(`${base}/v1/reports?x=1&y=%20`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
      expect(post.statusCode).toBe(201);
      expect(await post.body.json()).toEqual({ n: 1 });
      const get = await request(`${base}/status`, { method: 'GET', dispatcher: agent });
      expect(get.statusCode).toBe(201);
      await get.body.dump();
      expect(seen).toEqual([
        { method: 'POST', url: '/v1/reports?x=1&y=%20', body: '{"a":1}', type: 'application/json' },
        { method: 'GET', url: '/status', body: '', type: undefined },
      ]);
    } finally {
      await agent.close();
    }
  });

  it('works with any dispatcher, as undici’s request does', async () => {
    const client = new undici.Client(base);
    try {
      const answer = await request(`${base}/pool`, { method: 'GET', dispatcher: client });
      expect(answer.statusCode).toBe(201);
      await answer.body.dump();
    } finally {
      await client.close();
    }
  });

  it('does not load undici’s index', () => {
    const built = fileURLToPath(new URL('../dist/http-client.js', import.meta.url));
    const script = `import(${JSON.stringify(built)}).then(() => { const r = require('node:module').createRequire(${JSON.stringify(built)}); console.log(JSON.stringify(Object.keys(r.cache).filter((k) => /undici[\\\\/]index\\.js$/.test(k) || /undici[\\\\/]lib[\\\\/]web[\\\\/]/.test(k)))); })`;
    expect(JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }))).toEqual([]);
  });
});
