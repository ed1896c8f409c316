import type { BodyFormat } from './body.js';
import type { CheckedBody } from './check-items.js';

/**
 * One large body handed to a parse thread (parse-worker.ts) and what comes back: plain data both ways, so that it
 * crosses threads by structured clone. A body the worker refuses as a whole comes back as `refused`, for the event
 * loop to answer and quarantine exactly as if it had parsed it itself.
 */
export interface ParseTask {
  body: Uint8Array;
  format: BodyFormat;
  route: string;
  query: string;
  source: string;
  maxReportBytes: number;
  maxItemsPerRequest: number;
}

export type ParseOutcome = { checked: CheckedBody } | { refused: { code: string; status: number; message: string } };

/** What the sidecar gives each parse thread to build the same rules as the event loop. */
export interface ParseWorkerData {
  rulesInput: import('../report/context.js').RulesInput;
  catalog: import('../report/catalog.js').EndpointCatalog;
  skipPaths: string;
}
