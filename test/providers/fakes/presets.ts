import type { FakeGrant, FakeUser } from "./grants.js";
import type { ErrorAnswer, OidcProfile } from "./oidc.js";

const OUTAGE: ErrorAnswer = { status: 503, body: { error: "temporarily_unavailable", error_description: "Service Unavailable" } };

function users(subjects: [string, string]): FakeUser[] {
  return [
    { login: "alice", subject: subjects[0], name: "Alice Example", email: "alice@example.test" },
    { login: "bob", subject: subjects[1], name: "Bob Example", email: "bob@example.test" },
  ];
}

/** A plain OpenID provider whose issuer is its own URL. */
export const GENERIC_PROFILE: OidcProfile = {
  issuer: (url) => url,
  discoveryPath: "/.well-known/openid-configuration",
  paths: { authorization: "/authorize", token: "/token", userinfo: "/userinfo", revocation: "/revoke", jwks: "/jwks" },
  advertiseRevocation: true,
  clientAuthentication: "any",
  refreshNeedsOfflineAccess: false,
  rotateRefreshTokens: true,
  sendsIss: false,
  rejectedScopes: [],
  invalidClient: { status: 401, body: { error: "invalid_client" } },
  invalidGrant: { status: 400, body: { error: "invalid_grant" } },
  outage: OUTAGE,
  users: users(["248289761001", "248289761002"]),
};

export const AUTH0_DOMAIN = "example.us.auth0.com";

/**
 * Auth0: issuer with a trailing slash, refresh tokens only with offline_access, HTTP 401
 * `access_denied` for a rejected client and HTTP 403 for a bad refresh token.
 */
export const AUTH0_PROFILE: OidcProfile = {
  issuer: () => `https://${AUTH0_DOMAIN}/`,
  discoveryPath: "/.well-known/openid-configuration",
  paths: { authorization: "/authorize", token: "/oauth/token", userinfo: "/userinfo", revocation: "/oauth/revoke", jwks: "/.well-known/jwks.json" },
  advertiseRevocation: true,
  clientAuthentication: "any",
  refreshNeedsOfflineAccess: true,
  rotateRefreshTokens: false,
  sendsIss: false,
  rejectedScopes: [],
  invalidClient: { status: 401, body: { error: "access_denied", error_description: "Unauthorized" } },
  invalidGrant: { status: 403, body: { error: "invalid_grant", error_description: "Unknown or invalid refresh token." } },
  outage: OUTAGE,
  users: users(["auth0|65f1c2a8e4b0d3f2a1b2c3d4", "google-oauth2|104523984401231234567"]),
};

export const OKTA_DOMAIN = "example.okta.com";

/** Okta's custom authorization server "default", with rotating refresh tokens that need offline_access. */
export const OKTA_PROFILE: OidcProfile = {
  issuer: () => `https://${OKTA_DOMAIN}/oauth2/default`,
  discoveryPath: "/oauth2/default/.well-known/openid-configuration",
  paths: {
    authorization: "/oauth2/default/v1/authorize",
    token: "/oauth2/default/v1/token",
    userinfo: "/oauth2/default/v1/userinfo",
    revocation: "/oauth2/default/v1/revoke",
    jwks: "/oauth2/default/v1/keys",
  },
  advertiseRevocation: true,
  clientAuthentication: "any",
  refreshNeedsOfflineAccess: true,
  rotateRefreshTokens: true,
  sendsIss: false,
  rejectedScopes: [],
  invalidClient: { status: 401, body: { error: "invalid_client", error_description: "Client authentication failed. Either the client or the client credentials are invalid." } },
  invalidGrant: { status: 400, body: { error: "invalid_grant", error_description: "The refresh token is invalid or expired." } },
  outage: OUTAGE,
  users: users(["00u1a2b3c4d5e6f7g8h9", "00u9h8g7f6e5d4c3b2a1"]),
};

/** Keycloak realm "acme": sends `iss` in authorization responses and rejects a client with `unauthorized_client`. */
export const KEYCLOAK_PROFILE: OidcProfile = {
  issuer: (url) => `${url}/realms/acme`,
  discoveryPath: "/realms/acme/.well-known/openid-configuration",
  paths: {
    authorization: "/realms/acme/protocol/openid-connect/auth",
    token: "/realms/acme/protocol/openid-connect/token",
    userinfo: "/realms/acme/protocol/openid-connect/userinfo",
    revocation: "/realms/acme/protocol/openid-connect/revoke",
    jwks: "/realms/acme/protocol/openid-connect/certs",
  },
  advertiseRevocation: true,
  clientAuthentication: "any",
  refreshNeedsOfflineAccess: false,
  rotateRefreshTokens: true,
  sendsIss: true,
  rejectedScopes: [],
  invalidClient: { status: 401, body: { error: "unauthorized_client", error_description: "Invalid client or Invalid client credentials" } },
  invalidGrant: { status: 400, body: { error: "invalid_grant", error_description: "Token is not active" } },
  outage: OUTAGE,
  users: users(["5f0e8d7c-6b5a-4938-a271-605f4e3d2c1b", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"]),
};

export const COGNITO_REGION = "eu-west-1";
export const COGNITO_POOL = "eu-west-1_Fake12345";

/**
 * An Amazon Cognito user pool: the discovery document lacks the revocation endpoint
 * it serves, offline_access is rejected, refreshes return no refresh token, and ID
 * tokens carry `token_use`.
 */
export const COGNITO_PROFILE: OidcProfile = {
  issuer: () => `https://cognito-idp.${COGNITO_REGION}.amazonaws.com/${COGNITO_POOL}`,
  discoveryPath: `/${COGNITO_POOL}/.well-known/openid-configuration`,
  paths: { authorization: "/oauth2/authorize", token: "/oauth2/token", userinfo: "/oauth2/userInfo", revocation: "/oauth2/revoke", jwks: `/${COGNITO_POOL}/.well-known/jwks.json` },
  advertiseRevocation: false,
  clientAuthentication: "any",
  refreshNeedsOfflineAccess: false,
  rotateRefreshTokens: false,
  sendsIss: false,
  rejectedScopes: ["offline_access"],
  idTokenExtras: (grant: FakeGrant) => ({ claims: { token_use: "id", "cognito:username": grant.user.login } }),
  invalidClient: { status: 400, body: { error: "invalid_client" } },
  invalidGrant: { status: 400, body: { error: "invalid_grant" } },
  outage: OUTAGE,
  users: users(["a1b2c3d4-0000-4000-8000-00000000000a", "a1b2c3d4-0000-4000-8000-00000000000b"]),
};

export const WORKOS_DOMAIN = "example.authkit.app";

/** WorkOS AuthKit: client_secret_basic only, no revocation endpoint. */
export const WORKOS_PROFILE: OidcProfile = {
  issuer: () => `https://${WORKOS_DOMAIN}`,
  discoveryPath: "/.well-known/openid-configuration",
  paths: { authorization: "/oauth2/authorize", token: "/oauth2/token", userinfo: "/oauth2/userinfo", jwks: "/oauth2/jwks" },
  advertiseRevocation: false,
  clientAuthentication: "client_secret_basic",
  refreshNeedsOfflineAccess: true,
  rotateRefreshTokens: true,
  sendsIss: false,
  rejectedScopes: [],
  invalidClient: { status: 401, body: { error: "invalid_client", error_description: "Invalid client secret." } },
  invalidGrant: { status: 400, body: { error: "invalid_grant", error_description: "The refresh token is invalid." } },
  outage: OUTAGE,
  users: users(["user_01HXYZ0000000000000000000A", "user_01HXYZ0000000000000000000B"]),
};

export const AUTHENTIK_DOMAIN = "auth.example.com";

/** authentik application "mcp": per-application issuer with a trailing slash, shared endpoints. */
export const AUTHENTIK_PROFILE: OidcProfile = {
  issuer: () => `https://${AUTHENTIK_DOMAIN}/application/o/mcp/`,
  discoveryPath: "/application/o/mcp/.well-known/openid-configuration",
  paths: {
    authorization: "/application/o/authorize/",
    token: "/application/o/token/",
    userinfo: "/application/o/userinfo/",
    revocation: "/application/o/revoke/",
    jwks: "/application/o/mcp/jwks/",
  },
  advertiseRevocation: true,
  clientAuthentication: "any",
  refreshNeedsOfflineAccess: true,
  rotateRefreshTokens: true,
  sendsIss: false,
  rejectedScopes: [],
  invalidClient: { status: 401, body: { error: "invalid_client", error_description: "Client authentication failed" } },
  invalidGrant: { status: 400, body: { error: "invalid_grant", error_description: "The provided authorization grant or refresh token is invalid" } },
  outage: OUTAGE,
  users: users(["d6b1f5a0b7c3e2f1a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6", "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"]),
};

export const ZITADEL_DOMAIN = "example-abc123.zitadel.cloud";
export const ZITADEL_PROJECT = "274187450373654531";

/** ZITADEL: the reserved project-audience scope adds the project to the ID token's audience. */
export const ZITADEL_PROFILE: OidcProfile = {
  issuer: () => `https://${ZITADEL_DOMAIN}`,
  discoveryPath: "/.well-known/openid-configuration",
  paths: { authorization: "/oauth/v2/authorize", token: "/oauth/v2/token", userinfo: "/oidc/v1/userinfo", revocation: "/oauth/v2/revoke", jwks: "/oauth/v2/keys" },
  advertiseRevocation: true,
  clientAuthentication: "any",
  refreshNeedsOfflineAccess: true,
  rotateRefreshTokens: true,
  sendsIss: false,
  rejectedScopes: [],
  idTokenExtras: (grant: FakeGrant) => {
    const project = grant.scopes.map((scope) => /^urn:zitadel:iam:org:project:id:(\d+):aud$/.exec(scope)?.[1]).find(Boolean);
    return project === undefined ? {} : { audience: project };
  },
  invalidClient: { status: 401, body: { error: "invalid_client", error_description: "Errors.App.NotFound" } },
  invalidGrant: { status: 400, body: { error: "invalid_grant", error_description: "Errors.User.RefreshToken.Invalid" } },
  outage: OUTAGE,
  users: users(["274187450373654599", "274187450373654600"]),
};
