import type { Request, Response } from "express";
import createDebug from "debug";
import { authenticateClient } from "../clients.js";
import type { AuthenticatedClient } from "../clients.js";
import { TokenVerificationError } from "../core/jwt.js";
import { hashKey } from "../core/random.js";
import type { ProxyContext } from "../context.js";
import { InvalidRequestError, OAuthError } from "../errors.js";
import { revokeGrant } from "../grants.js";
import { asyncHandler, Params, sendOAuthError } from "../http.js";
import { keys } from "../records.js";
import type { RefreshRecord } from "../records.js";
import { verifyIssuedAccessToken } from "../verified-tokens.js";
import { requireFormBody } from "./token.js";

const debug = createDebug("mcp-oauth-proxy:revoke");

/**
 * `POST /revoke` (RFC 7009). Revoking either token ends the whole grant: its
 * refresh token, every access token issued under it, and the upstream grant.
 * Unknown tokens and tokens of other clients get the same 200 as a success
 * (RFC 7009 §2.2), so the endpoint reveals nothing about them.
 */
export function revokeHandler(context: ProxyContext) {
  return asyncHandler(async (req: Request, res: Response) => {
    let authenticated: AuthenticatedClient | undefined;
    try {
      requireFormBody(req);
      const params = Params.fromBody(req);
      authenticated = await authenticateClient(context, {
        authorization: req.headers.authorization,
        clientId: params.get("client_id"),
        clientSecret: params.get("client_secret"),
      });

      const token = params.get("token");
      if (token === undefined) {
        throw new InvalidRequestError("The token parameter is missing");
      }
      // The token_type_hint only orders the search (RFC 7009 §2.1); both kinds are always tried.
      params.get("token_type_hint");
      await revokeToken(context, token, authenticated.client.client_id);

      res.status(200);
      res.setHeader("Cache-Control", "no-store");
      res.end();
    } catch (error) {
      if (!(error instanceof OAuthError)) {
        throw error;
      }
      debug("rejected revocation error=%s", error.error);
      sendOAuthError(res, error, authenticated?.usedBasic === false ? {} : { basicRealm: context.options.issuer });
    }
  });
}

async function revokeToken(context: ProxyContext, token: string, clientId: string): Promise<void> {
  const refresh = (await context.storage.get(keys.refresh(hashKey(token)))) as RefreshRecord | undefined;
  if (refresh !== undefined) {
    if (refresh.clientId === clientId) {
      await context.storage.delete(keys.refresh(hashKey(token)));
      await revokeGrant(context, refresh.grantId, "refresh token revoked");
    }
    return;
  }

  const grantId = await accessTokenGrant(context, token, clientId);
  if (grantId !== undefined) {
    await revokeGrant(context, grantId, "access token revoked");
  }
}

async function accessTokenGrant(context: ProxyContext, token: string, clientId: string): Promise<string | undefined> {
  try {
    const claims = await verifyIssuedAccessToken(context, token, context.options.resources.map((resource) => resource.url));
    return claims.client_id === clientId ? claims.sid : undefined;
  } catch (error) {
    if (error instanceof TokenVerificationError) {
      return undefined;
    }
    throw error;
  }
}
