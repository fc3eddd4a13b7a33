/**
 * The console's message catalogues: one JSON file per language in `server/console/messages/` (`en.json`, `nl.json`, …),
 * each a flat object of message keys to strings, or to plural forms (`{"one": …, "other": …}`, Intl.PluralRules
 * categories). Adding a language is adding one file. The console fetches them from `/console/messages/<lang>.json`;
 * the development sign-in page uses them too.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A message: a string with `{name}` placeholders, or plural forms of one. */
export type Message = string | Readonly<Record<string, string>>;

/** One language's messages. */
export interface Catalogue {
  /** BCP 47 language tag (the file name): `en`, `nl`. */
  readonly code: string;
  /** The language's own name for itself (`language.name`): `English`, `Nederlands`. */
  readonly name: string;
  readonly messages: Readonly<Record<string, Message>>;
  /** The file as served (parsed and written back once). */
  readonly json: string;
}

/** The language used when the browser asks for none that exists. */
export const DEFAULT_LANGUAGE = 'en';

/** The directory holding `package.json` above this module (the repository, whether run from source or `dist/`). */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the console module');
    dir = parent;
  }
  return dir;
}

const CODE = /^[a-z]{2,3}(-[A-Z]{2})?$/;

function isMessage(value: unknown): value is Message {
  if (typeof value === 'string') return true;
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>).other === 'string' &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

/**
 * Reads every catalogue in `dir`. The default language's file is the reference: a catalogue missing one of its
 * keys, or with a key it lacks, stops start-up with the file and key named (a half-translated page is a bug).
 */
export function loadCatalogues(
  dir: string = join(packageRoot(), 'server', 'console', 'messages'),
): Map<string, Catalogue> {
  const found = new Map<string, Catalogue>();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const code = file.slice(0, -'.json'.length);
    if (!CODE.test(code)) throw new Error(`console catalogue ${file}: the file name must be a language tag`);
    const parsed = JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error(`console catalogue ${file}: must be a JSON object`);
    }
    for (const [key, value] of Object.entries(parsed)) {
      if (!isMessage(value)) throw new Error(`console catalogue ${file}: ${key} must be a string or plural forms`);
    }
    const messages = parsed as Record<string, Message>;
    const name = messages['language.name'];
    if (typeof name !== 'string') throw new Error(`console catalogue ${file}: language.name is missing`);
    found.set(code, { code, name, messages, json: JSON.stringify(messages) });
  }
  const reference = found.get(DEFAULT_LANGUAGE);
  if (!reference) throw new Error(`console catalogue ${DEFAULT_LANGUAGE}.json is missing`);
  for (const catalogue of found.values()) {
    for (const key of Object.keys(reference.messages)) {
      if (!(key in catalogue.messages)) throw new Error(`console catalogue ${catalogue.code}.json: ${key} is missing`);
    }
    for (const key of Object.keys(catalogue.messages)) {
      if (!(key in reference.messages)) {
        throw new Error(`console catalogue ${catalogue.code}.json: ${key} is not in ${DEFAULT_LANGUAGE}.json`);
      }
    }
  }
  return found;
}

/** The best catalogue for an ordered list of preferred language tags (`nl-BE` matches `nl`). */
export function pickLanguage(catalogues: ReadonlyMap<string, Catalogue>, preferred: readonly string[]): Catalogue {
  for (const tag of preferred) {
    const exact = catalogues.get(tag);
    if (exact) return exact;
    const primary = catalogues.get(tag.split('-')[0]!.toLowerCase());
    if (primary) return primary;
  }
  return catalogues.get(DEFAULT_LANGUAGE)!;
}

/** Language tags from an `Accept-Language` header, most preferred first. */
export function acceptedLanguages(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(',')
    .map((part) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { tag: tag.trim(), q: q === undefined ? 1 : Number(q) };
    })
    .filter((l) => l.tag !== '' && l.tag !== '*' && l.q > 0)
    .sort((a, b) => b.q - a.q)
    .map((l) => l.tag);
}

/** Formats a message: `{name}` placeholders from `values`; plural forms chosen by `values.count`. */
export function format(
  catalogue: Catalogue,
  key: string,
  values: Readonly<Record<string, string | number>> = {},
): string {
  const message = catalogue.messages[key] ?? key;
  let text: string;
  if (typeof message === 'string') text = message;
  else {
    const category = new Intl.PluralRules(catalogue.code).select(Number(values.count ?? 0));
    text = message[category] ?? message.other ?? key;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}
