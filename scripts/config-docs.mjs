// Writes docs/configuration.md from the configuration schema (src/config/reference.ts, built into dist/ first).
import { writeFileSync } from 'node:fs';
import { configurationReference } from '../dist/config/reference.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), configurationReference());
