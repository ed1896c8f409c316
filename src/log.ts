import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** Log lines waiting for a stdout that does not read are capped at this; past it, lines are dropped. */
const MAX_PENDING_LOG_BYTES = 8 * 1024 * 1024;

/**
 * Where log lines go: process.stdout, and an exit never waits for it. pino's default destination (sonic-boom)
 * flushes synchronously on exit and retries EAGAIN and EPIPE there without end, so a process whose stdout reader had
 * gone, or stopped reading, never finished exiting — not even on a second signal. process.stdout queues in memory
 * (capped here) and an exit drops what is still queued; a closed stdout is an 'error' event the CLI handles.
 */
export function stdoutDestination(): DestinationStream {
  return {
    write(line: string): void {
      const out = process.stdout;
      if (out.destroyed || !out.writable || out.writableLength > MAX_PENDING_LOG_BYTES) return;
      out.write(line);
    },
  };
}

/** JSON logs on stdout. Anything that could hold a bearer token or key material is redacted at the source. */
export function createLogger(level: LevelWithSilent, name = 'pcm-sidecar'): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: ['token', 'accessToken', 'access_token', 'authorization', '*.authorization', 'keyPassphrase', '*.keyPassphrase'],
        censor: '[redacted]',
      },
    },
    stdoutDestination(),
  );
}
