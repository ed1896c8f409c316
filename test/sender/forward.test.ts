import { describe, expect, it } from 'vitest';
import { DeliveryError, ForwardRefusedError } from '../../src/errors.js';
import { forwardAnswer } from '../../src/sender/forward.js';

/** How an agent reads its aggregator's ingest answers (src/ingest/server.ts) — the answer mapping alone. */

const json = (body: unknown): string => JSON.stringify(body);
const ACCEPTED = { status: 'ACCEPTED', reportId: null, message: null };

function thrown(fn: () => unknown): DeliveryError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DeliveryError) return err;
    throw err;
  }
  throw new Error('expected a DeliveryError');
}

describe('forward client: the aggregator answer, mapped to the rows of the batch', () => {
  it('202 with counts only: every row delivered, without a PCM reportId', () => {
    const answer = forwardAnswer(202, {}, json({ accepted: 2, duplicates: 1, warnings: 0 }), 3);
    expect(answer).toEqual({ kind: 'results', status: 200, items: [ACCEPTED, ACCEPTED, ACCEPTED] });
  });

  it('202 whose counts do not cover the batch is a bad answer, sent again (duplicates there cost nothing)', () => {
    for (const body of [{ accepted: 1, duplicates: 0 }, { accepted: 3, duplicates: 0, rejected: 1 }, { duplicates: 3 }, [1, 2, 3]]) {
      const err = thrown(() => forwardAnswer(202, {}, json(body), 3));
      expect(err.code).toBe('PCM_DELIVERY_BAD_ANSWER');
      expect(err).not.toBeInstanceOf(ForwardRefusedError);
    }
    expect(thrown(() => forwardAnswer(202, {}, 'OK', 1)).code).toBe('PCM_DELIVERY_BAD_ANSWER');
  });

  it('202 with results (warnings): accepted and duplicate are delivered', () => {
    const results = [
      { index: 0, status: 'accepted', warnings: [{ field: 'additionalInfo.tokenId', rule: 'additionalInfo.tokenId.missing', message: 'x' }] },
      { index: 1, status: 'duplicate' },
    ];
    const answer = forwardAnswer(202, {}, json({ accepted: 1, duplicates: 1, warnings: 1, results }), 2);
    expect(answer).toEqual({ kind: 'results', status: 200, items: [ACCEPTED, ACCEPTED] });
  });

  it('207: by index, a rejected item becomes a dead letter with the aggregator\'s messages', () => {
    const results = [
      { index: 0, status: 'accepted' },
      { index: 1, status: 'rejected', errors: [{ field: 'endpoint', rule: 'listed_endpoint', message: 'Unlisted endpoint: /x' }, { field: 'timestamp', rule: 'max_age', message: 'Report is too old' }] },
      { index: 2, status: 'duplicate' },
    ];
    const answer = forwardAnswer(207, {}, json({ accepted: 1, duplicates: 1, warnings: 0, rejected: 1, results }), 3);
    expect(answer).toEqual({
      kind: 'results',
      status: 207,
      items: [ACCEPTED, { status: 'DISCARDED', reportId: null, message: 'Refused by the aggregator: Unlisted endpoint: /x; Report is too old' }, ACCEPTED],
    });
  });

  it('a partial answer sent as 200 or 202 (PCM_INGEST_PARTIAL_STATUS) is mapped the same way', () => {
    const results = [{ index: 0, status: 'rejected', errors: [{ field: '', rule: 'json', message: 'Invalid payload format' }] }];
    for (const status of [200, 202]) {
      const answer = forwardAnswer(status, {}, json({ accepted: 0, duplicates: 0, warnings: 0, rejected: 1, results }), 1);
      expect(answer).toMatchObject({ kind: 'results', items: [{ status: 'DISCARDED', message: 'Refused by the aggregator: Invalid payload format' }] });
    }
  });

  it('results that cannot be matched to the rows (count, order, status) are a bad answer', () => {
    const one = { index: 0, status: 'accepted' };
    expect(thrown(() => forwardAnswer(207, {}, json({ results: [one] }), 2)).code).toBe('PCM_DELIVERY_BAD_ANSWER');
    expect(thrown(() => forwardAnswer(207, {}, json({ results: [{ index: 1, status: 'accepted' }, one] }), 2)).code).toBe('PCM_DELIVERY_BAD_ANSWER');
    expect(thrown(() => forwardAnswer(207, {}, json({ results: [{ index: 0, status: 'ACCEPTED' }] }), 1)).code).toBe('PCM_DELIVERY_BAD_ANSWER');
    expect(thrown(() => forwardAnswer(207, {}, json({ results: 'all good' }), 1)).code).toBe('PCM_DELIVERY_BAD_ANSWER');
  });

  it('an item refused because the aggregator does not report for the organisation holds the batch: nothing is dead-lettered', () => {
    const results = [
      { index: 0, status: 'accepted' },
      { index: 1, status: 'rejected', errors: [{ field: 'serverOrgId', rule: 'reporter_org', message: "serverOrgId 'c160…' is invalid to role 'SERVER': not an organisation this sidecar reports for" }] },
    ];
    const err = thrown(() => forwardAnswer(207, {}, json({ accepted: 1, duplicates: 0, rejected: 1, results }), 2));
    expect(err).toBeInstanceOf(ForwardRefusedError);
    expect(err.code).toBe('PCM_FORWARD_REFUSED');
    expect(err.message).toContain('not an organisation this sidecar reports for');
    const opendata = [{ index: 0, status: 'rejected', errors: [{ field: '', rule: 'opendata_org', message: 'no organisation is configured to send opendata reports' }] }];
    expect(thrown(() => forwardAnswer(207, {}, json({ results: opendata }), 1))).toBeInstanceOf(ForwardRefusedError);
  });

  it('401 and 403 are refusals of the agent: held, with the aggregator\'s error', () => {
    for (const status of [401, 403]) {
      const err = thrown(() => forwardAnswer(status, {}, json({ error: 'Unauthorized: the bearer token is not one this ingest accepts', code: 'PCM_INGEST_UNAUTHORIZED' }), 4));
      expect(err).toBeInstanceOf(ForwardRefusedError);
      expect(err.status).toBe(status);
      expect(err.message).toBe(`the aggregator answered ${status}: Unauthorized: the bearer token is not one this ingest accepts`);
    }
  });

  it('413 is a refusal of the size: the lane halves the batch (and dead-letters a single report)', () => {
    expect(thrown(() => forwardAnswer(413, {}, json({ error: 'Payload Too Large: 6000 items, the limit is 5000' }), 6000))).toMatchObject({
      code: 'PCM_DELIVERY_TOO_LARGE',
      status: 413,
      message: 'the aggregator answered 413: Payload Too Large: 6000 items, the limit is 5000',
    });
  });

  it('429, 5xx and 503 with Retry-After are retried later, the wait honoured', () => {
    const full = thrown(() => forwardAnswer(503, { 'retry-after': '5' }, json({ error: 'spool full', code: 'PCM_SPOOL_FULL' }), 1));
    expect(full).toMatchObject({ code: 'PCM_DELIVERY_SERVER_ERROR', status: 503, retryAfterMs: 5000 });
    expect(full).not.toBeInstanceOf(ForwardRefusedError);
    expect(thrown(() => forwardAnswer(429, { 'retry-after': '1' }, '', 1))).toMatchObject({ code: 'PCM_DELIVERY_THROTTLED', retryAfterMs: 1000 });
    expect(thrown(() => forwardAnswer(500, {}, json({ error: 'internal error; nothing from this request was stored' }), 1))).toMatchObject({
      code: 'PCM_DELIVERY_SERVER_ERROR',
      retryAfterMs: undefined,
      message: 'the aggregator answered 500: internal error; nothing from this request was stored',
    });
  });

  it('other 4xx keep their status, so the lane treats them as it does the PCM\'s (400/422 split after repeats; 404, 415 held)', () => {
    expect(thrown(() => forwardAnswer(404, {}, json({ error: 'Not Found' }), 1))).toMatchObject({ code: 'PCM_DELIVERY_REFUSED', status: 404 });
    expect(thrown(() => forwardAnswer(400, {}, '<html>bad</html>', 1))).toMatchObject({ code: 'PCM_DELIVERY_REFUSED', status: 400, message: 'the aggregator answered 400: <html>bad</html>' });
  });
});
