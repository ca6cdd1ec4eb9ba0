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

/** A Google account; `hostedDomain` is set for Google Workspace accounts. */
export interface GoogleUser extends FakeUser {
  hostedDomain?: string;
}

/** Options of `startFakeGoogle`. */
export interface FakeGoogleOptions {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

/** A running fake of Google's OAuth 2.0 and OpenID Connect endpoints. */
export interface FakeGoogle {
  server: FakeServer;
  url: string;
  users: GoogleUser[];
  faults: TokenFaults;
  /** The `endpoints` option that points `GoogleProvider` at this fake. */
  endpoints: { authorization: string; token: string; userinfo: string; revocation: string; jwks: string };
  /** Signs an ID token with the fake's key, for tests of ID token checks. */
  signIdToken(claims: Record<string, unknown>): string;
  revokeAll(): void;
  close(): Promise<void>;
}

export const GOOGLE_USERS: GoogleUser[] = [
  { login: "ada", subject: "110169484474386276334", name: "Ada Lovelace", email: "ada@gmail.test" },
  { login: "grace", subject: "117354229817341010212", name: "Grace Hopper", email: "grace@example.com", hostedDomain: "example.com" },
];

// Google reports the short scopes under their long names in token responses (Google's OAuth 2.0 scopes reference).
const LONG_SCOPES: Record<string, string> = {
  email: "https://www.googleapis.com/auth/userinfo.email",
  profile: "https://www.googleapis.com/auth/userinfo.profile",
};

const PATHS = {
  authorization: "/o/oauth2/v2/auth",
  token: "/token",
  userinfo: "/v1/userinfo",
  revocation: "/revoke",
  jwks: "/oauth2/v3/certs",
};

/**
 * Starts a fake Google. As Google does, it issues a refresh token only for
 * `access_type=offline` and only on the first consent unless `prompt=consent`,
 * leaves `refresh_token` out of refresh responses, and signs ID tokens with
 * `iss` "https://accounts.google.com".
 */
export async function startFakeGoogle(options: FakeGoogleOptions): Promise<FakeGoogle> {
  const book = new GrantBook();
  const faults = new TokenFaults();
  const key = new SigningKey();
  const consented = new Set<string>();
  const server = await FakeServer.start((request, res) => handle(request, res));

  async function handle(request: RecordedRequest, res: ServerResponse): Promise<void> {
    if (request.method === "GET" && request.path === PATHS.authorization) {
      authorizePage(request, res);
    } else if (request.method === "POST" && request.path === `${PATHS.authorization}/submit`) {
      submitSignIn(request, res);
    } else if (request.method === "POST" && request.path === PATHS.token) {
      if (!(await faults.apply(res, { error: "temporarily_unavailable" }))) {
        tokenEndpoint(request, res);
      }
    } else if (request.method === "GET" && request.path === PATHS.jwks) {
      sendJson(res, 200, key.jwks());
    } else if (request.method === "POST" && request.path === PATHS.revocation) {
      const token = request.form.get("token") ?? request.query.get("token");
      if (book.revokeByToken(token)) {
        sendJson(res, 200, {});
      } else {
        sendJson(res, 400, { error: "invalid_token", error_description: "Token expired or revoked" });
      }
    } else {
      sendJson(res, 404, { error: "not_found" });
    }
  }

  function authorizePage(request: RecordedRequest, res: ServerResponse): void {
    const { query } = request;
    if (query.get("client_id") !== options.clientId || query.get("redirect_uri") !== options.redirectUri) {
      sendHtml(res, 400, "<h1>Error 400: redirect_uri_mismatch</h1>");
      return;
    }
    const id = book.startAuthorization({
      clientId: options.clientId,
      redirectUri: options.redirectUri,
      state: query.get("state") ?? undefined,
      scopes: (query.get("scope") ?? "").split(" ").filter(Boolean),
      codeChallenge: query.get("code_challenge") ?? undefined,
      params: query,
    });
    sendHtml(res, 200, signInPage("Sign in with Google", `${PATHS.authorization}/submit`, id, GOOGLE_USERS[0]?.login ?? ""));
  }

  function submitSignIn(request: RecordedRequest, res: ServerResponse): void {
    const pending = book.takeAuthorization(request.form.get("request"));
    const user = GOOGLE_USERS.find((candidate) => candidate.login === request.form.get("login"));
    if (pending === undefined || user === undefined) {
      sendHtml(res, 400, "<h1>Unknown sign-in request or account</h1>");
      return;
    }
    redirectTo(res, withParams(pending.redirectUri, { code: book.issueCode(pending, user), state: pending.state }));
  }

  function tokenEndpoint(request: RecordedRequest, res: ServerResponse): void {
    const params = request.form;
    const basic = basicCredentials(request.headers);
    const clientId = basic?.id ?? params.get("client_id");
    const clientSecret = basic?.secret ?? params.get("client_secret");
    if (clientId !== options.clientId || clientSecret !== options.clientSecret) {
      sendJson(res, 401, { error: "invalid_client", error_description: "Unauthorized" });
      return;
    }

    if (params.get("grant_type") === "refresh_token") {
      const grant = book.findRefreshToken(params.get("refresh_token"));
      if (grant === undefined) {
        sendJson(res, 400, { error: "invalid_grant", error_description: "Token has been expired or revoked." });
        return;
      }
      sendJson(res, 200, tokenResponse(grant, false));
      return;
    }

    const grant = book.redeemCode(params.get("code"));
    if (grant === undefined || !verifyPkce(params.get("code_verifier"), grant.request.codeChallenge) || params.get("redirect_uri") !== grant.request.redirectUri) {
      sendJson(res, 400, { error: "invalid_grant", error_description: "Bad Request" });
      return;
    }
    sendJson(res, 200, tokenResponse(grant, issuesRefreshToken(grant)));
  }

  function issuesRefreshToken(grant: FakeGrant): boolean {
    const params = grant.request.params;
    const firstConsent = !consented.has(grant.user.subject);
    consented.add(grant.user.subject);
    return params.get("access_type") === "offline" && (firstConsent || (params.get("prompt") ?? "").split(" ").includes("consent"));
  }

  function tokenResponse(grant: FakeGrant, withRefreshToken: boolean): Record<string, unknown> {
    const user = grant.user as GoogleUser;
    const body: Record<string, unknown> = {
      access_token: book.issueAccessToken(grant, "ya29."),
      expires_in: 3599,
      scope: grant.scopes.map((scope) => LONG_SCOPES[scope] ?? scope).join(" "),
      token_type: "Bearer",
    };
    if (grant.scopes.includes("openid")) {
      body.id_token = key.sign({
        iss: "https://accounts.google.com",
        azp: options.clientId,
        aud: options.clientId,
        sub: user.subject,
        email: user.email,
        email_verified: true,
        name: user.name,
        given_name: user.name.split(" ")[0],
        picture: `https://lh3.googleusercontent.test/${user.subject}`,
        ...(user.hostedDomain === undefined ? {} : { hd: user.hostedDomain }),
      });
    }
    if (withRefreshToken) {
      body.refresh_token = book.issueRefreshToken(grant, "1//");
    }
    return body;
  }

  const url = server.url;
  return {
    server,
    url,
    users: GOOGLE_USERS,
    faults,
    endpoints: {
      authorization: `${url}${PATHS.authorization}`,
      token: `${url}${PATHS.token}`,
      userinfo: `${url}${PATHS.userinfo}`,
      revocation: `${url}${PATHS.revocation}`,
      jwks: `${url}${PATHS.jwks}`,
    },
    signIdToken: (claims) => key.sign(claims),
    revokeAll: () => book.revokeAll(),
    close: () => server.close(),
  };
}
