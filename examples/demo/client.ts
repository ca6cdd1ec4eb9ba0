import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";
import { parseForm, signInAtUpstream, TestBrowser } from "./browser.js";

/**
 * An in-memory `OAuthClientProvider` for the MCP SDK client that, instead of
 * opening a real browser, records the authorization URL so `approveInBrowser()`
 * can drive the consent page and the upstream sign-in over plain HTTP.
 */
export class HeadlessOAuthClient implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  #clientInformation: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #codeVerifier: string | undefined;
  readonly #redirectUrl: string;

  constructor(redirectUrl = "http://127.0.0.1:33418/callback") {
    this.#redirectUrl = redirectUrl;
  }

  get redirectUrl(): string {
    return this.#redirectUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "mcp-oauth-proxy demo client",
      redirect_uris: [this.#redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.#clientInformation;
  }

  saveClientInformation(information: OAuthClientInformationMixed): void {
    this.#clientInformation = information;
  }

  tokens(): OAuthTokens | undefined {
    return this.#tokens;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.#tokens = tokens;
  }

  redirectToAuthorization(authorizationUrl: URL): void {
    this.authorizationUrl = authorizationUrl;
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.#codeVerifier = codeVerifier;
  }

  codeVerifier(): string {
    if (this.#codeVerifier === undefined) {
      throw new Error("No PKCE code verifier was saved");
    }
    return this.#codeVerifier;
  }
}

/** Pages and redirects `approveInBrowser()` went through, for display and assertions. */
export interface BrowserSignIn {
  consentPage: string;
  upstreamUrl: URL;
  /** The URL the proxy finally redirected to: the client's redirect URI with `code`, `state` and `iss`. */
  callbackUrl: URL;
}

/**
 * Plays the user: opens the authorization URL, approves on the consent page,
 * signs in at the embedded upstream with `login`, and stops at the client's
 * redirect URI without requesting it.
 */
export async function approveInBrowser(
  browser: TestBrowser,
  authorizationUrl: URL,
  login: string,
  redirectUri: string,
): Promise<BrowserSignIn> {
  const consent = await browser.get(authorizationUrl);
  if (consent.status !== 200) {
    throw new Error(`The consent page returned status ${consent.status}: ${consent.body.slice(0, 200)}`);
  }

  const form = parseForm(consent.body, { buttonValue: "approve" });
  const action = new URL(form.action, authorizationUrl);
  const approved = await browser.postForm(action, form.fields, { origin: action.origin });
  if (approved.location === undefined) {
    throw new Error(`Approving returned status ${approved.status} without a redirect: ${approved.body.slice(0, 200)}`);
  }

  const upstreamUrl = new URL(approved.location);
  const callbackUrl = await signInAtUpstream(browser, upstreamUrl, login, {
    stopAt: (url) => url.href.startsWith(redirectUri),
  });
  return { consentPage: consent.body, upstreamUrl, callbackUrl };
}

export { TestBrowser };
