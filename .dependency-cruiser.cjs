/**
 * klagg's layers, checked inside `npm test` (`npm run lint:deps`). Arrows point the only way imports may go:
 *
 *   cli ──▶ app ──▶ actors ──▶ machines ──▶ domain
 *              └──▶ infra ─────────────────▶ domain
 *
 * - domain: pure kline logic and the contracts shared across layers; imports nothing of klagg's but domain.
 * - machines: every XState machine, pure; imports domain only.
 * - actors: run the machines; import infra only as types (the ports they are given), never its code.
 * - infra: exchange, fake exchange, database, HTTP/WS, config, logging; never actors, machines, app or cli.
 * - app: the composition root, wiring infra into actors for each command; cli is the only thing above it.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'src/domain imports only src/domain (and npm packages).',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: '^src/(?!domain/)' },
    },
    {
      name: 'machines-import-domain-only',
      comment: 'Machines are pure: they may import other machines and domain contracts, nothing that does I/O.',
      severity: 'error',
      from: { path: '^src/machines/' },
      to: { path: '^src/(?!machines/|domain/)' },
    },
    {
      name: 'infra-never-imports-upward',
      comment: 'infra depends on narrow interfaces it defines itself or on domain, never on actors, machines, app or cli.',
      severity: 'error',
      from: { path: '^src/infra/' },
      to: { path: '^src/(actors|machines|app|cli)/' },
    },
    {
      name: 'actors-use-infra-through-types-only',
      comment: 'Actors get infra as ports (types); the composition root (src/app) builds the real clients.',
      severity: 'error',
      from: { path: '^src/actors/' },
      to: { path: '^src/infra/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'actors-never-import-app-or-cli',
      severity: 'error',
      from: { path: '^src/actors/' },
      to: { path: '^src/(app|cli)/' },
    },
    {
      name: 'app-never-imports-cli',
      severity: 'error',
      from: { path: '^src/app/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'no-circular',
      comment: 'Import cycles of code make start-up order and layering unreadable (a cycle through types only is harmless).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'src-never-imports-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // TypeScript 7.0's package has no compiler API for dependency-cruiser to parse with; swc parses the same syntax.
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
  },
};
