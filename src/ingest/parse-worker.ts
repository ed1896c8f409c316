import { workerData } from 'node:worker_threads';
import { skipPathsOf } from '../config/defaults.js';
import { IngestError } from '../errors.js';
import { reportRules } from '../report/context.js';
import { parseBody } from './body.js';
import { checkItems } from './check-items.js';
import type { ParseOutcome, ParseTask, ParseWorkerData } from './parse-task.js';
import { ingestRoutes } from './routes.js';

/**
 * A parse thread (piscina): JSON.parse, build and validate one large body off the event loop, with the same rules
 * as the event loop's (built once per thread from the same inputs).
 */
const data = workerData as ParseWorkerData;
const rules = reportRules(data.rulesInput, data.catalog);
const routes = ingestRoutes(rules.build, { skipPaths: skipPathsOf(data.skipPaths) });

export default function parseAndCheck(task: ParseTask): ParseOutcome {
  try {
    const items = parseBody(Buffer.from(task.body.buffer, task.body.byteOffset, task.body.byteLength), task.format);
    if (items.length > task.maxItemsPerRequest) {
      throw new IngestError('PCM_INGEST_TOO_MANY_ITEMS', 413, `Payload Too Large: ${items.length} items, the limit is ${task.maxItemsPerRequest}`);
    }
    const toReport = routes[task.route];
    if (!toReport) throw new IngestError('PCM_INGEST_UNPARSEABLE', 400, `no ingest route ${task.route}`);
    const checked = checkItems(items, toReport, rules.validation(), new URLSearchParams(task.query), {
      source: task.source,
      route: task.route,
      maxReportBytes: task.maxReportBytes,
    });
    return { checked };
  } catch (err) {
    if (err instanceof IngestError) return { refused: { code: err.code, status: err.status, message: err.message } };
    throw err;
  }
}
