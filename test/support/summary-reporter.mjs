// tap's closing line is `# { total, pass, fail }`; CI reads a plain `N passed, N failed` line, so this
// reporter passes tap's output through untouched and appends that line. The exit code stays tap's own.
import { Transform } from 'node:stream';

export default class SummaryReporter extends Transform {
  buffered = '';
  counts = null;

  _transform(chunk, _encoding, callback) {
    this.buffered += chunk.toString();
    let newline;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      const summary = /^# \{ total: \d+(.*)\}\s*$/.exec(line);
      if (summary) {
        const field = (name) => Number((new RegExp(`${name}: (\\d+)`).exec(summary[1]) ?? [0, 0])[1]);
        this.counts = { pass: field('pass'), fail: field('fail'), skip: field('skip') + field('todo') };
      }
    }
    callback(null, chunk);
  }

  _flush(callback) {
    // No summary at all means tap never finished: report it as a failure rather than a silent pass.
    const c = this.counts ?? { pass: 0, fail: 1, skip: 0 };
    callback(null, `\n${c.pass} passed, ${c.fail} failed, ${c.skip} skipped\n`);
  }
}
