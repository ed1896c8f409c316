import { readFile } from 'node:fs/promises';
import { loadCatalog } from '../report/catalog.js';
import { reportRules } from '../report/context.js';
import type { RuleOptions } from '../report/validate.js';
import { prepareReport } from '../report/validate.js';

/**
 * `pcm-sidecar validate FILE`: the sidecar's own checks, offline, for gateway teams' CI.
 * A JSON array or NDJSON; each failure is printed with its line and field; exit 1 when any item fails.
 */

export interface ValidateOptions {
  file: string;
  /** Reporter organisations; the reporter-org rule is skipped when there are none. */
  orgIds: string[];
  catalogFile: string | undefined;
  rules: RuleOptions;
  now?: number;
}

export interface ValidateSummary {
  items: number;
  valid: number;
  invalid: number;
  repaired: number;
  lines: string[];
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Start line (1-based) of each element of a top-level JSON array, found without a second parser. */
export function arrayItemLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectItem = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') continue;
    if (depth === 1 && expectItem && c !== ']') {
      lines.push(line);
      expectItem = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectItem = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectItem = true;
  }
  return lines;
}

type Entry = { line: number; value: unknown } | { line: number; error: string };

function entriesOf(text: string): Entry[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return [{ line: 1, error: `not valid JSON: ${(err as Error).message}` }];
    }
    const lines = arrayItemLines(text);
    return (parsed as unknown[]).map((value, i) => ({ line: lines[i] ?? 1, value }));
  }
  return text.split('\n').flatMap((raw, i): Entry[] => {
    if (raw.trim() === '') return [];
    try {
      return [{ line: i + 1, value: JSON.parse(raw) }];
    } catch (err) {
      return [{ line: i + 1, error: `not valid JSON: ${(err as Error).message}` }];
    }
  });
}

export async function validateFile(options: ValidateOptions): Promise<ValidateSummary> {
  const catalog = loadCatalog(options.catalogFile);
  const orgs = options.orgIds.map((orgId) => ({ orgId }));
  const rules = reportRules(
    { organisations: orgs.length > 0 ? orgs : null, opendataOrgId: orgs[0]?.orgId.toLowerCase() ?? null, rules: options.rules },
    catalog,
  );
  const context = rules.validation(options.now);
  const summary: ValidateSummary = { items: 0, valid: 0, invalid: 0, repaired: 0, lines: [] };
  for (const entry of entriesOf(await readInput(options.file))) {
    summary.items++;
    if ('error' in entry) {
      summary.invalid++;
      summary.lines.push(`line ${entry.line}: ${entry.error}`);
      continue;
    }
    const result = prepareReport(entry.value, context);
    if (result.ok) {
      summary.valid++;
      if (result.repairs.length > 0) {
        summary.repaired++;
        summary.lines.push(`line ${entry.line}: ok after repairs: ${result.repairs.join(', ')}`);
      }
    } else {
      summary.invalid++;
      for (const p of result.problems) summary.lines.push(`line ${entry.line}: ${p.field || '(item)'}: ${p.message}`);
    }
  }
  return summary;
}
