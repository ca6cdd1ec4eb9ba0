import createDebug from "debug";
import { OptionError, UpstreamError } from "../errors.js";
import { getJson, getJsonArray, isObject, requestJson } from "./http.js";
import { AuthorizationCodeProvider, withDetails } from "./authorization-code.js";
import type { ProviderEndpoints, TokenGrant } from "./authorization-code.js";
import { endpointProblem } from "./options.js";
import type { ClientOptions } from "./options.js";
import type { UpstreamFailure } from "../errors.js";
import type { UpstreamIdentity, UpstreamTokens } from "./types.js";

const debug = createDebug("mcp-oauth-proxy:provider");

/** Options for `GitHubProvider`: an OAuth App or a GitHub App on github.com or GitHub Enterprise Server. */
export interface GitHubProviderOptions extends Omit<ClientOptions, "clientSecret" | "clientAuthentication" | "subjectClaim"> {
  /** The app's client secret; GitHub requires it on every token request. */
  clientSecret: string;
  /** Web URL of a GitHub Enterprise Server, such as "https://github.example.com"; defaults to github.com. */
  baseUrl?: string;
  /** REST API root; defaults to https://api.github.com, or `<baseUrl>/api/v3` with `baseUrl`. */
  apiUrl?: string;
}

// REST API version the requests are written against (GitHub REST API versioning).
const API_VERSION = "2022-11-28";

// GitHub's token endpoint errors, which it sends with HTTP 200 (GitHub docs,
// "Troubleshooting OAuth app access token request errors" and "Refreshing user access tokens").
const TOKEN_ERRORS: Record<string, { failure: UpstreamFailure; reason: string }> = {
  bad_verification_code: { failure: "invalid_grant", reason: "the code is wrong, expired or already used" },
  bad_refresh_token: { failure: "invalid_grant", reason: "the refresh token is wrong, expired or already used" },
  incorrect_client_credentials: { failure: "invalid_client", reason: "the client id or secret is wrong" },
  unverified_user_email: { failure: "protocol", reason: "the user has no verified email address at GitHub" },
};

// Also an operator problem, but not one of the credentials, so it gets its own fix.
const REDIRECT_URI_MISMATCH = "redirect_uri_mismatch";

/**
 * Sign-in with GitHub through an OAuth App or a GitHub App.
 *
 * OAuth App tokens do not expire and come without a refresh token; GitHub App
 * user tokens expire after about 8 hours and come with a rotating refresh token.
 * The user is identified by the numeric account id, which survives renames.
 *
 * @example
 * const provider = new GitHubProvider({ clientId: process.env.GITHUB_CLIENT_ID!, clientSecret: process.env.GITHUB_CLIENT_SECRET! });
 */
export class GitHubProvider extends AuthorizationCodeProvider {
  protected readonly issuer = undefined;
  /** REST API root the user, email and revocation requests go to, without a trailing slash. */
  readonly apiUrl: string;
  private readonly ownEndpoints: ProviderEndpoints;

  constructor(options: GitHubProviderOptions) {
    if (isObject(options) && (typeof options.clientSecret !== "string" || options.clientSecret === "")) {
      throw new OptionError("clientSecret", "(hidden)", "Set it to a client secret generated on the app's settings page; GitHub requires it on every token request.");
    }
    super({ ...options, clientAuthentication: "client_secret_post" }, { name: "GitHub", scopes: ["read:user", "user:email"] });

    const web = rootUrlOption("baseUrl", options.baseUrl ?? "https://github.com");
    this.apiUrl = rootUrlOption("apiUrl", options.apiUrl ?? (new URL(web).host === "github.com" ? "https://api.github.com" : `${web}/api/v3`));
    this.ownEndpoints = {
      authorizationEndpoint: new URL(`${web}/login/oauth/authorize`),
      tokenEndpoint: new URL(`${web}/login/oauth/access_token`),
      userinfoEndpoint: this.apiEndpoint("/user"),
      revocationEndpoint: this.apiEndpoint(`/applications/${encodeURIComponent(this.client.clientId)}/token`),
    };
  }

  async responseIssuer(): Promise<string | undefined> {
    return undefined;
  }

  /** Checks that the API root returns JSON for `GET /meta` as GitHub does, which catches a wrong `baseUrl`. */
  override async ready(): Promise<void> {
    const meta = this.apiEndpoint("/meta");
    try {
      await getJson(meta, { headers: this.apiHeaders(), timeoutMs: this.client.timeoutMs });
    } catch (error) {
      if (!(error instanceof UpstreamError) || error.failure === "unavailable") {
        throw error;
      }
      throw new UpstreamError("protocol", `${error.message}, where the GitHub REST API was expected to return JSON for GET /meta; check the baseUrl and apiUrl options`, withDetails(error));
    }
  }

  /**
   * Identifies the user from `GET /user` (numeric id, login, name) and the
   * primary verified address from `GET /user/emails`.
   */
  override async identify(tokens: UpstreamTokens): Promise<UpstreamIdentity> {
    const user = await this.fetchUserinfo(tokens);
    const subject = this.subjectFrom(user, "id");
    const claims: Record<string, unknown> = { sub: subject, id: user.id, login: user.login, preferred_username: user.login };
    copyString(claims, "name", user.name);
    copyString(claims, "picture", user.avatar_url);
    copyString(claims, "profile", user.html_url);

    const email = await this.primaryEmail(tokens, user);
    if (email !== undefined) {
      claims.email = email.address;
      if (email.verified) {
        claims.email_verified = true;
      }
    }
    return { subject, claims };
  }

  /**
   * Deletes the access token through the applications API (`DELETE
   * /applications/{client_id}/token`). Only this token goes, not the user's whole
   * authorization of the app, which other MCP clients of the same user share.
   */
  override async revoke(tokens: UpstreamTokens): Promise<void> {
    const { revocationEndpoint } = await this.endpoints();
    if (revocationEndpoint === undefined) {
      return;
    }

    const credentials = Buffer.from(`${this.client.clientId}:${this.client.clientSecret ?? ""}`).toString("base64");
    await this.ignoreRejection(requestJson(revocationEndpoint, {
      method: "DELETE",
      json: { access_token: tokens.accessToken },
      headers: { ...this.apiHeaders(), authorization: `Basic ${credentials}` },
      timeoutMs: this.client.timeoutMs,
    }));
    debug("revoked provider=%s", this.name);
  }

  protected async defaultEndpoints(): Promise<ProviderEndpoints> {
    return this.ownEndpoints;
  }

  protected override tokenError(error: UpstreamError, grant: TokenGrant): UpstreamError {
    if (error.upstreamError === REDIRECT_URI_MISMATCH) {
      const fix = "the redirect URI is not the app's callback URL; set the app's callback URL to proxy.callbackUrl";
      return new UpstreamError("invalid_client", `${error.message}: ${fix}`, withDetails(error));
    }

    const known = error.upstreamError === undefined ? undefined : TOKEN_ERRORS[error.upstreamError];
    if (known === undefined) {
      return super.tokenError(error, grant);
    }
    const mapped = new UpstreamError(known.failure, `${error.message}: ${known.reason}`, withDetails(error));
    return super.tokenError(mapped, grant);
  }

  protected override async fetchUserinfo(tokens: UpstreamTokens): Promise<Record<string, unknown>> {
    const { userinfoEndpoint } = await this.endpoints();
    return getJson(userinfoEndpoint ?? this.apiEndpoint("/user"), { headers: this.apiHeaders(tokens), timeoutMs: this.client.timeoutMs });
  }

  private async primaryEmail(tokens: UpstreamTokens, user: Record<string, unknown>): Promise<{ address: string; verified: boolean } | undefined> {
    let emails: unknown[];
    try {
      emails = await getJsonArray(this.apiEndpoint("/user/emails"), { headers: this.apiHeaders(tokens), timeoutMs: this.client.timeoutMs });
    } catch (error) {
      // GitHub rejects the list without the user:email scope (OAuth App) or the email permission
      // (GitHub App). The public profile address is then the only one, and its verification is unknown.
      if (!(error instanceof UpstreamError) || error.failure === "unavailable") {
        throw error;
      }
      debug("emails unavailable status=%s provider=%s", error.status ?? "-", this.name);
      return typeof user.email === "string" && user.email !== "" ? { address: user.email, verified: false } : undefined;
    }

    const primary = emails.filter(isObject).find((entry) => entry.primary === true && entry.verified === true);
    return typeof primary?.email === "string" ? { address: primary.email, verified: true } : undefined;
  }

  private apiHeaders(tokens?: UpstreamTokens): Record<string, string> {
    return {
      accept: "application/vnd.github+json",
      "x-github-api-version": API_VERSION,
      // GitHub's REST API rejects requests without a User-Agent.
      "user-agent": "mcp-oauth-proxy",
      ...(tokens === undefined ? {} : { authorization: `Bearer ${tokens.accessToken}` }),
    };
  }

  private apiEndpoint(path: string): URL {
    return new URL(`${this.apiUrl}${path}`);
  }
}

// Returns the URL without a trailing slash, so paths can be appended.
function rootUrlOption(option: string, value: unknown): string {
  const problem = endpointProblem(value);
  if (problem !== undefined) {
    throw new OptionError(option, value, problem);
  }
  if (new URL(value as string).search !== "") {
    throw new OptionError(option, value, "Remove the query; set the root URL only, such as https://github.example.com.");
  }
  return new URL(value as string).href.replace(/\/+$/, "");
}

function copyString(target: Record<string, unknown>, name: string, value: unknown): void {
  if (typeof value === "string" && value !== "") {
    target[name] = value;
  }
}
