import { readTokenIdPepper } from '../config/pepper.js';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { loadCatalog } from '../report/catalog.js';
import { loadCa, loadClientCredential } from '../sender/credentials.js';
import { RateBudget } from '../sender/rate-budget.js';
import { rateBudgetOptions } from '../sender/sender.js';
import { TokenProvider } from '../sender/token.js';
import { EX_NOINPUT, EX_UNAVAILABLE } from './common.js';

/**
 * `pcm-sidecar run --check`: what `run` would need, tried without starting it — the settings (already valid when this
 * runs), the files they name, and with `--token` a token for each organisation. One line per check; the exit code
 * says which kind of problem came first (sysexits): 66 a file that cannot be read or used, 69 the token endpoint.
 */

export interface CheckLine {
  what: string;
  ok: boolean;
  detail: string;
  /** The exit code this problem gives; 0 when ok. */
  code: number;
}

function attempt(what: string, code: number, run: () => string): CheckLine {
  try {
    return { what, ok: true, detail: run(), code: 0 };
  } catch (err) {
    return { what, ok: false, detail: errorMessage(err), code };
  }
}

export async function checkConfig(config: Config, options: { token: boolean }): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  lines.push(attempt('endpoint catalogue', EX_NOINPUT, () => `version ${loadCatalog(config.catalog.file).version}`));
  if (config.tokenId.pepperFile !== undefined) {
    lines.push(attempt('tokenId pepper (PCM_TOKEN_ID_PEPPER_FILE)', EX_NOINPUT, () => `${readTokenIdPepper(config.tokenId.pepperFile)?.length ?? 0} bytes`));
  }
  if (config.forward.url !== undefined) {
    lines.push({ what: 'delivery', ok: true, detail: `forwarding to ${new URL(config.forward.url).origin} (PCM_FORWARD_URL): no PCM credentials needed`, code: 0 });
    return lines;
  }
  const ca = attempt('PCM CA (PCM_CA_FILE)', EX_NOINPUT, () => (config.pcm.caFile === undefined ? "Node's CA bundle only" : `${loadCa(config.pcm.caFile)?.length ?? 0} bytes`));
  lines.push(ca);
  const budget = new RateBudget(rateBudgetOptions(config));
  for (const [index, org] of config.organisations.entries()) {
    let credential: ReturnType<typeof loadClientCredential> | null = null;
    const loaded = attempt(`organisation ${org.orgId}: certificate and key`, EX_NOINPUT, () => {
      credential = loadClientCredential(org, index);
      return 'readable, and the key matches the certificate';
    });
    lines.push(loaded);
    if (!options.token || !loaded.ok || credential === null || !ca.ok || config.pcm.authUrl === undefined) continue;
    const tokens = new TokenProvider(credential, {
      authUrl: config.pcm.authUrl,
      requestFormat: config.token.requestFormat,
      refreshMarginMs: config.token.refreshMarginMs,
      timeoutMs: config.token.timeoutMs,
      connectTimeoutMs: config.sender.connectTimeoutMs,
      ca: loadCa(config.pcm.caFile),
      budget,
    });
    try {
      await tokens.get();
      const left = tokens.expiresAt === null ? null : Math.round((tokens.expiresAt - Date.now()) / 1000);
      lines.push({ what: `organisation ${org.orgId}: token from ${config.pcm.authUrl}`, ok: true, detail: `obtained${left === null ? '' : `, expires in ${left} s`}`, code: 0 });
    } catch (err) {
      lines.push({ what: `organisation ${org.orgId}: token from ${config.pcm.authUrl}`, ok: false, detail: errorMessage(err), code: EX_UNAVAILABLE });
    }
  }
  return lines;
}
