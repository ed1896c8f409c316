import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { workerFile } from '../worker-file.js';
import type { ParseOutcome, ParseTask, ParseWorkerData } from './parse-task.js';

/**
 * Parse threads (piscina) for large ingest bodies: JSON.parse, build and validate off the event loop, which then
 * only commits and answers. Off by default — on 2 cores the event loop, the spool's writer thread and a parse
 * thread compete for the same CPUs (bench/RESULTS.md measures it); for larger pods, PCM_INGEST_PARSE_THREADS.
 */
export class ParsePool {
  private readonly pool: Piscina<ParseTask, ParseOutcome>;

  constructor(
    threads: number,
    readonly minBytes: number,
    workerData: ParseWorkerData,
  ) {
    this.pool = new Piscina({
      filename: pathToFileURL(workerFile(new URL('./parse-worker.js', import.meta.url))).href,
      minThreads: threads,
      maxThreads: threads,
      workerData,
      // No queue limit of its own: queued tasks are bodies the ingest body budget already counts and bounds.
    });
  }

  run(task: ParseTask): Promise<ParseOutcome> {
    return this.pool.run(task);
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
