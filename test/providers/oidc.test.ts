import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import type { JsonWebKey, KeyObject } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import jsonwebtoken from "jsonwebtoken";
import type { Algorithm } from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startUpstream } from "../../examples/demo/upstream.js";
import type { Upstream } from "../../examples/demo/upstream.js";
import { OptionError, UpstreamError } from "../../lib/errors.js";
import { OIDCProvider } from "../../lib/providers/oidc.js";
import type { OIDCProviderOptions } from "../../lib/providers/oidc.js";
import type { UpstreamTokens } from "../../lib/providers/types.js";
import { TestBrowser, signInAtUpstream } from "../../examples/demo/browser.js";

const CLIENT_SECRET = "oidc-client-secret";
const PLUMBING = ["iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "auth_time", "azp", "sid", "jti"];

let upstream: Upstream;
let redirectUri: string;
let upstreamMetadata: Record<string, unknown>;
const servers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  redirectUri = `http://127.0.0.1:${await unusedPort()}/callback`;
  upstream = await startUpstream({ clients: [{ clientId: "oidc-client", clientSecret: CLIENT_SECRET, redirectUris: [redirectUri] }] });
  servers.push(() => upstream.close());
  upstreamMetadata = (await (await fetch(`${upstream.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
});

afterAll(async () => {
  await Promise.all(servers.map((close) => close()));
});

function upstreamProvider(overrides: Partial<OIDCProviderOptions> = {}): OIDCProvider {
  return new OIDCProvider({ name: "Demo", issuer: upstream.issuer, clientId: "oidc-client", clientSecret: CLIENT_SECRET, ...overrides });
}

async function signInAndExchange(provider: OIDCProvider, login = "alice"): Promise<UpstreamTokens> {
  const codeVerifier = randomBytes(32).toString("base64url");
  const url = await provider.authorizationUrl({
    redirectUri,
    state: randomBytes(16).toString("base64url"),
    codeChallenge: createHash("sha256").update(codeVerifier).digest("base64url"),
    scopes: [],
  });
  const callback = await signInAtUpstream(new TestBrowser(), url, login, { stopAt: (next) => next.href.startsWith(redirectUri) });

  return provider.exchangeCode({
    code: callback.searchParams.get("code") ?? "",
    iss: callback.searchParams.get("iss") ?? undefined,
    codeVerifier,
    redirectUri,
  });
}

function countRequests(path: string): number {
  return upstream.requests.filter((request) => request.path === path).length;
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
  requests: string[];
}

async function startFakeServer(handle: (req: IncomingMessage, res: ServerResponse, url: string) => void): Promise<FakeServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? "");
    handle(req, res, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  const port = await listen(server);
  servers.push(() => closeServer(server));
  return { url: `http://127.0.0.1:${port}`, requests };
}

/** Serves `document` (built from the server's own URL) at the discovery path. */
async function startFakeDiscovery(document: (url: string) => Record<string, unknown>): Promise<FakeServer> {
  return startFakeServer((req, res, url) => {
    if (req.url === "/.well-known/openid-configuration") {
      sendJson(res, 200, document(url));
      return;
    }
    res.writeHead(404).end();
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

describe("OIDCProvider options", () => {
  const valid: OIDCProviderOptions = { issuer: "https://accounts.example.com", clientId: "proxy", clientSecret: "hidden-secret" };
  const cases: Array<[string, Partial<Record<keyof OIDCProviderOptions, unknown>>, string, RegExp]> = [
    ["issuer over plain http", { issuer: "http://accounts.example.com" }, "issuer", /https:\/\//],
    ["issuer with query", { issuer: "https://accounts.example.com?x=1" }, "issuer", /query/],
    ["relative discoveryUrl", { discoveryUrl: "/.well-known/openid-configuration" }, "discoveryUrl", /absolute URL/],
    ["scopes without openid", { scopes: ["email"] }, "scopes", /Include "openid"/],
    ["missing clientId", { clientId: "" }, "clientId", /client_id/],
  ];

  for (const [label, change, option, message] of cases) {
    it(`rejects ${label}`, () => {
      const create = () => new OIDCProvider({ ...valid, ...change } as OIDCProviderOptions);

      expect(create).toThrow(OptionError);
      expect(create).toThrow(message);
      try {
        create();
      } catch (error) {
        expect((error as OptionError).option).toBe(option);
      }
    });
  }

  it("requests openid, profile and email by default", async () => {
    const fake = await startFakeDiscovery((url) => ({ issuer: url, authorization_endpoint: `${url}/auth`, token_endpoint: `${url}/token` }));
    const provider = new OIDCProvider({ issuer: fake.url, clientId: "proxy" });

    const url = await provider.authorizationUrl({ redirectUri: "http://127.0.0.1/cb", state: "s", codeChallenge: "c", scopes: ["email", "offline_access"] });

    expect(url.searchParams.get("scope")).toBe("openid profile email offline_access");
  });
});

describe("OIDCProvider discovery", () => {
  it("discovers lazily and only once", async () => {
    const before = countRequests("/.well-known/openid-configuration");
    const provider = upstreamProvider();

    expect(countRequests("/.well-known/openid-configuration")).toBe(before);

    const url = await provider.authorizationUrl({ redirectUri, state: "s", codeChallenge: "c", scopes: [] });
    await provider.responseIssuer();
    await provider.authorizationUrl({ redirectUri, state: "s2", codeChallenge: "c2", scopes: [] });

    expect(url.origin + url.pathname).toBe(upstreamMetadata.authorization_endpoint);
    expect(countRequests("/.well-known/openid-configuration")).toBe(before + 1);
  });

  it("retries discovery after a failure", async () => {
    let calls = 0;
    const fake = await startFakeServer((_req, res, url) => {
      calls += 1;
      if (calls === 1) {
        res.writeHead(503).end();
        return;
      }
      sendJson(res, 200, { issuer: url, authorization_endpoint: `${url}/auth`, token_endpoint: `${url}/token` });
    });
    const provider = new OIDCProvider({ issuer: fake.url, clientId: "proxy" });

    const error = await upstreamFailure(provider.responseIssuer());
    const issuer = await provider.responseIssuer();

    expect(error.failure).toBe("unavailable");
    expect(issuer).toBeUndefined();
    expect(fake.requests).toEqual(["/.well-known/openid-configuration", "/.well-known/openid-configuration"]);
  });

  it("rejects a document for another issuer", async () => {
    const fake = await startFakeDiscovery((url) => ({ issuer: "https://other.example", authorization_endpoint: `${url}/auth`, token_endpoint: `${url}/token` }));
    const provider = new OIDCProvider({ issuer: fake.url, clientId: "proxy" });

    const error = await upstreamFailure(provider.authorizationUrl({ redirectUri, state: "s", codeChallenge: "c", scopes: [] }));

    expect(error.failure).toBe("protocol");
    expect(error.message).toContain(`names issuer "https://other.example", but the issuer option is "${fake.url}"`);
    expect(error.message).toContain("Set the issuer option to exactly the value the provider publishes");
  });

  it("rejects a trailing-slash issuer mismatch", async () => {
    const provider = upstreamProvider({ issuer: `${upstream.issuer}/` });

    const error = await upstreamFailure(provider.responseIssuer());

    expect(error.failure).toBe("protocol");
    expect(error.message).toContain("including any trailing slash");
  });

  it("rejects a document without a token endpoint", async () => {
    const fake = await startFakeDiscovery((url) => ({ issuer: url, authorization_endpoint: `${url}/auth` }));

    const error = await upstreamFailure(new OIDCProvider({ issuer: fake.url, clientId: "proxy" }).responseIssuer());

    expect(error.failure).toBe("protocol");
    expect(error.message).toMatch(/unusable token_endpoint: It is missing/);
  });

  it("explains a missing discovery document", async () => {
    const fake = await startFakeServer((_req, res) => res.writeHead(404).end());

    const error = await upstreamFailure(new OIDCProvider({ issuer: fake.url, clientId: "proxy" }).responseIssuer());

    expect(error.failure).toBe("protocol");
    expect(error.message).toContain(`No discovery document was found at ${fake.url}/.well-known/openid-configuration`);
  });

  it("reports unavailable when the issuer is unreachable", async () => {
    const provider = new OIDCProvider({ issuer: `http://127.0.0.1:${await unusedPort()}`, clientId: "proxy" });

    const error = await upstreamFailure(provider.responseIssuer());

    expect(error.failure).toBe("unavailable");
  });

  it("returns the advertised response issuer", async () => {
    expect(await upstreamProvider().responseIssuer()).toBe(upstream.issuer);
  });
});

describe("OIDCProvider against the embedded upstream", () => {
  it("identifies from ID token and userinfo", async () => {
    const provider = upstreamProvider();
    const tokens = await signInAndExchange(provider, "carol");

    const identity = await provider.identify(tokens);

    expect(tokens.idToken).toEqual(expect.any(String));
    expect(identity.subject).toBe("carol");
    expect(identity.claims).toEqual({ sub: "carol", name: "carol (demo)", email: "carol@example.test", email_verified: true });
  });

  it("identifies from ID token alone", async () => {
    const fake = await startFakeDiscovery(() => ({ ...upstreamMetadata, userinfo_endpoint: undefined }));
    const provider = upstreamProvider({ discoveryUrl: `${fake.url}/.well-known/openid-configuration` });
    const tokens = await signInAndExchange(provider, "dave");
    const userinfoRequests = countRequests("/me");

    const identity = await provider.identify(tokens);

    expect(identity.subject).toBe("dave");
    expect(identity.claims).toMatchObject({ sub: "dave", name: "dave (demo)", email: "dave@example.test" });
    for (const claim of PLUMBING) {
      expect(identity.claims).not.toHaveProperty(claim);
    }
    expect(countRequests("/me")).toBe(userinfoRequests);
  });

  it("identifies from userinfo alone", async () => {
    const provider = upstreamProvider();
    const tokens = await signInAndExchange(provider, "erin");

    const identity = await provider.identify({ ...tokens, idToken: undefined });

    expect(identity).toEqual({ subject: "erin", claims: { sub: "erin", name: "erin (demo)", email: "erin@example.test", email_verified: true } });
  });

  it("rejects userinfo for another subject", async () => {
    const userinfo = await startFakeServer((_req, res) => sendJson(res, 200, { sub: "mallory" }));
    const fake = await startFakeDiscovery(() => ({ ...upstreamMetadata, userinfo_endpoint: `${userinfo.url}/me` }));
    const provider = upstreamProvider({ discoveryUrl: `${fake.url}/.well-known/openid-configuration` });
    const tokens = await signInAndExchange(provider);

    const error = await upstreamFailure(provider.identify(tokens));

    expect(error.failure).toBe("protocol");
    expect(error.message).toMatch(/different subject/);
  });

  it("rejects another client's ID token", async () => {
    const tokens = await signInAndExchange(upstreamProvider());

    const error = await upstreamFailure(upstreamProvider({ clientId: "other-client" }).identify(tokens));

    expect(error.failure).toBe("protocol");
    expect(error.message).toMatch(/jwt audience invalid/);
  });

  it("rejects a forged ID token signature", async () => {
    const tokens = await signInAndExchange(upstreamProvider());
    const [header, payload] = (tokens.idToken ?? "").split(".");
    const forged = `${header}.${payload}.${Buffer.from("not the signature").toString("base64url")}`;

    const error = await upstreamFailure(upstreamProvider().identify({ ...tokens, idToken: forged }));

    expect(error.failure).toBe("protocol");
    expect(error.message).toMatch(/invalid signature/);
  });

  it("refreshes the tokens", async () => {
    const provider = upstreamProvider();
    const tokens = await signInAndExchange(provider);

    const refreshed = await provider.refresh(tokens);

    expect(refreshed.accessToken).not.toBe(tokens.accessToken);
    expect(refreshed.refreshToken).toEqual(expect.any(String));
    expect((await provider.identify(refreshed)).subject).toBe("alice");
  });

  it("refresh after revokeAll is invalid_grant", async () => {
    const provider = upstreamProvider();
    const tokens = await signInAndExchange(provider);

    upstream.revokeAll();
    const error = await upstreamFailure(provider.refresh(tokens));

    expect(error.failure).toBe("invalid_grant");
  });

  it("reports invalid_client for a wrong client secret", async () => {
    const error = await upstreamFailure(upstreamProvider({ clientSecret: "wrong" }).refresh({ accessToken: "a", tokenType: "Bearer", refreshToken: "r", scopes: [] }));

    expect(error.failure).toBe("invalid_client");
    expect(error.status).toBe(401);
  });

  it("revokes at the discovered revocation endpoint", async () => {
    const provider = upstreamProvider();
    const tokens = await signInAndExchange(provider);
    const revocations = countRequests("/token/revocation");

    await provider.revoke(tokens);

    expect(countRequests("/token/revocation")).toBe(revocations + 1);
    expect((await upstreamFailure(provider.refresh(tokens))).failure).toBe("invalid_grant");
  });
});

describe("OIDCProvider ID token verification", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  let jwks: JsonWebKey[] = [];
  let fake: FakeServer;

  beforeAll(async () => {
    fake = await startFakeServer((req, res, url) => {
      if (req.url === "/.well-known/openid-configuration") {
        sendJson(res, 200, {
          issuer: url,
          authorization_endpoint: `${url}/auth`,
          token_endpoint: `${url}/token`,
          jwks_uri: `${url}/jwks`,
          id_token_signing_alg_values_supported: ["RS256", "ES256", "HS256"],
        });
        return;
      }
      sendJson(res, 200, { keys: jwks });
    });
  });

  function publicJwk(key: KeyObject, kid: string | undefined): JsonWebKey {
    return { ...key.export({ format: "jwk" }), ...(kid === undefined ? {} : { kid }), use: "sig" };
  }

  /** Signs an ID token; a claim set to undefined is left out, and `kid: null` leaves out the kid header. */
  function idToken(claims: Record<string, unknown>, options: { algorithm?: Algorithm; kid?: string | null; key?: KeyObject | string } = {}): UpstreamTokens {
    const { algorithm = "RS256", kid = "rsa-1", key = rsa.privateKey } = options;
    const now = Math.floor(Date.now() / 1000);
    const payload = Object.fromEntries(
      Object.entries({ iss: fake.url, aud: "proxy", sub: "user-1", iat: now, exp: now + 300, ...claims }).filter(([, value]) => value !== undefined),
    );
    const token = jsonwebtoken.sign(payload, key, { algorithm, ...(kid === null ? {} : { keyid: kid }) });
    return { accessToken: "access", tokenType: "Bearer", idToken: token, scopes: ["openid"] };
  }

  function provider(): OIDCProvider {
    return new OIDCProvider({ issuer: fake.url, clientId: "proxy" });
  }

  function jwksRequests(): number {
    return fake.requests.filter((path) => path === "/jwks").length;
  }

  it("accepts a token, strips JWT plumbing", async () => {
    jwks = [publicJwk(rsa.publicKey, "rsa-1")];

    const identity = await provider().identify(idToken({ email: "user@example.test", nonce: "n", sid: "s", auth_time: 1, azp: "proxy", jti: "j" }));

    expect(identity).toEqual({ subject: "user-1", claims: { sub: "user-1", email: "user@example.test" } });
  });

  it("accepts an ES256 token", async () => {
    jwks = [publicJwk(rsa.publicKey, "rsa-1"), publicJwk(ec.publicKey, "ec-1")];

    const identity = await provider().identify(idToken({}, { algorithm: "ES256", kid: "ec-1", key: ec.privateKey }));

    expect(identity.subject).toBe("user-1");
  });

  it("accepts a kid-less token with one key", async () => {
    jwks = [publicJwk(rsa.publicKey, undefined)];

    const identity = await provider().identify(idToken({}, { kid: null }));

    expect(identity.subject).toBe("user-1");
  });

  it("refetches JWKS for an unknown kid", async () => {
    const verifier = provider();
    jwks = [publicJwk(rsa.publicKey, "rsa-1")];
    await verifier.identify(idToken({}));
    const before = jwksRequests();

    jwks = [publicJwk(rsa.publicKey, "rsa-1"), publicJwk(ec.publicKey, "rotated")];
    const identity = await verifier.identify(idToken({}, { algorithm: "ES256", kid: "rotated", key: ec.privateKey }));

    expect(identity.subject).toBe("user-1");
    expect(jwksRequests()).toBe(before + 1);
  });

  it("rejects a kid missing after the refetch", async () => {
    const verifier = provider();
    jwks = [publicJwk(rsa.publicKey, "rsa-1")];
    await verifier.identify(idToken({}));
    const before = jwksRequests();

    const error = await upstreamFailure(verifier.identify(idToken({}, { kid: "unknown" })));

    expect(error.failure).toBe("protocol");
    expect(error.message).toMatch(/no RS256 signing key with kid "unknown"/);
    expect(jwksRequests()).toBe(before + 1);
  });

  it("accepts expiry within clock tolerance", async () => {
    jwks = [publicJwk(rsa.publicKey, "rsa-1")];
    const now = Math.floor(Date.now() / 1000);

    const identity = await provider().identify(idToken({ iat: now - 600, exp: now - 30 }));

    expect(identity.subject).toBe("user-1");
  });

  const invalid: Array<[string, () => UpstreamTokens, RegExp]> = [
    ["an expired token", () => idToken({ exp: Math.floor(Date.now() / 1000) - 120 }), /jwt expired/],
    ["another issuer", () => idToken({ iss: "https://other.example" }), /jwt issuer invalid/],
    ["another audience", () => idToken({ aud: "someone-else" }), /jwt audience invalid/],
    ["several audiences without azp", () => idToken({ aud: ["proxy", "api"] }), /several audiences but no azp/],
    ["an azp of another client", () => idToken({ aud: ["proxy", "api"], azp: "api" }), /issued to "api" \(azp\)/],
    ["a missing exp", () => idToken({ exp: undefined }), /no exp claim/],
    ["a missing sub", () => idToken({ sub: undefined }), /no sub claim/],
    ["an HS256 token", () => idToken({}, { algorithm: "HS256", key: "shared-secret-shared-secret-shared" }), /signed with HS256/],
    ["a token that is not a JWT", () => ({ accessToken: "a", tokenType: "Bearer", idToken: "not-a-jwt", scopes: [] }), /not a JWT/],
  ];

  for (const [label, tokens, message] of invalid) {
    it(`rejects ${label}`, async () => {
      jwks = [publicJwk(rsa.publicKey, "rsa-1")];

      const error = await upstreamFailure(provider().identify(tokens()));

      expect(error.failure).toBe("protocol");
      expect(error.message).toMatch(message);
    });
  }
});
