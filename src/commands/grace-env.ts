import { configSchema } from '../config/schema.js';
import { EX_CONFIG, fail } from './exit.js';

/** PCM_SHUTDOWN_GRACE_MS for the commands that read no configuration file (emulate, demo). */
export function shutdownGraceFromEnv(): number {
  const value = process.env.PCM_SHUTDOWN_GRACE_MS;
  const result = configSchema.shape.shutdown.safeParse({ graceMs: value === '' ? undefined : value });
  if (!result.success) fail(`invalid configuration: PCM_SHUTDOWN_GRACE_MS: ${result.error.issues[0]?.message ?? 'invalid'}`, EX_CONFIG);
  return result.data.graceMs;
}
