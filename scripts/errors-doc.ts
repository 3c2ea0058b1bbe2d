/** Regenerates docs/errors.md from the error registry (src/domain/errors.ts). */
import { writeFileSync } from 'node:fs';
import { errorsMarkdown } from '../src/domain/errors.ts';

writeFileSync(new URL('../docs/errors.md', import.meta.url), errorsMarkdown());
