import { createHmac, createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

import express from "express";
import type { Request, Response } from "express";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createTokenVerifier, OptionError, TokenVerificationError, UpstreamError } from "mcp-oauth-proxy";
import type { TokenVerifier, TokenVerifierOptions } from "mcp-oauth-proxy";

import { signAccessToken } from "../lib/core/jwt.js";
import type { SigningAlgorithm } from "../lib/core/jwt.js";
import { Harness } from "./helpers/harness.js";

const ISSUER = "https://auth.example.com";
const AUDIENCE = "https://auth.example.com/mcp";

afterEach(() => {
  vi.useRealTimers();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Starts a second Express app, the resource server, that accepts the proxy's tokens through a verifier. */
async function startResourceServer(verifier: TokenVerifier): Promise<{ url: string; server: Server }> {
  const app = express();
  const echo = (req: Request, res: Response) => {
    res.json({ ...req.auth, resource: req.auth?.resource?.href });
  };
  app.get("/api", verifier.middleware({ scopes: ["mcp:read"] }), echo);
  app.get("/admin", verifier.middleware({ scopes: ["mcp:admin"] }), echo);
  const server = createServer(app);
  return { url: await listen(server), server };
}

/** A JWKS endpoint on 127.0.0.1 that counts its requests and serves whatever `keys` holds. */
class JwksServer {
  requests = 0;
  keys: unknown[] = [];
  failing = false;
  url = "";
  readonly #server = createServer((_req, res) => {
    this.requests += 1;
    if (this.failing) {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/jwk-set+json" });
    res.end(JSON.stringify({ keys: this.keys }));
  });

  async start(): Promise<this> {
    this.url = `${await listen(this.#server)}/jwks`;
    return this;
  }

  async stop(): Promise<void> {
    await close(this.#server);
  }
}

interface TestKey {
  kid: string;
  algorithm: SigningAlgorithm;
  privateKey: KeyObject;
  jwk: object;
}

function testKey(kid: string, algorithm: "RS256" | "ES256" = "ES256"): TestKey {
  const { privateKey, publicKey } = algorithm === "RS256"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { kid, algorithm, privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, alg: algorithm, use: "sig" } };
}

function tokenFor(key: TestKey, claims: { scope?: string; aud?: string } = {}): string {
  return signAccessToken({
    issuer: ISSUER,
    subject: "user-1",
    audience: claims.aud ?? AUDIENCE,
    clientId: "client-1",
    scope: claims.scope ?? "mcp:read",
    grantId: "grant-1",
    ttlSeconds: 3600,
  }, { kid: key.kid, algorithm: key.algorithm, key: key.privateKey }).token;
}

/** Builds the algorithm confusion attack: an HS256 token whose HMAC secret is the verifier's public key. */
function hmacWithPublicKey(key: TestKey): string {
  const publicPem = createPublicKey(key.privateKey).export({ format: "pem", type: "spki" });
  const [, payload] = tokenFor(key).split(".");
  const signingInput = `${Buffer.from(JSON.stringify({ alg: "HS256", typ: "at+jwt", kid: key.kid })).toString("base64url")}.${payload}`;
  return `${signingInput}.${createHmac("sha256", publicPem).update(signingInput).digest("base64url")}`;
}

async function failureOf(verifier: TokenVerifier, token: string): Promise<unknown> {
  try {
    await verifier.verify(token);
  } catch (error) {
    return error;
  }
  throw new Error("verify accepted the token");
}

for (const algorithm of ["RS256", "ES256"] as const) {
  describe(`${algorithm} tokens in a second app`, () => {
    let harness: Harness;
    let resource: { url: string; server: Server };
    let accessToken: string;

    beforeAll(async () => {
      harness = await Harness.start({ proxyOptions: { jwt: { algorithm } } });
      // The resource server is given only the issuer, its audience and the published jwks_uri.
      const verifier = createTokenVerifier({ issuer: harness.issuer, audience: harness.mcpUrl, jwksUri: harness.metadata.jwks_uri as string });
      resource = await startResourceServer(verifier);
      const client = await harness.register();
      accessToken = (await harness.obtainTokens(client.client_id)).access_token;
    });

    afterAll(async () => {
      await close(resource.server);
      await harness.close();
    });

    it("accepts the proxy's token", async () => {
      const response = await fetch(`${resource.url}/api`, { headers: { authorization: `Bearer ${accessToken}` } });
      const body = await response.json() as Record<string, unknown>;

      expect(response.status).toBe(200);
      expect(body.token).toBe(accessToken);
      expect(body.scopes).toEqual(["mcp:read"]);
      expect(body.resource).toBe(harness.mcpUrl);
      expect(typeof body.clientId).toBe("string");
      expect(typeof body.expiresAt).toBe("number");
      expect(body.extra).toEqual({ subject: expect.any(String), grantId: expect.any(String) });
    });

    it("challenges a request without token", async () => {
      const response = await fetch(`${resource.url}/api`);

      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(`Bearer scope="mcp:read", resource_metadata="${harness.issuer}/.well-known/oauth-protected-resource/mcp"`);
    });

    it("rejects a tampered token", async () => {
      const [header, payload, signature] = accessToken.split(".");
      const claims = JSON.parse(Buffer.from(payload as string, "base64url").toString()) as Record<string, unknown>;
      const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, scope: "mcp:admin" })).toString("base64url")}.${signature}`;
      const response = await fetch(`${resource.url}/admin`, { headers: { authorization: `Bearer ${tampered}` } });

      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(
        `Bearer error="invalid_token", error_description="The access token signature is invalid", scope="mcp:admin", resource_metadata="${harness.issuer}/.well-known/oauth-protected-resource/mcp"`,
      );
    });

    it("answers 403 for a missing scope", async () => {
      const response = await fetch(`${resource.url}/admin`, { headers: { authorization: `Bearer ${accessToken}` } });

      expect(response.status).toBe(403);
      expect(response.headers.get("www-authenticate")).toBe(
        `Bearer error="insufficient_scope", error_description="This request needs the scope mcp:admin", scope="mcp:read mcp:admin", resource_metadata="${harness.issuer}/.well-known/oauth-protected-resource/mcp"`,
      );
    });
  });
}

describe("JWKS refetch on unknown kid", () => {
  let jwks: JwksServer;
  const first = testKey("first");

  beforeAll(async () => {
    jwks = await new JwksServer().start();
  });

  afterAll(async () => {
    await jwks.stop();
  });

  function freshVerifier(options: Partial<TokenVerifierOptions> = {}): TokenVerifier {
    jwks.keys = [first.jwk];
    jwks.requests = 0;
    jwks.failing = false;
    return createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUri: jwks.url, ...options });
  }

  function advance(seconds: number): void {
    vi.setSystemTime(Date.now() + seconds * 1000);
  }

  it("fetches once for known keys", async () => {
    const verifier = freshVerifier();
    await verifier.verify(tokenFor(first));
    await verifier.verify(tokenFor(first));

    expect(jwks.requests).toBe(1);
  });

  it("refetches once, then waits for the cooldown", async () => {
    const verifier = freshVerifier();
    vi.useFakeTimers({ toFake: ["Date"] });
    await verifier.verify(tokenFor(first));
    advance(31);

    const unknown = await failureOf(verifier, tokenFor(testKey("unknown-1")));
    expect((unknown as TokenVerificationError).code).toBe("unknown_key");
    expect(jwks.requests).toBe(2);

    const second = await failureOf(verifier, tokenFor(testKey("unknown-2")));
    expect((second as TokenVerificationError).code).toBe("unknown_key");
    expect(jwks.requests).toBe(2);

    advance(31);
    await failureOf(verifier, tokenFor(testKey("unknown-3")));
    expect(jwks.requests).toBe(3);
  });

  it("finds a rotated key with one refetch", async () => {
    const verifier = freshVerifier();
    vi.useFakeTimers({ toFake: ["Date"] });
    await verifier.verify(tokenFor(first));
    const rotated = testKey("rotated");
    jwks.keys = [rotated.jwk, first.jwk];
    advance(31);

    expect((await verifier.verify(tokenFor(rotated))).clientId).toBe("client-1");
    expect(jwks.requests).toBe(2);
  });

  it("shares one refetch among concurrent requests", async () => {
    const verifier = freshVerifier();
    await verifier.verify(tokenFor(first));
    const rotated = testKey("rotated-concurrent");
    jwks.keys = [rotated.jwk, first.jwk];
    const token = tokenFor(rotated);
    vi.useFakeTimers({ toFake: ["Date"] });
    advance(31);

    const results = await Promise.all(Array.from({ length: 10 }, () => verifier.verify(token)));
    expect(results.every((auth) => auth.clientId === "client-1")).toBe(true);
    expect(jwks.requests).toBe(2);
  });

  it("refetches after the cache lifetime", async () => {
    const verifier = freshVerifier({ jwksCacheSeconds: 60 });
    vi.useFakeTimers({ toFake: ["Date"] });
    await verifier.verify(tokenFor(first));
    advance(61);
    await verifier.verify(tokenFor(first));

    expect(jwks.requests).toBe(2);
  });

  it("keeps cached keys through an outage", async () => {
    const verifier = freshVerifier({ jwksCacheSeconds: 60, verifiedTokenCacheSize: 0 });
    vi.useFakeTimers({ toFake: ["Date"] });
    await verifier.verify(tokenFor(first));
    jwks.failing = true;
    advance(61);

    expect((await verifier.verify(tokenFor(first))).clientId).toBe("client-1");
    expect(jwks.requests).toBe(2);
  });

  it("reports an unreachable JWKS", async () => {
    const verifier = freshVerifier();
    jwks.failing = true;

    expect(await failureOf(verifier, tokenFor(first))).toBeInstanceOf(UpstreamError);
    // The failed attempt starts a cooldown, so a second request does not fetch again.
    expect(await failureOf(verifier, tokenFor(first))).toBeInstanceOf(UpstreamError);
    expect(jwks.requests).toBe(1);
  });

  it("middleware answers 503 without keys", async () => {
    const verifier = freshVerifier();
    jwks.failing = true;
    const resource = await startResourceServer(verifier);
    try {
      const response = await fetch(`${resource.url}/api`, { headers: { authorization: `Bearer ${tokenFor(first)}` } });

      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("30");
      expect(await response.json()).toEqual({ error: "temporarily_unavailable", error_description: "The keys that verify access tokens could not be fetched; try again later" });
    } finally {
      await close(resource.server);
    }
  });

  it("skips unusable keys", async () => {
    const verifier = freshVerifier();
    const rsa = testKey("rsa", "RS256");
    jwks.keys = [
      { ...testKey("encryption").jwk, use: "enc" },
      { ...testKey("wrong-alg").jwk, alg: "RS256" },
      { kty: "oct", k: "c2VjcmV0", kid: "symmetric" },
      { ...testKey("no-kid").jwk, kid: undefined },
      { kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA", kid: "broken" },
      "not an object",
      rsa.jwk,
    ];

    for (const kid of ["encryption", "wrong-alg", "symmetric", "broken"]) {
      const error = await failureOf(verifier, tokenFor({ ...first, kid }));
      expect((error as TokenVerificationError).code, kid).toBe("unknown_key");
    }
    expect((await verifier.verify(tokenFor(rsa))).clientId).toBe("client-1");
  });
});

describe("verify", () => {
  let jwks: JwksServer;
  let verifier: TokenVerifier;
  const key = testKey("main");

  beforeAll(async () => {
    jwks = await new JwksServer().start();
    jwks.keys = [key.jwk];
    verifier = createTokenVerifier({ issuer: ISSUER, audience: [AUDIENCE, "https://auth.example.com/other"], jwksUri: jwks.url });
  });

  afterAll(async () => {
    await jwks.stop();
  });

  it("returns AuthInfo", async () => {
    const token = tokenFor(key, { scope: "mcp:read mcp:write" });
    const auth = await verifier.verify(token);

    expect(auth).toEqual({
      token,
      clientId: "client-1",
      scopes: ["mcp:read", "mcp:write"],
      expiresAt: expect.any(Number),
      resource: new URL(AUDIENCE),
      extra: { subject: "user-1", grantId: "grant-1" },
    });
  });

  it("accepts any listed audience", async () => {
    expect((await verifier.verify(tokenFor(key, { aud: "https://auth.example.com/other" }))).resource?.href).toBe("https://auth.example.com/other");
  });

  const failures: Array<[string, () => string, string]> = [
    ["a foreign audience", () => tokenFor(key, { aud: "https://other.example.com/mcp" }), "wrong_audience"],
    ["a foreign issuer", () => signAccessToken({ issuer: "https://evil.example", subject: "s", audience: AUDIENCE, clientId: "c", scope: "", grantId: "g", ttlSeconds: 60 }, { kid: key.kid, algorithm: "ES256", key: key.privateKey }).token, "wrong_issuer"],
    ["alg none", () => `${Buffer.from('{"alg":"none","typ":"at+jwt","kid":"main"}').toString("base64url")}.${tokenFor(key).split(".")[1]}.`, "unsupported_algorithm"],
    ["HS256 keyed with the public key", () => hmacWithPublicKey(key), "unsupported_algorithm"],
    ["a missing kid", () => `${Buffer.from('{"alg":"ES256","typ":"at+jwt"}').toString("base64url")}.${tokenFor(key).split(".").slice(1).join(".")}`, "unknown_key"],
    ["garbage", () => "garbage", "malformed"],
  ];

  for (const [name, token, code] of failures) {
    it(`rejects ${name}`, async () => {
      const error = await failureOf(verifier, token());

      expect(error).toBeInstanceOf(TokenVerificationError);
      expect((error as TokenVerificationError).code).toBe(code);
    });
  }
});

describe("verifier with the shared secret", () => {
  const secret = randomBytes(32).toString("base64url");
  let harness: Harness;
  let accessToken: string;

  beforeAll(async () => {
    harness = await Harness.start({ secret });
    const client = await harness.register();
    accessToken = (await harness.obtainTokens(client.client_id)).access_token;
  });

  afterAll(async () => {
    await harness.close();
  });

  it("accepts HS256 tokens", async () => {
    const verifier = createTokenVerifier({ issuer: harness.issuer, audience: harness.mcpUrl, secret });

    expect((await verifier.verify(accessToken)).scopes).toEqual(["mcp:read"]);
  });

  it("accepts a previous secret", async () => {
    const verifier = createTokenVerifier({ issuer: harness.issuer, audience: harness.mcpUrl, secret: [randomBytes(32), secret] });

    expect((await verifier.verify(accessToken)).scopes).toEqual(["mcp:read"]);
  });

  it("rejects another secret", async () => {
    const verifier = createTokenVerifier({ issuer: harness.issuer, audience: harness.mcpUrl, secret: randomBytes(32) });

    expect(((await failureOf(verifier, accessToken)) as TokenVerificationError).code).toBe("unknown_key");
  });
});

describe("createTokenVerifier options", () => {
  const valid: TokenVerifierOptions = { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${ISSUER}/oauth/jwks` };
  const cases: Array<[string, Partial<TokenVerifierOptions> | Record<string, unknown>, string]> = [
    ["no key source", { jwksUri: undefined }, "Invalid option createTokenVerifier({ jwksUri, secret }): undefined. Pass exactly one: jwksUri for RS256 or ES256 tokens, secret for HS256 tokens."],
    ["both key sources", { secret: "s".repeat(32) }, 'Invalid option createTokenVerifier({ jwksUri, secret }): "both". Pass exactly one'],
    ["an http JWKS on another host", { jwksUri: "http://auth.example.com/oauth/jwks" }, 'Invalid option createTokenVerifier({ jwksUri }): "http://auth.example.com/oauth/jwks". Pass an https URL; http is accepted only for localhost, 127.0.0.1 and [::1].'],
    ["a relative JWKS URL", { jwksUri: "/oauth/jwks" }, "Invalid option createTokenVerifier({ jwksUri }): \"/oauth/jwks\"."],
    ["a short secret", { jwksUri: undefined, secret: "short" }, 'Invalid option createTokenVerifier({ secret })[0]: "(hidden, 5 bytes)". Pass the proxy\'s secret: a string or Buffer of at least 32 bytes.'],
    ["a numeric secret", { jwksUri: undefined, secret: 42 }, 'Invalid option createTokenVerifier({ secret })[0]: "number".'],
    ["a missing issuer", { issuer: undefined }, "Invalid option createTokenVerifier({ issuer }): undefined."],
    ["an issuer with a trailing slash", { issuer: `${ISSUER}/` }, `Invalid option createTokenVerifier({ issuer }): "${ISSUER}/". Remove the trailing slash: the proxy's issuer has none.`],
    ["an empty audience list", { audience: [] }, "Invalid option createTokenVerifier({ audience }): []."],
    ["a relative audience", { audience: "/mcp" }, 'Invalid option createTokenVerifier({ audience }): "/mcp". Pass the resource URL tokens are issued for'],
    ["a negative cooldown", { jwksCooldownSeconds: -1 }, "Invalid option createTokenVerifier({ jwksCooldownSeconds }): -1. Pass a whole number of at least 0."],
    ["a zero cache lifetime", { jwksCacheSeconds: 0 }, "Invalid option createTokenVerifier({ jwksCacheSeconds }): 0. Pass a whole number of at least 1."],
    ["an http resource metadata URL", { resourceMetadataUrl: "http://auth.example.com/x" }, 'Invalid option createTokenVerifier({ resourceMetadataUrl }): "http://auth.example.com/x".'],
  ];

  for (const [name, changes, message] of cases) {
    it(`rejects ${name}`, () => {
      let error: unknown;
      try {
        createTokenVerifier({ ...valid, ...changes } as TokenVerifierOptions);
      } catch (thrown) {
        error = thrown;
      }

      expect(error).toBeInstanceOf(OptionError);
      expect((error as Error).message).toContain(message);
    });
  }

  it("rejects bad middleware scopes", () => {
    const verifier = createTokenVerifier(valid);

    expect(() => verifier.middleware({ scopes: ["two words"] })).toThrow(OptionError);
  });

  it("never shows the secret", () => {
    let message = "";
    try {
      createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, secret: "too-short-secret" });
    } catch (error) {
      message = (error as Error).message;
    }

    expect(message).not.toContain("too-short-secret");
  });

  it("builds the default resource metadata URL", async () => {
    const verifier = createTokenVerifier({ ...valid, audience: "https://api.example.com/tools/mcp" });
    const resource = await startResourceServer(verifier);
    try {
      const response = await fetch(`${resource.url}/api`);

      expect(response.headers.get("www-authenticate")).toBe('Bearer scope="mcp:read", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/tools/mcp"');
      expect(await response.json()).toEqual({ error: "unauthorized", error_description: "An access token is required" });
    } finally {
      await close(resource.server);
    }
  });

  it("answers a malformed header with 400", async () => {
    const verifier = createTokenVerifier({ ...valid, resourceMetadataUrl: "https://api.example.com/prm" });
    const resource = await startResourceServer(verifier);
    try {
      const response = await fetch(`${resource.url}/api`, { headers: { authorization: "Bearer a b" } });

      expect(response.status).toBe(400);
      expect(response.headers.get("www-authenticate")).toBe(
        'Bearer error="invalid_request", error_description="The Authorization header must contain exactly one Bearer token", scope="mcp:read", resource_metadata="https://api.example.com/prm"',
      );
    } finally {
      await close(resource.server);
    }
  });
});
