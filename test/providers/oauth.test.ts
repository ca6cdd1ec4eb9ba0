import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startUpstream } from "../../examples/demo/upstream.js";
import type { Upstream } from "../../examples/demo/upstream.js";
import { OptionError, UpstreamError } from "../../lib/errors.js";
import { OAuthProvider } from "../../lib/providers/oauth.js";
import type { OAuthProviderOptions } from "../../lib/providers/oauth.js";
import type { UpstreamTokens } from "../../lib/providers/types.js";
import { TestBrowser, signInAtUpstream } from "../../examples/demo/browser.js";

// Characters that RFC 6749 §2.3.1 form-encoding must escape before base64.
const BASIC_SECRET = "s3cret with space+plus:colon%percent~";
const POST_SECRET = "post-secret";

let upstream: Upstream;
let redirectUri: string;
const servers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  redirectUri = `http://127.0.0.1:${await unusedPort()}/callback`;
  upstream = await startUpstream({
    clients: [
      { clientId: "basic-client", clientSecret: BASIC_SECRET, redirectUris: [redirectUri] },
      { clientId: "post-client", clientSecret: POST_SECRET, redirectUris: [redirectUri], tokenEndpointAuthMethod: "client_secret_post" },
    ],
    accessTokenTtlSeconds: 600,
  });
  servers.push(() => upstream.close());
});

afterAll(async () => {
  await Promise.all(servers.map((close) => close()));
});

function upstreamProvider(overrides: Partial<OAuthProviderOptions> = {}): OAuthProvider {
  return new OAuthProvider({
    name: "Demo",
    clientId: "basic-client",
    clientSecret: BASIC_SECRET,
    authorizationEndpoint: `${upstream.issuer}/auth`,
    tokenEndpoint: `${upstream.issuer}/token`,
    userinfoEndpoint: `${upstream.issuer}/me`,
    revocationEndpoint: `${upstream.issuer}/token/revocation`,
    issuer: upstream.issuer,
    scopes: ["openid", "profile", "email"],
    ...overrides,
  });
}

interface SignedIn {
  code: string;
  iss: string | undefined;
  state: string;
  codeVerifier: string;
}

async function signIn(provider: OAuthProvider, login = "alice"): Promise<SignedIn> {
  const codeVerifier = randomBytes(32).toString("base64url");
  const state = randomBytes(16).toString("base64url");
  const url = await provider.authorizationUrl({
    redirectUri,
    state,
    codeChallenge: createHash("sha256").update(codeVerifier).digest("base64url"),
    scopes: [],
  });

  const callback = await signInAtUpstream(new TestBrowser(), url, login, { stopAt: (next) => next.href.startsWith(redirectUri) });
  return {
    code: callback.searchParams.get("code") ?? "",
    iss: callback.searchParams.get("iss") ?? undefined,
    state: callback.searchParams.get("state") ?? "",
    codeVerifier,
  };
}

async function signInAndExchange(provider: OAuthProvider, login = "alice"): Promise<UpstreamTokens> {
  const { code, iss, codeVerifier } = await signIn(provider, login);
  return provider.exchangeCode({ code, iss, codeVerifier, redirectUri });
}

async function upstreamFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

interface FakeServer {
  url: string;
  requests: Array<{ method: string; path: string; headers: IncomingMessage["headers"]; body: string }>;
}

async function startFakeServer(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<FakeServer> {
  const requests: FakeServer["requests"] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body });
      handle(req, res, body);
    });
  });
  const port = await listen(server);
  servers.push(() => closeServer(server));
  return { url: `http://127.0.0.1:${port}`, requests };
}

function fakeProvider(url: string, overrides: Partial<OAuthProviderOptions> = {}): OAuthProvider {
  return new OAuthProvider({
    clientId: "fake-client",
    clientSecret: "fake-secret",
    authorizationEndpoint: `${url}/authorize`,
    tokenEndpoint: `${url}/token`,
    userinfoEndpoint: `${url}/user`,
    revocationEndpoint: `${url}/revoke`,
    scopes: ["read"],
    ...overrides,
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function unusedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

const TOKENS: UpstreamTokens = { accessToken: "access-1", tokenType: "Bearer", refreshToken: "refresh-1", scopes: ["read"] };

describe("OAuthProvider options", () => {
  const valid: OAuthProviderOptions = {
    clientId: "proxy",
    clientSecret: "do-not-print-me",
    authorizationEndpoint: "https://login.example.com/authorize",
    tokenEndpoint: "https://login.example.com/token",
  };
  const cases: Array<[string, Partial<Record<keyof OAuthProviderOptions, unknown>>, string, RegExp]> = [
    ["missing clientId", { clientId: undefined }, "clientId", /client_id the provider issued/],
    ["empty clientSecret", { clientSecret: "" }, "clientSecret", /"\(hidden\)"/],
    ["relative endpoint", { tokenEndpoint: "/token" }, "tokenEndpoint", /absolute URL/],
    ["plain http endpoint", { authorizationEndpoint: "http://login.example.com/authorize" }, "authorizationEndpoint", /https:\/\//],
    ["endpoint with fragment", { userinfoEndpoint: "https://login.example.com/me#x" }, "userinfoEndpoint", /fragment/],
    ["issuer with query", { issuer: "https://login.example.com/?tenant=1" }, "issuer", /query/],
    ["scope with a space", { scopes: ["read write"] }, "scopes", /without spaces/],
    ["reserved authorization parameter", { authorizationParams: { state: "fixed" } }, "authorizationParams.state", /sets this parameter itself/],
    ["scope as authorization parameter", { authorizationParams: { scope: "all" } }, "authorizationParams.scope", /scopes option/],
    ["secret method without secret", { clientSecret: undefined, clientAuthentication: "client_secret_post" }, "clientAuthentication", /needs clientSecret/],
    ["secret with method none", { clientAuthentication: "none" }, "clientAuthentication", /never be sent/],
    ["unknown authentication method", { clientAuthentication: "private_key_jwt" }, "clientAuthentication", /client_secret_basic/],
    ["empty subjectClaim", { subjectClaim: "" }, "subjectClaim", /user id/],
    ["zero timeout", { timeoutMs: 0 }, "timeoutMs", /positive number/],
  ];

  for (const [label, change, option, message] of cases) {
    it(`rejects ${label}`, () => {
      const create = () => new OAuthProvider({ ...valid, ...change } as OAuthProviderOptions);

      expect(create).toThrow(OptionError);
      expect(create).toThrow(message);
      try {
        create();
      } catch (error) {
        expect((error as OptionError).option).toBe(option);
        expect((error as OptionError).code).toBe("ERR_MCP_OAUTH_PROXY_OPTION");
        expect((error as Error).message).not.toContain("do-not-print-me");
      }
    });
  }

  it("accepts http endpoints on loopback hosts", () => {
    const create = () => new OAuthProvider({ ...valid, tokenEndpoint: "http://localhost:8080/token", authorizationEndpoint: "http://[::1]:8080/auth" });

    expect(create).not.toThrow();
  });

  it("names the provider generically by default", () => {
    expect(new OAuthProvider(valid).name).toBe("the identity provider");
  });
});

describe("OAuthProvider.authorizationUrl", () => {
  it("sets the authorization code and PKCE parameters", async () => {
    const provider = fakeProvider("https://login.example.com", {
      authorizationEndpoint: "https://login.example.com/authorize?tenant=acme",
      authorizationParams: { prompt: "consent", access_type: "offline" },
    });

    const url = await provider.authorizationUrl({
      redirectUri: "https://proxy.example.com/oauth/callback",
      state: "state-1",
      codeChallenge: "challenge-1",
      scopes: ["read", "write"],
    });

    expect(url.origin + url.pathname).toBe("https://login.example.com/authorize");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      tenant: "acme",
      response_type: "code",
      client_id: "fake-client",
      redirect_uri: "https://proxy.example.com/oauth/callback",
      scope: "read write",
      state: "state-1",
      code_challenge: "challenge-1",
      code_challenge_method: "S256",
      prompt: "consent",
      access_type: "offline",
    });
  });

  it("omits scope when no scopes are requested", async () => {
    const provider = fakeProvider("https://login.example.com", { scopes: [] });

    const url = await provider.authorizationUrl({ redirectUri: "https://proxy.example.com/cb", state: "s", codeChallenge: "c", scopes: [] });

    expect(url.searchParams.has("scope")).toBe(false);
  });
});

describe("OAuthProvider against the embedded upstream", () => {
  it("exchanges a code with client_secret_basic", async () => {
    const before = Math.floor(Date.now() / 1000);
    const { code, iss, state, codeVerifier } = await signIn(upstreamProvider());

    const tokens = await upstreamProvider().exchangeCode({ code, iss, codeVerifier, redirectUri });

    expect(state).not.toBe("");
    expect(iss).toBe(upstream.issuer);
    expect(tokens.accessToken).toEqual(expect.any(String));
    expect(tokens.refreshToken).toEqual(expect.any(String));
    expect(tokens.idToken).toEqual(expect.any(String));
    expect(tokens.tokenType).toBe("Bearer");
    expect(tokens.scopes).toEqual(["openid", "profile", "email"]);
    expect(tokens.expiresAt).toBeGreaterThanOrEqual(before + 600);
    expect(tokens.expiresAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);
  });

  it("exchanges a code with client_secret_post", async () => {
    const provider = upstreamProvider({ clientId: "post-client", clientSecret: POST_SECRET, clientAuthentication: "client_secret_post" });

    const tokens = await signInAndExchange(provider);

    expect(tokens.accessToken).toEqual(expect.any(String));
  });

  it("identifies the user from userinfo", async () => {
    const provider = upstreamProvider();
    const tokens = await signInAndExchange(provider, "bob");

    const identity = await provider.identify(tokens);

    expect(identity.subject).toBe("bob");
    expect(identity.claims).toMatchObject({ sub: "bob", name: "bob (demo)", email: "bob@example.test", email_verified: true });
  });

  it("refreshes and keeps the refresh token", async () => {
    const provider = upstreamProvider();
    const tokens = await signInAndExchange(provider);

    const refreshed = await provider.refresh(tokens);

    expect(refreshed.accessToken).not.toBe(tokens.accessToken);
    expect(refreshed.refreshToken).toEqual(expect.any(String));
    expect(refreshed.scopes).toEqual(["openid", "profile", "email"]);
    expect((await provider.identify(refreshed)).subject).toBe("alice");
  });

  it("rejects a mismatched iss before exchanging", async () => {
    const provider = upstreamProvider();
    const { code, codeVerifier } = await signIn(provider);
    const tokenRequests = upstream.requests.filter((request) => request.path === "/token").length;

    const error = await upstreamFailure(provider.exchangeCode({ code, iss: "https://attacker.example", codeVerifier, redirectUri }));

    expect(error.failure).toBe("protocol");
    expect(error.message).toContain("https://attacker.example");
    expect(upstream.requests.filter((request) => request.path === "/token")).toHaveLength(tokenRequests);
  });

  it("rejects a missing iss", async () => {
    const provider = upstreamProvider();
    const { code, codeVerifier } = await signIn(provider);

    const error = await upstreamFailure(provider.exchangeCode({ code, codeVerifier, redirectUri }));

    expect(error.failure).toBe("protocol");
    expect(error.message).toMatch(/no iss parameter/);
  });

  it("refresh after revokeAll is invalid_grant", async () => {
    const provider = upstreamProvider();
    const tokens = await signInAndExchange(provider);

    upstream.revokeAll();
    const error = await upstreamFailure(provider.refresh(tokens));

    expect(error.failure).toBe("invalid_grant");
    expect(error.upstreamError).toBe("invalid_grant");
    expect(error.status).toBe(400);
  });

  it("reports invalid_client for a wrong client secret", async () => {
    const { code, iss, codeVerifier } = await signIn(upstreamProvider());

    const error = await upstreamFailure(upstreamProvider({ clientSecret: "wrong" }).exchangeCode({ code, iss, codeVerifier, redirectUri }));

    expect(error.failure).toBe("invalid_client");
    expect(error.upstreamError).toBe("invalid_client");
    expect(error.status).toBe(401);
  });

  it("revokes at the revocation endpoint", async () => {
    const provider = upstreamProvider();
    const tokens = await signInAndExchange(provider);
    const revocations = upstream.requests.filter((request) => request.path === "/token/revocation").length;

    await provider.revoke(tokens);

    expect(upstream.requests.filter((request) => request.method === "POST" && request.path === "/token/revocation")).toHaveLength(revocations + 1);
    expect((await upstreamFailure(provider.refresh(tokens))).failure).toBe("invalid_grant");
  });
});

describe("OAuthProvider upstream failures", () => {
  it("reports unavailable when nothing listens", async () => {
    const provider = fakeProvider(`http://127.0.0.1:${await unusedPort()}`);

    const error = await upstreamFailure(provider.refresh(TOKENS));

    expect(error.failure).toBe("unavailable");
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("reports unavailable when the request times out", async () => {
    const fake = await startFakeServer(() => {
      // Never answers.
    });
    const started = Date.now();

    const error = await upstreamFailure(fakeProvider(fake.url, { timeoutMs: 200 }).refresh(TOKENS));

    expect(error.failure).toBe("unavailable");
    expect(error.message).toMatch(/timed out after 200 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  for (const status of [500, 503, 429]) {
    it(`reports unavailable for HTTP ${status}`, async () => {
      const fake = await startFakeServer((_req, res) => sendJson(res, status, { error: "server_error" }));

      const error = await upstreamFailure(fakeProvider(fake.url).refresh(TOKENS));

      expect(error.failure).toBe("unavailable");
      expect(error.status).toBe(status);
    });
  }

  it("reports invalid_grant sent with HTTP 200", async () => {
    const fake = await startFakeServer((_req, res) => sendJson(res, 200, { error: "invalid_grant", error_description: "upstream-private-detail" }));

    const error = await upstreamFailure(fakeProvider(fake.url).refresh(TOKENS));

    expect(error.failure).toBe("invalid_grant");
    expect(error.message).not.toContain("upstream-private-detail");
  });

  it("reports invalid_client for unauthorized_client", async () => {
    const fake = await startFakeServer((_req, res) => sendJson(res, 400, { error: "unauthorized_client" }));

    const error = await upstreamFailure(fakeProvider(fake.url).refresh(TOKENS));

    expect(error.failure).toBe("invalid_client");
    expect(error.upstreamError).toBe("unauthorized_client");
  });

  it("reports invalid_client for bare 401", async () => {
    const fake = await startFakeServer((_req, res) => res.writeHead(401).end());

    const error = await upstreamFailure(fakeProvider(fake.url).refresh(TOKENS));

    expect(error.failure).toBe("invalid_client");
    expect(error.status).toBe(401);
  });

  const unusable: Array<[string, (res: ServerResponse) => void, RegExp]> = [
    ["an HTML page", (res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>oops</html>"), /neither a JSON object nor form-encoded/],
    ["a JSON array", (res) => sendJson(res, 200, ["access_token"]), /neither a JSON object/],
    ["no access_token", (res) => sendJson(res, 200, { token_type: "Bearer" }), /no access_token/],
    ["a redirect", (res) => res.writeHead(302, { location: "https://elsewhere.example/token" }).end(), /redirect/],
    ["an unknown error code", (res) => sendJson(res, 400, { error: "invalid_scope" }), /error invalid_scope \(HTTP 400\)/],
  ];

  const oversized: Array<[string, (res: ServerResponse) => void]> = [
    ["with Content-Length", (res) => sendJson(res, 200, { access_token: "a".repeat(1024 * 1024) })],
    [
      "chunked",
      (res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.write(`{"access_token":"${"a".repeat(600 * 1024)}`);
        res.end(`${"a".repeat(600 * 1024)}"}`);
      },
    ],
  ];

  for (const [label, respond] of oversized) {
    it(`reports protocol for a body over 1 MiB ${label}`, async () => {
      const fake = await startFakeServer((_req, res) => respond(res));

      const error = await upstreamFailure(fakeProvider(fake.url).refresh(TOKENS));

      expect(error.failure).toBe("protocol");
      expect(error.message).toMatch(/larger than 1048576 bytes/);
    });
  }

  for (const [label, respond, message] of unusable) {
    it(`reports protocol for ${label}`, async () => {
      const fake = await startFakeServer((_req, res) => respond(res));

      const error = await upstreamFailure(fakeProvider(fake.url).refresh(TOKENS));

      expect(error.failure).toBe("protocol");
      expect(error.message).toMatch(message);
    });
  }
});

describe("OAuthProvider token responses", () => {
  it("parses a form-encoded token response", async () => {
    const fake = await startFakeServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/x-www-form-urlencoded; charset=utf-8" });
      res.end("access_token=gho_abc&token_type=bearer&scope=repo%2Cread%3Auser&expires_in=28800&refresh_token=ghr_def");
    });
    const before = Math.floor(Date.now() / 1000);

    const tokens = await fakeProvider(fake.url).refresh(TOKENS);

    expect(tokens).toMatchObject({ accessToken: "gho_abc", tokenType: "bearer", refreshToken: "ghr_def", scopes: ["repo", "read:user"] });
    expect(tokens.expiresAt).toBeGreaterThanOrEqual(before + 28800);
  });

  it("keeps omitted refresh token and scopes", async () => {
    const fake = await startFakeServer((_req, res) => sendJson(res, 200, { access_token: "access-2", token_type: "Bearer" }));

    const tokens = await fakeProvider(fake.url).refresh(TOKENS);

    expect(tokens).toEqual({ accessToken: "access-2", tokenType: "Bearer", refreshToken: "refresh-1", scopes: ["read"] });
  });

  it("reads an empty scope as none", async () => {
    const fake = await startFakeServer((_req, res) => sendJson(res, 200, { access_token: "a", token_type: "Bearer", scope: "" }));

    const tokens = await fakeProvider(fake.url).refresh(TOKENS);

    expect(tokens.scopes).toEqual([]);
  });

  it("sends the refresh request with basic authentication", async () => {
    const fake = await startFakeServer((_req, res) => sendJson(res, 200, { access_token: "a", token_type: "Bearer" }));

    await fakeProvider(fake.url, { clientId: "id:1", clientSecret: "p+q r" }).refresh(TOKENS);

    const request = fake.requests[0];
    expect(request?.headers.authorization).toBe(`Basic ${Buffer.from("id%3A1:p%2Bq+r").toString("base64")}`);
    expect(Object.fromEntries(new URLSearchParams(request?.body))).toEqual({ grant_type: "refresh_token", refresh_token: "refresh-1" });
  });

  it("sends client_id alone for a public client", async () => {
    const fake = await startFakeServer((_req, res) => sendJson(res, 200, { access_token: "a", token_type: "Bearer" }));

    await fakeProvider(fake.url, { clientSecret: undefined }).refresh(TOKENS);

    const request = fake.requests[0];
    expect(request?.headers.authorization).toBeUndefined();
    expect(new URLSearchParams(request?.body).get("client_id")).toBe("fake-client");
  });

  it("refuses to refresh without a refresh token", async () => {
    const error = await upstreamFailure(fakeProvider("https://login.example.com").refresh({ ...TOKENS, refreshToken: undefined }));

    expect(error.failure).toBe("invalid_grant");
  });
});

describe("OAuthProvider.identify", () => {
  it("reads a numeric subject claim", async () => {
    const fake = await startFakeServer((_req, res) => sendJson(res, 200, { id: 583231, login: "octocat" }));

    const identity = await fakeProvider(fake.url, { subjectClaim: "id" }).identify(TOKENS);

    expect(identity).toEqual({ subject: "583231", claims: { id: 583231, login: "octocat" } });
    expect(fake.requests[0]?.headers.authorization).toBe("Bearer access-1");
  });

  it("reports a missing subject claim", async () => {
    const fake = await startFakeServer((_req, res) => sendJson(res, 200, { login: "octocat" }));

    const error = await upstreamFailure(fakeProvider(fake.url).identify(TOKENS));

    expect(error.failure).toBe("protocol");
    expect(error.message).toMatch(/"sub"/);
  });

  it("reports protocol without a userinfo endpoint", async () => {
    const error = await upstreamFailure(fakeProvider("https://login.example.com", { userinfoEndpoint: undefined }).identify(TOKENS));

    expect(error.failure).toBe("protocol");
    expect(error.message).toMatch(/set userinfoEndpoint/);
  });

  it("reports a rejected access token", async () => {
    const fake = await startFakeServer((_req, res) => res.writeHead(401, { "www-authenticate": 'Bearer error="invalid_token"' }).end());

    const error = await upstreamFailure(fakeProvider(fake.url).identify(TOKENS));

    expect(error.failure).toBe("protocol");
    expect(error.upstreamError).toBe("invalid_token");
  });
});

describe("OAuthProvider.revoke", () => {
  it("sends the refresh token with hint", async () => {
    const fake = await startFakeServer((_req, res) => res.writeHead(200).end());

    await fakeProvider(fake.url).revoke(TOKENS);

    expect(fake.requests.map((request) => request.path)).toEqual(["/revoke"]);
    expect(Object.fromEntries(new URLSearchParams(fake.requests[0]?.body))).toEqual({ token: "refresh-1", token_type_hint: "refresh_token" });
  });

  it("falls back to the access token", async () => {
    const fake = await startFakeServer((_req, res) => res.writeHead(200).end());

    await fakeProvider(fake.url).revoke({ ...TOKENS, refreshToken: undefined });

    expect(Object.fromEntries(new URLSearchParams(fake.requests[0]?.body))).toEqual({ token: "access-1", token_type_hint: "access_token" });
  });

  it("ignores a rejected revocation", async () => {
    const fake = await startFakeServer((_req, res) => sendJson(res, 400, { error: "unsupported_token_type" }));

    await expect(fakeProvider(fake.url).revoke(TOKENS)).resolves.toBeUndefined();
  });

  it("reports an unavailable revocation endpoint", async () => {
    const fake = await startFakeServer((_req, res) => res.writeHead(503).end());

    const error = await upstreamFailure(fakeProvider(fake.url).revoke(TOKENS));

    expect(error.failure).toBe("unavailable");
  });

  it("does nothing without a revocation endpoint", async () => {
    const fake = await startFakeServer((_req, res) => res.writeHead(200).end());

    await fakeProvider(fake.url, { revocationEndpoint: undefined }).revoke(TOKENS);

    expect(fake.requests).toHaveLength(0);
  });
});
