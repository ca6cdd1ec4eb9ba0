import { signAccessToken } from "./core/jwt.js";
import { hashKey, randomToken } from "./core/random.js";
import { formatScope } from "./core/scopes.js";
import type { ProxyContext } from "./context.js";
import { keys } from "./records.js";
import type { ClientRecord, GrantRecord, RefreshRecord } from "./records.js";

/** The RFC 6749 §5.1 token response. */
export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

/**
 * Issues an access token for the grant, and a new refresh token when the client
 * registered the refresh_token grant. Refresh tokens are opaque and stored only
 * as hashes.
 */
export async function issueTokens(
  context: ProxyContext,
  grant: GrantRecord,
  client: ClientRecord,
  request: { scopes: string[]; resource: string },
  /** A refresh token to hand out again instead of a new one (a retried rotation inside the grace window). */
  existingRefreshToken?: string,
): Promise<TokenResponse> {
  const scope = formatScope(request.scopes);
  const { token } = signAccessToken(
    {
      issuer: context.options.issuer,
      subject: grant.upstream.subject,
      audience: request.resource,
      clientId: client.client_id,
      scope,
      grantId: grant.id,
      ttlSeconds: context.options.accessTokenTtl,
    },
    await context.signingKeys.signingKey(),
  );

  const response: TokenResponse = {
    access_token: token,
    token_type: "Bearer",
    expires_in: context.options.accessTokenTtl,
    scope,
  };
  if (existingRefreshToken !== undefined) {
    response.refresh_token = existingRefreshToken;
  } else if (client.grant_types.includes("refresh_token")) {
    response.refresh_token = await createRefreshToken(context, {
      grantId: grant.id,
      clientId: client.client_id,
      scopes: grant.scopes,
      resource: grant.resource,
    });
  }
  return response;
}

async function createRefreshToken(context: ProxyContext, record: RefreshRecord): Promise<string> {
  const token = randomToken(32);
  await context.storage.set(keys.refresh(hashKey(token)), record, context.options.refreshTokenTtl);
  return token;
}
