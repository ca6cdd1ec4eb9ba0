import { readAccessTokenHeader, TokenVerificationError, verifyAccessToken } from "./core/jwt.js";
import type { AccessTokenClaims } from "./core/jwt.js";
import type { ProxyContext } from "./context.js";
import { nowSeconds } from "./records.js";

/**
 * Verifies an access token this proxy issued for one of `audience` and returns its claims. A
 * token already in the verified-token cache skips the signature check; revocation is not
 * checked here, so callers load the grant afterwards.
 *
 * @throws {TokenVerificationError} for every failure, with a description safe to show the client.
 */
export async function verifyIssuedAccessToken(context: ProxyContext, token: string, audience: string | readonly string[]): Promise<AccessTokenClaims> {
  const now = nowSeconds();
  const cached = context.verifiedTokens.get(token, now);
  if (cached !== undefined && (typeof audience === "string" ? cached.aud === audience : audience.includes(cached.aud))) {
    return cached;
  }

  const header = readAccessTokenHeader(token);
  const key = await context.signingKeys.verificationKey(header.kid, now);
  if (key === undefined) {
    throw new TokenVerificationError("unknown_key");
  }

  const claims = verifyAccessToken(token, key, { issuer: context.options.issuer, audience, now });
  context.verifiedTokens.set(token, claims);
  return claims;
}
