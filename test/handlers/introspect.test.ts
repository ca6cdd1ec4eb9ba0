import { randomBytes } from "node:crypto";

import jsonwebtoken from "jsonwebtoken";
import type { JwtPayload } from "jsonwebtoken";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { Harness } from "../helpers/harness.js";
import type { TokenBody } from "../helpers/harness.js";

const CALLER = { id: "gateway", secret: randomBytes(32).toString("base64url") };
const OTHER_CALLER = { id: "worker:1", secret: randomBytes(32).toString("base64url") };
const ACCESS_TOKEN_TTL = 600;
const INACTIVE = '{"active":false}';

let harness: Harness;
let endpoint: string;

beforeAll(async () => {
  harness = await Harness.start({
    accessTokenTtl: ACCESS_TOKEN_TTL,
    proxyOptions: { introspection: { clients: [CALLER, OTHER_CALLER] } },
  });
  endpoint = harness.metadata.introspection_endpoint as string;
});

afterAll(async () => {
  await harness.close();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Builds an HTTP Basic header with form-urlencoded parts (RFC 6749 §2.3.1). */
function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
}

function introspect(fields: Record<string, string> | string, headers: Record<string, string> = { authorization: basic(CALLER.id, CALLER.secret) }): Promise<Response> {
  return harness.postForm(endpoint, fields, headers);
}

async function newTokens(): Promise<{ clientId: string; tokens: TokenBody }> {
  const client = await harness.register();
  return { clientId: client.client_id, tokens: await harness.obtainTokens(client.client_id) };
}

async function expectInactive(response: Response): Promise<void> {
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  expect(await response.text()).toBe(INACTIVE);
}

async function expectInvalidClient(response: Response, basicChallenge: boolean): Promise<void> {
  expect(response.status).toBe(401);
  expect((await response.json() as { error: string }).error).toBe("invalid_client");
  expect(response.headers.get("www-authenticate")).toBe(basicChallenge ? `Basic realm="${harness.issuer}"` : null);
}

describe("POST /oauth/introspect", () => {
  let active: { clientId: string; tokens: TokenBody };

  beforeAll(async () => {
    active = await newTokens();
  });

  it("is advertised in the metadata", () => {
    expect(harness.metadata.introspection_endpoint).toBe(`${harness.issuer}/oauth/introspect`);
    expect(harness.metadata.introspection_endpoint_auth_methods_supported).toEqual(["client_secret_basic", "client_secret_post"]);
  });

  it("describes an active token", async () => {
    const response = await introspect({ token: active.tokens.access_token });
    const claims = jsonwebtoken.decode(active.tokens.access_token) as JwtPayload;

    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toEqual({
      active: true,
      scope: "mcp:read",
      client_id: active.clientId,
      sub: claims.sub,
      aud: harness.mcpUrl,
      iss: harness.issuer,
      exp: claims.exp,
      iat: claims.iat,
      token_type: "Bearer",
    });
  });

  it("accepts credentials in the body", async () => {
    const response = await introspect({ token: active.tokens.access_token, client_id: CALLER.id, client_secret: CALLER.secret }, {});

    expect(response.status).toBe(200);
    expect((await response.json() as { active: boolean }).active).toBe(true);
  });

  it("decodes form-encoded Basic parts", async () => {
    const response = await introspect({ token: active.tokens.access_token }, { authorization: basic(OTHER_CALLER.id, OTHER_CALLER.secret) });

    expect((await response.json() as { active: boolean }).active).toBe(true);
  });

  it("ignores the token_type_hint", async () => {
    const response = await introspect({ token: active.tokens.access_token, token_type_hint: "refresh_token" });

    expect((await response.json() as { active: boolean }).active).toBe(true);
  });

  it("reflects a revocation on the next call", async () => {
    const { clientId, tokens } = await newTokens();
    const before = await introspect({ token: tokens.access_token });
    expect((await before.json() as { active: boolean }).active).toBe(true);

    const revoked = await harness.revoke({ token: tokens.refresh_token, client_id: clientId });
    expect(revoked.status).toBe(200);
    await expectInactive(await introspect({ token: tokens.access_token }));
  });

  it("reports an expired token inactive", async () => {
    const { tokens } = await newTokens();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + ACCESS_TOKEN_TTL * 1000);

    await expectInactive(await introspect({ token: tokens.access_token }));
  });

  const inactive: Array<[string, () => string]> = [
    ["a random string", () => randomBytes(32).toString("base64url")],
    ["a refresh token", () => active.tokens.refresh_token],
    ["a token from another key", () => jsonwebtoken.sign({ ...(jsonwebtoken.decode(active.tokens.access_token) as object) }, randomBytes(32), {
      algorithm: "HS256",
      header: { alg: "HS256", typ: "at+jwt", kid: (jsonwebtoken.decode(active.tokens.access_token, { complete: true })?.header.kid) as string },
    })],
    ["an unsigned token", () => `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString("base64url")}.${active.tokens.access_token.split(".")[1]}.`],
  ];

  for (const [name, token] of inactive) {
    it(`reports ${name} inactive`, async () => {
      await expectInactive(await introspect({ token: token() }));
    });
  }

  it("requires caller credentials", async () => {
    await expectInvalidClient(await introspect({ token: active.tokens.access_token }, {}), true);
  });

  const rejectedCallers: Array<[string, Record<string, string>, Record<string, string>, boolean]> = [
    ["a wrong secret", {}, { authorization: basic(CALLER.id, `${CALLER.secret}x`) }, true],
    ["an unknown id", {}, { authorization: basic("stranger", CALLER.secret) }, true],
    ["a secret of another caller", {}, { authorization: basic(CALLER.id, OTHER_CALLER.secret) }, true],
    ["malformed Basic credentials", {}, { authorization: "Basic !!!" }, true],
    ["Basic without a colon", {}, { authorization: `Basic ${Buffer.from("gateway").toString("base64")}` }, true],
    ["a bearer token", {}, { authorization: "Bearer abc" }, true],
    ["an id without secret", { client_id: CALLER.id }, {}, true],
    ["a wrong secret in the body", { client_id: CALLER.id, client_secret: "wrong" }, {}, false],
  ];

  for (const [name, fields, headers, basicChallenge] of rejectedCallers) {
    it(`rejects ${name}`, async () => {
      await expectInvalidClient(await introspect({ token: active.tokens.access_token, ...fields }, headers), basicChallenge);
    });
  }

  it("rejects registered client credentials", async () => {
    const client = await harness.register({ token_endpoint_auth_method: "client_secret_basic" });

    await expectInvalidClient(await introspect({ token: active.tokens.access_token }, { authorization: basic(client.client_id, client.client_secret as string) }), true);
  });

  const badRequests: Array<[string, () => Promise<Response>, string]> = [
    ["a missing token", () => introspect({}), "The token parameter is missing"],
    ["a repeated token", () => introspect("token=a&token=b"), "The token parameter is repeated"],
    ["credentials sent twice", () => introspect({ token: "a", client_secret: CALLER.secret }), "Send the caller credentials in the Authorization header or in the body, not both"],
    ["a JSON body", () => harness.postJson(endpoint, { token: "a" }, { authorization: basic(CALLER.id, CALLER.secret) }), "The request body must be application/x-www-form-urlencoded"],
  ];

  for (const [name, send, description] of badRequests) {
    it(`rejects ${name}`, async () => {
      const response = await send();

      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ error: "invalid_request", error_description: description });
    });
  }

  it("answers GET with 405", async () => {
    const response = await fetch(endpoint);

    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST, OPTIONS");
    expect((await response.json() as { error: string }).error).toBe("invalid_request");
  });
});

describe("introspection without callers", () => {
  it("is not served", async () => {
    const plain = await Harness.start();
    try {
      const response = await plain.postForm(`${plain.issuer}/oauth/introspect`, { token: "a" });

      expect(response.status).toBe(404);
      expect(plain.metadata).not.toHaveProperty("introspection_endpoint");
    } finally {
      await plain.close();
    }
  });
});
