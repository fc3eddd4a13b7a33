/**
 * JSON request bodies for the management API: `application/json` only, size-limited, parsed strictly, then
 * validated by a zod schema that also rejects unknown fields. Every failure is an RFC-shaped 4xx.
 */
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import type { z } from 'zod';

import { InvalidRequest, PayloadTooLarge, UnsupportedMediaType } from '../errors.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Largest accepted management API body, in bytes. */
const JSON_BODY_LIMIT = 16 * 1024;

async function readText(ctx: Context, limit: number): Promise<string> {
  if (!ctx.request.is('application/json')) throw new UnsupportedMediaType('application/json');
  try {
    const bytes = await getRawBody(ctx.req, { limit, length: ctx.request.length });
    try {
      return strictUtf8.decode(bytes);
    } catch {
      throw new InvalidRequest('the request body is not valid UTF-8');
    }
  } catch (error) {
    if (error instanceof InvalidRequest) throw error;
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') throw new PayloadTooLarge(limit);
    throw new InvalidRequest('the request body could not be read');
  }
}

/** Describes the first zod issue, naming the field. */
export function describeIssue(error: z.ZodError): InvalidRequest {
  const issue = error.issues[0];
  if (!issue) return new InvalidRequest('invalid request body');
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys;
    return new InvalidRequest(`unknown field${keys.length > 1 ? 's' : ''}: ${keys.join(', ')}`, keys[0]);
  }
  const field = issue.path.map(String).join('.');
  return field
    ? new InvalidRequest(`${field}: ${issue.message}`, field)
    : new InvalidRequest(`request body: ${issue.message}`);
}

/** Reads, parses and validates the JSON body of `ctx` against `schema`. */
export async function readJson<S extends z.ZodType>(
  ctx: Context,
  schema: S,
  limit = JSON_BODY_LIMIT,
): Promise<z.output<S>> {
  const text = await readText(ctx, limit);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InvalidRequest('the request body is not valid JSON');
  }
  const result = schema.safeParse(json);
  if (!result.success) throw describeIssue(result.error);
  return result.data;
}
