import type { UpstreamTokens } from "./providers/types.js";

/**
 * Shapes of the records the proxy keeps in storage, and their key names.
 * Keys built from secrets (codes, refresh tokens, state) use a hash of the
 * secret, so a storage dump does not hand out working credentials.
 */

/** A registered client (RFC 7591 §2 metadata as stored). */
export interface ClientRecord {
  client_id: string;
  client_id_issued_at: number;
  /** 0 (never) for confidential clients; absent for public ones. */
  client_secret_expires_at?: number;
  redirect_uris: string[];
  token_endpoint_auth_method: "none" | "client_secret_basic" | "client_secret_post";
  grant_types: string[];
  response_types: string[];
  client_name?: string;
  client_uri?: string;
  logo_uri?: string;
  tos_uri?: string;
  policy_uri?: string;
  contacts?: string[];
  scope?: string;
  software_id?: string;
  software_version?: string;
  application_type?: "native" | "web";
}

/** A validated authorization request waiting for the user's consent. */
export interface TransactionRecord {
  clientId: string;
  redirectUri: string;
  state: string | undefined;
  codeChallenge: string;
  codeChallengeMethod: "S256" | "plain";
  scopes: string[];
  resource: string;
  csrfToken: string;
  createdAt: number;
}

/** An approved transaction waiting for the upstream callback. */
export interface FlowRecord {
  transaction: TransactionRecord;
  upstreamCodeVerifier: string;
  upstreamScopes: string[];
}

/** The upstream session of a signed-in user and their identity. */
export interface UpstreamSession {
  tokens: UpstreamTokens;
  subject: string;
  claims: Record<string, unknown>;
}

/** An authorization code issued to a client, waiting to be redeemed. */
export interface CodeRecord {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  codeChallengeMethod: "S256" | "plain";
  scopes: string[];
  resource: string;
  upstream: UpstreamSession;
  expiresAt: number;
}

/** A redeemed code, kept so a replay can revoke what the first redemption issued (OAuth 2.1 §4.1.3). */
export interface RedeemedCodeRecord {
  grantId: string;
  clientId: string;
  codeChallenge: string;
  codeChallengeMethod: "S256" | "plain";
}

/** One user's authorization of one client: the proxy's session behind every token it issued. */
export interface GrantRecord {
  id: string;
  clientId: string;
  scopes: string[];
  resource: string;
  upstream: UpstreamSession;
  createdAt: number;
  /** Epoch seconds after which the grant is gone unless a refresh extends it. */
  expiresAt: number;
}

/** A live refresh token. */
export interface RefreshRecord {
  grantId: string;
  clientId: string;
  scopes: string[];
  resource: string;
}

/** A refresh token that was already rotated; presenting it again after the grace window is reuse. */
export interface RotatedRefreshRecord {
  grantId: string;
  clientId: string;
  /** Epoch milliseconds of the rotation; the grace window counts from here. */
  rotatedAt: number;
}

/** The token that replaced a rotated refresh token, kept for the grace window so a retry gets the same one. */
export interface RefreshSuccessorRecord {
  refreshToken: string;
}

export const keys = {
  client: (clientIdHash: string) => `client:${clientIdHash}`,
  transaction: (idHash: string) => `txn:${idHash}`,
  flow: (stateHash: string) => `flow:${stateHash}`,
  code: (codeHash: string) => `code:${codeHash}`,
  redeemedCode: (codeHash: string) => `code-redeemed:${codeHash}`,
  grant: (grantId: string) => `grant:${grantId}`,
  revokedGrant: (grantId: string) => `grant-revoked:${grantId}`,
  refresh: (tokenHash: string) => `refresh:${tokenHash}`,
  rotatedRefresh: (tokenHash: string) => `refresh-rotated:${tokenHash}`,
  refreshSuccessor: (tokenHash: string) => `refresh-successor:${tokenHash}`,
  upstreamRefreshLock: (grantId: string) => `lock:upstream-refresh:${grantId}`,
};

/** Current time in epoch seconds. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
