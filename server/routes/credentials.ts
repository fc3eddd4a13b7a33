/**
 * Leaked-credential revocation, after GitHub's credential revocation API: anyone who finds PATs (a secret
 * scanner, a bystander) posts them and every live one among them is revoked at once. Unauthenticated by design,
 * so it answers 202 whether or not anything matched (no oracle for guessing), and is rate-limited per source
 * address. The audit log records each revocation with reason `leaked`.
 */
import { z } from 'zod';

import { TooManyRequests } from '../errors.ts';
import type { PatService } from '../pats/types.ts';
import type { RateLimiter } from '../services/rate-limit.ts';
import { route, type RouteSpec } from './spec.ts';

/** Most credentials one call may carry. */
const MAX_CREDENTIALS = 1000;

const body = z.strictObject({
  credentials: z.array(z.string().max(512)).min(1).max(MAX_CREDENTIALS),
});

/** The route. */
export function credentialRoutes(deps: { pats: PatService; limiter: RateLimiter }): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/api/credentials/revoke',
      summary: 'Revoke leaked PATs (unauthenticated; always 202, whether or not any matched)',
      tag: 'public',
      auth: 'none',
      body,
      bodyLimit: 600 * 1024,
      responses: {
        202: { description: 'accepted: every live PAT among the credentials is revoked' },
        429: { description: 'too many values reported from this address in the last minute; see Retry-After' },
      },
      async handle({ body: { credentials }, address }) {
        // Counted per value, not per call: a call of 1,000 values costs what 1,000 calls of one would.
        const wait = deps.limiter.hit(address, credentials.length);
        if (wait > 0) throw new TooManyRequests(wait, 'credentials reported from this address');
        await deps.pats.revokeLeaked(credentials, {
          actor: { id: `address:${address}`, via: 'credential_revocation' },
        });
        return { status: 202 };
      },
    }),
  ];
}
