import { describe, expect, it } from 'vitest';
import { endpointIn, endpointInText } from '../../src/spool/endpoint-days.js';
import { validReport } from '../helpers/reports.js';

/** The lease reads a row's endpoint from its text (no parse, no SQL JSON): it must say what a parse says. */
describe('endpointInText', () => {
  it('agrees with a parse of the body, escapes, nesting and bodies without an endpoint included', () => {
    const report = validReport(0);
    const bodies = [
      JSON.stringify(report),
      JSON.stringify({ ...report, additionalInfo: { note: 'has "endpoint":"x" in it', endpoint: 'nested' } }),
      JSON.stringify({ ...report, endpoint: '/open-banking/a"b\\c/v1/x' }),
      JSON.stringify({ ...report, endpoint: '/open-banking/ação/v1' }),
      JSON.stringify({ role: 'CLIENT' }),
      JSON.stringify({ ...report, endpoint: 7 }),
      'not json',
      '',
    ];
    for (const body of bodies) expect(endpointInText(body), body).toBe(endpointIn(body));
    expect(endpointInText(bodies[0] as string)).toBe(report.endpoint);
  });
});
