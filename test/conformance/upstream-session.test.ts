import { createHash } from "node:crypto";
import jwt from "jsonwebtoken";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { signInAtUpstream, TestBrowser } from "../../examples/demo/browser.js";
import { CHALLENGE, REDIRECT_URI, VERIFIER } from "../helpers/harness.js";
import type { Harness, TokenBody } from "../helpers/harness.js";
import { startTappedHarness } from "../helpers/upstream-tap.js";
import type { TapFault, TappedExchange, TappedHarness, UpstreamTap } from "../helpers/upstream-tap.js";

const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;

let tapped: TappedHarness;
let harness: Harness;
let tap: UpstreamTap;

beforeAll(async () => {
  // Proxy access tokens outlive the upstream's one-hour ones, so time can pass the upstream expiry alone.
  tapped = await startTappedHarness({ accessTokenTtl: 86_400 });
  harness = tapped.harness;
  tap = tapped.tap;
});

afterEach(() => {
  vi.useRealTimers();
});

afterAll(async () => {
  await tapped.close();
});

/** Freezes `Date` at the current time. Timers keep running, so the servers still respond. */
function freezeTime(): number {
  vi.useFakeTimers({ toFake: ["Date"] });
  const start = Date.now();
  vi.setSystemTime(start);
  return start;
}

async function signedIn(): Promise<{ clientId: string; tokens: TokenBody }> {
  const client = await harness.register();
  return { clientId: client.client_id, tokens: await harness.obtainTokens(client.client_id) };
}

function refresh(clientId: string, refreshToken: string): Promise<Response> {
  return harness.token({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId });
}

async function readJson(response: Response): Promise<Record<string, unknown>> {
  return await response.json() as Record<string, unknown>;
}

async function expectTokenError(response: Response, error: string, status = 400): Promise<Record<string, unknown>> {
  const body = await readJson(response);

  expect(response.status, JSON.stringify(body)).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(body.error).toBe(error);
  expect(body.access_token).toBeUndefined();
  expect(body.refresh_token).toBeUndefined();
  return body;
}

async function expectTokenSuccess(response: Response): Promise<TokenBody> {
  const body = await readJson(response);
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body as unknown as TokenBody;
}

async function expectMcpRejected(accessToken: string): Promise<void> {
  const response = await harness.callMcp(`Bearer ${accessToken}`);

  expect(response.status).toBe(401);
  expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
}

/** Calls the demo's `whoami` tool, which reads the upstream userinfo with the caller's upstream access token. */
async function whoami(accessToken: string): Promise<Response> {
  return fetch(harness.mcpUrl, {
    method: "POST",
    headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "whoami", arguments: {} } }),
  });
}

/** Parses the body of a successful upstream token response. */
function tokenResponse(exchange: TappedExchange | undefined): Record<string, string> {
  expect(exchange?.status).toBe(200);
  return JSON.parse(exchange?.responseBody ?? "{}") as Record<string, string>;
}

/** Collects every access, refresh and ID token the upstream issued so far. */
function upstreamTokens(): string[] {
  return tap.tokenRequests()
    .filter((exchange) => exchange.status === 200)
    .flatMap((exchange) => {
      const body = JSON.parse(exchange.responseBody) as Record<string, unknown>;
      return [body.access_token, body.refresh_token, body.id_token].filter((value): value is string => typeof value === "string");
    });
}

/** Counts the requests that reached the tap or the upstream so far. */
function upstreamTraffic(): number {
  return tap.exchanges.length + tapped.upstream.requests.length;
}

describe("S61 proxy tokens stay bound to the upstream session", () => {
  it("upstream revocation ends the proxy grant", async () => {
    const { clientId, tokens } = await signedIn();
    const before = tap.tokenRequests("refresh_token").length;
    tapped.upstream.revokeAll();

    await expectTokenError(await refresh(clientId, tokens.refresh_token), "invalid_grant");

    const attempts = tap.tokenRequests("refresh_token").slice(before);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]?.injected).toBe(false);
    expect(JSON.parse(attempts[0]?.responseBody ?? "{}")).toMatchObject({ error: "invalid_grant" });
    await expectMcpRejected(tokens.access_token);
  });

  it("stores the upstream's rotated refresh token", async () => {
    const start = freezeTime();
    const { clientId, tokens } = await signedIn();
    const signInResponse = tokenResponse(tap.tokenRequests("authorization_code").at(-1));
    const before = tap.tokenRequests("refresh_token").length;

    // The embedded upstream rotates a refresh token once 70% of its 14-day lifetime has passed.
    vi.setSystemTime(start + 10 * DAY_MS);
    const second = await expectTokenSuccess(await refresh(clientId, tokens.refresh_token));
    vi.setSystemTime(start + 10 * DAY_MS + 2 * HOUR_MS);
    const third = await expectTokenSuccess(await refresh(clientId, second.refresh_token));

    const [rotation, next] = tap.tokenRequests("refresh_token").slice(before);
    expect(rotation?.form.refresh_token).toBe(signInResponse.refresh_token);
    const rotated = tokenResponse(rotation).refresh_token;
    expect(rotated).toBeTypeOf("string");
    expect(rotated).not.toBe(signInResponse.refresh_token);
    expect(next?.form.refresh_token).toBe(rotated);
    expect(next?.status).toBe(200);

    const identity = await whoami(third.access_token);
    expect(identity.status).toBe(200);
    expect(await identity.text()).toContain('\\"sub\\":\\"alice\\"');
  });
});

describe("S64 upstream tokens never pass through", () => {
  it("issued tokens differ from upstream tokens", async () => {
    const { clientId, tokens } = await signedIn();
    const refreshed = await expectTokenSuccess(await refresh(clientId, tokens.refresh_token));

    const upstream = upstreamTokens();
    expect(upstream.length).toBeGreaterThanOrEqual(3);
    for (const issued of [tokens, refreshed]) {
      const payload = JSON.stringify(jwt.decode(issued.access_token));
      for (const token of upstream) {
        expect(issued.access_token).not.toContain(token);
        expect(issued.refresh_token).not.toContain(token);
        expect(payload).not.toContain(token);
      }
    }
  });

  it("upstream never receives a proxy token", async () => {
    const { clientId, tokens } = await signedIn();
    const refreshed = await expectTokenSuccess(await refresh(clientId, tokens.refresh_token));
    expect((await whoami(refreshed.access_token)).status).toBe(200);
    expect((await harness.revoke({ token: refreshed.refresh_token, client_id: clientId })).status).toBe(200);

    const proxyTokens = [tokens.access_token, tokens.refresh_token, refreshed.access_token, refreshed.refresh_token];
    expect(tap.exchanges.length).toBeGreaterThan(0);
    for (const exchange of tap.exchanges) {
      const sent = [exchange.requestBody, JSON.stringify(exchange.query), exchange.authorization ?? ""].join("\n");
      for (const token of proxyTokens) {
        expect(sent, `${exchange.method} ${exchange.path}`).not.toContain(token);
      }
    }
  });
});

describe("upstream token expiry mid-session", () => {
  it("next MCP request refreshes upstream once", async () => {
    const start = freezeTime();
    const { tokens } = await signedIn();
    const signInResponse = tokenResponse(tap.tokenRequests("authorization_code").at(-1));
    const before = tap.tokenRequests("refresh_token").length;

    vi.setSystemTime(start + 2 * HOUR_MS);
    const first = await harness.callMcp(`Bearer ${tokens.access_token}`);
    const second = await harness.callMcp(`Bearer ${tokens.access_token}`);
    const identity = await whoami(tokens.access_token);

    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    // The upstream itself considers the first access token expired, so this call proves the new one is used.
    expect(identity.status).toBe(200);
    expect(await identity.text()).toContain('\\"sub\\":\\"alice\\"');
    const refreshes = tap.tokenRequests("refresh_token").slice(before);
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0]?.form.refresh_token).toBe(signInResponse.refresh_token);
    expect(refreshes[0]?.status).toBe(200);
  });
});

describe("upstream refresh failures", () => {
  it("invalid_grant ends the grant for good", async () => {
    const { clientId, tokens } = await signedIn();
    tap.failTokenRequests(1, { status: 400, body: JSON.stringify({ error: "invalid_grant", error_description: "grant revoked upstream" }) });

    const body = await expectTokenError(await refresh(clientId, tokens.refresh_token), "invalid_grant");
    expect(body.error_description).not.toContain("grant revoked upstream");
    expect(tap.tokenRequests("refresh_token").at(-1)?.injected).toBe(true);

    const before = upstreamTraffic();
    await expectTokenError(await refresh(clientId, tokens.refresh_token), "invalid_grant");
    await expectMcpRejected(tokens.access_token);
    expect(upstreamTraffic()).toBe(before);
  });

  it("invalid_grant on an MCP request ends the grant", async () => {
    const start = freezeTime();
    const { clientId, tokens } = await signedIn();
    vi.setSystemTime(start + 2 * HOUR_MS);
    tap.failTokenRequests(1, { status: 400, body: JSON.stringify({ error: "invalid_grant" }) });

    await expectMcpRejected(tokens.access_token);
    expect(tap.tokenRequests("refresh_token").at(-1)?.injected).toBe(true);

    const before = upstreamTraffic();
    await expectTokenError(await refresh(clientId, tokens.refresh_token), "invalid_grant");
    await expectMcpRejected(tokens.access_token);
    expect(upstreamTraffic()).toBe(before);
  });

  it("503 is temporarily_unavailable and keeps the grant", async () => {
    const { clientId, tokens } = await signedIn();
    tap.failTokenRequests(1, { status: 503, body: "<html>maintenance</html>", contentType: "text/html" });

    const response = await refresh(clientId, tokens.refresh_token);
    expect(response.headers.get("retry-after")).toMatch(/^\d+$/);
    await expectTokenError(response, "temporarily_unavailable", 503);
    expect(tap.tokenRequests("refresh_token").at(-1)?.injected).toBe(true);

    expect((await harness.callMcp(`Bearer ${tokens.access_token}`)).status).toBe(200);
    const retried = await expectTokenSuccess(await refresh(clientId, tokens.refresh_token));
    expect((await harness.callMcp(`Bearer ${retried.access_token}`)).status).toBe(200);
  });

  it("503 on an MCP request keeps the grant", async () => {
    const start = freezeTime();
    const { tokens } = await signedIn();
    vi.setSystemTime(start + 2 * HOUR_MS);
    tap.failTokenRequests(1, { status: 503, body: "" });

    const unavailable = await harness.callMcp(`Bearer ${tokens.access_token}`);
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await readJson(unavailable)).error).toBe("temporarily_unavailable");

    expect((await harness.callMcp(`Bearer ${tokens.access_token}`)).status).toBe(200);
    expect(tap.tokenRequests("refresh_token").at(-1)?.status).toBe(200);
  });
});

describe("upstream refresh failure kinds", () => {
  interface FailureCase {
    name: string;
    fault: TapFault;
    error: string;
    status: number;
    grantKept: boolean;
  }

  const json = (body: unknown): string => JSON.stringify(body);
  const cases: FailureCase[] = [
    { name: "500 without a body", fault: { status: 500, body: "" }, error: "temporarily_unavailable", status: 503, grantKept: true },
    { name: "429 rate limit", fault: { status: 429, body: json({ error: "slow_down" }) }, error: "temporarily_unavailable", status: 503, grantKept: true },
    { name: "400 temporarily_unavailable", fault: { status: 400, body: json({ error: "temporarily_unavailable" }) }, error: "temporarily_unavailable", status: 503, grantKept: true },
    { name: "400 server_error", fault: { status: 400, body: json({ error: "server_error" }) }, error: "temporarily_unavailable", status: 503, grantKept: true },
    // Some providers, GitHub among them, report token errors with HTTP 200.
    { name: "200 carrying invalid_grant", fault: { status: 200, body: json({ error: "invalid_grant" }) }, error: "invalid_grant", status: 400, grantKept: false },
    // A rejected proxy client or an unreadable response is the operator's problem, not the user's, so the grant stays.
    { name: "401 invalid_client", fault: { status: 401, body: json({ error: "invalid_client", error_description: "secret \"x\" wrong" }) }, error: "server_error", status: 500, grantKept: true },
    { name: "200 HTML page", fault: { status: 200, body: "<html>login</html>", contentType: "text/html" }, error: "server_error", status: 500, grantKept: true },
  ];

  for (const failure of cases) {
    it(`maps ${failure.name}`, async () => {
      const { clientId, tokens } = await signedIn();
      tap.failTokenRequests(1, failure.fault);

      const body = await expectTokenError(await refresh(clientId, tokens.refresh_token), failure.error, failure.status);
      expect(tap.tokenRequests("refresh_token").at(-1)?.injected).toBe(true);
      expect(JSON.stringify(body)).not.toMatch(/slow_down|wrong|<html>/);

      if (failure.grantKept) {
        await expectTokenSuccess(await refresh(clientId, tokens.refresh_token));
        return;
      }
      const before = upstreamTraffic();
      await expectTokenError(await refresh(clientId, tokens.refresh_token), "invalid_grant");
      expect(upstreamTraffic()).toBe(before);
    });
  }

  describe("with a 1-second upstream time limit", () => {
    let slow: TappedHarness;

    beforeAll(async () => {
      slow = await startTappedHarness({ upstreamTimeoutMs: 1000 });
    });

    afterAll(async () => {
      await slow.close();
    });

    it("maps a timeout to temporarily_unavailable", async () => {
      const client = await slow.harness.register();
      const tokens = await slow.harness.obtainTokens(client.client_id);
      slow.tap.failTokenRequests(1, { hang: true });
      const fields = { grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id };

      const started = Date.now();
      await expectTokenError(await slow.harness.token(fields), "temporarily_unavailable", 503);
      expect(Date.now() - started).toBeLessThan(5000);

      expect((await slow.harness.token(fields)).status).toBe(200);
    });
  });
});

describe("upstream PKCE is the proxy's own", () => {
  it("upstream sees the proxy's challenge and verifier", async () => {
    const client = await harness.register();
    const browser = new TestBrowser();
    const consent = await harness.openConsent(browser, harness.authorizeUrl(client.client_id));
    const approved = await browser.postForm(consent.action, consent.fields, { origin: consent.action.origin });
    expect(approved.location).toBeTypeOf("string");
    const upstreamAuthorization = new URL(approved.location as string);
    const before = tap.tokenRequests("authorization_code").length;

    const callback = await signInAtUpstream(browser, upstreamAuthorization, "alice", { stopAt: (next) => next.href.startsWith(REDIRECT_URI) });

    const challenge = upstreamAuthorization.searchParams.get("code_challenge");
    expect(upstreamAuthorization.origin).toBe(tapped.upstream.issuer);
    expect(upstreamAuthorization.searchParams.get("code_challenge_method")).toBe("S256");
    expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(challenge).not.toBe(CHALLENGE);
    expect(upstreamAuthorization.href).not.toContain(CHALLENGE);

    const exchanges = tap.tokenRequests("authorization_code").slice(before);
    expect(exchanges).toHaveLength(1);
    const verifier = exchanges[0]?.form.code_verifier ?? "";
    expect(verifier).not.toBe(VERIFIER);
    expect(createHash("sha256").update(verifier).digest("base64url")).toBe(challenge);
    // The embedded upstream requires PKCE, so its 200 confirms it checked the pair itself.
    expect(exchanges[0]?.status).toBe(200);
    expect(callback.searchParams.get("code")).toBeTypeOf("string");
  });

  it("each sign-in gets a fresh challenge", async () => {
    const client = await harness.register();
    const challenges: Array<string | null> = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const browser = new TestBrowser();
      const consent = await harness.openConsent(browser, harness.authorizeUrl(client.client_id));
      const approved = await browser.postForm(consent.action, consent.fields, { origin: consent.action.origin });
      challenges.push(new URL(approved.location as string).searchParams.get("code_challenge"));
    }

    expect(challenges[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(challenges[1]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(challenges[0]).not.toBe(challenges[1]);
  });
});
