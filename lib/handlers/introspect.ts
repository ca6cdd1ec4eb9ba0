import type { Request, RequestHandler, Response } from "express";
import createDebug from "debug";
import { TokenVerificationError } from "../core/jwt.js";
import { hashKey, safeEqual } from "../core/random.js";
import type { ProxyContext } from "../context.js";
import { InvalidClientError, InvalidRequestError, OAuthError } from "../errors.js";
import { loadGrant } from "../grants.js";
import { asyncHandler, Params, sendJson, sendOAuthError } from "../http.js";
import { nowSeconds } from "../records.js";
import type { ResolvedIntrospectionOptions } from "../signing-options.js";
import { verifyIssuedAccessToken } from "../verified-tokens.js";
import { requireFormBody } from "./token.js";

const debug = createDebug("mcp-oauth-proxy:introspect");

/** An RFC 7662 §2.2 response: the claims of an active access token, or `active: false` alone. */
export type IntrospectionResponse =
  | { active: false }
  | {
      active: true;
      scope: string;
      client_id: string;
      sub: string;
      aud: string;
      iss: string;
      exp: number;
      iat: number;
      token_type: "Bearer";
    };

const INACTIVE: IntrospectionResponse = { active: false };

/**
 * `POST /introspect` (RFC 7662). Callers authenticate with an id and secret from the
 * `introspection` option, by HTTP Basic or in the form body. Registered clients cannot call it:
 * registration is open to anyone, so client credentials prove nothing about the caller.
 *
 * Only access tokens are introspected. An expired, revoked, unknown or refresh token gets
 * `{"active":false}` and nothing else (RFC 7662 §2.2), so the response reveals nothing about it.
 */
export function introspectHandler(context: ProxyContext, introspection: ResolvedIntrospectionOptions): RequestHandler {
  return asyncHandler(async (req: Request, res: Response) => {
    let usedBody = false;
    try {
      requireFormBody(req);
      const params = Params.fromBody(req);
      usedBody = params.get("client_secret") !== undefined;
      const caller = authenticateCaller(introspection, req.headers.authorization, params);

      const token = params.require("token");
      // The hint may only speed up the search (RFC 7662 §2.1), and only access tokens are looked up.
      params.get("token_type_hint");
      const response = await introspectToken(context, token);
      debug("introspected caller=%s active=%s", caller, response.active);
      sendJson(res, 200, response);
    } catch (error) {
      if (!(error instanceof OAuthError)) {
        throw error;
      }
      debug("rejected introspection error=%s", error.error);
      sendOAuthError(res, error, usedBody ? {} : { basicRealm: context.options.issuer });
    }
  });
}

/** Returns the claims of an active access token, or `{ active: false }`. */
export async function introspectToken(context: ProxyContext, token: string): Promise<IntrospectionResponse> {
  let claims;
  try {
    claims = await verifyIssuedAccessToken(context, token, context.options.resources.map((resource) => resource.url));
  } catch (error) {
    if (error instanceof TokenVerificationError) {
      return INACTIVE;
    }
    throw error;
  }

  // Verification allows a few seconds of clock skew after exp, but an introspection response does not.
  if (claims.exp <= nowSeconds()) {
    return INACTIVE;
  }
  const grant = await loadGrant(context, claims.sid);
  if (grant === undefined || grant.clientId !== claims.client_id) {
    return INACTIVE;
  }

  const { scope, client_id, sub, aud, iss, exp, iat } = claims;
  return { active: true, scope, client_id, sub, aud, iss, exp, iat, token_type: "Bearer" };
}

/**
 * Checks the caller's id and secret, sent by HTTP Basic (form-urlencoded parts, RFC 6749
 * §2.3.1) or as `client_id` and `client_secret` in the body, and returns the caller's id.
 */
function authenticateCaller(introspection: ResolvedIntrospectionOptions, authorization: string | undefined, params: Params): string {
  const basic = parseBasic(authorization);
  const bodySecret = params.get("client_secret");
  if (basic !== undefined && bodySecret !== undefined) {
    throw new InvalidRequestError("Send the caller credentials in the Authorization header or in the body, not both");
  }

  const id = basic?.id ?? params.get("client_id");
  const secret = basic?.secret ?? bodySecret;
  if (id === undefined || secret === undefined) {
    throw new InvalidClientError("The introspection endpoint requires caller authentication");
  }

  const expected = introspection.secretHashes.get(id);
  // The hash is compared even for an unknown id, so timing does not tell which ids exist.
  const matches = safeEqual(hashKey(secret), expected ?? hashKey(`unknown:${id}`));
  if (expected === undefined || !matches) {
    throw new InvalidClientError("Caller authentication failed");
  }
  return id;
}

function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  if (header === undefined || !/^basic(?: |$)/i.test(header)) {
    return undefined;
  }

  const match = /^basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  const decoded = match?.[1] === undefined ? "" : Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 1) {
    throw new InvalidClientError("The Basic credentials are malformed");
  }
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " ")),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " ")),
    };
  } catch {
    throw new InvalidClientError("The Basic credentials are malformed");
  }
}
