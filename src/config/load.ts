import { readFileSync } from 'node:fs';
import { resolve, dirname, isAbsolute } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, type Config } from './schema.js';

/**
 * Configuration comes from an optional JSON file and PCM_* environment variables; the environment wins.
 * Each variable maps to one path in the schema. Unknown PCM_* variables are refused, so a typo is not a silent default.
 */
export const ENV_SETTINGS: Readonly<Record<string, string>> = {
  PCM_INGEST_HOST: 'ingest.host',
  PCM_INGEST_PORT: 'ingest.port',
  PCM_INGEST_MAX_BODY_BYTES: 'ingest.maxBodyBytes',
  PCM_INGEST_MAX_INFLIGHT_BYTES: 'ingest.maxInflightBytes',
  PCM_INGEST_PARSE_THREADS: 'ingest.parseThreads',
  PCM_INGEST_PARSE_THREAD_MIN_BYTES: 'ingest.parseThreadMinBytes',
  PCM_INGEST_LARGE_BODY_GC_BYTES: 'ingest.largeBodyGcBytes',
  PCM_INGEST_MAX_ITEMS: 'ingest.maxItemsPerRequest',
  PCM_INGEST_PARTIAL_STATUS: 'ingest.partialStatus',
  PCM_INGEST_SKIP_PATHS: 'ingest.skipPaths',
  PCM_INGEST_HEADERS_TIMEOUT_MS: 'ingest.headersTimeoutMs',
  PCM_INGEST_REQUEST_TIMEOUT_MS: 'ingest.requestTimeoutMs',
  PCM_INGEST_KEEP_ALIVE_TIMEOUT_MS: 'ingest.keepAliveTimeoutMs',
  PCM_INGEST_MAX_HEADER_BYTES: 'ingest.maxHeaderBytes',
  PCM_INGEST_MAX_CONNECTIONS: 'ingest.maxConnections',
  PCM_INGEST_TOKEN_FILE: 'ingest.tokenFile',
  PCM_INGEST_TLS_CERT_FILE: 'ingest.tlsCertFile',
  PCM_INGEST_TLS_KEY_FILE: 'ingest.tlsKeyFile',
  PCM_INGEST_CLIENT_CA_FILE: 'ingest.clientCaFile',
  PCM_ADMIN_HOST: 'admin.host',
  PCM_ADMIN_PORT: 'admin.port',
  PCM_ADMIN_TOKEN_FILE: 'admin.tokenFile',
  PCM_FORWARD_URL: 'forward.url',
  PCM_FORWARD_TOKEN_FILE: 'forward.tokenFile',
  PCM_FORWARD_CERT_FILE: 'forward.certFile',
  PCM_FORWARD_KEY_FILE: 'forward.keyFile',
  PCM_FORWARD_CA_FILE: 'forward.caFile',
  PCM_SPOOL_PATH: 'spool.path',
  PCM_SPOOL_SYNC: 'spool.sync',
  PCM_SPOOL_RETAIN_DELIVERED_MS: 'spool.retainDeliveredMs',
  PCM_SPOOL_MAX_BYTES: 'spool.maxBytes',
  PCM_SPOOL_MAX_PENDING_REPORTS: 'spool.maxPendingReports',
  PCM_SPOOL_LATE_ARRIVAL_MS: 'spool.lateArrivalMs',
  PCM_SPOOL_RETAIN_QUARANTINE_MS: 'spool.retainQuarantineMs',
  PCM_SPOOL_QUARANTINE_MAX_ROWS: 'spool.quarantineMaxRows',
  PCM_SPOOL_QUARANTINE_MAX_BYTES: 'spool.quarantineMaxBytes',
  PCM_SPOOL_DEDUP_WINDOW: 'spool.dedupWindow',
  PCM_API_URL: 'pcm.apiUrl',
  PCM_AUTH_URL: 'pcm.authUrl',
  PCM_CA_FILE: 'pcm.caFile',
  PCM_ORG_ID: 'organisations.0.orgId',
  PCM_CLIENT_ID: 'organisations.0.clientId',
  PCM_CERT_FILE: 'organisations.0.certFile',
  PCM_KEY_FILE: 'organisations.0.keyFile',
  PCM_KEY_PASSPHRASE: 'organisations.0.keyPassphrase',
  PCM_CLIENT_SS_ID: 'organisations.0.clientSSId',
  PCM_OPENDATA_ORG_ID: 'opendataOrgId',
  PCM_ENDPOINT_CATALOG: 'catalog.file',
  PCM_RULE_PROCESS_TIMESPAN: 'rules.processTimespan',
  PCM_RULE_ERROR_CODES: 'rules.errorCodesAs',
  PCM_RULE_REQUIRE_TOKEN_ID: 'rules.requireTokenId',
  PCM_RULE_MAX_AGE_MS: 'rules.maxAgeMs',
  PCM_RULE_MAX_FUTURE_MS: 'rules.maxFutureMs',
  PCM_RULE_QUALITY: 'rules.quality',
  PCM_TOKEN_ID_PEPPER_FILE: 'tokenId.pepperFile',
  PCM_MAX_BATCH_SIZE: 'sender.maxBatchSize',
  PCM_MAX_BATCH_BYTES: 'sender.maxBatchBytes',
  PCM_MAX_BATCH_DELAY_MS: 'sender.maxBatchDelayMs',
  PCM_MAX_CONCURRENT_BATCHES: 'sender.maxConcurrentBatches',
  PCM_LANE_STALL_MS: 'sender.laneStallMs',
  PCM_EXPORT_TIMEOUT_MS: 'sender.exportTimeoutMs',
  PCM_CONNECT_TIMEOUT_MS: 'sender.connectTimeoutMs',
  PCM_RETRY_INITIAL_DELAY_MS: 'sender.retryInitialDelayMs',
  PCM_RETRY_MAX_DELAY_MS: 'sender.retryMaxDelayMs',
  PCM_MAX_REFUSALS: 'sender.maxRefusals',
  PCM_RATE_LIMIT: 'rate.limit',
  PCM_RATE_BURST: 'rate.burst',
  PCM_FLEET_SIZE: 'rate.fleetSize',
  PCM_FLEET_RATE_LIMIT: 'rate.fleetLimit',
  PCM_RATE_DECREASE: 'rate.decrease',
  PCM_RATE_DECREASE_HOLD_MS: 'rate.decreaseHoldMs',
  PCM_RATE_INCREASE: 'rate.increase',
  PCM_RATE_MIN: 'rate.min',
  PCM_RECONCILE_SHARE: 'reconcile.share',
  PCM_RECONCILE_DELAY_MS: 'reconcile.delayMs',
  PCM_RECONCILE_RETRY_MS: 'reconcile.retryMs',
  PCM_RECONCILE_ERROR_RETRY_MS: 'reconcile.errorRetryMs',
  PCM_RECONCILE_STOP_AFTER_MS: 'reconcile.stopAfterMs',
  PCM_RECONCILE_RETAIN_MS: 'reconcile.retainMs',
  PCM_RECONCILE_MAX_ENTRIES: 'reconcile.maxEntries',
  PCM_RECONCILE_REASK_RESERVE: 'reconcile.reaskReserve',
  PCM_RECONCILE_SAMPLE_INTERVAL_MS: 'reconcile.sampleIntervalMs',
  PCM_RECONCILE_FLUSH_MS: 'reconcile.flushMs',
  PCM_RECONCILE_TIMEOUT_MS: 'reconcile.timeoutMs',
  PCM_RECONCILE_CONCURRENCY: 'reconcile.concurrency',
  PCM_RECONCILE_PAGE_SIZE: 'reconcile.pageSize',
  PCM_RECONCILE_STATUS_LISTED: 'reconcile.statusListed',
  PCM_RECONCILE_PATH: 'reconcile.path',
  PCM_TOKEN_REQUEST_FORMAT: 'token.requestFormat',
  PCM_TOKEN_REFRESH_MARGIN_MS: 'token.refreshMarginMs',
  PCM_TOKEN_TIMEOUT_MS: 'token.timeoutMs',
  PCM_CREDENTIAL_RETRY_MS: 'token.credentialRetryMs',
  PCM_SHUTDOWN_GRACE_MS: 'shutdown.graceMs',
  PCM_LOG_LEVEL: 'log.level',
  PCM_ALERTS_STORE_PATH: 'alerts.storePath',
  PCM_ALERTS_AGGREGATE_MS: 'alerts.aggregateMs',
  PCM_ALERTS_SAMPLE_SIZE: 'alerts.sampleSize',
  PCM_ALERTS_RETRY_INTERVAL_MS: 'alerts.retryIntervalMs',
  PCM_ALERTS_RETRY_WINDOW_MS: 'alerts.retryWindowMs',
  PCM_ALERTS_TIMEOUT_MS: 'alerts.timeoutMs',
  PCM_ALERTS_BACKLOG_MAX_AGE_MS: 'alerts.backlogMaxAgeMs',
  PCM_ALERTS_BACKLOG_MAX_REPORTS: 'alerts.backlogMaxReports',
  PCM_ALERTS_CHECK_INTERVAL_MS: 'alerts.checkIntervalMs',
  PCM_ALERTS_PAGE_MAX: 'alerts.pageMax',
  PCM_ALERTS_RETAIN_MS: 'alerts.retainMs',
  // One subscription from the environment, as PCM_ORG_ID fills the first organisation; more go in the file.
  PCM_ALERTS_URL: 'alerts.subscriptions.0.url',
  PCM_ALERTS_EVENTS: 'alerts.subscriptions.0.events',
  PCM_ALERTS_ID: 'alerts.subscriptions.0.id',
  PCM_ALERTS_EXPECT_STATUS: 'alerts.subscriptions.0.expectStatus',
  PCM_ALERTS_RATE_LIMIT_PER_MINUTE: 'alerts.subscriptions.0.rateLimitPerMinute',
  PCM_ALERTS_OAUTH_TOKEN_URL: 'alerts.subscriptions.0.oauth2.tokenUrl',
  PCM_ALERTS_OAUTH_CLIENT_ID: 'alerts.subscriptions.0.oauth2.clientId',
  PCM_ALERTS_OAUTH_CLIENT_SECRET_FILE: 'alerts.subscriptions.0.oauth2.clientSecretFile',
  PCM_ALERTS_OAUTH_SCOPE: 'alerts.subscriptions.0.oauth2.scope',
};

/** Variables that select the file rather than a setting. */
const META_ENV = new Set(['PCM_CONFIG']);

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function setPath(target: JsonObject, path: string, value: string): void {
  const parts = path.split('.');
  let node: JsonObject | Json[] = target;
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i] as string;
    const nextIsIndex = /^\d+$/.test(parts[i + 1] as string);
    const container = node as Record<string, Json>;
    let child = container[key];
    if (child === undefined || child === null || typeof child !== 'object') {
      child = nextIsIndex ? [] : {};
      container[key] = child;
    }
    if (Array.isArray(child) && nextIsIndex) {
      const index = Number(parts[i + 1]);
      if (child[index] === undefined) child[index] = {};
    }
    node = child;
  }
  (node as Record<string, Json>)[parts[parts.length - 1] as string] = value;
}

function readConfigFile(file: string): JsonObject {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${file}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('--config', `${file} is not valid JSON`, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('--config', `${file} must hold a JSON object`);
  }
  return parsed as JsonObject;
}

/** File paths inside a config file are relative to that file, so a config folder can move as a whole. */
function resolveFilePaths(config: Config, baseDir: string, fromFile: Set<string>): Config {
  const fix = (path: string, value: string): string =>
    fromFile.has(path) && !isAbsolute(value) ? resolve(baseDir, value) : value;
  const fixAll = <T extends object>(section: string, values: T, keys: readonly (keyof T & string)[]): T => {
    const out = { ...values };
    for (const key of keys) {
      const value = out[key];
      if (typeof value === 'string') out[key] = fix(`${section}.${key}`, value) as T[typeof key];
    }
    return out;
  };
  return {
    ...config,
    admin: fixAll('admin', config.admin, ['tokenFile']),
    ingest: fixAll('ingest', config.ingest, ['tokenFile', 'tlsCertFile', 'tlsKeyFile', 'clientCaFile']),
    forward: fixAll('forward', config.forward, ['tokenFile', 'certFile', 'keyFile', 'caFile']),
    spool: { ...config.spool, path: fix('spool.path', config.spool.path) },
    pcm: { ...config.pcm, ...(config.pcm.caFile ? { caFile: fix('pcm.caFile', config.pcm.caFile) } : {}) },
    catalog: config.catalog.file ? { file: fix('catalog.file', config.catalog.file) } : {},
    tokenId: config.tokenId.pepperFile ? { pepperFile: fix('tokenId.pepperFile', config.tokenId.pepperFile) } : {},
    reconcile: { ...config.reconcile, ...(config.reconcile.path ? { path: fix('reconcile.path', config.reconcile.path) } : {}) },
    organisations: config.organisations.map((org, i) => fixAll(`organisations.${i}`, org, ['certFile', 'keyFile'])),
    alerts: {
      ...config.alerts,
      ...(config.alerts.storePath ? { storePath: fix('alerts.storePath', config.alerts.storePath) } : {}),
      subscriptions: config.alerts.subscriptions.map((sub, i) =>
        sub.oauth2 ? { ...sub, oauth2: { ...sub.oauth2, clientSecretFile: fix(`alerts.subscriptions.${i}.oauth2.clientSecretFile`, sub.oauth2.clientSecretFile) } } : sub,
      ),
    },
  };
}

function collectPaths(value: Json, prefix: string, out: Set<string>): void {
  if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) collectPaths(child, prefix ? `${prefix}.${key}` : key, out);
  } else {
    out.add(prefix);
  }
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  configFile?: string | undefined;
}

/** Builds and validates the configuration; throws ConfigError naming the first bad setting by the name the operator used. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.configFile ?? env.PCM_CONFIG;
  const input: JsonObject = file ? readConfigFile(file) : {};
  const fromFile = new Set<string>();
  collectPaths(input, '', fromFile);

  const sourceOf = new Map<string, string>();
  for (const path of fromFile) sourceOf.set(path, file ? `${file}: ${path}` : path);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('PCM_') || META_ENV.has(name) || value === undefined) continue;
    const path = ENV_SETTINGS[name];
    if (!path) {
      throw new ConfigError(name, `unknown setting; known PCM_* variables: ${Object.keys(ENV_SETTINGS).join(', ')}`);
    }
    if (value === '') continue;
    setPath(input, path, value);
    sourceOf.set(path, name);
    fromFile.delete(path);
  }

  const result = configSchema.safeParse(input);
  if (!result.success) {
    // Every problem at once, each naming the variable (or the file and key) to fix.
    const named = result.error.issues.map((issue: z.core.$ZodIssue) => {
      const path = issue.path.map(String).join('.');
      if (path === 'organisations' && input.organisations === undefined) {
        return { setting: file ? `PCM_ORG_ID (or "organisations" in ${file})` : 'PCM_ORG_ID', message: 'no organisation configured: set PCM_ORG_ID, PCM_CLIENT_ID, PCM_CERT_FILE and PCM_KEY_FILE, or list "organisations" in a --config file' };
      }
      return { setting: sourceOf.get(path) ?? settingNameFor(path, file), message: issue.message };
    });
    const [first, ...rest] = named as [{ setting: string; message: string }, ...{ setting: string; message: string }[]];
    throw new ConfigError(first.setting, first.message + rest.map((r) => `\n  ${r.setting}: ${r.message}`).join(''));
  }
  return file ? resolveFilePaths(result.data, dirname(resolve(file)), fromFile) : result.data;
}

/**
 * The rule settings alone, from PCM_RULE_* variables: for commands that check reports without running a sidecar
 * (`validate`), so a team's CI checks with the same rules its sidecar uses. Errors name the variable.
 */
export function loadRuleSettings(env: NodeJS.ProcessEnv = process.env): Config['rules'] {
  const input: Record<string, string> = {};
  const variableOf = new Map<string, string>();
  for (const [name, path] of Object.entries(ENV_SETTINGS)) {
    const value = env[name];
    if (!path.startsWith('rules.') || value === undefined || value === '') continue;
    input[path.slice('rules.'.length)] = value;
    variableOf.set(path.slice('rules.'.length), name);
  }
  const result = configSchema.shape.rules.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    const key = issue.path.map(String).join('.');
    throw new ConfigError(variableOf.get(key) ?? `rules.${key}`, issue.message);
  }
  return result.data;
}

/** For a missing setting, name the environment variable that would provide it. */
function settingNameFor(path: string, file: string | undefined): string {
  const envName = Object.entries(ENV_SETTINGS).find(([, p]) => p === path)?.[0];
  if (envName) return file ? `${envName} (or "${path}" in ${file})` : envName;
  return file ? `${file}: ${path || '(root)'}` : path || '(configuration)';
}
