import type { Request, RequestHandler, Response } from "express";
import type { ProxyContext } from "../context.js";
import { asyncHandler } from "../http.js";

/**
 * Seconds verifiers may cache the key set. Generated keys are published one rotation period
 * before they sign, and the README's manual procedure waits longer than this before a new key signs.
 */
export const JWKS_MAX_AGE_SECONDS = 300;

/**
 * `GET /jwks`: the RFC 7517 key set with the public keys that verify access tokens, the next
 * key first, then the current one, then older keys whose tokens may still be valid.
 */
export function jwksHandler(context: ProxyContext): RequestHandler {
  return asyncHandler(async (_req: Request, res: Response) => {
    const keys = await context.signingKeys.publicKeys();
    res.status(200);
    res.setHeader("Cache-Control", `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    // RFC 7517 §8.5 registers this media type for a JWK set.
    res.type("application/jwk-set+json");
    res.send(JSON.stringify({ keys }));
  });
}
