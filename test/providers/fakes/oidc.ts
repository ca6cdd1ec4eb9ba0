import type { ServerResponse } from "node:http";

import { GrantBook } from "./grants.js";
import type { FakeGrant, FakeUser } from "./grants.js";
import {
  basicCredentials,
  bearerToken,
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

/** An error response of a provider: its status and body. */
export interface ErrorAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** Layout and behavior of one OpenID provider's endpoints. */
export interface OidcProfile {
  /** Issuer the fake claims, given its own base URL. */
  issuer(url: string): string;
  discoveryPath: string;
  paths: { authorization: string; token: string; jwks: string; userinfo?: string; revocation?: string };
  /** Whether the discovery document lists the revocation endpoint it serves. */
  advertiseRevocation: boolean;
  /** Discovery document members to leave out. */
  omitFromDiscovery?: string[];
  clientAuthentication: "client_secret_basic" | "client_secret_post" | "any";
  /** Whether a refresh token needs the offline_access scope. */
  refreshNeedsOfflineAccess: boolean;
  /** Whether a refresh returns a new refresh token (and retires the old one). */
  rotateRefreshTokens: boolean;
  /** Whether the authorization response carries `iss` (RFC 9207). */
  sendsIss: boolean;
  /** Scopes the provider rejects with `invalid_scope`. */
  rejectedScopes: string[];
  /** Extra ID token claims, and an extra audience, for a grant. */
  idTokenExtras?(grant: FakeGrant): { claims?: Record<string, unknown>; audience?: string };
  invalidClient: ErrorAnswer;
  invalidGrant: ErrorAnswer;
  outage: ErrorAnswer;
  users: FakeUser[];
}

/** Options of `startFakeOidc`. */
export interface FakeOidcOptions {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

/** A running fake OpenID provider. */
export interface FakeOidc {
  server: FakeServer;
  url: string;
  /** The issuer it claims. */
  issuer: string;
  /** Absolute URL of its discovery document. */
  discoveryUrl: string;
  faults: TokenFaults;
  profile: OidcProfile;
  revokeAll(): void;
  close(): Promise<void>;
}

/** Starts a fake OpenID provider that behaves as `profile` describes. */
export async function startFakeOidc(profile: OidcProfile, options: FakeOidcOptions): Promise<FakeOidc> {
  const book = new GrantBook();
  const faults = new TokenFaults();
  const key = new SigningKey();
  const server = await FakeServer.start((request, res, url) => handle(request, res, url));
  const issuer = profile.issuer(server.url);
  const { paths } = profile;

  async function handle(request: RecordedRequest, res: ServerResponse, url: string): Promise<void> {
    const route = `${request.method} ${request.path}`;
    if (route === `GET ${profile.discoveryPath}`) {
      sendJson(res, 200, discoveryDocument(url));
    } else if (route === `GET ${paths.authorization}`) {
      authorizePage(request, res);
    } else if (route === `POST ${paths.authorization}/submit`) {
      submitSignIn(request, res);
    } else if (route === `POST ${paths.token}`) {
      if (!(await faults.apply(res, profile.outage.body))) {
        tokenEndpoint(request, res);
      }
    } else if (route === `GET ${paths.jwks}`) {
      sendJson(res, 200, key.jwks());
    } else if (paths.userinfo !== undefined && route === `GET ${paths.userinfo}`) {
      userinfo(request, res);
    } else if (paths.revocation !== undefined && route === `POST ${paths.revocation}`) {
      revocation(request, res);
    } else {
      sendJson(res, 404, { error: "not_found" });
    }
  }

  function discoveryDocument(url: string): Record<string, unknown> {
    const absolute = (path: string | undefined) => (path === undefined ? undefined : `${url}${path}`);
    const document: Record<string, unknown> = {
      issuer,
      authorization_endpoint: absolute(paths.authorization),
      token_endpoint: absolute(paths.token),
      userinfo_endpoint: absolute(paths.userinfo),
      revocation_endpoint: profile.advertiseRevocation ? absolute(paths.revocation) : undefined,
      jwks_uri: absolute(paths.jwks),
      response_types_supported: ["code"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["RS256"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: profile.clientAuthentication === "any" ? ["client_secret_basic", "client_secret_post"] : [profile.clientAuthentication],
      authorization_response_iss_parameter_supported: profile.sendsIss,
    };
    for (const member of profile.omitFromDiscovery ?? []) {
      delete document[member];
    }
    return document;
  }

  function authorizePage(request: RecordedRequest, res: ServerResponse): void {
    const { query } = request;
    if (query.get("client_id") !== options.clientId || query.get("redirect_uri") !== options.redirectUri) {
      sendHtml(res, 400, "<h1>Invalid client or redirect URI</h1>");
      return;
    }
    const state = query.get("state") ?? undefined;
    const scopes = (query.get("scope") ?? "").split(" ").filter(Boolean);
    const rejected = scopes.filter((scope) => profile.rejectedScopes.includes(scope));
    if (rejected.length > 0) {
      redirectTo(res, withParams(options.redirectUri, { error: "invalid_scope", error_description: `${rejected.join(" ")} is not allowed`, state }));
      return;
    }

    const id = book.startAuthorization({ clientId: options.clientId, redirectUri: options.redirectUri, state, scopes, codeChallenge: query.get("code_challenge") ?? undefined, params: query });
    sendHtml(res, 200, signInPage("Sign in", `${paths.authorization}/submit`, id, profile.users[0]?.login ?? ""));
  }

  function submitSignIn(request: RecordedRequest, res: ServerResponse): void {
    const pending = book.takeAuthorization(request.form.get("request"));
    const user = profile.users.find((candidate) => candidate.login === request.form.get("login"));
    if (pending === undefined || user === undefined) {
      sendHtml(res, 400, "<h1>Unknown sign-in request or user</h1>");
      return;
    }
    redirectTo(res, withParams(pending.redirectUri, {
      code: book.issueCode(pending, user),
      state: pending.state,
      iss: profile.sendsIss ? issuer : undefined,
    }));
  }

  function authenticated(request: RecordedRequest): boolean {
    const basic = basicCredentials(request.headers);
    const post = request.form.has("client_secret");
    if ((profile.clientAuthentication === "client_secret_basic" && post) || (profile.clientAuthentication === "client_secret_post" && basic !== undefined)) {
      return false;
    }
    const id = basic?.id ?? request.form.get("client_id");
    const secret = basic?.secret ?? request.form.get("client_secret");
    return id === options.clientId && secret === options.clientSecret;
  }

  function tokenEndpoint(request: RecordedRequest, res: ServerResponse): void {
    if (!authenticated(request)) {
      sendJson(res, profile.invalidClient.status, profile.invalidClient.body);
      return;
    }
    const params = request.form;

    if (params.get("grant_type") === "refresh_token") {
      const refreshToken = params.get("refresh_token");
      const grant = book.findRefreshToken(refreshToken);
      if (grant === undefined || refreshToken === null) {
        sendJson(res, profile.invalidGrant.status, profile.invalidGrant.body);
        return;
      }
      if (profile.rotateRefreshTokens) {
        book.retireRefreshToken(refreshToken);
      }
      sendJson(res, 200, tokenResponse(grant, profile.rotateRefreshTokens));
      return;
    }

    const grant = book.redeemCode(params.get("code"));
    if (grant === undefined || !verifyPkce(params.get("code_verifier"), grant.request.codeChallenge) || params.get("redirect_uri") !== grant.request.redirectUri) {
      sendJson(res, profile.invalidGrant.status, profile.invalidGrant.body);
      return;
    }
    const refresh = !profile.refreshNeedsOfflineAccess || grant.scopes.includes("offline_access");
    sendJson(res, 200, tokenResponse(grant, refresh));
  }

  function tokenResponse(grant: FakeGrant, withRefreshToken: boolean): Record<string, unknown> {
    const extras = profile.idTokenExtras?.(grant) ?? {};
    const body: Record<string, unknown> = {
      access_token: book.issueAccessToken(grant),
      token_type: "Bearer",
      expires_in: 3600,
      scope: grant.scopes.join(" "),
      id_token: key.sign({
        iss: issuer,
        sub: grant.user.subject,
        aud: extras.audience === undefined ? options.clientId : [options.clientId, extras.audience],
        azp: options.clientId,
        name: grant.user.name,
        email: grant.user.email,
        email_verified: true,
        ...extras.claims,
      }),
    };
    if (withRefreshToken) {
      body.refresh_token = book.issueRefreshToken(grant);
    }
    return body;
  }

  function userinfo(request: RecordedRequest, res: ServerResponse): void {
    const grant = book.findAccessToken(bearerToken(request.headers));
    if (grant === undefined) {
      res.writeHead(401, { "www-authenticate": 'Bearer error="invalid_token"' }).end();
      return;
    }
    sendJson(res, 200, { sub: grant.user.subject, name: grant.user.name, email: grant.user.email, email_verified: true });
  }

  // RFC 7009 §2.2: an unknown token also gets 200.
  function revocation(request: RecordedRequest, res: ServerResponse): void {
    if (!authenticated(request)) {
      sendJson(res, profile.invalidClient.status, profile.invalidClient.body);
      return;
    }
    book.revokeByToken(request.form.get("token"));
    res.writeHead(200).end();
  }

  return {
    server,
    url: server.url,
    issuer,
    discoveryUrl: `${server.url}${profile.discoveryPath}`,
    faults,
    profile,
    revokeAll: () => book.revokeAll(),
    close: () => server.close(),
  };
}
