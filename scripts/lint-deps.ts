/**
 * `npm run lint:deps`: klagg's layer rules (`.dependency-cruiser.cjs`) over src. Prints each violation and exits 1 when
 * there is one; quiet when there is none. (Through dependency-cruiser's API rather than its command line, whose
 * default reporter warns on every run that TypeScript 7.0 has no compiler API — swc parses the sources instead.)
 */
import { cruise, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';

const options = await extractDepcruiseOptions(new URL('../.dependency-cruiser.cjs', import.meta.url).pathname);
const result = await cruise(['src'], options);
const output = result.output;
if (typeof output === 'string') throw new Error('dependency-cruiser gave text, expected a cruise result');
const violations: readonly IViolation[] = output.summary.violations;
for (const v of violations) {
  const path = v.cycle !== undefined ? [v.from, ...v.cycle.map((step) => step.name)].join(' → ') : `${v.from} → ${v.to}`;
  process.stderr.write(`layer rule ${v.rule.name} (${v.rule.severity}): ${path}\n`);
}
const { totalCruised, totalDependenciesCruised } = output.summary;
if (violations.length > 0) {
  process.stderr.write(`${violations.length} layer rule violation(s) in ${totalCruised} modules\n`);
  process.exitCode = 1;
} else if (process.env['KLAGG_LINT_VERBOSE'] === '1') {
  process.stdout.write(`layers ok: ${totalCruised} modules, ${totalDependenciesCruised} dependencies\n`);
}
