import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";

import { GrantBook } from "./grants.js";
import type { FakeGrant, FakeUser } from "./grants.js";
import {
  basicCredentials,
  FakeServer,
  redirectTo,
  sendHtml,
  sendJson,
  signInPage,
  SigningKey,
  TokenFaults,
  verifyPkce,
  withParams,
} from "./server.js";
import type { RecordedRequest } from "./server.js";

/** A Microsoft account: `oid` is its object id in its tenant `tid`. */
export interface EntraUser extends FakeUser {
  oid: string;
  tid: string;
}

/** Options of `startFakeEntra`. */
export interface FakeEntraOptions {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

/** A running fake of the Microsoft identity platform v2.0 endpoints, at `<url>/<tenant>/...`. */
export interface FakeEntra {
  server: FakeServer;
  /** Pass as `authorityHost`. */
  url: string;
  users: EntraUser[];
  faults: TokenFaults;
  /** Makes the next refresh fail with an Entra error code, such as "interaction_required". */
  failNextRefresh(error: string): void;
  signIdToken(claims: Record<string, unknown>): string;
  revokeAll(): void;
  close(): Promise<void>;
}

export const CONTOSO_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
export const CONSUMERS_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad";

export const ENTRA_USERS: EntraUser[] = [
  { login: "megan", subject: "00000000-0000-0000-66f3-3332eca7ea81", oid: "00000000-0000-0000-66f3-3332eca7ea81", tid: CONTOSO_TENANT, name: "Megan Bowen", email: "megan@contoso.test" },
  { login: "adele", subject: "11111111-1111-1111-a1b2-c3d4e5f60718", oid: "11111111-1111-1111-a1b2-c3d4e5f60718", tid: CONTOSO_TENANT, name: "Adele Vance", email: "adele@contoso.test" },
  { login: "live-user", subject: "00000000-0000-0000-40aa-1bc5f00c2d7e", oid: "00000000-0000-0000-40aa-1bc5f00c2d7e", tid: CONSUMERS_TENANT, name: "Personal User", email: "someone@outlook.test" },
];

const OIDC_SCOPES = new Set(["openid", "profile", "email", "offline_access"]);
const PATH = /^\/([^/]+)\/(oauth2\/v2\.0\/authorize|oauth2\/v2\.0\/authorize\/submit|oauth2\/v2\.0\/token|discovery\/v2\.0\/keys)$/;

/**
 * Starts a fake Entra ID. Like the real v2.0 endpoints it rejects the `resource`
 * parameter (AADSTS901002) and scopes that name no resource, returns errors with
 * `error_codes`, `trace_id` and `correlation_id`, rotates refresh tokens, and
 * issues v2.0 ID tokens whose issuer is the user's tenant.
 */
export async function startFakeEntra(options: FakeEntraOptions): Promise<FakeEntra> {
  const book = new GrantBook();
  const faults = new TokenFaults();
  const key = new SigningKey();
  const refreshErrors: string[] = [];
  const server = await FakeServer.start((request, res, url) => handle(request, res, url));

  async function handle(request: RecordedRequest, res: ServerResponse, url: string): Promise<void> {
    const match = PATH.exec(request.path);
    const route = match?.[2];
    if (route === "oauth2/v2.0/authorize" && request.method === "GET") {
      authorizePage(request, res, request.path);
    } else if (route === "oauth2/v2.0/authorize/submit" && request.method === "POST") {
      submitSignIn(request, res);
    } else if (route === "oauth2/v2.0/token" && request.method === "POST") {
      if (!(await faults.apply(res, entraError("temporarily_unavailable", 50000, "The service is temporarily unavailable")))) {
        tokenEndpoint(request, res, url);
      }
    } else if (route === "discovery/v2.0/keys" && request.method === "GET") {
      sendJson(res, 200, key.jwks());
    } else {
      sendJson(res, 404, entraError("invalid_request", 900561, "The endpoint only accepts the documented requests"));
    }
  }

  function authorizePage(request: RecordedRequest, res: ServerResponse, path: string): void {
    const { query } = request;
    if (query.get("client_id") !== options.clientId || query.get("redirect_uri") !== options.redirectUri) {
      sendHtml(res, 400, "<h1>AADSTS50011: The redirect URI does not match the redirect URIs configured for the application.</h1>");
      return;
    }
    const state = query.get("state") ?? undefined;
    if (query.has("resource")) {
      redirectTo(res, withParams(options.redirectUri, { error: "invalid_request", error_description: "AADSTS901002: The 'resource' request parameter is not supported.", state }));
      return;
    }
    const scopes = (query.get("scope") ?? "").split(" ").filter(Boolean);
    const unqualified = scopes.filter((scope) => !OIDC_SCOPES.has(scope) && !scope.includes("/"));
    if (unqualified.length > 0) {
      redirectTo(res, withParams(options.redirectUri, { error: "invalid_scope", error_description: `AADSTS70011: The scope '${unqualified.join(" ")}' does not name a resource.`, state }));
      return;
    }

    const id = book.startAuthorization({ clientId: options.clientId, redirectUri: options.redirectUri, state, scopes, codeChallenge: query.get("code_challenge") ?? undefined, params: query });
    sendHtml(res, 200, signInPage("Sign in to your account", `${path}/submit`, id, ENTRA_USERS[0]?.login ?? ""));
  }

  function submitSignIn(request: RecordedRequest, res: ServerResponse): void {
    const pending = book.takeAuthorization(request.form.get("request"));
    const user = ENTRA_USERS.find((candidate) => candidate.login === request.form.get("login"));
    if (pending === undefined || user === undefined) {
      sendHtml(res, 400, "<h1>Unknown sign-in request or account</h1>");
      return;
    }
    redirectTo(res, withParams(pending.redirectUri, { code: book.issueCode(pending, user), state: pending.state }));
  }

  function tokenEndpoint(request: RecordedRequest, res: ServerResponse, url: string): void {
    const params = request.form;
    const basic = basicCredentials(request.headers);
    if ((basic?.id ?? params.get("client_id")) !== options.clientId || (basic?.secret ?? params.get("client_secret")) !== options.clientSecret) {
      sendJson(res, 401, entraError("invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value"));
      return;
    }
    if (params.has("resource")) {
      sendJson(res, 400, entraError("invalid_request", 901002, "The 'resource' request parameter is not supported."));
      return;
    }

    if (params.get("grant_type") === "refresh_token") {
      refreshGrant(params.get("refresh_token"), res, url);
      return;
    }
    const grant = book.redeemCode(params.get("code"));
    if (grant === undefined || !verifyPkce(params.get("code_verifier"), grant.request.codeChallenge) || params.get("redirect_uri") !== grant.request.redirectUri) {
      sendJson(res, 400, entraError("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity."));
      return;
    }
    sendJson(res, 200, tokenResponse(grant, url));
  }

  function refreshGrant(refreshToken: string | null, res: ServerResponse, url: string): void {
    const forced = refreshErrors.shift();
    if (forced !== undefined) {
      sendJson(res, 400, entraError(forced, 50076, "Due to a configuration change made by your administrator, you must use multi-factor authentication."));
      return;
    }
    const grant = book.findRefreshToken(refreshToken);
    if (grant === undefined || refreshToken === null) {
      sendJson(res, 400, entraError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."));
      return;
    }
    book.retireRefreshToken(refreshToken);
    sendJson(res, 200, tokenResponse(grant, url));
  }

  function tokenResponse(grant: FakeGrant, url: string): Record<string, unknown> {
    const user = grant.user as EntraUser;
    const body: Record<string, unknown> = {
      token_type: "Bearer",
      scope: grant.scopes.filter((scope) => scope !== "offline_access").join(" "),
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: book.issueAccessToken(grant, "eyJ0eXAi."),
    };
    if (grant.scopes.includes("offline_access")) {
      body.refresh_token = book.issueRefreshToken(grant, "0.AXkA");
    }
    if (grant.scopes.includes("openid")) {
      body.id_token = key.sign({
        ver: "2.0",
        iss: `${url}/${user.tid}/v2.0`,
        sub: `pairwise-${user.oid}`,
        aud: options.clientId,
        nbf: Math.floor(Date.now() / 1000) - 5,
        aio: "Df2UVXL1ix!lMCWMSOJBcFatzcGfvFGhjKv8q5g0x732dR5MB5BisvGQO7YWByjd8iQDLq!eGbIDakyp5mnOrcdqHeYSnltepQmRp6AIZ8jY",
        rh: "0.AXkA",
        uti: randomUUID(),
        oid: user.oid,
        tid: user.tid,
        ...(grant.scopes.includes("profile") ? { name: user.name, preferred_username: user.email } : {}),
        ...(grant.scopes.includes("email") ? { email: user.email } : {}),
      });
    }
    return body;
  }

  return {
    server,
    url: server.url,
    users: ENTRA_USERS,
    faults,
    failNextRefresh: (error) => refreshErrors.push(error),
    signIdToken: (claims) => key.sign(claims),
    revokeAll: () => book.revokeAll(),
    close: () => server.close(),
  };
}

// Entra's token endpoint error shape (Microsoft identity platform, "Error response").
function entraError(error: string, code: number, description: string): Record<string, unknown> {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date().toISOString().replace("T", " ").slice(0, 19) + "Z";
  return {
    error,
    error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
  };
}
