import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

/** Set by a running server (run, emulate, demo): a closed stdout stops it in order rather than at once. */
let stopOnOutputClosed: (() => void) | null = null;

/**
 * stdout or stderr closed under us (`pcm-sidecar demo | head -c 100`, EPIPE): the reader has what it wanted. A
 * command ends quietly with 0, as Unix tools do; a server first stops in order, as on SIGTERM.
 */
export function onOutputClosed(): void {
  if (stopOnOutputClosed) return stopOnOutputClosed();
  process.exit(0);
}

/**
 * Stops once on SIGTERM/SIGINT (or a closed stdout), and always ends in an exit within `graceMs`: the orderly stop
 * gets its phases' share of it (`stop(phaseGraceMs)`: draining ingest, then the sender, each at most 40 %); a
 * watchdog armed at the first signal exits 1 if the stop overruns the whole of it; a second signal exits 1 at once.
 * Nothing can hold an exit open: logs go to process.stdout, which an exit does not wait for (src/log.ts).
 */
export function onShutdown(log: Logger, graceMs: number, stop: (phaseGraceMs: number) => Promise<void>): void {
  let stopping = false;
  const begin = (reason: Record<string, string>): void => {
    stopping = true;
    log.info({ ...reason, graceMs }, 'stopping');
    const watchdog = setTimeout(() => {
      log.error({ graceMs }, 'the orderly stop overran its grace period (PCM_SHUTDOWN_GRACE_MS); exiting now');
      process.exit(1);
    }, graceMs);
    watchdog.unref();
    // A stop waiting on something that can never happen (nothing left to run) is a failed stop, not a clean exit.
    process.once('beforeExit', () => {
      log.error('the orderly stop stalled with nothing left to run; exiting now');
      process.exit(1);
    });
    stop(Math.max(1, Math.floor(graceMs * 0.4))).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    begin({ signal });
  };
  stopOnOutputClosed = () => {
    if (!stopping) begin({ reason: 'stdout closed' });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
