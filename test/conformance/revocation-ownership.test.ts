import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { VERIFIER } from "../helpers/harness.js";
import type { Harness, RegisteredClient, TokenBody } from "../helpers/harness.js";
import { startTappedHarness } from "../helpers/upstream-tap.js";
import type { TappedExchange, TappedHarness, UpstreamTap } from "../helpers/upstream-tap.js";

/** The redirect URI of the confidential test client; nothing listens there. */
const CONFIDENTIAL_REDIRECT_URI = "https://app.example.com/cb";
const DAY_MS = 24 * 3600 * 1000;

let tapped: TappedHarness;
let harness: Harness;
let tap: UpstreamTap;
let revocationPath: string;

beforeAll(async () => {
  tapped = await startTappedHarness();
  harness = tapped.harness;
  tap = tapped.tap;
  revocationPath = new URL(tapped.discovery.revocation_endpoint).pathname;
});

afterEach(() => {
  vi.useRealTimers();
});

afterAll(async () => {
  await tapped.close();
});

function basicCredentials(clientId: string, secret: string): string {
  const pair = `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`;
  return `Basic ${Buffer.from(pair).toString("base64")}`;
}

async function signedIn(): Promise<{ clientId: string; tokens: TokenBody }> {
  const client = await harness.register();
  return { clientId: client.client_id, tokens: await harness.obtainTokens(client.client_id) };
}

function refresh(clientId: string, refreshToken: string): Promise<Response> {
  return harness.token({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId });
}

async function expectRefreshWorks(clientId: string, refreshToken: string): Promise<TokenBody> {
  const response = await refresh(clientId, refreshToken);
  const body = await response.json() as TokenBody;
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body;
}

async function expectRefreshRejected(clientId: string, refreshToken: string): Promise<void> {
  const response = await refresh(clientId, refreshToken);

  expect(response.status).toBe(400);
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect((await response.json() as Record<string, unknown>).error).toBe("invalid_grant");
}

async function mcpStatus(accessToken: string): Promise<number> {
  return (await harness.callMcp(`Bearer ${accessToken}`)).status;
}

async function expectRevoked200(fields: Record<string, string>, headers: Record<string, string> = {}): Promise<void> {
  const response = await harness.revoke(fields, headers);

  expect(response.status).toBe(200);
  expect(await response.text()).toBe("");
}

async function expectInvalidClient(response: Response): Promise<void> {
  expect(response.status).toBe(401);
  expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(response.headers.get("www-authenticate")).toBe(`Basic realm="${harness.issuer}"`);
  expect((await response.json() as Record<string, unknown>).error).toBe("invalid_client");
}

function revocations(): TappedExchange[] {
  return tap.postsTo(revocationPath);
}

/** Returns the refresh token of the upstream's latest successful token response. */
function latestUpstreamRefreshToken(): string {
  const exchange = tap.tokenRequests().filter((candidate) => candidate.status === 200).at(-1);
  const token = (JSON.parse(exchange?.responseBody ?? "{}") as Record<string, unknown>).refresh_token;
  expect(token).toBeTypeOf("string");
  return token as string;
}

/** Redeems an upstream refresh token directly at the upstream, as the proxy's client there. */
function refreshAtUpstream(upstreamRefreshToken: string): Promise<Response> {
  const { clientId, clientSecret } = tapped.upstreamClient;
  return fetch(tapped.discovery.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basicCredentials(clientId, clientSecret) },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: upstreamRefreshToken }).toString(),
  });
}

async function confidentialClient(): Promise<{ client: RegisteredClient & { client_secret: string }; tokens: TokenBody }> {
  const client = await harness.register({ token_endpoint_auth_method: "client_secret_basic", redirect_uris: [CONFIDENTIAL_REDIRECT_URI] });
  expect(client.client_secret).toBeTypeOf("string");
  const secret = client.client_secret as string;
  const { code } = await harness.signIn(client.client_id, { redirect_uri: CONFIDENTIAL_REDIRECT_URI });
  const response = await harness.token({
    grant_type: "authorization_code",
    code,
    code_verifier: VERIFIER,
    redirect_uri: CONFIDENTIAL_REDIRECT_URI,
  }, { authorization: basicCredentials(client.client_id, secret) });
  expect(response.status).toBe(200);
  return { client: { ...client, client_secret: secret }, tokens: await response.json() as TokenBody };
}

describe("S75 revocation authenticates clients and checks ownership", () => {
  it("rejects a wrong Basic secret", async () => {
    const { client, tokens } = await confidentialClient();

    const response = await harness.revoke({ token: tokens.refresh_token, token_type_hint: "refresh_token" }, {
      authorization: basicCredentials(client.client_id, `${client.client_secret}x`),
    });

    await expectInvalidClient(response);
    expect(await mcpStatus(tokens.access_token)).toBe(200);
  });

  it("rejects a wrong body secret", async () => {
    const { client, tokens } = await confidentialClient();

    const response = await harness.revoke({
      token: tokens.refresh_token,
      client_id: client.client_id,
      client_secret: `${client.client_secret}x`,
    });

    expect(response.status).toBe(401);
    expect((await response.json() as Record<string, unknown>).error).toBe("invalid_client");
    expect(await mcpStatus(tokens.access_token)).toBe(200);
  });

  it("rejects a confidential client without a secret", async () => {
    const { client, tokens } = await confidentialClient();

    await expectInvalidClient(await harness.revoke({ token: tokens.refresh_token, client_id: client.client_id }));
    expect(await mcpStatus(tokens.access_token)).toBe(200);
  });

  it("another client's refresh token stays valid", async () => {
    const owner = await signedIn();
    const other = await harness.register();

    // This package returns 200 and revokes nothing, so the endpoint does not reveal whose token it was.
    await expectRevoked200({ token: owner.tokens.refresh_token, token_type_hint: "refresh_token", client_id: other.client_id });

    expect(await mcpStatus(owner.tokens.access_token)).toBe(200);
    await expectRefreshWorks(owner.clientId, owner.tokens.refresh_token);
  });

  it("another client's access token stays valid", async () => {
    const owner = await signedIn();
    const other = await harness.register();

    await expectRevoked200({ token: owner.tokens.access_token, token_type_hint: "access_token", client_id: other.client_id });

    expect(await mcpStatus(owner.tokens.access_token)).toBe(200);
  });

  it("an authenticated confidential client cannot revoke it", async () => {
    const owner = await signedIn();
    const { client } = await confidentialClient();

    await expectRevoked200({ token: owner.tokens.refresh_token }, { authorization: basicCredentials(client.client_id, client.client_secret) });

    expect(await mcpStatus(owner.tokens.access_token)).toBe(200);
    await expectRefreshWorks(owner.clientId, owner.tokens.refresh_token);
  });
});

describe("S76 revocation cascades to access tokens and upstream", () => {
  it("revoking the access token ends the grant", async () => {
    const { clientId, tokens } = await signedIn();
    const upstreamRefreshToken = latestUpstreamRefreshToken();
    const before = revocations().length;

    await expectRevoked200({ token: tokens.access_token, token_type_hint: "access_token", client_id: clientId });

    expect(await mcpStatus(tokens.access_token)).toBe(401);
    await expectRefreshRejected(clientId, tokens.refresh_token);
    const sent = revocations().slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.form.token).toBe(upstreamRefreshToken);
  });

  it("revoking the refresh token revokes the upstream grant", async () => {
    const { clientId, tokens } = await signedIn();
    const upstreamRefreshToken = latestUpstreamRefreshToken();
    const before = revocations().length;

    await expectRevoked200({ token: tokens.refresh_token, token_type_hint: "refresh_token", client_id: clientId });

    const sent = revocations().slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.status).toBe(200);
    expect(sent[0]?.authorization).toBe(basicCredentials(tapped.upstreamClient.clientId, tapped.upstreamClient.clientSecret));
    expect(await mcpStatus(tokens.access_token)).toBe(401);

    const upstreamRefresh = await refreshAtUpstream(upstreamRefreshToken);
    expect(upstreamRefresh.status).toBe(400);
    expect((await upstreamRefresh.json() as Record<string, unknown>).error).toBe("invalid_grant");
  });
});

describe("revocation forwards only the upstream's own token", () => {
  it("sends the upstream refresh token, never the proxy's", async () => {
    const { clientId, tokens } = await signedIn();
    const refreshed = await expectRefreshWorks(clientId, tokens.refresh_token);
    const upstreamRefreshToken = latestUpstreamRefreshToken();
    const before = revocations().length;

    await expectRevoked200({ token: refreshed.refresh_token, token_type_hint: "refresh_token", client_id: clientId });

    const sent = revocations().slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.form).toEqual({ token: upstreamRefreshToken, token_type_hint: "refresh_token" });
    expect(sent[0]?.requestBody).not.toContain(refreshed.refresh_token);
    expect(sent[0]?.requestBody).not.toContain(refreshed.access_token);
  });

  it("sends the upstream's rotated refresh token", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    vi.setSystemTime(start);
    const { clientId, tokens } = await signedIn();
    const original = latestUpstreamRefreshToken();

    // The embedded upstream rotates a refresh token once 70% of its 14-day lifetime has passed.
    vi.setSystemTime(start + 10 * DAY_MS);
    const refreshed = await expectRefreshWorks(clientId, tokens.refresh_token);
    const rotated = latestUpstreamRefreshToken();
    expect(rotated).not.toBe(original);
    const before = revocations().length;

    await expectRevoked200({ token: refreshed.refresh_token, client_id: clientId });

    const sent = revocations().slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.form.token).toBe(rotated);
  });

  it("upstream revocation failure still ends the grant", async () => {
    const { clientId, tokens } = await signedIn();
    tap.failRequests(revocationPath, 1, { status: 503, body: "" });

    await expectRevoked200({ token: tokens.refresh_token, client_id: clientId });

    expect(revocations().at(-1)?.injected).toBe(true);
    expect(await mcpStatus(tokens.access_token)).toBe(401);
    await expectRefreshRejected(clientId, tokens.refresh_token);
  });

  it("garbage gets 200 and no upstream call", async () => {
    const client = await harness.register();
    const before = tap.exchanges.length;

    await expectRevoked200({ token: "garbage", client_id: client.client_id });
    await expectRevoked200({ token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", client_id: client.client_id });

    expect(tap.exchanges.length).toBe(before);
  });

  it("another client's token revokes nothing upstream", async () => {
    const owner = await signedIn();
    const other = await harness.register();
    const before = tap.exchanges.length;

    await expectRevoked200({ token: owner.tokens.refresh_token, client_id: other.client_id });
    await expectRevoked200({ token: owner.tokens.access_token, client_id: other.client_id });

    expect(tap.exchanges.length).toBe(before);
    expect(await mcpStatus(owner.tokens.access_token)).toBe(200);
    await expectRefreshWorks(owner.clientId, owner.tokens.refresh_token);
  });
});
