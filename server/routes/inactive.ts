/**
 * The inactive-token policy's dry run: `GET /api/tokens/inactive` lists, newest first, the tokens the next sweep
 * would revoke (the sweep's own query), or with `days` what a policy of that many days would. Admin only.
 */
import { InvalidRequest, assertThat } from '../errors.ts';
import type { InactiveTokenPolicy } from '../jobs/inactive-tokens.ts';
import type { Clock } from '../services/clock.ts';
import { cursors, inactivePage, pageOf, queries, views } from './schemas.ts';
import { route, type RouteSpec } from './spec.ts';

/** The route's list. */
export function inactiveTokenRoutes(deps: { inactive: InactiveTokenPolicy; clock: Clock }): RouteSpec[] {
  const { inactive, clock } = deps;
  return [
    route({
      method: 'get',
      path: '/api/tokens/inactive',
      summary:
        'Dry run of the inactive-token policy: the active tokens the next sweep would revoke (neither used nor created in INACTIVE_TOKEN_DAYS, or in `days`)',
      tag: 'admin',
      auth: 'admin',
      query: queries.inactiveTokens,
      responses: {
        200: { description: 'a page of tokens', schema: inactivePage },
        400: { description: 'no days given and INACTIVE_TOKEN_DAYS is not set' },
      },
      async handle({ query }) {
        const days = query.days ?? inactive.days;
        assertThat(
          days !== null,
          () =>
            new InvalidRequest(
              'days: INACTIVE_TOKEN_DAYS is not set on this server; give days to preview a policy',
              'days',
            ),
        );
        const { unusedSince, items, next } = await inactive.list({
          days,
          limit: query.limit,
          after: cursors.decode(query.cursor),
        });
        const now = clock.now();
        return {
          status: 200,
          body: {
            ...pageOf(items, next, (p) => views.token(p, now)),
            inactive_days: days,
            unused_since: unusedSince.toISOString(),
            enforced: days === inactive.days,
          },
        };
      },
    }),
  ];
}
