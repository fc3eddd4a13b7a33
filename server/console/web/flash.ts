/** A one-time notice ("Token revoked") carried to the next page, shown there once in a live region. */
let pending: string | null = null;

/** Sets the notice the next page shows. */
export function flash(message: string): void {
  pending = message;
}

/** Takes the pending notice (once). */
export function takeFlash(): string | null {
  const message = pending;
  pending = null;
  return message;
}
