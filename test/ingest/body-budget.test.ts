import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BodyBudget } from '../../src/ingest/body-budget.js';
import { readBody } from '../../src/ingest/body.js';
import { createServer, type IncomingMessage } from 'node:http';

/** Ingest's body budget (issue #8: memory bounded by construction): bytes charged as read, the oldest always reads. */

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return done;
};

describe('BodyBudget', () => {
  it('lets requests read while there is room; past it only the oldest reads on, and a release wakes the next in order', async () => {
    const budget = new BodyBudget(100);
    const a = budget.ticket();
    const b = budget.ticket();
    const c = budget.ticket();
    expect(await settled(a.turn())).toBe(true);
    a.charge(80);
    b.charge(30); // 110: over
    expect(budget.bytes).toBe(110);
    expect(await settled(a.turn())).toBe(true); // the oldest always goes on
    const bTurn = b.turn();
    const cTurn = c.turn();
    expect(await settled(bTurn)).toBe(false);
    expect(await settled(cTurn)).toBe(false);
    a.release(); // 30 held: room again, for one waiting request at a time
    expect(budget.bytes).toBe(30);
    expect(await settled(bTurn)).toBe(true);
    expect(await settled(cTurn)).toBe(false);
    b.charge(10); // b read on and there is still room: the next one goes
    expect(await settled(cTurn)).toBe(true);
    b.release();
    c.release();
    c.release(); // idempotent
    expect(budget.bytes).toBe(0);
  });

  it('the new head may go even when the bytes still held are over the limit', async () => {
    const budget = new BodyBudget(10);
    const a = budget.ticket();
    const b = budget.ticket();
    const c = budget.ticket();
    a.charge(5);
    b.charge(20);
    const cTurn = c.turn();
    const bTurn = b.turn();
    expect(await settled(bTurn)).toBe(false);
    a.release(); // b is the oldest now: it reads on although 20 > 10; c still waits
    expect(await settled(bTurn)).toBe(true);
    expect(await settled(cTurn)).toBe(false);
    b.release();
    expect(await settled(cTurn)).toBe(true);
  });

  it('a release lets waiting requests go one chunk at a time: 200 of them never hold more than the limit and a chunk', async () => {
    const limit = 1 << 20;
    const chunk = 64 * 1024;
    const budget = new BodyBudget(limit);
    const head = budget.ticket();
    head.charge(2 * limit);
    let peak = 0;
    const readers = Array.from({ length: 200 }, async () => {
      const t = budget.ticket();
      // Each reads 4 chunks, waiting its turn before each, then is done (the answer sent).
      for (let i = 0; i < 4; i++) {
        await t.turn();
        t.charge(chunk);
        peak = Math.max(peak, budget.bytes);
      }
      await new Promise((r) => setImmediate(r));
      t.release();
    });
    await new Promise((r) => setImmediate(r));
    head.release();
    await Promise.all(readers);
    expect(budget.bytes).toBe(0);
    expect(peak).toBeLessThanOrEqual(limit + 4 * chunk);
  });

  it('one let go that reads nothing more (its body was complete) lets the next go at once', async () => {
    const budget = new BodyBudget(100);
    const a = budget.ticket();
    a.charge(200);
    const b = budget.ticket();
    const c = budget.ticket();
    const bTurn = b.turn();
    const cTurn = c.turn();
    a.release();
    expect(await settled(bTurn)).toBe(true);
    expect(await settled(cTurn)).toBe(false);
    b.doneReading(); // parses and commits for a while; the budget does not wait for that
    expect(await settled(cTurn)).toBe(true);
  });

  it('a newcomer waits behind the request let go before it, even when there is room (first come, first served)', async () => {
    const budget = new BodyBudget(100);
    const a = budget.ticket();
    a.charge(150);
    const b = budget.ticket();
    const bTurn = b.turn(); // waits: over the limit
    a.release(); // room: b is let go, and has not read yet
    expect(await settled(bTurn)).toBe(true);
    const c = budget.ticket();
    const cTurn = c.turn();
    expect(await settled(cTurn)).toBe(false);
    b.charge(10);
    expect(await settled(cTurn)).toBe(true);
  });

  it('releasing a waiting ticket ends its wait (a request that failed never hangs)', async () => {
    const budget = new BodyBudget(1);
    const a = budget.ticket();
    a.charge(5);
    const b = budget.ticket();
    const turn = b.turn();
    expect(await settled(turn)).toBe(false);
    b.release();
    expect(await settled(turn)).toBe(true);
  });
});

describe('readBody with a budget, over real HTTP', () => {
  it('a later request waits while an earlier one holds the budget, then completes; nothing deadlocks', async () => {
    const budget = new BodyBudget(64 * 1024);
    const order: string[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      const ticket = budget.ticket();
      void readBody(req, 10 * 1024 * 1024, ticket)
        .then((body) => {
          order.push(`${req.url} ${body.length}`);
          res.end(String(body.length));
        })
        .finally(() => ticket.release());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      // A: 200 KiB announced, 100 KiB sent, then it pauses (a slow client holding more than the budget).
      const a = connect(port, '127.0.0.1');
      await once(a, 'connect');
      const aAnswer = new Promise<string>((resolve) => {
        let text = '';
        a.on('data', (d: Buffer) => (text += d.toString()));
        a.on('end', () => resolve(text));
      });
      a.write(`POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: ${200 * 1024}\r\nConnection: close\r\n\r\n`);
      a.write(Buffer.alloc(100 * 1024, 97));
      for (let i = 0; i < 50 && budget.bytes < 100 * 1024; i++) await new Promise((r) => setTimeout(r, 10));
      expect(budget.bytes).toBe(100 * 1024);
      // B: a small body, later. It must wait for A.
      const b = fetch(`http://127.0.0.1:${port}/b`, { method: 'POST', body: 'x'.repeat(1000) }).then((r) => r.text());
      expect(await settled(b)).toBe(false);
      for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 5));
      expect(order).toEqual([]);
      a.end(Buffer.alloc(100 * 1024, 97));
      expect(await b).toBe('1000');
      expect((await aAnswer).endsWith(String(200 * 1024))).toBe(true);
      expect(order).toEqual([`/a ${200 * 1024}`, '/b 1000']);
      expect(budget.bytes).toBe(0);
    } finally {
      server.close();
    }
  });
});
