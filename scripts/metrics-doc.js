// Writes docs/metrics.md from the metrics registry of the build (npm run docs:metrics builds first).
import { writeFileSync } from 'node:fs';
import { metricsReference } from '../dist/metrics-doc.js';

writeFileSync(new URL('../docs/metrics.md', import.meta.url), metricsReference());
