import type { Config } from '../config/schema.js';
import { Spool } from '../spool/spool.js';

/** The configured spool opened as a guest (beside a running sidecar, which owns it) for `use`, closed after. */
export async function withGuestSpool<T>(config: Config, use: (spool: Spool) => T): Promise<T> {
  const spool = new Spool({ path: config.spool.path, sync: config.spool.sync, maxBytes: config.spool.maxBytes, guest: true });
  try {
    return use(spool);
  } finally {
    await spool.close();
  }
}
