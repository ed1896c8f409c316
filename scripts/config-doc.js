// Writes docs/configuration.md from the configuration schema of the build (npm run docs:config builds first).
import { writeFileSync } from 'node:fs';
import { configurationReference } from '../dist/config/reference.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), configurationReference());
