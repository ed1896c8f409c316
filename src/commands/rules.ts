import { parseArgs } from 'node:util';
import type { Command } from './common.js';

const HELP = `Usage: pcm-sidecar rules [--json]

Prints every rule reports are checked against, by severity: discard (the PCM answers DISCARDED; the sidecar refuses
and quarantines the item) and quality (the PCM takes the report and may open a data-quality ticket; the sidecar
sends it and shows the finding), with the section of pcm-rules.md it comes from. PCM_RULE_QUALITY=refuse refuses
quality findings too; "rules": {"overrides": {"<rule>": "refuse" | "send" | "ignore"}} in the config file changes one.

Options:
  --json   print the table as JSON
`;

async function rules(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return void process.stdout.write(HELP);
  const { RULES } = await import('../report/rules.js');
  if (values.json) return void process.stdout.write(`${JSON.stringify(RULES, null, 2)}\n`);
  for (const severity of ['discard', 'quality'] as const) {
    process.stdout.write(`${severity}:\n`);
    for (const [id, rule] of Object.entries(RULES)) {
      if (rule.severity !== severity) continue;
      process.stdout.write(`  ${id}  ${rule.source}${'unclear' in rule ? ` [unclear: ${rule.unclear}]` : ''}${rule.overridable ? '' : ' [not overridable]'}\n`);
    }
  }
}

export const command: Command = { help: HELP, run: rules };
