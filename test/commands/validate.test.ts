import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { arrayItemLines } from '../../src/commands/validate.js';
import { CLIENT_ORG, SERVER_ORG, tempDir } from '../helpers/pki.js';
import { startCli } from '../helpers/processes.js';
import { validReport } from '../helpers/reports.js';

async function validate(args: string[], input?: string): Promise<{ code: number | null; out: string[] }> {
  const proc = startCli(['validate', ...args]);
  if (input !== undefined) {
    proc.child.stdin?.end(input);
  }
  const { code } = await proc.exited;
  return { code, out: proc.lines };
}

describe('pcm-sidecar validate FILE', () => {
  it('passes a clean NDJSON file with exit 0 and a summary', async () => {
    const dir = await tempDir('validate');
    const file = join(dir, 'ok.ndjson');
    await writeFile(file, [validReport(0), validReport(1)].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const { code, out } = await validate([file, '--org', CLIENT_ORG, '--org', SERVER_ORG]);
    expect(code).toBe(0);
    expect(out.at(-1)).toBe('2 items: 2 valid (0 after repairs, 0 with quality findings), 0 invalid');
  });

  it('prints each failure with its line and field, and exits 1', async () => {
    const dir = await tempDir('validate');
    const file = join(dir, 'mixed.json');
    const broken = { ...validReport(1), statusCode: 700 };
    const concrete = { ...validReport(3), endpoint: '/open-banking/accounts/v2/accounts/42/balances' };
    await writeFile(file, JSON.stringify([validReport(0), broken, concrete], null, 2));
    const { code, out } = await validate([file]);
    expect(code).toBe(1);
    const lines = arrayItemLines(JSON.stringify([validReport(0), broken, concrete], null, 2));
    expect(out).toContain(`line ${lines[1]}: statusCode: Invalid field value: statusCode: statusCode must be between 200 and 599 (discard: range)`);
    expect(out).toContain(`line ${lines[2]}: ok after repairs: endpoint_templated`);
    expect(out).toContain('  discard range: 1');
    expect(out.at(-1)).toBe('3 items: 2 valid (1 after repairs, 0 with quality findings), 1 invalid');
  });

  it('applies the reporter-organisation rule only when organisations are given, and reads stdin', async () => {
    const report = JSON.stringify(validReport(0)) + '\n';
    expect((await validate(['-'], report)).code).toBe(0);
    const refused = await validate(['-', '--org', SERVER_ORG], report);
    expect(refused.code).toBe(1);
    expect(refused.out.join('\n')).toContain('clientOrgId');
  });

  it("shows quality findings with their severity, exits 0 for them, and 1 with --strict (seed 000's uri: and no tokenId)", async () => {
    const seedLike = { ...validReport(0), additionalInfo: { consentId: 'uri:bv:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf' } };
    const input = `${JSON.stringify(seedLike)}\n${JSON.stringify(validReport(1))}\n`;
    const lenient = await validate(['-'], input);
    expect(lenient.code).toBe(0);
    expect(lenient.out).toContain(
      "line 1: additionalInfo.tokenId: Missing property: additionalInfo.tokenId (§4.5; post the call's accessToken or Authorization with PCM_TOKEN_ID_PEPPER_FILE set, and the sidecar computes it) (quality: additionalInfo.tokenId.missing)",
    );
    expect(lenient.out).toContain('line 1: additionalInfo.consentId: Invalid format: additionalInfo.consentId: must be a URN (urn:<namespace>:<id>) (quality: additionalInfo.format)');
    expect(lenient.out).toContain('  quality additionalInfo.tokenId.missing: 1');
    expect(lenient.out.at(-1)).toBe('2 items: 2 valid (0 after repairs, 1 with quality findings), 0 invalid');
    expect((await validate(['-', '--strict'], input)).code).toBe(1);
  });

  it('reports a line that is not JSON', async () => {
    const { code, out } = await validate(['-'], `${JSON.stringify(validReport(1))}\n{"role":\n`);
    expect(code).toBe(1);
    expect(out[0]).toMatch(/^line 2: not valid JSON/);
  });

  it('finds the start line of each array element', () => {
    expect(arrayItemLines('[\n {"a": "]\\"["},\n\n [1, 2],\n 3\n]')).toEqual([2, 4, 5]);
  });
});
