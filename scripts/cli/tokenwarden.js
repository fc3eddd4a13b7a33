#!/usr/bin/env node
// The `tokenwarden` command (package.json "bin"). In a checkout it runs the CLI's TypeScript source, so it is never
// out of date: natively where Node strips types (22.18+, 24), else through tsx (a dev dependency). An installed
// package ships the build and not the source, so there it runs dist/. Plain JavaScript: it runs before anything
// is compiled. (The CLI's source therefore uses only erasable TypeScript: no enums, no parameter properties.)
import { existsSync } from 'node:fs';

const source = new URL('./main.ts', import.meta.url);
const build = new URL('../../dist/scripts/cli/main.js', import.meta.url);

function resolves(specifier) {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

let cli;
if (existsSync(source) && process.features.typescript) {
  cli = await import(source.href);
} else if (existsSync(source) && resolves('tsx/esm/api')) {
  const { tsImport } = await import('tsx/esm/api');
  cli = await tsImport(source.href, import.meta.url);
} else if (existsSync(build)) {
  cli = await import(build.href);
} else {
  process.stderr.write('tokenwarden: the CLI is not built: run npm run build, or npm ci for tsx\n');
  process.exit(1);
}
process.exitCode = await cli.main(process.argv);
