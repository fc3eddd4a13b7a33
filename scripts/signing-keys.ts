/**
 * `npm run signing-keys -- show|rotate|retire`: manages the signing keys Tokenwarden keeps in MongoDB when `JWKS`
 * is not set (sealed under `SECRET_KEY`). Reads the same environment as the server (`MONGODB_URI`, `SECRET_KEY`).
 *
 * - `show`: the key ids, newest (signing) first.
 * - `rotate`: adds a new key in front. Restart every instance: they sign with it from then on, and keep publishing
 *   the previous key, so signatures made before stay verifiable.
 * - `retire`: keeps only the newest key. Run it once no signed answer made with an older key can still be in use
 *   (a resource server caching `/jwks` for a day: wait a day), then restart the instances.
 */
import { ConfigError, loadConfigFromProcess } from '../config/index.ts';
import { createMongoStorage } from '../adapters/mongo/storage.ts';
import { createKeyring } from '../server/services/keyring.ts';
import { loadSigningKeys, retireSigningKeys, rotateSigningKeys } from '../server/services/signing-keys.ts';

async function main(command: string | undefined): Promise<number> {
  if (command !== 'show' && command !== 'rotate' && command !== 'retire') {
    process.stderr.write('usage: npm run signing-keys -- show|rotate|retire\n');
    return 2;
  }
  const config = loadConfigFromProcess();
  if (config.storage.kind !== 'mongodb') {
    process.stderr.write('signing-keys: MONGODB_URI is not set (the embedded store keeps no keys)\n');
    return 2;
  }
  if (config.jwks !== null) {
    process.stderr.write('signing-keys: JWKS is set, so the keys come from it, not from the database\n');
    return 2;
  }
  const storage = await createMongoStorage({ uri: config.storage.uri, timeoutMs: config.storage.timeoutMs });
  try {
    const keyring = createKeyring(config.secretKeys);
    const run = { show: loadSigningKeys, rotate: rotateSigningKeys, retire: retireSigningKeys }[command];
    const { keys } = await run(storage.signingKeys, keyring);
    process.stdout.write(`${keys.map((k, i) => `${String(k.kid)}${i === 0 ? '  (signs)' : ''}`).join('\n')}\n`);
    if (command !== 'show') process.stdout.write('restart every Tokenwarden instance to use them\n');
    return 0;
  } finally {
    await storage.close();
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = error instanceof ConfigError ? `invalid configuration: ${error.message}` : (error as Error).message;
    process.stderr.write(`signing-keys: ${message}\n`);
    process.exit(1);
  },
);
