/** Tokens returned by the upstream provider's token endpoint, normalized. */
export interface UpstreamTokens {
  accessToken: string;
  tokenType: string;
  refreshToken?: string;
  idToken?: string;
  /** Epoch seconds; absent when the provider did not say (the token does not expire). */
  expiresAt?: number;
  /** Scopes the provider granted, or the requested ones when it did not say. */
  scopes: string[];
}

/** Who signed in at the upstream provider. */
export interface UpstreamIdentity {
  /** Stable, provider-unique user id (the OIDC `sub`, or a numeric account id). */
  subject: string;
  /** Identity claims (email, name, ...) from the ID token or the user-info endpoint. */
  claims: Record<string, unknown>;
}

/** Arguments for building the upstream authorization URL. */
export interface AuthorizationUrlParams {
  redirectUri: string;
  state: string;
  codeChallenge: string;
  scopes: string[];
}

/** Arguments for exchanging an upstream authorization code. */
export interface CodeExchangeParams {
  code: string;
  codeVerifier: string;
  redirectUri: string;
  /** The `iss` parameter of the authorization response, if the provider sent one (RFC 9207). */
  iss?: string;
}

/**
 * An upstream identity provider: the proxy is its one pre-registered client.
 *
 * Methods that talk to the provider throw `UpstreamError` on failure so the
 * proxy can map the failure to an OAuth error without relaying the upstream body.
 */
export interface UpstreamProvider {
  /** Name shown on the consent page ("GitHub", "Google", ...). */
  readonly name: string;

  /** The redirect URI is the proxy's; scopes are already mapped to upstream scopes. */
  authorizationUrl(params: AuthorizationUrlParams): Promise<URL>;

  /**
   * Returns the issuer the provider puts in the `iss` authorization response
   * parameter, or `undefined` when it does not send one (RFC 9207).
   */
  responseIssuer(): Promise<string | undefined>;

  exchangeCode(params: CodeExchangeParams): Promise<UpstreamTokens>;

  /** Refreshes with `tokens.refreshToken`; keeps the old refresh token when the provider sends none. */
  refresh(tokens: UpstreamTokens): Promise<UpstreamTokens>;

  identify(tokens: UpstreamTokens): Promise<UpstreamIdentity>;

  /** Revokes the upstream grant where the provider supports revocation; resolves otherwise. */
  revoke(tokens: UpstreamTokens): Promise<void>;
}
