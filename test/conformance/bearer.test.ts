import { randomBytes } from "node:crypto";

import jsonwebtoken from "jsonwebtoken";
import type { JwtPayload } from "jsonwebtoken";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { deriveKeys } from "../../lib/core/keys.js";
import { Harness, REDIRECT_URI, VERIFIER } from "../helpers/harness.js";
import type { TokenBody } from "../helpers/harness.js";

const SECRET = randomBytes(32).toString("base64url");
const ACCESS_TOKEN_TTL = 900;

let harness: Harness;
let prmUrl: string;

beforeAll(async () => {
  harness = await Harness.start({ proxyOptions: { secret: SECRET }, accessTokenTtl: ACCESS_TOKEN_TTL });
  prmUrl = `${harness.issuer}/.well-known/oauth-protected-resource/mcp`;
});

afterAll(async () => {
  await harness.close();
});

afterEach(() => {
  vi.useRealTimers();
});

// RFC 9110 §11.2 auth-param with a quoted-string value (§5.6.4).
const AUTH_PARAM = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)="((?:[^"\\]|\\.)*)"(?:, |$)/;
// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const SINGLE_ATTRIBUTES = ["realm", "scope", "error", "error_description", "error_uri"];

/**
 * Parses a `WWW-Authenticate` Bearer challenge strictly: one challenge,
 * attributes as name="value" separated by ", ". Returns the attributes in order.
 */
function parseChallenge(header: string | null): Array<[string, string]> {
  expect(header).not.toBeNull();
  const value = header ?? "";
  expect(value).toMatch(/^Bearer /);

  const attributes: Array<[string, string]> = [];
  let rest = value.slice("Bearer ".length);
  while (rest !== "") {
    const match = AUTH_PARAM.exec(rest);
    expect(match, `unparsable challenge attributes: ${rest}`).not.toBeNull();
    if (match === null) {
      break;
    }
    attributes.push([match[1] ?? "", (match[2] ?? "").replace(/\\(.)/g, "$1")]);
    rest = rest.slice(match[0].length);
  }
  return attributes;
}

/** Checks the RFC 6750 §3 rules every Bearer challenge must follow and returns its attributes by name. */
function checkChallenge(header: string | null): Record<string, string> {
  const attributes = parseChallenge(header);
  const names = attributes.map(([name]) => name);
  for (const name of SINGLE_ATTRIBUTES) {
    expect(names.filter((found) => found === name).length, `${name} appears more than once`).toBeLessThanOrEqual(1);
  }

  const byName = Object.fromEntries(attributes);
  if (byName.scope !== undefined) {
    const scopes = byName.scope.split(" ");
    expect(scopes.every((scope) => SCOPE_TOKEN.test(scope))).toBe(true);
    expect(scopes).not.toContain("offline_access");
  }
  if (byName.error_description !== undefined) {
    expect(byName.error_description).not.toMatch(/["\\]/);
  }
  return byName;
}

/** Checks the response to a request without credentials: 401 with the metadata URL and scope but no error. */
async function expectNoCredentialsChallenge(response: Response): Promise<void> {
  expect(response.status).toBe(401);
  expect(checkChallenge(response.headers.get("www-authenticate"))).toEqual({
    scope: "mcp:read",
    resource_metadata: prmUrl,
  });
  await response.body?.cancel();
}

/** Checks a 401 invalid_token response. */
async function expectInvalidToken(response: Response): Promise<void> {
  expect(response.status).toBe(401);
  const challenge = checkChallenge(response.headers.get("www-authenticate"));
  expect(challenge.error).toBe("invalid_token");
  expect(challenge.error_description).toMatch(/\S/);
  expect(challenge.resource_metadata).toBe(prmUrl);
  await response.body?.cancel();
}

/** Checks that the MCP endpoint processed the request rather than challenging it. */
async function expectProcessed(response: Response): Promise<void> {
  expect(response.status).toBe(200);
  expect(response.headers.get("www-authenticate")).toBeNull();
  await response.body?.cancel();
}

function decodePayload(token: string): JwtPayload {
  const decoded = jsonwebtoken.decode(token, { complete: true });
  expect(decoded).not.toBeNull();
  expect(typeof decoded?.payload).toBe("object");
  return decoded?.payload as JwtPayload;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

async function newTokens(): Promise<{ clientId: string; tokens: TokenBody }> {
  const client = await harness.register();
  return { clientId: client.client_id, tokens: await harness.obtainTokens(client.client_id) };
}

/** Signs in through the browser flow as `login` and redeems the code. */
async function tokensFor(clientId: string, login: string): Promise<TokenBody> {
  const { code } = await harness.signIn(clientId, {}, login);
  const response = await harness.token({
    grant_type: "authorization_code",
    code,
    code_verifier: VERIFIER,
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
  });
  expect(response.status).toBe(200);
  return await response.json() as TokenBody;
}

describe("S63 access token claims", () => {
  it("carries issuer, audience, client, scope and lifetime", async () => {
    const client = await harness.register();
    const before = nowSeconds();
    const tokens = await harness.obtainTokens(client.client_id);
    const after = nowSeconds();
    const claims = decodePayload(tokens.access_token);

    expect(claims.iss).toBe(harness.issuer);
    expect([harness.mcpUrl, [harness.mcpUrl]]).toContainEqual(claims.aud);
    expect(claims.client_id).toBe(client.client_id);
    expect(claims.scope).toBe("mcp:read");
    expect(tokens.scope).toBe("mcp:read");
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.iat).toBeLessThanOrEqual(after);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(ACCESS_TOKEN_TTL);
    expect(tokens.expires_in).toBe(ACCESS_TOKEN_TTL);
    expect(typeof claims.jti).toBe("string");
    expect(typeof claims.sub).toBe("string");
    expect(claims.sub).not.toBe("");
  });

  it("defaults aud to the resource when no resource is sent", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id, { resource: undefined });

    expect([harness.mcpUrl, [harness.mcpUrl]]).toContainEqual(decodePayload(tokens.access_token).aud);
  });

  it("joins several granted scopes with spaces", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id, { scope: "mcp:read mcp:write" });

    expect(decodePayload(tokens.access_token).scope).toBe("mcp:read mcp:write");
  });

  it("keeps sub stable per upstream user", async () => {
    const client = await harness.register();
    const alice = decodePayload((await tokensFor(client.client_id, "alice")).access_token);
    const aliceAgain = decodePayload((await tokensFor(client.client_id, "alice")).access_token);
    const bob = decodePayload((await tokensFor(client.client_id, "bob")).access_token);

    expect(aliceAgain.sub).toBe(alice.sub);
    expect(bob.sub).not.toBe(alice.sub);
  });

  it("issues a unique jti and unguessable refresh tokens", async () => {
    const first = await newTokens();
    const second = await newTokens();

    expect(decodePayload(first.tokens.access_token).jti).not.toBe(decodePayload(second.tokens.access_token).jti);
    expect(first.tokens.refresh_token).not.toBe(second.tokens.refresh_token);
    // 22 base64url characters carry 132 bits, the shortest string at or above 2^128 (OAuth 2.1 §7.7).
    expect(first.tokens.refresh_token).toMatch(/^[A-Za-z0-9_-]{22,}$/);
  });
});

describe("S65 requests without credentials get a challenge", () => {
  for (const method of ["POST", "GET", "DELETE"]) {
    it(`challenges ${method} /mcp without error`, async () => {
      await expectNoCredentialsChallenge(await harness.callMcp(undefined, { method }));
    });
  }
});

describe("S66 invalid tokens get 401 invalid_token", () => {
  const { signingKey, keyId } = deriveKeys(SECRET);
  let valid: JwtPayload;

  beforeAll(async () => {
    valid = decodePayload((await newTokens()).tokens.access_token);
  });

  /** Signs `valid`'s claims with changes, so each token differs from an accepted one in one way only. */
  function forge(changes: JwtPayload = {}, options: { key?: Buffer; typ?: string; kid?: string } = {}): string {
    const { iat: _iat, exp: _exp, ...claims } = valid;
    const now = nowSeconds();
    return jsonwebtoken.sign({ ...claims, iat: now, exp: now + 600, ...changes }, options.key ?? signingKey, {
      algorithm: "HS256",
      header: { alg: "HS256", typ: options.typ ?? "at+jwt", kid: options.kid ?? keyId },
    });
  }

  it("accepts an unchanged forged token", async () => {
    await expectProcessed(await harness.callMcp(`Bearer ${forge()}`));
  });

  const bad: Array<[string, () => string]> = [
    ["expired beyond the leeway", () => forge({ iat: nowSeconds() - 700, exp: nowSeconds() - 60 })],
    ["signed with another key", () => forge({}, { key: randomBytes(32) })],
    ["an unknown kid and another key", () => forge({}, { key: randomBytes(32), kid: "unknown-key" })],
    ["an unknown kid and the right key", () => forge({}, { kid: "unknown-key" })],
    ["alg none", () => `${base64urlJson({ alg: "none", typ: "at+jwt" })}.${base64urlJson({ ...valid, exp: nowSeconds() + 600 })}.`],
    ["typ JWT", () => forge({}, { typ: "JWT" })],
    ["a foreign iss", () => forge({ iss: "https://evil.example" })],
    ["a random string", () => randomBytes(32).toString("base64url")],
  ];

  for (const [name, build] of bad) {
    it(`rejects a token with ${name}`, async () => {
      await expectInvalidToken(await harness.callMcp(`Bearer ${build()}`));
    });
  }

  it("rejects a real token once its lifetime has passed", async () => {
    const { tokens } = await newTokens();
    await expectProcessed(await harness.callMcp(`Bearer ${tokens.access_token}`));

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + (ACCESS_TOKEN_TTL + 60) * 1000);
    await expectInvalidToken(await harness.callMcp(`Bearer ${tokens.access_token}`));
  });

  it("rejects a revoked token on the next request", async () => {
    const { clientId, tokens } = await newTokens();
    await expectProcessed(await harness.callMcp(`Bearer ${tokens.access_token}`));

    const revoked = await harness.revoke({ token: tokens.access_token, token_type_hint: "access_token", client_id: clientId });
    expect(revoked.status).toBe(200);
    await expectInvalidToken(await harness.callMcp(`Bearer ${tokens.access_token}`));
  });
});

describe("S69 credentials are read from the Authorization header only", () => {
  let accessToken: string;

  beforeAll(async () => {
    accessToken = (await newTokens()).tokens.access_token;
  });

  it("ignores an access_token query parameter", async () => {
    const url = `${harness.mcpUrl}?access_token=${encodeURIComponent(accessToken)}`;

    await expectNoCredentialsChallenge(await harness.callMcp(undefined, { url }));
  });

  for (const scheme of ["Bearer", "bearer", "BEARER"]) {
    it(`accepts the ${scheme} scheme`, async () => {
      await expectProcessed(await harness.callMcp(`${scheme} ${accessToken}`));
    });
  }

  it("treats Basic credentials as no credentials", async () => {
    await expectNoCredentialsChallenge(await harness.callMcp("Basic dXNlcjpwYXNz"));
  });
});
