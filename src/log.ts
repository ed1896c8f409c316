import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** JSON logs on stdout. Anything that could hold a bearer token or key material is redacted at the source. */
export function createLogger(level: LevelWithSilent, name = 'pcm-sidecar'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['token', 'accessToken', 'access_token', 'authorization', '*.authorization', 'keyPassphrase', '*.keyPassphrase'],
      censor: '[redacted]',
    },
  });
}
