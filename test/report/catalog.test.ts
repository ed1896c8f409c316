import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CatalogError, DEFAULT_CATALOG_FILE, loadCatalog, type EndpointEntry } from '../../src/report/catalog.js';
import { EndpointTemplates, concreteExample, hasEmptySegment, isPlaceholder } from '../../src/report/template.js';

/** "Endpoints aceitos pela PCM" v1.03 as shipped in the spec material (pcm-rules.md §12.2, §12.3). */
const V103 = JSON.parse(readFileSync(new URL('../../data/catalog/sources/accepted-endpoints-v1.03.json', import.meta.url), 'utf8')) as {
  private_v103: [string, string[]][];
  opendata_v103: [string, string[]][];
};
const V103_PRIVATE = V103.private_v103.flatMap(([, templates]) => templates);
const V103_OPENDATA = V103.opendata_v103.flatMap(([, templates]) => templates);

/** Amendments after v1.03 (§12.2): 2026B adds payments v5; 2026A (portability) goes to its own API; 2025D is already in v1.03. */
const PAYMENTS_V5 = [
  '/open-banking/payments/v5/consents',
  '/open-banking/payments/v5/consents/{consentId}',
  '/open-banking/payments/v5/consents/{consentId}/pix/payments',
  '/open-banking/payments/v5/pix/payments',
  '/open-banking/payments/v5/pix/payments/{paymentId}',
];
const V4_TYPO = '/open-banking/payments/v4//consents/{consentId}/pix/payments';
const SECURITY = ['/token', '/register', '/register/{clientId}', '/revocation', '/introspection', '/pushed-authorization-request'];

const catalog = loadCatalog();
const privateTemplates = new EndpointTemplates(catalog.private);
const opendataTemplates = new EndpointTemplates(catalog.opendata);

/** Ways a gateway reports the same call: bare, behind a prefix, with a query, a trailing slash, a full URL, doubled slashes. */
function variants(concrete: string): string[] {
  return [
    concrete,
    `/opbk${concrete}`,
    `/gw/v1/api${concrete}`,
    `${concrete}?page=1&page-size=25`,
    `${concrete}/`,
    `${concrete}#fragment`,
    `https://openbanking.instituicao-1.com.br${concrete}`,
    `https://openbanking.instituicao-1.com.br:8443/opbk${concrete}/?x=1`,
    concrete.replace(/\//g, '//'),
  ];
}

describe('endpoint catalogue data', () => {
  it('loads the shipped file from the default location', () => {
    expect(DEFAULT_CATALOG_FILE.replace(/\\/g, '/')).toMatch(/\/data\/catalog\/endpoints\.json$/);
    expect(catalog.version).toBe('v1.03+2026A+2026B');
  });

  it('is v1.03 (101 private / 30 opendata) plus the 5 payments v5 entries of 2026B', () => {
    expect(V103_PRIVATE).toHaveLength(101);
    expect(V103_OPENDATA).toHaveLength(30);
    expect(catalog.private).toHaveLength(101 + PAYMENTS_V5.length);
    expect(catalog.opendata).toHaveLength(30);

    const privateList = catalog.private.map((entry) => entry.template);
    expect(new Set(privateList)).toEqual(new Set([...V103_PRIVATE, ...PAYMENTS_V5]));
    expect(catalog.opendata.map((entry) => entry.template)).toEqual(V103_OPENDATA);
    for (const entry of catalog.private) expect(entry.since).toBe(PAYMENTS_V5.includes(entry.template) ? '2026B' : 'v1.03');
  });

  it('keeps the v1.03 typo verbatim, with a note, and lists 2025D recurring-consents authorise once', () => {
    const typo = catalog.private.find((entry) => entry.template === V4_TYPO);
    expect(typo?.note).toMatch(/typo/i);
    expect(catalog.private.filter((entry) => entry.template === '/open-banking/enrollments/v2/recurring-consents/{recurringConsentId}/authorise')).toHaveLength(1);
  });

  it('leaves credit portability out of the private list (separate PCM API, §1.2, §12.4)', () => {
    expect(catalog.private.filter((entry) => entry.template.includes('credit-portability'))).toEqual([]);
    expect(privateTemplates.match('/open-banking/credit-portability/v1/credit-operations/123/portability-eligibility')).toBeNull();
    expect(privateTemplates.match('/open-banking/credit-portability/v1/portabilities')).toBeNull();
  });
});

describe('EndpointTemplates.match', () => {
  const cases: [string, EndpointTemplates, EndpointEntry[]][] = [
    ['private', privateTemplates, catalog.private],
    ['opendata', opendataTemplates, catalog.opendata],
  ];

  for (const [name, templates, entries] of cases) {
    it(`maps generated concrete paths of every ${name} template back to it`, () => {
      let checked = 0;
      for (const { template } of entries) {
        if (hasEmptySegment(template)) continue;
        for (let seed = 1; seed <= 6; seed++) {
          const concrete = concreteExample(template, seed);
          expect(concrete).not.toMatch(/[{}]/);
          // Security paths carry no /open-banking, so a prefix is just more of the participant's own URL.
          for (const path of variants(concrete)) {
            expect(templates.match(path), `${path} (template ${template})`).toBe(template);
            checked++;
          }
        }
      }
      expect(checked).toBeGreaterThan(entries.length * 6 * 8);
    });

    it(`returns every ${name} template for itself`, () => {
      for (const { template } of entries) {
        expect(templates.has(template)).toBe(true);
        expect(templates.match(template)).toBe(template);
      }
    });
  }

  it('templates the rules example (§3.1)', () => {
    expect(privateTemplates.match('/open-banking/accounts/v2/accounts/123/balances')).toBe('/open-banking/accounts/v2/accounts/{accountId}/balances');
    expect(privateTemplates.match('/open-banking/credit-cards-accounts/v2/accounts/123456789/transactions')).toBe(
      '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/transactions',
    );
    // The rules' own example is v1, which v1.03 no longer accepts (§12.2 "Not in the list").
    expect(privateTemplates.match('/open-banking/credit-cards-accounts/v1/accounts/123456789/transactions')).toBeNull();
  });

  it('returns null for unlisted versions and unknown paths', () => {
    for (const path of [
      '/open-banking/accounts/v1/accounts',
      '/open-banking/accounts/v1/accounts/123/balances',
      '/open-banking/consents/v2/consents',
      '/open-banking/consents/v1/consents/urn:x:1',
      '/open-banking/resources/v2/resources',
      '/open-banking/payments/v3/pix/payments',
      '/open-banking/enrollments/v1/enrollments',
      '/open-banking/automatic-payments/v1/recurring-consents',
      '/open-banking/accounts/v2/accounts/123/unknown',
      '/open-banking/accounts/v2/accounts/123/balances/extra',
      '/open-banking/Accounts/v2/accounts',
      '/open-banking/products-services/v1/business-accounts',
      '/open-banking',
      '/',
      '',
      'https://bank.com.br/',
      '/health',
    ]) {
      expect(privateTemplates.match(path), path).toBeNull();
    }
    // Private and opendata lists are separate (§3.1).
    expect(opendataTemplates.match('/open-banking/accounts/v2/accounts/123')).toBeNull();
    expect(privateTemplates.match('/open-banking/opendata-loans/v1/personal-loans')).toBeNull();
  });

  it('never maps a concrete path to the v1.03 double-slash typo (§13 item 15)', () => {
    expect(privateTemplates.has(V4_TYPO)).toBe(true);
    expect(privateTemplates.match('/open-banking/payments/v4/consents/urn:bancoex:C1DD33123/pix/payments')).toBeNull();
    expect(privateTemplates.match('/open-banking/payments/v4//consents/urn:bancoex:C1DD33123/pix/payments')).toBeNull();
    // v5 has the real path of that shape.
    expect(privateTemplates.match('/open-banking/payments/v5/consents/urn:bancoex:C1DD33123/pix/payments')).toBe(
      '/open-banking/payments/v5/consents/{consentId}/pix/payments',
    );
  });

  it('maps security endpoints by their last path segments', () => {
    const expected: [string, string][] = [
      ['https://auth.bank.com.br/as/token', '/token'],
      ['https://auth.bank.com.br/as/token/', '/token'],
      ['https://auth.bank.com.br/as/token?grant_type=client_credentials', '/token'],
      ['https://oauth2.cartaodummy.opf.instituicao/as/token.oauth2', '/token'],
      ['/token', '/token'],
      ['https://bank.com.br/orgs/x/register', '/register'],
      ['https://bank.com.br/orgs/x/register/abc-123', '/register/{clientId}'],
      ['https://bank.com.br/register/4f5e6d7c-1a2b-4c3d-8e9f-001122334455', '/register/{clientId}'],
      ['https://auth.bank.com.br/oauth/revocation', '/revocation'],
      ['https://auth.bank.com.br/oauth/introspection', '/introspection'],
      ['https://auth.bank.com.br/auth/pushed-authorization-request', '/pushed-authorization-request'],
    ];
    for (const [url, template] of expected) expect(privateTemplates.match(url), url).toBe(template);
    for (const url of ['https://auth.bank.com.br/as/tokens', 'https://auth.bank.com.br/as/Token', 'https://auth.bank.com.br/token/x/y', '/open-banking/x/v1/token']) {
      expect(privateTemplates.match(url), url).toBeNull();
    }
    // The opendata list has no security endpoints.
    expect(opendataTemplates.match('https://auth.bank.com.br/as/token')).toBeNull();
  });
});

/** Segment lists of two templates that can match one concrete path: same length, literals equal where both have one. */
function overlap(a: string, b: string): boolean {
  const sa = a.split('/');
  const sb = b.split('/');
  return sa.length === sb.length && sa.every((segment, i) => isPlaceholder(segment) || isPlaceholder(sb[i] as string) || segment === sb[i]);
}

/** The documented rule: at the first position where they differ, the template with the literal wins. */
function expectedWinner(a: string, b: string): string {
  const sa = a.split('/');
  const sb = b.split('/');
  for (let i = 0; i < sa.length; i++) {
    const pa = isPlaceholder(sa[i] as string);
    const pb = isPlaceholder(sb[i] as string);
    if (pa !== pb) return pa ? b : a;
  }
  throw new Error(`${a} and ${b} have the same shape`);
}

/** A concrete path both templates match: the literal where either has one, a generated value elsewhere. */
function witness(a: string, b: string): string {
  const sb = b.split('/');
  const concreteA = concreteExample(a, 7).split('/');
  return a
    .split('/')
    .map((segment, i) => (!isPlaceholder(segment) ? segment : !isPlaceholder(sb[i] as string) ? (sb[i] as string) : concreteA[i]))
    .join('/');
}

function overlappingPairs(entries: readonly EndpointEntry[]): [string, string][] {
  const list = entries.map((entry) => entry.template).filter((template) => !hasEmptySegment(template) && !SECURITY.includes(template));
  const pairs: [string, string][] = [];
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      if (overlap(list[i] as string, list[j] as string)) pairs.push([list[i] as string, list[j] as string]);
    }
  }
  return pairs;
}

describe('ambiguity: a literal beats a placeholder at the first differing position', () => {
  it('resolves every overlapping pair of the catalogue to the documented winner', () => {
    for (const [name, templates, entries] of [
      ['private', privateTemplates, catalog.private],
      ['opendata', opendataTemplates, catalog.opendata],
    ] as const) {
      const pairs = overlappingPairs(entries);
      // No two catalogue templates of equal length overlap today; a new list that adds one is still resolved below.
      expect(pairs, name).toEqual([]);
      for (const [a, b] of pairs) expect(templates.match(witness(a, b))).toBe(expectedWinner(a, b));
    }
  });

  it('resolves overlapping pairs of a synthetic list the same way', () => {
    const synthetic = [
      '/open-banking/x/v1/a/{id}',
      '/open-banking/x/v1/{kind}/b',
      '/open-banking/x/v1/items/{itemId}/c',
      '/open-banking/x/v1/{group}/{member}/c',
      '/open-banking/x/v1/{group}/fixed/c',
    ];
    const templates = new EndpointTemplates(synthetic.map((template) => ({ template, api: 'x', since: 'v1.03' })));
    const pairs = overlappingPairs(synthetic.map((template) => ({ template, api: 'x', since: 'v1.03' })));
    expect(pairs.length).toBe(4);
    for (const [a, b] of pairs) expect(templates.match(witness(a, b)), `${a} vs ${b}`).toBe(expectedWinner(a, b));

    expect(templates.match('/open-banking/x/v1/a/b')).toBe('/open-banking/x/v1/a/{id}');
    expect(templates.match('/open-banking/x/v1/z/b')).toBe('/open-banking/x/v1/{kind}/b');
    expect(templates.match('/open-banking/x/v1/items/fixed/c')).toBe('/open-banking/x/v1/items/{itemId}/c');
    expect(templates.match('/open-banking/x/v1/other/fixed/c')).toBe('/open-banking/x/v1/{group}/fixed/c');
    expect(templates.match('/open-banking/x/v1/other/any/c')).toBe('/open-banking/x/v1/{group}/{member}/c');
  });

  it('falls back to the placeholder branch when the literal branch dead-ends', () => {
    const templates = new EndpointTemplates(
      ['/open-banking/x/v1/a/b/c', '/open-banking/x/v1/{p}/b/d'].map((template) => ({ template, api: 'x', since: 'v1.03' })),
    );
    expect(templates.match('/open-banking/x/v1/a/b/c')).toBe('/open-banking/x/v1/a/b/c');
    expect(templates.match('/open-banking/x/v1/a/b/d')).toBe('/open-banking/x/v1/{p}/b/d');
  });

  it('payments v4: /pix/payments/consents/{consentId} vs /pix/payments/{paymentId}', () => {
    const consents = '/open-banking/payments/v4/pix/payments/consents/{consentId}';
    const payment = '/open-banking/payments/v4/pix/payments/{paymentId}';
    expect(privateTemplates.match('/open-banking/payments/v4/pix/payments/consents/urn:bancoex:C1DD33123')).toBe(consents);
    expect(privateTemplates.match('/open-banking/payments/v4/pix/payments/7e1a3b2c-0000-4000-8000-000000000001')).toBe(payment);
    // Only {paymentId} matches a path that stops after "consents", so it wins by being the only match.
    expect(privateTemplates.match('/open-banking/payments/v4/pix/payments/consents')).toBe(payment);
    expect(privateTemplates.match('/open-banking/payments/v4/pix/payments')).toBe('/open-banking/payments/v4/pix/payments');
  });

  it('automatic payments: /{recurringPaymentId} vs /{originalRecurringPaymentId}/retry', () => {
    expect(privateTemplates.match('/open-banking/automatic-payments/v2/pix/recurring-payments/abc-1')).toBe(
      '/open-banking/automatic-payments/v2/pix/recurring-payments/{recurringPaymentId}',
    );
    expect(privateTemplates.match('/open-banking/automatic-payments/v2/pix/recurring-payments/abc-1/retry')).toBe(
      '/open-banking/automatic-payments/v2/pix/recurring-payments/{originalRecurringPaymentId}/retry',
    );
  });

  it('refuses two templates of the same shape', () => {
    expect(
      () => new EndpointTemplates(['/open-banking/a/v1/x/{id}', '/open-banking/a/v1/x/{otherId}'].map((template) => ({ template, api: 'a', since: 'v1.03' }))),
    ).toThrow(/same shape/);
  });
});

describe('concreteExample', () => {
  it('is reproducible per seed and varies across seeds', () => {
    const template = '/open-banking/accounts/v2/accounts/{accountId}/transactions';
    expect(concreteExample(template, 3)).toBe(concreteExample(template, 3));
    const values = new Set([1, 2, 3, 4, 5, 6].map((seed) => concreteExample(template, seed)));
    expect(values.size).toBe(6);
    expect(concreteExample('/open-banking/consents/v3/consents/{consentId}', 2)).toMatch(/^\/open-banking\/consents\/v3\/consents\/urn:bancoex:[0-9a-f-]{36}$/);
    expect(concreteExample('/token')).toBe('/token');
  });
});

describe('loadCatalog errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcm-catalog-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const valid = {
    version: 'test',
    sources: ['unit test'],
    private: [{ template: '/open-banking/accounts/v2/accounts/{accountId}', api: 'accounts', since: 'v1.03' }],
    opendata: [{ template: '/open-banking/opendata-loans/v1/personal-loans', api: 'loans', since: 'v1.03' }],
  };

  function errorFor(name: string, content: string | null): CatalogError {
    const file = join(dir, name);
    if (content !== null) writeFileSync(file, content);
    try {
      loadCatalog(file);
    } catch (err) {
      if (!(err instanceof CatalogError)) throw err;
      expect(err.code).toBe('PCM_CATALOG_INVALID');
      expect(err.file).toBe(file);
      expect(err.message).toContain(file);
      return err;
    }
    throw new Error(`expected a CatalogError for ${name}`);
  }

  function withPrivate(...templates: (string | Record<string, unknown>)[]): string {
    const entries = templates.map((t) => (typeof t === 'string' ? { template: t, api: 'x', since: 'v1.03' } : t));
    return JSON.stringify({ ...valid, private: entries });
  }

  it('accepts a minimal valid file', () => {
    const file = join(dir, 'valid.json');
    writeFileSync(file, JSON.stringify(valid));
    expect(loadCatalog(file)).toEqual({ version: 'test', private: valid.private, opendata: valid.opendata });
  });

  it('names an unreadable file', () => {
    expect(errorFor('missing.json', null).message).toMatch(/cannot read the file.*ENOENT/);
  });

  it('names bad JSON', () => {
    expect(errorFor('bad.json', '{"version": ').message).toMatch(/not valid JSON/);
  });

  it('names a schema issue with its path', () => {
    const noApi = JSON.stringify({ ...valid, private: [{ template: '/token', since: 'v1.03' }] });
    expect(errorFor('no-api.json', noApi).message).toMatch(/private\[0\]\.api/);
    expect(errorFor('bad-since.json', withPrivate({ template: '/token', api: 'security', since: 'soon' })).message).toMatch(/private\[0\]\.since/);
    expect(errorFor('unknown-key.json', withPrivate({ template: '/token', api: 'security', since: 'v1.03', notes: 'x' })).message).toMatch(/private\[0\].*notes/);
    expect(errorFor('no-version.json', JSON.stringify({ ...valid, version: undefined })).message).toMatch(/version/);
    expect(errorFor('array.json', '[]').message).toMatch(/schema/);
  });

  it('names a duplicate template', () => {
    expect(errorFor('dup.json', withPrivate('/token', '/register', '/token')).message).toMatch(/private\[2\]\.template "\/token": duplicate template \(also private\[0\]\)/);
  });

  it('names a template not starting with /', () => {
    expect(errorFor('slash.json', withPrivate('open-banking/accounts/v2/accounts')).message).toMatch(/private\[0\].*does not start with '\/'/);
  });

  it('names a malformed placeholder', () => {
    for (const template of ['/open-banking/accounts/v2/accounts/{accountId', '/open-banking/accounts/v2/accounts/id{accountId}', '/open-banking/a/v1/{}']) {
      expect(errorFor('placeholder.json', withPrivate(template)).message).toMatch(/malformed placeholder/);
    }
    expect(errorFor('twice.json', withPrivate('/open-banking/a/v1/{id}/b/{id}')).message).toMatch(/\{id\} appears twice/);
  });

  it('names an empty segment without a note, and two templates of the same shape', () => {
    expect(errorFor('empty.json', withPrivate('/open-banking/a/v1//b')).message).toMatch(/empty segment/);
    expect(errorFor('trailing.json', withPrivate('/open-banking/a/v1/b/')).message).toMatch(/empty segment/);
    const noted = join(dir, 'noted.json');
    writeFileSync(noted, withPrivate({ template: '/open-banking/a/v1//b', api: 'x', since: 'v1.03', note: 'typo kept on purpose' }));
    expect(loadCatalog(noted).private).toHaveLength(1);
    expect(errorFor('shape.json', withPrivate('/open-banking/a/v1/x/{id}', '/open-banking/a/v1/x/{otherId}')).message).toMatch(/same path shape as private\[0\]/);
  });
});
