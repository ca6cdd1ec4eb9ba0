import type { ServerResponse } from "node:http";

import { GrantBook } from "./grants.js";
import type { FakeGrant, FakeUser } from "./grants.js";
import {
  basicCredentials,
  bearerToken,
  FakeServer,
  redirectTo,
  sendForm,
  sendHtml,
  sendJson,
  signInPage,
  TokenFaults,
  verifyPkce,
  withParams,
} from "./server.js";
import type { RecordedRequest } from "./server.js";

/** A GitHub user with the numeric id, login and email list GitHub's API returns. */
export interface GitHubUser extends FakeUser {
  id: number;
  /** Public profile address, or null when the user shows none. */
  publicEmail: string | null;
  /** `name` may be null at GitHub. */
  displayName: string | null;
}

/** Options of `startFakeGitHub`. */
export interface FakeGitHubOptions {
  clientId: string;
  clientSecret: string;
  /** The app's callback URL. */
  redirectUri: string;
  /** "oauth-app" tokens never expire; "github-app" user tokens expire after 8 hours and come with refresh tokens. */
  kind: "oauth-app" | "github-app";
  /** "auto" responds with JSON only when the request accepts it, as GitHub does. */
  tokenFormat?: "auto" | "json" | "form";
  /** Whether a GitHub App has the "Email addresses" permission. */
  emailPermission?: boolean;
}

/** A running fake of github.com's OAuth endpoints and REST API, laid out as GitHub Enterprise Server. */
export interface FakeGitHub {
  server: FakeServer;
  /** Base URL, to pass as `baseUrl` (the API is at `<url>/api/v3`). */
  url: string;
  users: GitHubUser[];
  faults: TokenFaults;
  options: FakeGitHubOptions;
  /** Ends every grant issued so far. */
  revokeAll(): void;
  close(): Promise<void>;
}

export const GITHUB_USERS: GitHubUser[] = [
  { login: "octocat", subject: "583231", id: 583231, name: "The Octocat", displayName: "The Octocat", email: "octocat@github.test", publicEmail: "octo-public@github.test" },
  { login: "hubot", subject: "1000002", id: 1000002, name: "", displayName: null, email: "hubot@github.test", publicEmail: null },
];

const TOKEN_PATH = "/login/oauth/access_token";
const API = "/api/v3";

/**
 * Starts a fake GitHub that speaks the documented wire format: token errors as
 * HTTP 200 with `error`, JSON or form-encoded token responses by Accept, comma-separated
 * scopes, `/user`, `/user/emails` and `DELETE /applications/{client_id}/token`.
 */
export async function startFakeGitHub(options: FakeGitHubOptions): Promise<FakeGitHub> {
  const book = new GrantBook();
  const faults = new TokenFaults();
  const server = await FakeServer.start((request, res, url) => handle(request, res, url));

  async function handle(request: RecordedRequest, res: ServerResponse, url: string): Promise<void> {
    if (request.method === "GET" && request.path === "/login/oauth/authorize") {
      authorizePage(request, res);
      return;
    }
    if (request.method === "POST" && request.path === "/login/oauth/authorize/submit") {
      submitSignIn(request, res);
      return;
    }
    if (request.method === "POST" && request.path === TOKEN_PATH) {
      if (!(await faults.apply(res, { message: "Service Unavailable" }))) {
        tokenEndpoint(request, res);
      }
      return;
    }
    if (request.path.startsWith(`${API}/`)) {
      api(request, res, url);
      return;
    }
    sendJson(res, 404, { message: "Not Found" });
  }

  function authorizePage(request: RecordedRequest, res: ServerResponse): void {
    const { query } = request;
    if (query.get("client_id") !== options.clientId) {
      sendHtml(res, 404, "<h1>404: no app with this client id</h1>");
      return;
    }
    const redirectUri = query.get("redirect_uri") ?? options.redirectUri;
    if (redirectUri !== options.redirectUri) {
      redirectTo(res, withParams(options.redirectUri, { error: "redirect_uri_mismatch", state: query.get("state") ?? undefined }));
      return;
    }

    const id = book.startAuthorization({
      clientId: options.clientId,
      redirectUri,
      state: query.get("state") ?? undefined,
      // GitHub accepts scopes separated by spaces or commas.
      scopes: (query.get("scope") ?? "").split(/[\s,]+/).filter(Boolean),
      codeChallenge: query.get("code_challenge") ?? undefined,
      params: query,
    });
    sendHtml(res, 200, signInPage("Authorize the app", "/login/oauth/authorize/submit", id, GITHUB_USERS[0]?.login ?? ""));
  }

  function submitSignIn(request: RecordedRequest, res: ServerResponse): void {
    const pending = book.takeAuthorization(request.form.get("request"));
    const user = GITHUB_USERS.find((candidate) => candidate.login === request.form.get("login"));
    if (pending === undefined || user === undefined) {
      sendHtml(res, 400, "<h1>Unknown sign-in request or user</h1>");
      return;
    }
    // GitHub Apps have permissions instead of scopes.
    const granted = options.kind === "github-app" ? [] : pending.scopes;
    redirectTo(res, withParams(pending.redirectUri, { code: book.issueCode(pending, user, granted), state: pending.state }));
  }

  function tokenEndpoint(request: RecordedRequest, res: ServerResponse): void {
    const params = request.form;
    const answer = (body: Record<string, string | number>) => sendToken(request, res, body);
    if (params.get("client_id") !== options.clientId || params.get("client_secret") !== options.clientSecret) {
      answer(tokenError("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect."));
      return;
    }

    if (params.get("grant_type") === "refresh_token") {
      refreshGrant(params.get("refresh_token"), answer);
      return;
    }
    const grant = book.redeemCode(params.get("code"));
    if (grant === undefined || !verifyPkce(params.get("code_verifier"), grant.request.codeChallenge)) {
      answer(tokenError("bad_verification_code", "The code passed is incorrect or expired."));
      return;
    }
    if (params.has("redirect_uri") && params.get("redirect_uri") !== grant.request.redirectUri) {
      answer(tokenError("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application."));
      return;
    }
    answer(issueTokens(grant));
  }

  function refreshGrant(refreshToken: string | null, answer: (body: Record<string, string | number>) => void): void {
    const grant = options.kind === "github-app" ? book.findRefreshToken(refreshToken) : undefined;
    if (grant === undefined || refreshToken === null) {
      answer(tokenError("bad_refresh_token", "The refresh token passed is incorrect or expired."));
      return;
    }
    // Using a refresh token retires it and the old access token (GitHub docs, "Refreshing user access tokens").
    book.retireRefreshToken(refreshToken);
    answer(issueTokens(grant));
  }

  function issueTokens(grant: FakeGrant): Record<string, string | number> {
    if (options.kind === "oauth-app") {
      return { access_token: book.issueAccessToken(grant, "gho_"), token_type: "bearer", scope: grant.scopes.join(",") };
    }
    return {
      access_token: book.issueAccessToken(grant, "ghu_"),
      expires_in: 28800,
      refresh_token: book.issueRefreshToken(grant, "ghr_"),
      refresh_token_expires_in: 15897600,
      scope: "",
      token_type: "bearer",
    };
  }

  function sendToken(request: RecordedRequest, res: ServerResponse, body: Record<string, string | number>): void {
    const format = options.tokenFormat ?? "auto";
    const json = format === "json" || (format === "auto" && (request.headers.accept ?? "").includes("application/json"));
    if (json) {
      sendJson(res, 200, body);
    } else {
      sendForm(res, 200, body);
    }
  }

  function api(request: RecordedRequest, res: ServerResponse, url: string): void {
    if (request.headers["user-agent"] === undefined) {
      sendJson(res, 403, { message: "Request forbidden by administrative rules. Please make sure your request has a User-Agent header" });
      return;
    }
    const path = request.path.slice(API.length);
    if (request.method === "GET" && path === "/meta") {
      sendJson(res, 200, { verifiable_password_authentication: false, installed_version: "3.14.0" });
      return;
    }
    if (request.method === "DELETE" && path === `/applications/${options.clientId}/token`) {
      deleteToken(request, res);
      return;
    }

    const grant = book.findAccessToken(bearerToken(request.headers));
    if (grant === undefined) {
      sendJson(res, 401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest" });
      return;
    }
    if (request.method === "GET" && path === "/user") {
      sendJson(res, 200, userJson(grant.user as GitHubUser, url));
      return;
    }
    if (request.method === "GET" && path === "/user/emails") {
      emails(grant, res);
      return;
    }
    sendJson(res, 404, { message: "Not Found" });
  }

  function emails(grant: FakeGrant, res: ServerResponse): void {
    const user = grant.user as GitHubUser;
    if (options.kind === "github-app" && options.emailPermission === false) {
      sendJson(res, 403, { message: "Resource not accessible by integration" });
      return;
    }
    if (options.kind === "oauth-app" && !grant.scopes.some((scope) => scope === "user" || scope === "user:email")) {
      sendJson(res, 404, { message: "Not Found" });
      return;
    }
    sendJson(res, 200, [
      { email: `unverified-${user.email}`, primary: false, verified: false, visibility: null },
      { email: user.email, primary: true, verified: true, visibility: "private" },
    ]);
  }

  function deleteToken(request: RecordedRequest, res: ServerResponse): void {
    const credentials = basicCredentials(request.headers);
    if (credentials?.id !== options.clientId || credentials.secret !== options.clientSecret) {
      sendJson(res, 404, { message: "Not Found" });
      return;
    }
    const body = JSON.parse(request.body || "{}") as { access_token?: string };
    if (!book.revokeByToken(body.access_token ?? null)) {
      sendJson(res, 404, { message: "Not Found" });
      return;
    }
    res.writeHead(204).end();
  }

  return {
    server,
    url: server.url,
    users: GITHUB_USERS,
    faults,
    options,
    revokeAll: () => book.revokeAll(),
    close: () => server.close(),
  };
}

function tokenError(error: string, description: string): Record<string, string> {
  return { error, error_description: description, error_uri: "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors" };
}

function userJson(user: GitHubUser, url: string): Record<string, unknown> {
  return {
    login: user.login,
    id: user.id,
    node_id: `MDQ6VXNlcj${user.id}`,
    avatar_url: `${url}/avatars/${user.id}`,
    html_url: `${url}/${user.login}`,
    type: "User",
    site_admin: false,
    name: user.displayName,
    email: user.publicEmail,
  };
}
