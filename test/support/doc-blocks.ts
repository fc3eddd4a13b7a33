/**
 * The fenced code blocks of README.md and docs/**\/*.md, and how each declares that it is checked: the info string
 * is `<language> <mode> [options]` (GitHub highlights by the first word alone, so the rest stays invisible):
 *
 * - `run`: executed by `test/docs-examples.test.ts` against a Tokenwarden started with the development seed, in the
 *   order of the document, in one bash session per document (`sh`/`bash`: `set -euo pipefail`; `js`/`mjs`/`ts`: run
 *   with node, reading `process.env`). Option `http-errors`: curl may get an HTTP error without failing the block.
 * - `output`: the block before it (a `run`) printed this JSON: the same member names, recursively (values are not
 *   compared: ids and times change).
 * - `config`: environment variables; bash evaluates them, every one must be a variable of `config/variables.ts`, and
 *   the configuration must load with them.
 * - `same-as=<path>`: the block is that repository file verbatim, which another suite runs (`npm run test:interop`
 *   runs the Apache, Go and Node resource servers).
 * - `tested-by=<path>`: a test file (under `test/`, naming this document) extracts the block and runs it in a way the
 *   bash session cannot, e.g. the Node SDK's examples, run by plain Node against the built package.
 * - `illustrative <why>` (or `illustrative: <why>`): not checked; the reason is required, and such blocks are few
 *   (see the test).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import MarkdownIt from 'markdown-it';

/** The repository's root. */
export const ROOT = join(import.meta.dirname, '..', '..');

export type Mode =
  | { readonly kind: 'run'; readonly httpErrors: boolean }
  | { readonly kind: 'output' }
  | { readonly kind: 'config' }
  | { readonly kind: 'same-as'; readonly path: string }
  | { readonly kind: 'tested-by'; readonly path: string }
  | { readonly kind: 'illustrative'; readonly reason: string }
  | { readonly kind: 'undeclared'; readonly problem: string };

export interface DocBlock {
  /** The document, relative to the repository (`docs/operate.md`). */
  readonly file: string;
  /** The line of the opening fence (1-based). */
  readonly line: number;
  readonly language: string;
  readonly mode: Mode;
  readonly code: string;
}

/** `file:line`, for messages. */
export const where = (block: DocBlock): string => `${block.file}:${block.line}`;

const RUNNABLE = new Set(['sh', 'bash', 'js', 'mjs', 'ts']);

function parseMode(language: string, words: readonly string[]): Mode {
  const [first = '', ...rest] = words;
  const mode = first.replace(/:$/, '');
  if (mode === 'run') {
    if (!RUNNABLE.has(language)) return { kind: 'undeclared', problem: `"run" is for ${[...RUNNABLE].join(', ')}` };
    const unknown = rest.filter((w) => w !== 'http-errors');
    if (unknown.length) return { kind: 'undeclared', problem: `unknown option ${unknown.join(' ')}` };
    return { kind: 'run', httpErrors: rest.includes('http-errors') };
  }
  if (mode === 'output' && language === 'json' && rest.length === 0) return { kind: 'output' };
  if (mode === 'config' && ['sh', 'bash'].includes(language) && rest.length === 0) return { kind: 'config' };
  if (mode.startsWith('same-as=') && rest.length === 0) return { kind: 'same-as', path: mode.slice('same-as='.length) };
  if (mode.startsWith('tested-by=') && rest.length === 0) {
    return { kind: 'tested-by', path: mode.slice('tested-by='.length) };
  }
  if (mode === 'illustrative') {
    if (rest.length < 3) return { kind: 'undeclared', problem: 'an illustrative block must say why, in 3+ words' };
    return { kind: 'illustrative', reason: rest.join(' ') };
  }
  return {
    kind: 'undeclared',
    problem: `no mode: write \`\`\`${language || 'text'} run|output|config|same-as=<path>|tested-by=<path>|illustrative <why>`,
  };
}

/** The documents: README.md and every Markdown file under docs/. */
export function documents(): string[] {
  const found = ['README.md'];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(ROOT, dir)).sort()) {
      const path = join(dir, name);
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (name.endsWith('.md')) found.push(path);
    }
  };
  walk('docs');
  return found;
}

/** The fenced code blocks of one document, in order. */
export function blocksOf(file: string): DocBlock[] {
  const source = readFileSync(join(ROOT, file), 'utf8');
  return new MarkdownIt()
    .parse(source, {})
    .filter((token) => token.type === 'fence')
    .map((token) => {
      const [language = '', ...words] = token.info.trim().split(/\s+/);
      return {
        file: relative(ROOT, join(ROOT, file)),
        line: (token.map?.[0] ?? 0) + 1,
        language,
        mode: parseMode(language, words),
        code: token.content,
      };
    });
}

/**
 * The JSON values printed one after another in `text` (curl prints bodies without a newline), skipping anything
 * else. Only objects and arrays are looked for.
 */
export function jsonValues(text: string): unknown[] {
  const values: unknown[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.slice(i).search(/[{[]/);
    if (open === -1) break;
    const start = i + open;
    let depth = 0;
    let inString = false;
    let end = -1;
    for (let j = start; j < text.length; j++) {
      const c = text[j];
      if (inString) {
        if (c === '\\') j++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) {
          end = j;
          break;
        }
      }
    }
    if (end === -1) break;
    try {
      values.push(JSON.parse(text.slice(start, end + 1)));
      i = end + 1;
    } catch {
      i = start + 1;
    }
  }
  return values;
}

/**
 * Where `actual` has other member names than `documented` (recursively through objects, and through the first
 * element of arrays of objects): one line per difference, empty when they agree.
 */
export function shapeDifferences(documented: unknown, actual: unknown, path = '$'): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (Array.isArray(documented) && Array.isArray(actual)) {
    return documented.length && actual.length ? shapeDifferences(documented[0], actual[0], `${path}[0]`) : [];
  }
  if (!isObject(documented) || !isObject(actual)) {
    return isObject(documented) !== isObject(actual)
      ? [`${path}: documented ${typeof documented}, got ${JSON.stringify(actual)}`]
      : [];
  }
  const out: string[] = [];
  for (const key of Object.keys(documented))
    if (!(key in actual)) out.push(`${path}.${key}: documented, not in the answer`);
  for (const key of Object.keys(actual))
    if (!(key in documented)) out.push(`${path}.${key}: in the answer, not documented`);
  for (const key of Object.keys(documented)) {
    if (key in actual) out.push(...shapeDifferences(documented[key], actual[key], `${path}.${key}`));
  }
  return out;
}
