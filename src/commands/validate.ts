import { readFile } from 'node:fs/promises';
import { loadCatalog } from '../report/catalog.js';
import { reportRules } from '../report/context.js';
import type { RuleOptions } from '../report/validate.js';
import type { ReportProblem } from '../report/problem.js';
import { ruleInfo, type Severity } from '../report/rules.js';
import { prepareReport } from '../report/validate.js';
import { parseArgs } from 'node:util';
import { loadRuleSettings } from '../config/load.js';
import { EX_USAGE, configOrExit, fail, settingOrExit, type Command } from './common.js';

/**
 * `pcm-sidecar validate FILE`: the sidecar's own checks, offline, for gateway teams' CI.
 * A JSON array or NDJSON; each problem is printed with its line, field, severity and rule, then a count per rule.
 * Exit 1 when an item would be discarded (`--strict`: also when one has quality findings).
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
  /** Items that would be sent (quality findings or not). */
  valid: number;
  /** Items the PCM would discard (or that are not JSON): these make the exit status 1. */
  invalid: number;
  repaired: number;
  /** Valid items that carry quality findings: sent, but the PCM may open a data-quality ticket. */
  withFindings: number;
  /** Problems per rule id, with the rule's severity. */
  byRule: Map<string, { severity: Severity; count: number }>;
  lines: string[];
}

/** `rule (severity)`: what each printed problem is, as the rule table (src/report/rules.ts) says. */
function tagged(p: ReportProblem): string {
  return `${p.field || '(item)'}: ${p.message} (${p.severity ?? ruleInfo(p.rule).severity}: ${p.rule})`;
}

function count(summary: ValidateSummary, problems: readonly ReportProblem[]): void {
  for (const p of problems) {
    const entry = summary.byRule.get(p.rule) ?? { severity: p.severity ?? ruleInfo(p.rule).severity, count: 0 };
    entry.count++;
    summary.byRule.set(p.rule, entry);
  }
}

/** The lines printed after the items: one per rule that fired, then the totals. */
export function summaryLines(summary: ValidateSummary): string[] {
  const rules = [...summary.byRule.entries()].sort(([a, x], [b, y]) => x.severity.localeCompare(y.severity) || y.count - x.count || a.localeCompare(b));
  return [
    ...rules.map(([rule, { severity, count: n }]) => `  ${severity.padEnd(7)} ${rule}: ${n}`),
    `${summary.items} items: ${summary.valid} valid (${summary.repaired} after repairs, ${summary.withFindings} with quality findings), ${summary.invalid} invalid`,
  ];
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
  const summary: ValidateSummary = { items: 0, valid: 0, invalid: 0, repaired: 0, withFindings: 0, byRule: new Map(), lines: [] };
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
      if (result.findings.length > 0) summary.withFindings++;
      for (const p of result.findings) summary.lines.push(`line ${entry.line}: ${tagged(p)}`);
      count(summary, result.findings);
    } else {
      summary.invalid++;
      const all = [...result.problems, ...(result.findings ?? [])];
      for (const p of all) summary.lines.push(`line ${entry.line}: ${tagged(p)}`);
      count(summary, all);
    }
  }
  return summary;
}

const HELP = `Usage: pcm-sidecar validate FILE|- [--strict] [--org ORG_ID]... [--catalog FILE] [--config FILE]

Checks each report in FILE (a JSON array or NDJSON; - reads stdin) with the sidecar's own normalisation and
validation, prints each problem with its line, field, severity and rule, then a count per rule and a summary.
A discard-level problem means the PCM would answer DISCARDED: the sidecar refuses the item. A quality-level one
means the PCM takes the report and may open a data-quality ticket: the sidecar sends it and shows the finding.
Exits 1 when any item would be discarded; with --strict, also when any has quality findings.
The reporter-organisation rule applies when organisations are given with --org (repeatable) or configured
(--config / PCM_ORG_ID). The time window (7 days back, 5 minutes ahead) uses the current clock.

Options:
  --strict           exit 1 on quality findings too
  --org ORG_ID       an organisation reports may be sent for (repeatable)
  --catalog FILE     endpoint catalogue (default: PCM_ENDPOINT_CATALOG or the one shipped)
  --config FILE      take organisations, catalogue and rule settings from this file and PCM_* variables
  -h, --help         this help
`;

async function validate(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      org: { type: 'string', multiple: true },
      catalog: { type: 'string' },
      config: { type: 'string' },
      strict: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void process.stdout.write(HELP);
  const file = positionals[0];
  if (!file) fail('validate: a FILE (or - for stdin) is required (see --help)', EX_USAGE);
  const config = values.config || process.env.PCM_API_URL || process.env.PCM_FORWARD_URL ? await configOrExit(values.config) : null;
  const summary = await validateFile({
    file,
    orgIds: [...(values.org ?? []), ...(config?.organisations.map((o) => o.orgId) ?? [])],
    catalogFile: values.catalog ?? config?.catalog.file ?? process.env.PCM_ENDPOINT_CATALOG,
    rules: config?.rules ?? settingOrExit(() => loadRuleSettings()),
  });
  for (const line of [...summary.lines, ...summaryLines(summary)]) process.stdout.write(`${line}\n`);
  if (summary.invalid > 0 || (values.strict === true && summary.withFindings > 0)) process.exitCode = 1;
}

export const command: Command = { help: HELP, run: validate };
