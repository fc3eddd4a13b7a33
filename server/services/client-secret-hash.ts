/**
 * Client secrets at rest: only their SHA-256 is stored (`sha256$<base64url>`), so a read of the database yields no
 * secret a client could present. Secrets Tokenwarden issues carry 256 random bits, so a fast hash is enough: there is
 * nothing to brute-force. The admin client's configured secret is hashed the same way before oidc-provider sees it.
 * Compared in constant time (`timingSafeEqual` over the two digests).
 */
import { hash, timingSafeEqual } from 'node:crypto';

const PREFIX = 'sha256$';

/** The stored form of a client secret. */
export function hashClientSecret(secret: string): string {
  return `${PREFIX}${hash('sha256', secret, 'base64url')}`;
}

/** Whether a stored secret is in hashed form (anything else was written before secrets were hashed). */
export function isHashedClientSecret(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** The 32-byte digest inside a stored secret, or null when it is not one. */
export function storedSecretDigest(stored: string): Buffer | null {
  if (!isHashedClientSecret(stored)) return null;
  const digest = Buffer.from(stored.slice(PREFIX.length), 'base64url');
  return digest.length === 32 ? digest : null;
}

/** Whether `presented` is the secret whose digest is `digest`, in constant time. */
export function clientSecretMatches(digest: Buffer, presented: string): boolean {
  return timingSafeEqual(hash('sha256', presented, 'buffer'), digest);
}
