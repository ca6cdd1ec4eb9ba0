import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OIDCProvider } from "mcp-oauth-proxy";
import { startSharedUpstream, UPSTREAM_CLIENT_ID } from "../../examples/demo/app.js";
import type { SharedUpstream } from "../../examples/demo/app.js";
import { Harness, VERIFIER } from "../helpers/harness.js";
import { freePort } from "../helpers/ports.js";

/** Returns a provider whose refresh responds late, after the upstream already issued the new tokens. */
function slowRefreshProvider(upstream: SharedUpstream, delayMs: number): OIDCProvider {
  const provider = new OIDCProvider({
    issuer: upstream.server.issuer,
    clientId: UPSTREAM_CLIENT_ID,
    clientSecret: upstream.clientSecret,
    scopes: ["openid", "profile", "email", "offline_access"],
  });
  const refresh = provider.refresh.bind(provider);
  provider.refresh = async (tokens) => {
    const refreshed = await refresh(tokens);
    await sleep(delayMs);
    return refreshed;
  };
  return provider;
}

describe("revocation during a refresh", () => {
  let upstream: SharedUpstream;
  let harness: Harness;

  beforeAll(async () => {
    const port = await freePort();
    upstream = await startSharedUpstream([`http://127.0.0.1:${port}/oauth/callback`]);
    harness = await Harness.start({ port, upstream, proxyOptions: { provider: slowRefreshProvider(upstream, 400) } });
  });
  afterAll(async () => {
    await harness.close();
    await upstream.server.close();
  });

  it("keeps the grant revoked", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);

    const refreshing = harness.token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id });
    await sleep(100);
    const revoked = await harness.revoke({ token: tokens.access_token, client_id: client.client_id });
    expect(revoked.status).toBe(200);

    const refreshed = await refreshing;
    expect(refreshed.status).toBe(400);
    expect((await refreshed.json() as { error: string }).error).toBe("invalid_grant");
    expect((await harness.callMcp(`Bearer ${tokens.access_token}`)).status).toBe(401);
  });
});

describe("concurrent races", () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await Harness.start();
  });
  afterAll(async () => {
    await harness.close();
  });

  it("revokes a code redeemed twice at once", async () => {
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);
    const fields = { grant_type: "authorization_code", code, code_verifier: VERIFIER, client_id: client.client_id };

    const responses = await Promise.all([harness.token(fields), harness.token(fields)]);
    const bodies = await Promise.all(responses.map(async (response) => ({ status: response.status, body: await response.json() as { access_token?: string; error?: string } })));
    expect(bodies.filter((result) => result.status === 200).length).toBeLessThanOrEqual(1);
    for (const result of bodies) {
      if (result.status === 200) {
        expect((await harness.callMcp(`Bearer ${result.body.access_token}`)).status).toBe(401);
      } else {
        expect(result.body.error).toBe("invalid_grant");
      }
    }
  });

  it("answers an unreadable form body with 400", async () => {
    const response = await fetch(harness.mcpUrl, {
      method: "POST",
      headers: { authorization: "Bearer abc", "content-type": "application/x-www-form-urlencoded; charset=utf-7" },
      body: "a=b",
    });
    const text = await response.text();
    expect(response.status).toBe(400);
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_request"');
    expect(JSON.parse(text)).toEqual({ error: "invalid_request", error_description: "The request body could not be read" });
  });

  it("rejects a registration too large for a client id", async () => {
    // Random paths, because repeated characters would deflate to almost nothing inside the sealed id.
    const redirectUris = Array.from({ length: 15 }, (_, index) => `https://app${index}.example.com/${randomBytes(900).toString("hex")}`);
    const response = await harness.postJson(harness.metadata.registration_endpoint as string, {
      redirect_uris: redirectUris,
      token_endpoint_auth_method: "none",
      client_name: "Large",
    });
    expect(response.status).toBe(400);
    expect((await response.json() as { error: string }).error).toBe("invalid_client_metadata");
  });
});
