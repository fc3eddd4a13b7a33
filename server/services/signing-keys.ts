/**
 * The server's signing keys (JWKS) when `JWKS` is not configured and the store is MongoDB: generated once, kept in
 * the database sealed (AES-256-GCM under a key derived from `SECRET_KEY`), so every instance on one database
 * publishes and signs with the same keys, and they survive restarts. The first instance to start stores them; the
 * others read what it stored.
 *
 * Rotation: {@link rotateSigningKeys} puts a new key first (it signs from then on, on every instance after its
 * next start) and keeps the previous one published for verification; {@link retireSigningKeys} drops all but the
 * newest once no token signed by the old one can still be in use.
 */
import type { SigningKeyStore } from '../../adapters/types.ts';
import { generateSigningKey, type SigningJwk } from '../../config/index.ts';
import type { Keyring } from './keyring.ts';

/** Where the sealed key set is kept: bound into the encryption, so it cannot be swapped with another value. */
const AAD = 'tokenwarden signing keys';

function open(keyring: Keyring, sealed: string): { keys: SigningJwk[] } {
  let plaintext: string;
  try {
    plaintext = keyring.decrypt('signing-keys', sealed, AAD);
  } catch {
    throw new Error(
      'the signing keys stored in the database cannot be decrypted with SECRET_KEY: was it changed? Put the previous key second in SECRET_KEY (comma-separated)',
    );
  }
  return JSON.parse(plaintext) as { keys: SigningJwk[] };
}

/** The stored key set, created and stored first if there is none. */
export async function loadSigningKeys(store: SigningKeyStore, keyring: Keyring): Promise<{ keys: SigningJwk[] }> {
  const existing = await store.read();
  if (existing !== null) return open(keyring, existing);
  const fresh = { keys: [generateSigningKey('tw')] };
  const stored = await store.insertIfAbsent(keyring.encrypt('signing-keys', JSON.stringify(fresh), AAD));
  return open(keyring, stored);
}

/** Adds a new signing key in front of the stored ones (re-sealed under the current `SECRET_KEY`). */
export async function rotateSigningKeys(store: SigningKeyStore, keyring: Keyring): Promise<{ keys: SigningJwk[] }> {
  const current = await loadSigningKeys(store, keyring);
  const next = { keys: [generateSigningKey('tw'), ...current.keys] };
  await store.replace(keyring.encrypt('signing-keys', JSON.stringify(next), AAD));
  return next;
}

/** Keeps only the newest stored signing key. */
export async function retireSigningKeys(store: SigningKeyStore, keyring: Keyring): Promise<{ keys: SigningJwk[] }> {
  const current = await loadSigningKeys(store, keyring);
  const next = { keys: current.keys.slice(0, 1) };
  await store.replace(keyring.encrypt('signing-keys', JSON.stringify(next), AAD));
  return next;
}
