import jwt from "jsonwebtoken";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Harness } from "./helpers/harness.js";

function tokenRequests(harness: Harness): number {
  return harness.upstreamRequests.filter((request) => request.method === "POST" && request.path === "/token").length;
}

async function whoami(harness: Harness, accessToken: string): Promise<Response> {
  return fetch(harness.mcpUrl, {
    method: "POST",
    headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "whoami", arguments: {} } }),
  });
}

describe("bearer() with an expired upstream token", () => {
  let harness: Harness;
  beforeAll(async () => {
    // Proxy tokens outlive the upstream's one-hour access tokens, so time can pass the upstream expiry alone.
    harness = await Harness.start({ accessTokenTtl: 86_400 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    await harness.close();
  });

  it("refreshes once for concurrent requests", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);
    vi.setSystemTime(Date.now() + 2 * 3600 * 1000);

    const before = tokenRequests(harness);
    const responses = await Promise.all(Array.from({ length: 10 }, () => harness.callMcp(`Bearer ${tokens.access_token}`)));
    expect(responses.map((response) => response.status)).toEqual(Array.from({ length: 10 }, () => 200));
    expect(tokenRequests(harness) - before).toBe(1);

    const identity = await whoami(harness, tokens.access_token);
    expect(identity.status).toBe(200);
    expect(await identity.text()).toContain('\\"sub\\":\\"alice\\"');
    expect(tokenRequests(harness) - before).toBe(1);
  });

  it("rejects the token once the upstream grant is gone", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);
    harness.demo.upstream.revokeAll();
    vi.setSystemTime(Date.now() + 2 * 3600 * 1000);

    const response = await harness.callMcp(`Bearer ${tokens.access_token}`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');

    const refresh = await harness.token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id });
    expect(refresh.status).toBe(400);
    expect((await refresh.json() as { error: string }).error).toBe("invalid_grant");
  });
});

describe("bearer() request context", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await Harness.start();
  });
  afterAll(async () => {
    await harness.close();
  });

  it("hands the tool the upstream identity", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);
    const response = await whoami(harness, tokens.access_token);
    const body = await response.text();
    expect(response.status).toBe(200);
    expect(body).toContain('\\"email\\":\\"alice@example.test\\"');
    expect(body).not.toContain(tokens.access_token);
  });

  it("uses one issuer string everywhere", async () => {
    const protectedResource = await (await fetch(`${harness.baseUrl}/.well-known/oauth-protected-resource/mcp`)).json() as { authorization_servers: string[] };
    const client = await harness.register();
    const { code, callbackUrl } = await harness.signIn(client.client_id);
    const redeemed = await harness.token({ grant_type: "authorization_code", code, code_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", client_id: client.client_id });
    const { access_token } = await redeemed.json() as { access_token: string };
    const claims = jwt.decode(access_token) as { iss: string };

    const issuer = harness.metadata.issuer;
    expect(issuer).toBe(harness.baseUrl);
    expect(protectedResource.authorization_servers[0]).toBe(issuer);
    expect(callbackUrl.searchParams.get("iss")).toBe(issuer);
    expect(claims.iss).toBe(issuer);
  });
});
