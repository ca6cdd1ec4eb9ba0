import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

import express from "express";
import jsonwebtoken from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { OIDCProvider, oauthProxy, UpstreamError } from "mcp-oauth-proxy";
import { TestBrowser, parseForm, signInAtUpstream } from "../../examples/demo/browser.js";
import type { BrowserResponse } from "../../examples/demo/browser.js";
import { CHALLENGE, REDIRECT_URI, VERIFIER } from "../helpers/harness.js";
import type { Harness } from "../helpers/harness.js";
import { startTappedHarness } from "../helpers/upstream-tap.js";
import type { TappedHarness, UpstreamTap } from "../helpers/upstream-tap.js";

let tapped: TappedHarness;
let harness: Harness;
let tap: UpstreamTap;

beforeAll(async () => {
  tapped = await startTappedHarness();
  harness = tapped.harness;
  tap = tapped.tap;
});

afterAll(async () => {
  await tapped.close();
});

interface UpstreamCallback {
  clientId: string;
  browser: TestBrowser;
  /** The upstream's redirect to the proxy's callback, not requested yet. */
  callbackUrl: URL;
}

/** Approves a fresh client and signs in upstream, stopping before the proxy's callback is requested. */
async function reachUpstreamCallback(overrides: Record<string, string | undefined> = {}): Promise<UpstreamCallback> {
  const client = await harness.register();
  const browser = new TestBrowser();
  const consent = await harness.openConsent(browser, harness.authorizeUrl(client.client_id, overrides));
  const approved = await browser.postForm(consent.action, consent.fields, { origin: harness.issuer });
  expect(approved.location).toBeDefined();

  const callbackUrl = await signInAtUpstream(browser, approved.location ?? "", "alice", {
    stopAt: (url) => url.pathname === "/oauth/callback",
  });
  return { clientId: client.client_id, browser, callbackUrl };
}

function codeExchanges(): number {
  return tap.tokenRequests("authorization_code").length;
}

function withParams(url: URL, change: (params: URLSearchParams) => void): URL {
  const copy = new URL(url);
  change(copy.searchParams);
  return copy;
}

/** Asserts the callback error page: 400 HTML, no redirect, no upstream code exchange. */
async function expectRejected(browser: TestBrowser, url: URL): Promise<void> {
  const before = codeExchanges();
  const response = await browser.get(url);
  expect(response.status).toBe(400);
  expect(response.headers.get("content-type")).toMatch(/^text\/html\b/);
  expect(response.location).toBeUndefined();
  expect(codeExchanges()).toBe(before);
}

/** Asserts an error redirect to the client with its own state and the proxy's iss. Returns the Location. */
function expectClientError(response: BrowserResponse, error: string): string {
  expect(response.status).toBe(302);
  const location = response.location ?? "";
  expect(location.startsWith(`${REDIRECT_URI}?error=${error}&`)).toBe(true);
  const params = new URL(location).searchParams;
  expect(params.getAll("error")).toEqual([error]);
  expect(params.getAll("state")).toEqual(["xyz"]);
  expect(params.getAll("iss")).toEqual([harness.issuer]);
  expect(params.has("code")).toBe(false);
  return location;
}

function expectCodeRedirect(response: BrowserResponse): URLSearchParams {
  expect(response.status).toBe(302);
  expect(response.location?.startsWith(`${REDIRECT_URI}?code=`)).toBe(true);
  return new URL(response.location ?? "").searchParams;
}

describe("S43 mix-up defence toward the upstream", () => {
  it("rejects a callback whose iss names another issuer", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    expect(callbackUrl.searchParams.get("iss")).toBe(tapped.upstream.issuer);

    await expectRejected(browser, withParams(callbackUrl, (params) => params.set("iss", "https://attacker.example")));
    expectCodeRedirect(await browser.get(callbackUrl));
  });

  it("rejects a callback without iss", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();

    await expectRejected(browser, withParams(callbackUrl, (params) => params.delete("iss")));
    expectCodeRedirect(await browser.get(callbackUrl));
  });

  it("rejects a repeated iss", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();

    await expectRejected(browser, withParams(callbackUrl, (params) => params.append("iss", "https://attacker.example")));
    expectCodeRedirect(await browser.get(callbackUrl));
  });

  it("redeems the code once when iss is the upstream issuer", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    const before = codeExchanges();

    expectCodeRedirect(await browser.get(callbackUrl));
    expect(codeExchanges()).toBe(before + 1);
  });

  describe("with an upstream whose discovery document names another issuer", () => {
    let server: ReturnType<typeof createServer>;
    let issuer: string;

    beforeAll(async () => {
      server = createServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({
          issuer: "https://attacker.example",
          authorization_endpoint: "https://attacker.example/authorize",
          token_endpoint: "https://attacker.example/token",
          jwks_uri: "https://attacker.example/jwks",
          response_types_supported: ["code"],
          authorization_response_iss_parameter_supported: true,
        }));
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    function provider(): OIDCProvider {
      return new OIDCProvider({ issuer, clientId: "proxy", clientSecret: "upstream-secret" });
    }

    it("fails the startup check", async () => {
      const failure = await provider().ready().then(() => undefined, (error: unknown) => error);
      expect(failure).toBeInstanceOf(UpstreamError);
      expect((failure as Error).message).toContain("https://attacker.example");
    });

    it("never sends a browser to that upstream", async () => {
      const local = createServer();
      await new Promise<void>((resolve) => local.listen(0, "127.0.0.1", resolve));
      const localUrl = `http://127.0.0.1:${(local.address() as AddressInfo).port}`;
      const proxy = oauthProxy({ baseUrl: localUrl, provider: provider(), secret: randomBytes(32), rateLimits: false });
      local.on("request", express().use(proxy));
      try {
        const registration = await fetch(`${localUrl}/oauth/register`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none" }),
        });
        const { client_id: clientId } = await registration.json() as { client_id: string };
        const browser = new TestBrowser();
        const query = new URLSearchParams({ response_type: "code", client_id: clientId, redirect_uri: REDIRECT_URI, code_challenge: CHALLENGE, code_challenge_method: "S256", state: "xyz" });
        const page = await browser.get(`${localUrl}/oauth/authorize?${query}`);
        expect(page.status).toBe(200);
        const form = parseForm(page.body, { buttonValue: "approve" });

        const approved = await browser.postForm(new URL(form.action, localUrl), form.fields, { origin: localUrl });
        // A misconfigured upstream is a server fault, whichever 5xx reports it.
        expect(approved.status).toBeGreaterThanOrEqual(500);
        expect(approved.status).toBeLessThan(600);
        expect(approved.headers.get("content-type")).toMatch(/^text\/html\b/);
        expect(approved.location).toBeUndefined();
        expect(approved.body).not.toContain("attacker.example");
      } finally {
        local.closeAllConnections();
        await new Promise<void>((resolve) => local.close(() => resolve()));
        await proxy.close();
      }
    });
  });
});

describe("S44 upstream errors are mapped for the client", () => {
  it("maps an upstream access_denied to access_denied with the client's state", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    const upstreamCode = callbackUrl.searchParams.get("code") ?? "";
    const denied = withParams(callbackUrl, (params) => {
      params.delete("code");
      params.set("error", "access_denied");
      params.set("error_description", "upstream says no");
    });
    const before = codeExchanges();

    const location = expectClientError(await browser.get(denied), "access_denied");
    expect(location).not.toContain(upstreamCode);
    expect(location).not.toContain("upstream");
    expect(codeExchanges()).toBe(before);
  });

  it("maps any other upstream error to server_error", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    const failed = withParams(callbackUrl, (params) => {
      params.delete("code");
      params.set("error", "invalid_scope");
    });

    const location = expectClientError(await browser.get(failed), "server_error");
    expect(location).not.toContain("invalid_scope");
  });

  it("maps a failed code exchange to server_error without leaking the upstream answer", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    const upstreamCode = callbackUrl.searchParams.get("code") ?? "";
    tap.failTokenRequests(1, { status: 400, body: JSON.stringify({ error: "invalid_grant", error_description: "grant-detail-from-upstream" }) });

    const location = expectClientError(await browser.get(callbackUrl), "server_error");
    expect(tap.tokenRequests("authorization_code").at(-1)?.injected).toBe(true);
    expect(location).not.toContain("grant-detail-from-upstream");
    expect(location).not.toContain("invalid_grant");
    expect(location).not.toContain(upstreamCode);
  });

  it("maps an unavailable upstream token endpoint to temporarily_unavailable", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    tap.failTokenRequests(1, { status: 503, body: "" });

    expectClientError(await browser.get(callbackUrl), "temporarily_unavailable");
  });

  it("uses the flow once even when the upstream failed", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    tap.failTokenRequests(1, { status: 400, body: JSON.stringify({ error: "invalid_grant" }) });
    expectClientError(await browser.get(callbackUrl), "server_error");

    await expectRejected(browser, callbackUrl);
  });
});

describe("S45 upstream tokens stay on the server", () => {
  it("exchanges the upstream code once, with a verifier and the proxy's credentials", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    const before = codeExchanges();
    expectCodeRedirect(await browser.get(callbackUrl));

    const exchanges = tap.tokenRequests("authorization_code").slice(before);
    expect(exchanges).toHaveLength(1);
    const exchange = exchanges[0];
    expect(exchange?.form.code).toBe(callbackUrl.searchParams.get("code"));
    expect(exchange?.form.code_verifier).toMatch(/^[A-Za-z0-9._~-]{43,128}$/);
    expect(exchange?.form.code_verifier).not.toBe(VERIFIER);
    expect(exchange?.form.redirect_uri).toBe(harness.demo.proxy.callbackUrl);
    const { clientId, clientSecret } = tapped.upstreamClient;
    const credentials = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64");
    expect(exchange?.authorization).toBe(`Basic ${credentials}`);
  });

  it("never puts an upstream token in a redirect, token response or JWT", async () => {
    const { clientId, browser, callbackUrl } = await reachUpstreamCallback();
    const before = codeExchanges();
    const redirect = await browser.get(callbackUrl);
    const code = expectCodeRedirect(redirect).get("code") ?? "";

    const exchange = tap.tokenRequests("authorization_code").slice(before)[0];
    const upstream = JSON.parse(exchange?.responseBody ?? "{}") as Record<string, string>;
    const upstreamTokens = [upstream.access_token, upstream.refresh_token, upstream.id_token].filter((token): token is string => typeof token === "string");
    expect(upstreamTokens.length).toBeGreaterThanOrEqual(2);

    const response = await harness.token({ grant_type: "authorization_code", code, code_verifier: VERIFIER, client_id: clientId, redirect_uri: REDIRECT_URI });
    const body = await response.text();
    expect(response.status).toBe(200);
    const accessToken = (JSON.parse(body) as { access_token: string }).access_token;
    const seen = [redirect.location ?? "", redirect.body, body, JSON.stringify(jsonwebtoken.decode(accessToken))];
    for (const token of upstreamTokens) {
      for (const text of seen) {
        expect(text.includes(token)).toBe(false);
      }
    }
  });
});

describe("S78 no endpoint redirects to a URL from the request", () => {
  const EVIL = "https://evil.example";
  const hijackParams = ["redirect_uri", "next", "return_to", "returnTo", "redirect", "continue", "url"];

  function expectNotToEvil(response: BrowserResponse, context: string): void {
    expect(response.location?.startsWith(EVIL) ?? false, context).toBe(false);
    expect(response.body.includes("evil.example"), context).toBe(false);
  }

  it("sends the code only to the registered redirect URI from the callback", async () => {
    const { browser, callbackUrl } = await reachUpstreamCallback();
    const hijacked = withParams(callbackUrl, (params) => {
      for (const name of hijackParams) {
        params.set(name, EVIL);
      }
    });

    const response = await browser.get(hijacked);
    expectNotToEvil(response, "callback");
    expect(response.location?.startsWith(`${REDIRECT_URI}?code=`)).toBe(true);
  });

  it("shows an error page for a callback without state", async () => {
    for (const name of hijackParams) {
      const response = await new TestBrowser().get(`${harness.demo.proxy.callbackUrl}?code=x&${name}=${encodeURIComponent(EVIL)}`);
      expect(response.status, name).toBe(400);
      expectNotToEvil(response, name);
    }
  });

  it("shows an error page for an unregistered redirect_uri at /authorize", async () => {
    const client = await harness.register();
    for (const redirectUri of [EVIL, `${EVIL}/cb`, `${REDIRECT_URI}@evil.example`]) {
      const response = await new TestBrowser().get(harness.authorizeUrl(client.client_id, { redirect_uri: redirectUri }));
      expect(response.status, redirectUri).toBe(400);
      expect(response.location, redirectUri).toBeUndefined();
    }
  });

  it("ignores next and return_to at /authorize, valid or not", async () => {
    const client = await harness.register();
    for (const name of hijackParams.filter((param) => param !== "redirect_uri")) {
      const valid = await new TestBrowser().get(harness.authorizeUrl(client.client_id, { [name]: EVIL }));
      expect(valid.status, name).toBe(200);
      expectNotToEvil(valid, name);

      const invalid = await new TestBrowser().get(harness.authorizeUrl(client.client_id, { [name]: EVIL, response_type: "token" }));
      expect(invalid.location?.startsWith(`${REDIRECT_URI}?`), name).toBe(true);
      expectNotToEvil(invalid, name);
    }
  });

  it("ignores next and return_to in a consent decision", async () => {
    for (const decision of ["approve", "deny"]) {
      const client = await harness.register();
      const browser = new TestBrowser();
      const url = harness.authorizeUrl(client.client_id);
      const page = await browser.get(url);
      const form = parseForm(page.body, { buttonValue: decision });
      const action = new URL(form.action, url);
      for (const name of hijackParams) {
        action.searchParams.set(name, EVIL);
      }
      const fields = { ...form.fields, ...Object.fromEntries(hijackParams.map((name) => [name, EVIL])) };

      const response = await browser.postForm(action, fields, { origin: harness.issuer });
      expect(response.status, decision).toBe(303);
      expectNotToEvil(response, decision);
    }
  });
});
