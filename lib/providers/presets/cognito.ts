import type { JwtPayload } from "jsonwebtoken";
import { OptionError, UpstreamError } from "../../errors.js";
import { postForm } from "../http.js";
import { OIDCProvider } from "../oidc.js";
import type { OIDCProviderOptions } from "../oidc.js";
import type { UpstreamTokens } from "../types.js";

/** Options for `CognitoProvider`. */
export interface CognitoProviderOptions extends Omit<OIDCProviderOptions, "issuer"> {
  /** AWS region of the user pool, such as "eu-west-1"; defaults to the prefix of `userPoolId`. */
  region?: string;
  /** User pool id, such as "eu-west-1_AbCdEfGhI". */
  userPoolId: string;
}

/**
 * Sign-in with an Amazon Cognito user pool: OIDC discovery on
 * `https://cognito-idp.<region>.amazonaws.com/<user pool id>`. The user pool needs
 * a domain, which hosts the sign-in pages. Cognito's discovery document leaves out
 * its revocation endpoint, so the proxy uses `/oauth2/revoke` on the token endpoint's host.
 *
 * @example
 * const provider = new CognitoProvider({ userPoolId: "eu-west-1_AbCdEfGhI", clientId, clientSecret });
 */
export class CognitoProvider extends OIDCProvider {
  constructor(options: CognitoProviderOptions) {
    const { region, userPoolId } = poolOptions(options?.region, options?.userPoolId);
    super({ ...options, issuer: `https://cognito-idp.${region}.amazonaws.com/${userPoolId}` }, {
      name: "Amazon Cognito",
      // Cognito rejects offline_access; it issues refresh tokens to the code flow anyway.
      scopes: ["openid", "email", "profile"],
    });
  }

  /** Revokes the refresh token, and with it the tokens issued from it; Cognito revokes no other kind. */
  override async revoke(tokens: UpstreamTokens): Promise<void> {
    if (tokens.refreshToken === undefined) {
      return;
    }
    const { revocationEndpoint } = await this.endpoints();
    if (revocationEndpoint === undefined) {
      return;
    }
    const { params, headers } = this.authenticateClient({ token: tokens.refreshToken });
    await this.ignoreRejection(postForm(revocationEndpoint, params, { headers, timeoutMs: this.client.timeoutMs }));
  }

  protected override amendDiscovery(document: Record<string, unknown>): Record<string, unknown> {
    if (document.authorization_endpoint === undefined) {
      throw new UpstreamError("protocol", `The discovery document of ${this.issuer} has no authorization_endpoint; add a domain to the user pool (App integration, Domain)`);
    }
    if (document.revocation_endpoint !== undefined || typeof document.token_endpoint !== "string") {
      return document;
    }
    return { ...document, revocation_endpoint: new URL("/oauth2/revoke", document.token_endpoint).href };
  }

  // Cognito marks its ID tokens with token_use, so an access token is never taken for one.
  protected override checkIdTokenClaims(claims: JwtPayload): void {
    if (claims.token_use !== "id") {
      throw new UpstreamError("protocol", `The ID token from ${this.name} has token_use ${JSON.stringify(claims.token_use)}, not "id"`);
    }
  }
}

function poolOptions(region: unknown, userPoolId: unknown): { region: string; userPoolId: string } {
  const match = typeof userPoolId === "string" ? /^([a-z]{2}(?:-[a-z]+)+-\d)_[A-Za-z0-9]+$/.exec(userPoolId) : null;
  if (match === null) {
    throw new OptionError("userPoolId", userPoolId, "Set it to the user pool id shown in the Cognito console, such as \"eu-west-1_AbCdEfGhI\".");
  }

  const poolRegion = match[1] as string;
  if (region !== undefined && region !== poolRegion) {
    throw new OptionError("region", region, `The user pool id belongs to ${poolRegion}; set region to "${poolRegion}" or leave it out.`);
  }
  return { region: poolRegion, userPoolId: userPoolId as string };
}
