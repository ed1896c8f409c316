/**
 * The V8 flags `pcm-sidecar` starts with: in the bin's shebang (src/cli.ts) and the image's ENTRYPOINT (Dockerfile),
 * which test/node-flags.test.ts holds to this list; the benchmarks start the sidecar's children with it too.
 *
 * `--max-semi-space-size=8`: a young generation of 2 × 8 MiB rather than V8's 2 × 16 MiB on 64-bit machines. Under
 * full-speed load V8 keeps its young generation at the maximum, so this is 16 MiB of RSS at every peak; with the
 * collections ingest asks for after large bodies (src/large-body-gc.ts) the peak under issue #8's hostile storm went
 * from ~150 to ~134 MiB at the same request rate (bench/RESULTS.md).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];
