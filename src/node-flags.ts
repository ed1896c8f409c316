/**
 * The V8 flags the image starts `pcm-sidecar` with (its ENTRYPOINT, held to this list by test/node-flags.test.ts);
 * the benchmarks and the tests that run the CLI start it with them too. The npm bin keeps a plain `#!/usr/bin/env
 * node` (BusyBox's env has no `-S`): an install from npm gets them from NODE_OPTIONS (README, "Memory").
 *
 * `--max-semi-space-size=8`: a young generation of 2 × 8 MiB rather than V8's 2 × 16 MiB on 64-bit machines. Under
 * full-speed load V8 keeps its young generation at the maximum, so this is ~16 MiB of RSS at every peak; with the
 * collections ingest asks for after large bodies (src/large-body-gc.ts) the peak under issue #8's hostile storm went
 * from 152 to 140 MiB, at the same request rate and the same ingest rate for 100-report bodies (bench/RESULTS.md).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];
