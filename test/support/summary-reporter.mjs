// tap's own output lists every assertion (thousands of lines for a passing run). This reporter reads that TAP and
// prints only what someone has to act on: each failing assertion in full (its file > subtest > name, then its diff,
// stack and source as tap reported them), the output of a failing file, and counts. CI reads the last line, exactly
// `N passed, N failed, N skipped`, taken from tap's closing `# { total, pass, fail }` (assertions, all files).
// The exit code stays tap's own. `TAP=1 npx tap ...` still shows the raw TAP when every line is wanted.
import { Transform } from 'node:stream';
import { Parser } from 'tap-parser';
import { stringify } from 'tap-yaml';

// How tap describes the child process of a failing file: the same for every file, no help in finding the fault.
const SPAWN_NOISE = new Set(['stdio', 'cwd', 'externalID', 'command', 'args', 'jobId', 'env']);
const PROCEDURAL = /^#\s*(Subtest(:|$)|time=|\{ total)/;

const indent = (text, by) => text.replace(/\n$/, '').split('\n').map((line) => by + line).join('\n') + '\n';
/** Lines of a subtest come indented by its depth: shown flush left, their own indentation kept. */
const dedent = (lines) => {
  const depth = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)[0].length));
  return lines.map((l) => l.slice(Math.min(depth, /^ */.exec(l)[0].length))).join('');
};
const seconds = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

export default class SummaryReporter extends Transform {
  parser = new Parser();
  counts = null;
  files = [];
  /** Comments per test file (with its console output, shown only when that file fails). */
  output = new Map();
  failedFiles = new Set();
  /** Non-TAP lines not yet given to a file. */
  pending = [];
  started = Date.now();

  constructor() {
    super();
    const root = this.parser;
    root.on('comment', (line) => {
      const summary = /^# \{ total: \d+(.*)\}\s*$/.exec(line);
      if (!summary) return;
      const field = (name) => Number((new RegExp(`${name}: (\\d+)`).exec(summary[1]) ?? [0, 0])[1]);
      this.counts = { pass: field('pass'), fail: field('fail'), skip: field('skip') + field('todo') };
    });
    // A test file's console output reaches the root parser inside that file's block, before the file's own result.
    root.on('extra', (line) => this.pending.push(line));
    root.on('bailout', (reason) => this.push(`Bail out! ${reason}\n`));
    root.on('child', (file) => this.#watchFile(file));
    // Every failing assertion at any depth; tap-parser leaves out a subtest's closing `not ok` that only repeats them.
    root.on('fail', (result) => this.#printFailure(result));
    // One result per test file at the top level.
    root.on('assert', (result) => {
      // A file killed at the timeout closes as `not ok - timeout!`, its name under `expired`.
      const name = result.name === 'timeout!' && typeof result.diag?.expired === 'string' ? result.diag.expired : result.name;
      this.files.push({ name, time: result.time ?? 0 });
      const lines = [...(this.output.get(name) ?? []).map((l) => l.trimStart()), ...(this.pending.length > 0 ? [dedent(this.pending)] : [])];
      this.pending = [];
      this.output.delete(name);
      if (result.ok || result.skip || result.todo) return;
      this.failedFiles.add(name);
      if (lines.length > 0) this.push(`--- output of ${name} ---\n${lines.join('')}--- end of output ---\n\n`);
    });
  }

  #watchFile(file) {
    const lines = [];
    this.output.set(file.name, lines);
    const watch = (parser) => {
      parser.on('comment', (line) => PROCEDURAL.test(line.trim()) || lines.push(line));
      parser.on('child', watch);
    };
    watch(file);
  }

  #printFailure(result) {
    const diag = result.diag && typeof result.diag === 'object' ? Object.fromEntries(Object.entries(result.diag).filter(([key]) => !SPAWN_NOISE.has(key))) : result.diag;
    const where = result.fullname || result.name;
    const reason = result.tapError ? ` (${result.tapError})` : '';
    let text = `✖ ${where}${reason}\n`;
    if (diag && typeof diag === 'object') {
      for (const [key, value] of Object.entries(diag)) {
        // Diffs, stacks and source excerpts verbatim: YAML would fold their long lines.
        if (typeof value === 'string' && value.includes('\n')) text += `    ${key}:\n${indent(value, '      ')}`;
        else text += indent(stringify({ [key]: value }), '    ');
      }
    } else if (diag) text += indent(String(diag), '    ');
    this.push(`${text}\n`);
  }

  _transform(chunk, _encoding, callback) {
    this.parser.write(chunk);
    callback();
  }

  _flush(callback) {
    this.parser.end();
    // The slowest files, to see one creeping towards the per-file timeout.
    const slowest = [...this.files].sort((x, y) => y.time - x.time).slice(0, 3);
    this.push(`${this.files.length} test files in ${seconds(Date.now() - this.started)}; slowest: ${slowest.map((f) => `${f.name} ${seconds(f.time)}`).join(', ')}\n`);
    if (this.failedFiles.size > 0) this.push(`failed: ${[...this.failedFiles].join(', ')}\n`);
    // No summary at all means tap never finished: report it as a failure rather than a silent pass.
    const c = this.counts ?? { pass: 0, fail: 1, skip: 0 };
    if (c.fail > 0 && this.pending.length > 0) this.push(`--- output outside any test file ---\n${dedent(this.pending)}--- end of output ---\n`);
    callback(null, `${c.pass} passed, ${c.fail} failed, ${c.skip} skipped\n`);
  }
}
