import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { TestBrowser, signInAtUpstream } from "../../examples/demo/browser.js";
import type { BrowserResponse } from "../../examples/demo/browser.js";
import { CHALLENGE, Harness, REDIRECT_URI, VERIFIER } from "../helpers/harness.js";

let harness: Harness;
let upstreamTokenPath: string;

beforeAll(async () => {
  harness = await Harness.start();
  const discovery = await fetch(`${harness.demo.upstream.issuer}/.well-known/openid-configuration`);
  upstreamTokenPath = new URL(((await discovery.json()) as { token_endpoint: string }).token_endpoint).pathname;
});

afterAll(async () => {
  await harness.close();
});

afterEach(() => {
  vi.useRealTimers();
});

interface UpstreamCallback {
  browser: TestBrowser;
  /** The upstream's redirect to the proxy's callback, with the upstream code, state and iss. It is not requested yet. */
  callbackUrl: URL;
}

/**
 * Approves a fresh client and signs in upstream, stopping before the proxy receives the upstream's
 * redirect. `afterApproval` runs between the approval and the upstream sign-in.
 */
async function reachUpstreamCallback(
  overrides: Record<string, string | undefined> = {},
  afterApproval: () => void = () => {},
): Promise<UpstreamCallback> {
  const client = await harness.register();
  const browser = new TestBrowser();
  const consent = await harness.openConsent(browser, harness.authorizeUrl(client.client_id, overrides));
  const approved = await browser.postForm(consent.action, consent.fields, { origin: consent.action.origin });
  expect(approved.location).toBeDefined();
  afterApproval();

  const callbackUrl = await signInAtUpstream(browser, approved.location ?? "", "alice", {
    stopAt: (url) => url.pathname === "/oauth/callback",
  });
  return { browser, callbackUrl };
}

function upstreamTokenRequests(): number {
  return harness.upstreamRequests.filter((request) => request.method === "POST" && request.path === upstreamTokenPath).length;
}

/** Requests a callback URL and asserts the error page: 400 HTML, no redirect, no upstream code exchange. */
async function expectCallbackRejected(browser: TestBrowser, url: URL): Promise<void> {
  const before = upstreamTokenRequests();
  const response = await browser.get(url);
  expect(response.status).toBe(400);
  expect(response.headers.get("content-type")).toMatch(/^text\/html\b/);
  expect(response.location).toBeUndefined();
  expect(upstreamTokenRequests()).toBe(before);
}

/** Asserts the success redirect to the client: a code and nothing else besides state and iss. */
function expectCodeRedirect(response: BrowserResponse, redirectUri: string): URLSearchParams {
  expect(response.status).toBe(302);
  const location = response.location ?? "";
  expect(location.startsWith(`${redirectUri}?`)).toBe(true);
  const params = new URL(location).searchParams;
  expect(params.get("error")).toBeNull();
  expect(params.getAll("code")).toHaveLength(1);
  return params;
}

function withParams(url: URL, change: (params: URLSearchParams) => void): URL {
  const copy = new URL(url);
  change(copy.searchParams);
  return copy;
}

describe("S42 callback state is validated and single-use", () => {
  it("rejects a callback without state", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    await expectCallbackRejected(browser, withParams(callbackUrl, (params) => params.delete("state")));

    // The genuine callback still completes, so the rejection was about the missing state.
    expectCodeRedirect(await browser.get(callbackUrl), REDIRECT_URI);
  });

  it("rejects a callback with an unknown state", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    await expectCallbackRejected(browser, withParams(callbackUrl, (params) => params.set("state", "A".repeat(43))));

    expectCodeRedirect(await browser.get(callbackUrl), REDIRECT_URI);
  });

  it("rejects a callback from a browser without the session", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    await expectCallbackRejected(new TestBrowser(), callbackUrl);

    expectCodeRedirect(await browser.get(callbackUrl), REDIRECT_URI);
  });

  it("rejects a replay of a callback that already succeeded", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    expectCodeRedirect(await browser.get(callbackUrl), REDIRECT_URI);

    await expectCallbackRejected(browser, callbackUrl);
    await expectCallbackRejected(new TestBrowser(), callbackUrl);
  });

  // The clock moves before the upstream sign-in, so the upstream code itself is fresh at the callback.
  it("rejects a callback more than 10 minutes after approval", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const approvedAt = Date.now();
    vi.setSystemTime(approvedAt);
    const { browser, callbackUrl } = await reachUpstreamCallback({}, () => vi.setSystemTime(approvedAt + 10 * 60 * 1000 + 1000));

    await expectCallbackRejected(browser, callbackUrl);
  });

  it("accepts a callback 9 minutes after approval", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const approvedAt = Date.now();
    vi.setSystemTime(approvedAt);
    const { browser, callbackUrl } = await reachUpstreamCallback({}, () => vi.setSystemTime(approvedAt + 9 * 60 * 1000));

    expectCodeRedirect(await browser.get(callbackUrl), REDIRECT_URI);
  });
});

describe("S46 success redirect returns the proxy's own code", () => {
  it("sends exactly one code, state and iss to the client", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    const params = expectCodeRedirect(await browser.get(callbackUrl), REDIRECT_URI);

    expect([...params.keys()].sort()).toEqual(["code", "iss", "state"]);
    expect(params.getAll("code")).toHaveLength(1);
    expect(params.getAll("state")).toEqual(["xyz"]);
    expect(params.getAll("iss")).toEqual([harness.issuer]);
  });

  it("returns a state with reserved characters byte for byte", async () => {
    const state = "a b+c/=";
    const { browser, callbackUrl } = await reachUpstreamCallback({ state });
    const response = await browser.get(callbackUrl);
    const params = expectCodeRedirect(response, REDIRECT_URI);

    expect(params.getAll("code")).toHaveLength(1);
    expect(params.getAll("state")).toEqual([state]);
    expect(params.getAll("iss")).toEqual([harness.issuer]);
    expect(response.location).toContain("&state=a%20b%2Bc%2F%3D&");
    expect(response.location).toContain(`&iss=${encodeURIComponent(harness.issuer)}`);
  });

  it("issues its own unguessable code", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    const upstreamCode = callbackUrl.searchParams.get("code");
    const code = expectCodeRedirect(await browser.get(callbackUrl), REDIRECT_URI).get("code") ?? "";

    expect(upstreamCode).toBeTruthy();
    expect(code).not.toBe(upstreamCode);
    // 22 base64url characters carry 132 bits.
    expect(code).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(code).not.toContain(CHALLENGE);
  });

  it("sends the code to the loopback port the client requested", async () => {
    const redirectUri = "http://127.0.0.1:54321/callback";
    const { browser, callbackUrl } = await reachUpstreamCallback({ redirect_uri: redirectUri });
    const params = expectCodeRedirect(await browser.get(callbackUrl), redirectUri);
    expect(params.getAll("code")).toHaveLength(1);
  });

  it("issues codes that expire within 10 minutes", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const issuedAt = Date.now();
    vi.setSystemTime(issuedAt);
    const client = await harness.register();
    const fresh = await harness.signIn(client.client_id);
    const stale = await harness.signIn(client.client_id);
    const redeem = (code: string): Promise<Response> => harness.token({
      grant_type: "authorization_code",
      code,
      code_verifier: VERIFIER,
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
    });

    vi.setSystemTime(issuedAt + 4 * 60 * 1000);
    expect((await redeem(fresh.code)).status).toBe(200);

    vi.setSystemTime(issuedAt + 10 * 60 * 1000 + 1000);
    const response = await redeem(stale.code);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid_grant" });
  });
});
