/**
 * Hash routes (`#/tokens/tok_…`): the page at `/console/` stays the one URL the provider sends people back to,
 * and every view still has a real link that works with the keyboard, the back button and a new tab.
 */

/** A parsed route: the path's segments and its query. */
export interface Route {
  readonly path: string;
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
}

/** The current route. */
export function currentRoute(): Route {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path = '/', search = ''] = hash.split('?');
  return {
    path,
    segments: path.split('/').filter(Boolean).map(decodeURIComponent),
    query: new URLSearchParams(search),
  };
}

/** A link to a route: `href('tokens', id)` → `#/tokens/<id>`, with an optional query. */
export function href(...parts: (string | Record<string, string | number | undefined | null>)[]): string {
  const segments: string[] = [];
  let search = '';
  for (const part of parts) {
    if (typeof part === 'string') segments.push(part.split('/').map(encodeURIComponent).join('/'));
    else {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(part)) {
        if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
      }
      search = params.toString() === '' ? '' : `?${params.toString()}`;
    }
  }
  return `#/${segments.join('/')}${search}`;
}

/** Goes to a route. */
export function navigate(to: string): void {
  if (location.hash === to) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = to;
}
