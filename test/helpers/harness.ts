import type express from "express";
import type { OAuthProxyOptions, Storage } from "mcp-oauth-proxy";
import { startDemo } from "../../examples/demo/app.js";
import type { Demo, SharedUpstream } from "../../examples/demo/app.js";
import { parseForm, signInAtUpstream, TestBrowser } from "../../examples/demo/browser.js";

/** The RFC 7636 Appendix B PKCE vector. */
export const VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
export const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/** The redirect URI of the default test client; nothing listens there. */
export const REDIRECT_URI = "http://127.0.0.1:3000/callback";

async function refuseLookup(hostname: string): Promise<never> {
  throw new Error(`Tests resolve no host names (${hostname}); pass a lookup in clientIdMetadataDocuments`);
}

/** Options of `startHarness()`. */
export interface HarnessOptions {
  proxyOptions?: Partial<OAuthProxyOptions>;
  express?: typeof express;
  hostSession?: boolean;
  accessTokenTtl?: number;
  upstreamAccessTokenTtl?: number;
  secret?: string | string[];
  port?: number;
  publicUrl?: string;
  upstream?: SharedUpstream;
  storage?: Storage;
}

/** A registered client as the registration endpoint returned it. */
export interface RegisteredClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  [name: string]: unknown;
}

/** The result of a completed browser sign-in: the code and where it was sent. */
export interface SignInResult {
  code: string;
  callbackUrl: URL;
  browser: TestBrowser;
}

/** Token endpoint success body. */
export interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/**
 * A running proxy (the demo app on 127.0.0.1 with its embedded upstream) and
 * the client-side steps tests need, each a plain HTTP request.
 */
export class Harness {
  readonly demo: Demo;
  readonly metadata: Record<string, string>;

  private constructor(demo: Demo, metadata: Record<string, string>) {
    this.demo = demo;
    this.metadata = metadata;
  }

  static async start(options: HarnessOptions = {}): Promise<Harness> {
    const demo = await startDemo({
      ...(options.express === undefined ? {} : { express: options.express }),
      ...(options.hostSession === undefined ? {} : { hostSession: options.hostSession }),
      // Tests register many clients from one address; rate limits have their own tests. A metadata-document
      // client id must never make a test resolve a real host name, so lookups fail unless a test supplies its own.
      proxyOptions: { rateLimits: false, clientIdMetadataDocuments: { lookup: refuseLookup }, ...options.proxyOptions },
      ...(options.accessTokenTtl === undefined ? {} : { accessTokenTtl: options.accessTokenTtl }),
      ...(options.upstreamAccessTokenTtl === undefined ? {} : { upstreamAccessTokenTtl: options.upstreamAccessTokenTtl }),
      ...(options.secret === undefined ? {} : { secret: options.secret }),
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.publicUrl === undefined ? {} : { publicUrl: options.publicUrl }),
      ...(options.upstream === undefined ? {} : { upstream: options.upstream }),
      ...(options.storage === undefined ? {} : { storage: options.storage }),
    });
    const response = await fetch(`${demo.baseUrl}/.well-known/oauth-authorization-server`);
    return new Harness(demo, await response.json() as Record<string, string>);
  }

  get baseUrl(): string {
    return this.demo.baseUrl;
  }

  /** The issuer, which is also the canonical origin. */
  get issuer(): string {
    return this.demo.baseUrl;
  }

  get mcpUrl(): string {
    return this.demo.mcpUrl;
  }

  /** Every request the embedded upstream received. */
  get upstreamRequests(): Array<{ method: string; path: string }> {
    return this.demo.upstream.requests;
  }

  /** Registers a client; defaults to a public client with `REDIRECT_URI`. */
  async register(metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
    const response = await this.postJson(this.metadata.registration_endpoint as string, {
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      client_name: "Test client",
      ...metadata,
    });
    if (response.status !== 201) {
      throw new Error(`Registration answered ${response.status}: ${await response.text()}`);
    }
    return await response.json() as RegisteredClient;
  }

  /** POSTs JSON to a URL. */
  postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  }

  /** POSTs a form to a URL. */
  postForm(url: string, fields: Record<string, string> | string, headers: Record<string, string> = {}): Promise<Response> {
    const body = typeof fields === "string" ? fields : new URLSearchParams(fields).toString();
    return fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body });
  }

  /**
   * Builds an authorization request URL. Defaults follow the AUTHZ request of
   * the conformance table; pass `undefined` to leave a parameter out.
   */
  authorizeUrl(clientId: string, overrides: Record<string, string | undefined> = {}): URL {
    const params: Record<string, string | undefined> = {
      response_type: "code",
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      code_challenge: CHALLENGE,
      code_challenge_method: "S256",
      state: "xyz",
      scope: "mcp:read",
      resource: this.mcpUrl,
      ...overrides,
    };
    const url = new URL(this.metadata.authorization_endpoint as string);
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined) {
        url.searchParams.append(name, value);
      }
    }
    return url;
  }

  /** Loads the consent page in `browser` and returns its approval form. */
  async openConsent(browser: TestBrowser, url: URL): Promise<{ action: URL; fields: Record<string, string>; html: string }> {
    const page = await browser.get(url);
    if (page.status !== 200) {
      throw new Error(`The consent page answered ${page.status}: ${page.body.slice(0, 300)}`);
    }
    const form = parseForm(page.body, { buttonValue: "approve" });
    return { action: new URL(form.action, url), fields: form.fields, html: page.body };
  }

  /**
   * Runs the browser part of the flow: consent, approval and upstream sign-in,
   * returning the code the proxy sent to the client's redirect URI.
   */
  async signIn(clientId: string, overrides: Record<string, string | undefined> = {}, login = "alice"): Promise<SignInResult> {
    const browser = new TestBrowser();
    const url = this.authorizeUrl(clientId, overrides);
    const consent = await this.openConsent(browser, url);
    const approved = await browser.postForm(consent.action, consent.fields, { origin: consent.action.origin });
    if (approved.location === undefined) {
      throw new Error(`Approval answered ${approved.status}: ${approved.body.slice(0, 300)}`);
    }

    const redirectUri = overrides.redirect_uri ?? REDIRECT_URI;
    const callbackUrl = await signInAtUpstream(browser, approved.location, login, {
      stopAt: (next) => next.href.startsWith(redirectUri),
    });
    const code = callbackUrl.searchParams.get("code");
    if (code === null) {
      throw new Error(`The proxy redirected without a code: ${callbackUrl.href}`);
    }
    return { code, callbackUrl, browser };
  }

  /** POSTs to the token endpoint. */
  token(fields: Record<string, string> | string, headers: Record<string, string> = {}): Promise<Response> {
    return this.postForm(this.metadata.token_endpoint as string, fields, headers);
  }

  /** POSTs to the revocation endpoint. */
  revoke(fields: Record<string, string> | string, headers: Record<string, string> = {}): Promise<Response> {
    return this.postForm(this.metadata.revocation_endpoint as string, fields, headers);
  }

  /** Signs in and redeems the code: the shortest way to a working token pair. */
  async obtainTokens(clientId: string, overrides: Record<string, string | undefined> = {}): Promise<TokenBody> {
    const { code } = await this.signIn(clientId, overrides);
    const response = await this.token({
      grant_type: "authorization_code",
      code,
      code_verifier: VERIFIER,
      client_id: clientId,
      redirect_uri: overrides.redirect_uri ?? REDIRECT_URI,
    });
    if (response.status !== 200) {
      throw new Error(`The token endpoint answered ${response.status}: ${await response.text()}`);
    }
    return await response.json() as TokenBody;
  }

  /** Sends a JSON-RPC `tools/list` to the MCP endpoint with an optional Authorization header value. */
  callMcp(authorization?: string, init: { method?: string; url?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const method = init.method ?? "POST";
    return fetch(init.url ?? this.mcpUrl, {
      method,
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...(authorization === undefined ? {} : { authorization }),
        ...init.headers,
      },
      ...(method === "POST" ? { body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }) } : {}),
    });
  }

  async close(): Promise<void> {
    await this.demo.close();
  }
}
