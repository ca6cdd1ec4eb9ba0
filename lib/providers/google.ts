import createDebug from "debug";
import { OptionError, UpstreamError } from "../errors.js";
import { postForm } from "./http.js";
import { JwksKeySet, verifyIdToken, withoutPlumbing } from "./id-token.js";
import { AuthorizationCodeProvider } from "./authorization-code.js";
import type { ProviderEndpoints } from "./authorization-code.js";
import type { ClientOptions } from "./options.js";
import type { UpstreamIdentity, UpstreamTokens } from "./types.js";

const debug = createDebug("mcp-oauth-proxy:provider");

/** Options for `GoogleProvider`: an OAuth client of type "Web application" in Google Cloud. */
export interface GoogleProviderOptions extends Omit<ClientOptions, "subjectClaim"> {
  /**
   * Google Workspace domain every user must belong to, such as "example.com", or "*"
   * for any Workspace account. Sent as `hd` and checked against the ID token's `hd` claim.
   */
  hostedDomain?: string;
}

// Google's published endpoints (https://accounts.google.com/.well-known/openid-configuration).
const GOOGLE_ENDPOINTS: ProviderEndpoints = {
  authorizationEndpoint: new URL("https://accounts.google.com/o/oauth2/v2/auth"),
  tokenEndpoint: new URL("https://oauth2.googleapis.com/token"),
  userinfoEndpoint: new URL("https://openidconnect.googleapis.com/v1/userinfo"),
  revocationEndpoint: new URL("https://oauth2.googleapis.com/revoke"),
  jwksUri: new URL("https://www.googleapis.com/oauth2/v3/certs"),
};

// Google documents both forms as the `iss` of its ID tokens.
const GOOGLE_ISSUERS: [string, string] = ["https://accounts.google.com", "accounts.google.com"];

// Google reports the short scopes "email" and "profile" under their long names in token responses.
const SCOPE_ALIASES = new Map([
  ["https://www.googleapis.com/auth/userinfo.email", "email"],
  ["https://www.googleapis.com/auth/userinfo.profile", "profile"],
]);

/**
 * Sign-in with Google. Asks for offline access with `access_type=offline` and
 * `prompt=consent`, because Google issues a refresh token only then, and keeps
 * that refresh token, since Google's refresh responses leave it out. The user
 * comes from the ID token, verified against Google's JWKS.
 *
 * @example
 * const provider = new GoogleProvider({ clientId: process.env.GOOGLE_CLIENT_ID!, clientSecret: process.env.GOOGLE_CLIENT_SECRET! });
 */
export class GoogleProvider extends AuthorizationCodeProvider {
  protected readonly issuer = GOOGLE_ISSUERS[0];
  private readonly hostedDomain: string | undefined;
  private keySet: JwksKeySet | undefined;

  constructor(options: GoogleProviderOptions) {
    const hostedDomain = hostedDomainOption(options?.hostedDomain);
    super(options, {
      name: "Google",
      scopes: ["openid", "email", "profile"],
      clientAuthentication: "client_secret_post",
      authorizationParams: { access_type: "offline", prompt: "consent", ...(hostedDomain === undefined ? {} : { hd: hostedDomain }) },
    });
    this.hostedDomain = hostedDomain;

    if (!this.client.scopes.includes("openid")) {
      throw new OptionError("scopes", options.scopes, "Include \"openid\"; the user is identified from Google's ID token.");
    }
  }

  /** Google does not send the RFC 9207 `iss` response parameter. */
  async responseIssuer(): Promise<string | undefined> {
    return undefined;
  }

  /** Fetches Google's signing keys, which checks the JWKS URL. */
  override async ready(): Promise<void> {
    await (await this.keys()).load();
  }

  /** Identifies the user from the verified ID token (sub, email, email_verified, name, picture, hd). */
  override async identify(tokens: UpstreamTokens): Promise<UpstreamIdentity> {
    if (tokens.idToken === undefined) {
      throw new UpstreamError("protocol", `${this.name} returned no ID token; keep "openid" in the scopes option`);
    }

    const claims = await verifyIdToken(tokens.idToken, await this.keys(), {
      issuer: GOOGLE_ISSUERS,
      audience: this.client.clientId,
      algorithms: ["RS256"],
      providerName: this.name,
    });
    this.checkHostedDomain(claims.hd);
    return { subject: this.subjectFrom(claims, "sub"), claims: withoutPlumbing(claims) };
  }

  /**
   * Revokes the refresh token, or the access token without one. Google's
   * revocation endpoint takes the token alone and ends the user's whole grant to the app.
   */
  override async revoke(tokens: UpstreamTokens): Promise<void> {
    const { revocationEndpoint } = await this.endpoints();
    if (revocationEndpoint === undefined) {
      return;
    }
    await this.ignoreRejection(postForm(revocationEndpoint, { token: tokens.refreshToken ?? tokens.accessToken }, { timeoutMs: this.client.timeoutMs }));
    debug("revoked provider=%s", this.name);
  }

  protected async defaultEndpoints(): Promise<ProviderEndpoints> {
    return GOOGLE_ENDPOINTS;
  }

  protected override localScope(scope: string): string {
    return this.client.scopeMapInverse.get(scope) ?? SCOPE_ALIASES.get(scope) ?? scope;
  }

  // Google's docs: the hd request parameter only preselects, so the claim must be checked.
  private checkHostedDomain(hd: unknown): void {
    if (this.hostedDomain === undefined) {
      return;
    }
    const matches = this.hostedDomain === "*" ? typeof hd === "string" : hd === this.hostedDomain;
    if (!matches) {
      const actual = typeof hd === "string" ? `the domain ${JSON.stringify(hd)}` : "a personal account";
      throw new UpstreamError("protocol", `The user signed in to ${this.name} with ${actual}, but hostedDomain is ${JSON.stringify(this.hostedDomain)}`);
    }
  }

  private async keys(): Promise<JwksKeySet> {
    const { jwksUri } = await this.endpoints();
    const uri = jwksUri ?? (GOOGLE_ENDPOINTS.jwksUri as URL);
    if (this.keySet?.uri.href !== uri.href) {
      this.keySet = new JwksKeySet(uri, this.client.timeoutMs);
    }
    return this.keySet;
  }
}

function hostedDomainOption(value: unknown): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== "string" || !(value === "*" || /^[a-z0-9.-]+\.[a-z]{2,}$/i.test(value))) {
    throw new OptionError("hostedDomain", value, "Set it to a Google Workspace domain such as \"example.com\", or \"*\" for any Workspace account.");
  }
  return value.toLowerCase();
}
