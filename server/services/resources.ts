/**
 * RFC 8707 resource indicators: what a PAT or an exchanged access token is bound to, and what a resource-server
 * client serves.
 */

/** The longest resource indicator accepted (the admin API's limit for a PAT's `resource`). */
export const MAX_RESOURCE_LENGTH = 2048;

/** RFC 8707 §2: a resource indicator is an absolute URI without a fragment. */
export function isResourceIndicator(value: unknown): value is string {
  return (
    typeof value === 'string' && value.length <= MAX_RESOURCE_LENGTH && !value.includes('#') && URL.canParse(value)
  );
}
