/**
 * The keys Tokenwarden derives from `SECRET_KEY`: one per purpose, with HKDF-SHA256 (RFC 5869), so a key used to
 * authenticate cache entries is never also an encryption key. Several secret keys may be configured: the first is
 * current (it signs and encrypts), the others are still accepted (they verify and decrypt), for rotation.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a derived key is for; the HKDF `info`, so each purpose gets its own key. */
export type KeyPurpose = 'cache-mac' | 'signing-keys' | 'cookies' | 'delivery-secrets';

export interface Keyring {
  /** HMAC-SHA256 of `data` under the current key for `purpose`, base64url (43 characters). */
  mac(purpose: KeyPurpose, data: string): string;
  /** Whether `tag` is the HMAC of `data` under any configured key for `purpose` (constant time per key). */
  verify(purpose: KeyPurpose, data: string, tag: string): boolean;
  /** AES-256-GCM under the current key for `purpose`: `v1.<iv>.<ciphertext+tag>`, base64url parts; `associatedData` binds it to where it is kept. */
  encrypt(purpose: KeyPurpose, plaintext: string, associatedData: string): string;
  /** The plaintext of {@link encrypt}'s output under any configured key; throws when none authenticates it. */
  decrypt(purpose: KeyPurpose, sealed: string, associatedData: string): string;
  /** Keys for oidc-provider's signed cookies, derived (current first). */
  cookieKeys(): string[];
}

const SALT = Buffer.from('tokenwarden keyring v1');

/** Derives the keyring from the configured secret keys (at least one). */
export function createKeyring(secretKeys: readonly string[]): Keyring {
  if (secretKeys.length === 0) throw new Error('createKeyring needs at least one secret key');
  const cache = new Map<string, Buffer[]>();
  const keysFor = (purpose: KeyPurpose): Buffer[] => {
    let keys = cache.get(purpose);
    if (!keys) {
      keys = secretKeys.map((secret) => Buffer.from(hkdfSync('sha256', secret, SALT, purpose, 32)));
      cache.set(purpose, keys);
    }
    return keys;
  };
  const hmac = (key: Buffer, data: string) => createHmac('sha256', key).update(data).digest();

  return {
    mac: (purpose, data) => hmac(keysFor(purpose)[0]!, data).toString('base64url'),
    verify(purpose, data, tag) {
      const given = Buffer.from(tag, 'base64url');
      if (given.length !== 32) return false;
      let ok = false;
      for (const key of keysFor(purpose)) ok = timingSafeEqual(hmac(key, data), given) || ok;
      return ok;
    },
    encrypt(purpose, plaintext, associatedData) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', keysFor(purpose)[0]!, iv);
      cipher.setAAD(Buffer.from(associatedData));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return ['v1', iv.toString('base64url'), body.toString('base64url')].join('.');
    },
    decrypt(purpose, sealed, associatedData) {
      const [version, iv, body] = sealed.split('.');
      if (version !== 'v1' || !iv || !body) throw new Error('not a sealed value of this keyring');
      const bytes = Buffer.from(body, 'base64url');
      for (const key of keysFor(purpose)) {
        try {
          const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
          decipher.setAAD(Buffer.from(associatedData));
          decipher.setAuthTag(bytes.subarray(bytes.length - 16));
          return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString(
            'utf8',
          );
        } catch {
          // Another key, perhaps: a rotated SECRET_KEY keeps the old one second in the list.
        }
      }
      throw new Error('no configured SECRET_KEY decrypts this value');
    },
    cookieKeys: () => keysFor('cookies').map((key) => key.toString('base64url')),
  };
}
