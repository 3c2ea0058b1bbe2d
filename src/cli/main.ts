#!/usr/bin/env node
/**
 * The `klagg` entry point. It only turns on Node's compile cache before loading the program (cli.ts): startup is
 * mostly compiling klagg's modules, and a start that fails (a taken port) should say so within a second or two, on a
 * busy machine too.
 */
import { enableCompileCache } from 'node:module';

enableCompileCache();
await import('./cli.ts');
