import { createHmac, generateKeyPairSync, randomBytes } from "node:crypto";
import type { KeyObject } from "node:crypto";

import jsonwebtoken from "jsonwebtoken";
import type { JwtHeader, JwtPayload } from "jsonwebtoken";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { deriveKeys } from "../../lib/core/keys.js";
import { Harness } from "../helpers/harness.js";
import type { TokenBody } from "../helpers/harness.js";

afterEach(() => {
  vi.useRealTimers();
});

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function decode(token: string): { header: JwtHeader; payload: JwtPayload } {
  const decoded = jsonwebtoken.decode(token, { complete: true });
  expect(decoded).not.toBeNull();
  return { header: decoded?.header as JwtHeader, payload: decoded?.payload as JwtPayload };
}

async function newTokens(harness: Harness): Promise<{ clientId: string; tokens: TokenBody }> {
  const client = await harness.register();
  return { clientId: client.client_id, tokens: await harness.obtainTokens(client.client_id) };
}

async function jwksKids(harness: Harness): Promise<string[]> {
  const response = await fetch(harness.metadata.jwks_uri as string);
  expect(response.status).toBe(200);
  return ((await response.json()) as { keys: Array<{ kid: string }> }).keys.map((jwk) => jwk.kid);
}

async function expectStatus(response: Response, status: number): Promise<void> {
  expect(response.status).toBe(status);
  await response.body?.cancel();
}

/** Checks a 401 invalid_token response that carries the resource metadata URL. */
async function expectInvalidToken(harness: Harness, response: Response): Promise<void> {
  expect(response.status).toBe(401);
  const challenge = response.headers.get("www-authenticate") ?? "";
  expect(challenge).toMatch(/^Bearer error="invalid_token", error_description="[^"\\]+", /);
  expect(challenge).toContain(`resource_metadata="${harness.issuer}/.well-known/oauth-protected-resource/mcp"`);
  await response.body?.cancel();
}

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const CONFIGURED = {
  // RS256 from PEM text, ES256 from a JWK, so both import paths run end to end.
  RS256: { privateKey: rsa.privateKey, publicKey: rsa.publicKey, input: { key: rsa.privateKey.export({ format: "pem", type: "pkcs8" }) as string, kid: "rsa-2025" } },
  ES256: { privateKey: ec.privateKey, publicKey: ec.publicKey, input: { ...ec.privateKey.export({ format: "jwk" }), kid: "ec-2025" } },
} as const;

describe("S62 JOSE header of access tokens", () => {
  for (const algorithm of ["RS256", "ES256"] as const) {
    describe(`with generated ${algorithm} keys`, () => {
      let harness: Harness;

      beforeAll(async () => {
        harness = await Harness.start({ proxyOptions: { jwt: { algorithm } } });
      });

      afterAll(async () => {
        await harness.close();
      });

      it("types the token at+jwt with an asymmetric alg", async () => {
        const { header } = decode((await newTokens(harness)).tokens.access_token);

        expect(header.typ).toBe("at+jwt");
        expect(header.alg).toBe(algorithm);
        expect(header.alg).not.toBe("none");
      });

      it("kid resolves in jwks_uri", async () => {
        const { header } = decode((await newTokens(harness)).tokens.access_token);
        const response = await fetch(harness.metadata.jwks_uri as string);
        const jwk = ((await response.json()) as { keys: Array<Record<string, string>> }).keys.find((key) => key.kid === header.kid);

        expect(harness.metadata.jwks_uri).toBe(`${harness.issuer}/oauth/jwks`);
        expect(jwk).toMatchObject({ kid: header.kid, alg: algorithm, use: "sig" });
        expect(jwk).not.toHaveProperty("d");
      });
    });
  }

  describe("with the default HS256", () => {
    let harness: Harness;

    beforeAll(async () => {
      harness = await Harness.start();
    });

    afterAll(async () => {
      await harness.close();
    });

    // HS256 is the default (both reference implementations do the same); RS256/ES256 is one option away.
    it("signs HS256 with a kid and publishes no JWKS", async () => {
      const { header } = decode((await newTokens(harness)).tokens.access_token);

      expect(header).toMatchObject({ alg: "HS256", typ: "at+jwt", kid: expect.any(String) });
      expect(harness.metadata).not.toHaveProperty("jwks_uri");
      await expectStatus(await fetch(`${harness.issuer}/oauth/jwks`), 404);
    });
  });
});

describe("S66 invalid asymmetric tokens get 401 invalid_token", () => {
  for (const algorithm of ["RS256", "ES256"] as const) {
    describe(algorithm, () => {
      const { privateKey, publicKey, input } = CONFIGURED[algorithm];
      let harness: Harness;
      let valid: JwtPayload;

      beforeAll(async () => {
        harness = await Harness.start({ proxyOptions: { jwt: { algorithm, keys: [input] } } });
        valid = decode((await newTokens(harness)).tokens.access_token).payload;
      });

      afterAll(async () => {
        await harness.close();
      });

      /** Re-signs `valid`'s claims with one change, so each bad token differs from an accepted one in one way. */
      function forge(options: { header?: Record<string, unknown>; claims?: JwtPayload; key?: KeyObject } = {}): string {
        const now = nowSeconds();
        const header = { alg: algorithm, typ: "at+jwt", kid: input.kid, ...options.header };
        return jsonwebtoken.sign({ ...valid, iat: now, exp: now + 600, ...options.claims }, options.key ?? privateKey, { algorithm, header: header as JwtHeader });
      }

      function unsigned(header: Record<string, unknown>): string {
        return `${base64urlJson(header)}.${base64urlJson({ ...valid, exp: nowSeconds() + 600 })}.`;
      }

      it("accepts an unchanged forged token", async () => {
        await expectStatus(await harness.callMcp(`Bearer ${forge()}`), 200);
      });

      const otherKey = algorithm === "RS256" ? generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey : generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
      const publicPem = publicKey.export({ format: "pem", type: "spki" });
      const bad: Array<[string, () => string]> = [
        ["alg none", () => unsigned({ alg: "none", typ: "at+jwt", kid: input.kid })],
        ["alg none without kid", () => unsigned({ alg: "none", typ: "at+jwt" })],
        ["typ JWT", () => forge({ header: { typ: "JWT" } })],
        ["no typ", () => forge({ header: { typ: undefined } })],
        ["an unknown kid and the right key", () => forge({ header: { kid: "unknown-kid" } })],
        ["an unknown kid and another key", () => forge({ header: { kid: "unknown-kid" }, key: otherKey })],
        ["no kid", () => forge({ header: { kid: undefined } })],
        ["another key under the right kid", () => forge({ key: otherKey })],
        ["HS256 keyed with the public key", () => hmacToken({ alg: "HS256", typ: "at+jwt", kid: input.kid }, { ...valid, exp: nowSeconds() + 600 }, publicPem)],
        ["an expired exp", () => forge({ claims: { iat: nowSeconds() - 700, exp: nowSeconds() - 60 } })],
        ["a foreign iss", () => forge({ claims: { iss: "https://evil.example" } })],
        ["a foreign aud", () => forge({ claims: { aud: "https://other.example.com/mcp" } })],
      ];

      for (const [name, build] of bad) {
        it(`rejects ${name}`, async () => {
          await expectInvalidToken(harness, await harness.callMcp(`Bearer ${build()}`));
        });
      }
    });
  }
});

describe("S77 introspection", () => {
  const caller = { id: "resource-server", secret: randomBytes(32).toString("base64url") };
  const basic = `Basic ${Buffer.from(`${caller.id}:${caller.secret}`).toString("base64")}`;
  let harness: Harness;

  beforeAll(async () => {
    harness = await Harness.start({ proxyOptions: { jwt: { algorithm: "ES256" }, introspection: { clients: [caller] } } });
  });

  afterAll(async () => {
    await harness.close();
  });

  function introspect(token: string, headers: Record<string, string> = { authorization: basic }): Promise<Response> {
    return harness.postForm(harness.metadata.introspection_endpoint as string, { token }, headers);
  }

  async function expectInactive(response: Response): Promise<void> {
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.json()).toStrictEqual({ active: false });
  }

  it("requires caller credentials", async () => {
    const { tokens } = await newTokens(harness);
    const response = await introspect(tokens.access_token, {});

    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: "invalid_client" });
  });

  it("describes an active token", async () => {
    const { clientId, tokens } = await newTokens(harness);
    const { payload } = decode(tokens.access_token);
    const response = await introspect(tokens.access_token);

    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.json()).toStrictEqual({
      active: true,
      scope: "mcp:read",
      client_id: clientId,
      sub: payload.sub,
      aud: harness.mcpUrl,
      iss: harness.issuer,
      exp: payload.exp,
      iat: payload.iat,
      token_type: "Bearer",
    });
  });

  it("hides a revoked token", async () => {
    const { clientId, tokens } = await newTokens(harness);
    await expectStatus(await harness.revoke({ token: tokens.access_token, client_id: clientId }), 200);

    await expectInactive(await introspect(tokens.access_token));
  });

  it("hides an unknown token", async () => {
    await expectInactive(await introspect(randomBytes(24).toString("base64url")));
  });

  it("hides an expired token", async () => {
    const { tokens } = await newTokens(harness);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 3601 * 1000);

    await expectInactive(await introspect(tokens.access_token));
  });
});

describe("rotation of generated keys", () => {
  const DAY = 86400;
  const TTL = 3600;
  let harness: Harness;

  beforeAll(async () => {
    harness = await Harness.start({
      accessTokenTtl: TTL,
      // Long enough that bearer() never refreshes the upstream token while the clock jumps.
      upstreamAccessTokenTtl: 5 * DAY,
      proxyOptions: { jwt: { algorithm: "ES256", rotationDays: 1 } },
    });
  });

  afterAll(async () => {
    await harness.close();
  });

  async function refresh(clientId: string, refreshToken: string): Promise<TokenBody> {
    const response = await harness.token({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId });
    expect(response.status).toBe(200);
    return await response.json() as TokenBody;
  }

  it("old tokens work until they expire, new ones carry the new kid", async () => {
    const { clientId, tokens } = await newTokens(harness);
    // Periods start at multiples of a day since the epoch; go to ten minutes before the next boundary.
    const boundary = (Math.floor(nowSeconds() / DAY) + 1) * DAY;
    vi.useFakeTimers({ toFake: ["Date"] });

    vi.setSystemTime((boundary - 600) * 1000);
    const before = await refresh(clientId, tokens.refresh_token);
    const oldKid = decode(before.access_token).header.kid as string;
    const [nextKid] = await jwksKids(harness);
    expect(nextKid).not.toBe(oldKid);

    vi.setSystemTime((boundary + 60) * 1000);
    const after = await refresh(clientId, before.refresh_token);
    expect(decode(after.access_token).header.kid).toBe(nextKid);
    await expectStatus(await harness.callMcp(`Bearer ${before.access_token}`), 200);
    await expectStatus(await harness.callMcp(`Bearer ${after.access_token}`), 200);
    expect(await jwksKids(harness)).toContain(oldKid);

    // The old token's lifetime (it was issued 600 s before the boundary) ends; the new token's goes on.
    vi.setSystemTime((boundary - 600 + TTL + 60) * 1000);
    await expectInvalidToken(harness, await harness.callMcp(`Bearer ${before.access_token}`));
    await expectStatus(await harness.callMcp(`Bearer ${after.access_token}`), 200);

    // Once every token the old key signed has expired, the key leaves the JWKS.
    vi.setSystemTime((boundary + TTL + 60) * 1000);
    expect(await jwksKids(harness)).not.toContain(oldKid);
    expect(await jwksKids(harness)).toContain(nextKid);
  });
});

describe("key separation", () => {
  const secret = randomBytes(32).toString("base64url");
  const derived = deriveKeys(secret);
  let harness: Harness;
  let valid: JwtPayload;

  beforeAll(async () => {
    harness = await Harness.start({ secret });
    valid = decode((await newTokens(harness)).tokens.access_token).payload;
  });

  afterAll(async () => {
    await harness.close();
  });

  function signWith(key: Buffer | string): string {
    const now = nowSeconds();
    return hmacToken({ alg: "HS256", typ: "at+jwt", kid: derived.keyId }, { ...valid, iat: now, exp: now + 600 }, key);
  }

  it("accepts the token-signing key", async () => {
    await expectStatus(await harness.callMcp(`Bearer ${signWith(derived.signingKey.export())}`), 200);
  });

  it("rejects the storage-encryption key", async () => {
    await expectInvalidToken(harness, await harness.callMcp(`Bearer ${signWith(derived.encryptionKey)}`));
  });

  it("rejects the cookie-signing secret", async () => {
    await expectInvalidToken(harness, await harness.callMcp(`Bearer ${signWith(derived.cookieSecret)}`));
    await expectInvalidToken(harness, await harness.callMcp(`Bearer ${signWith(Buffer.from(derived.cookieSecret, "hex"))}`));
  });

  it("rejects the secret itself", async () => {
    await expectInvalidToken(harness, await harness.callMcp(`Bearer ${signWith(secret)}`));
  });
});

/** Signs a JWT with HMAC-SHA256 by hand, because jsonwebtoken refuses a PEM public key as an HMAC secret. */
function hmacToken(header: Record<string, unknown>, payload: object, key: Buffer | string): string {
  const signingInput = `${base64urlJson(header)}.${base64urlJson(payload)}`;
  return `${signingInput}.${createHmac("sha256", key).update(signingInput).digest("base64url")}`;
}
