/**
 * Messages and dates in the person's language. The catalogues are JSON files served at
 * `/console/messages/<lang>.json` (one per language, listed in config.json); every string the console shows comes
 * from them. Dates and relative times use the browser's Intl with the chosen language.
 */

/** A message: a string with `{name}` placeholders, or Intl.PluralRules forms of one (chosen by `count`). */
export type Message = string | Readonly<Record<string, string>>;
export type Values = Readonly<Record<string, string | number>>;

export interface Language {
  readonly code: string;
  readonly name: string;
}

let code = 'en';
/** The locale for dates and numbers: the browser's own variant of the language (`en-GB` for `en`), if it has one. */
let locale = 'en';
let messages: Readonly<Record<string, Message>> = {};

/** The current language tag. */
export const language = () => code;

/** Loads a catalogue and makes it the current one. */
export async function loadLanguage(next: string): Promise<void> {
  const response = await fetch(`/console/messages/${encodeURIComponent(next)}.json`);
  if (!response.ok) throw new Error(`messages for ${next}: HTTP ${response.status}`);
  messages = (await response.json()) as Record<string, Message>;
  code = next;
  locale = (navigator.languages ?? []).find((tag) => tag.split('-')[0]!.toLowerCase() === next) ?? next;
  document.documentElement.lang = next;
}

/** The first available language among the browser's, else the default. */
export function preferredLanguage(available: readonly Language[], fallback: string): string {
  const codes = new Set(available.map((l) => l.code));
  for (const tag of navigator.languages ?? [navigator.language]) {
    if (codes.has(tag)) return tag;
    const primary = tag.split('-')[0]!.toLowerCase();
    if (codes.has(primary)) return primary;
  }
  return fallback;
}

/** The message `key` in the current language, placeholders filled. */
export function t(key: string, values: Values = {}): string {
  const message = messages[key];
  if (message === undefined) return key;
  let text: string;
  if (typeof message === 'string') text = message;
  else {
    const form = new Intl.PluralRules(locale).select(Number(values.count ?? 0));
    text = message[form] ?? message.other ?? key;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) return whole;
    return typeof value === 'number' ? new Intl.NumberFormat(locale).format(value) : value;
  });
}

/** Whether the catalogue has `key` (for optional labels such as audit event names). */
export const has = (key: string) => key in messages;

/** A date and time, e.g. "5 Jun 2027, 14:03" / "5 jun 2027, 14:03". */
export function dateTime(iso: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

/** A date alone. */
export function date(iso: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium' }).format(new Date(iso));
}

const UNITS: readonly [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400_000],
  ['month', 30 * 86_400_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/** A relative time, e.g. "in 5 days", "3 hours ago" / "over 5 dagen", "3 uur geleden". */
export function relative(iso: string, now = Date.now()): string {
  const diff = new Date(iso).getTime() - now;
  if (Math.abs(diff) < 60_000) return t('time.justNow');
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  for (const [unit, ms] of UNITS) {
    if (Math.abs(diff) >= ms) return format.format(Math.round(diff / ms), unit);
  }
  return format.format(Math.round(diff / 1000), 'second');
}
