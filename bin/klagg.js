#!/usr/bin/env node
// Runs the TypeScript entry point directly: Node ≥ 24 strips the types, so there is no build step.
await import('../src/cli/main.ts');
