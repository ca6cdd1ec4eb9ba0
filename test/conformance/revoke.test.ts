import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Harness } from "../helpers/harness.js";

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness.close();
});

function refreshRequest(refreshToken: string, clientId: string): Record<string, string> {
  return { grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId };
}

/** Asserts that a refresh with `refreshToken` gets an RFC 6749 §5.2 `invalid_grant` error. */
async function expectRefreshRejected(refreshToken: string, clientId: string): Promise<void> {
  const response = await harness.token(refreshRequest(refreshToken, clientId));
  const body = await response.json() as Record<string, unknown>;

  expect(response.status).toBe(400);
  expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(body.error).toBe("invalid_grant");
}

async function expectAccessTokenRevoked(accessToken: string): Promise<void> {
  const response = await harness.callMcp(`Bearer ${accessToken}`);

  expect(response.status).toBe(401);
  expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
}

describe("S73 refresh token revocation", () => {
  it("revokes the refresh token and its access tokens", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);
    expect((await harness.callMcp(`Bearer ${tokens.access_token}`)).status).toBe(200);

    const response = await harness.revoke({
      token: tokens.refresh_token,
      token_type_hint: "refresh_token",
      client_id: client.client_id,
    });

    expect(response.status).toBe(200);
    await expectRefreshRejected(tokens.refresh_token, client.client_id);
    await expectAccessTokenRevoked(tokens.access_token);
  });

  it("calls the upstream revocation endpoint", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);
    const before = harness.upstreamRequests.length;

    const response = await harness.revoke({
      token: tokens.refresh_token,
      token_type_hint: "refresh_token",
      client_id: client.client_id,
    });

    expect(response.status).toBe(200);
    const revocations = harness.upstreamRequests
      .slice(before)
      .filter((request) => request.method === "POST" && request.path.includes("revoc"));
    expect(revocations).toHaveLength(1);
  });
});

describe("S74 revocation of invalid tokens and wrong hints", () => {
  it("returns 200 for an unknown token", async () => {
    const client = await harness.register();

    const response = await harness.revoke({ token: "garbage", client_id: client.client_id });

    expect(response.status).toBe(200);
  });

  it("returns 200 for an already revoked refresh token", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);
    const fields = { token: tokens.refresh_token, token_type_hint: "refresh_token", client_id: client.client_id };
    expect((await harness.revoke(fields)).status).toBe(200);

    const response = await harness.revoke(fields);

    expect(response.status).toBe(200);
  });

  it("revokes refresh token despite access_token hint", async () => {
    const client = await harness.register();
    const first = await harness.obtainTokens(client.client_id);
    const rotated = await harness.token(refreshRequest(first.refresh_token, client.client_id));
    expect(rotated.status).toBe(200);
    const second = await rotated.json() as { access_token: string; refresh_token: string };

    const response = await harness.revoke({
      token: second.refresh_token,
      token_type_hint: "access_token",
      client_id: client.client_id,
    });

    expect(response.status).toBe(200);
    await expectRefreshRejected(second.refresh_token, client.client_id);
    await expectAccessTokenRevoked(second.access_token);
  });

  it("revokes access token despite refresh_token hint", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);

    const response = await harness.revoke({
      token: tokens.access_token,
      token_type_hint: "refresh_token",
      client_id: client.client_id,
    });

    expect(response.status).toBe(200);
    await expectAccessTokenRevoked(tokens.access_token);
  });

  it("rejects a request without a token", async () => {
    const client = await harness.register();

    const response = await harness.revoke({ token_type_hint: "refresh_token", client_id: client.client_id });
    const body = await response.json() as Record<string, unknown>;

    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(body.error).toBe("invalid_request");
  });
});
