import { parseArgs } from 'node:util';
import type { Command } from './common.js';

const HELP = `Usage: pcm-sidecar catalog [--catalog FILE] [--json]

Prints the active endpoint catalogue: its version, then each private and opendata template with its API and the
release it comes from. PCM_ENDPOINT_CATALOG (or --catalog) points at a newer file without a rebuild.

Options:
  --catalog FILE   catalogue file (default: PCM_ENDPOINT_CATALOG or the one shipped)
  --json           print the catalogue as JSON
  -h, --help       this help
`;

async function catalog(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { catalog: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return void process.stdout.write(HELP);
  const { loadCatalog } = await import('../report/catalog.js');
  const active = loadCatalog(values.catalog ?? (process.env.PCM_ENDPOINT_CATALOG || undefined));
  if (values.json) return void process.stdout.write(`${JSON.stringify(active, null, 2)}\n`);
  process.stdout.write(`endpoint catalogue ${active.version}: ${active.private.length} private, ${active.opendata.length} opendata\n`);
  for (const [stream, entries] of [['private', active.private], ['opendata', active.opendata]] as const) {
    process.stdout.write(`\n${stream}:\n`);
    for (const e of entries) process.stdout.write(`  ${e.template}  [${e.api}, ${e.since}]${e.note ? `  (${e.note})` : ''}\n`);
  }
}

export const command: Command = { help: HELP, run: catalog };
