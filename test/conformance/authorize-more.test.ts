import jsonwebtoken from "jsonwebtoken";
import type { JwtPayload } from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startDemo } from "../../examples/demo/app.js";
import type { Demo } from "../../examples/demo/app.js";
import { TestBrowser, parseForm, signInAtUpstream } from "../../examples/demo/browser.js";
import type { BrowserResponse } from "../../examples/demo/browser.js";
import { CHALLENGE, Harness, REDIRECT_URI } from "../helpers/harness.js";

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness.close();
});

/**
 * Requests an authorization URL and asserts an error redirect to `REDIRECT_URI` with `error`, the
 * client's state and the issuer, no code, and nothing sent upstream.
 */
async function expectErrorRedirect(url: URL, error: string): Promise<void> {
  const before = harness.upstreamRequests.length;
  const response = await fetch(url, { redirect: "manual" });
  await response.body?.cancel();

  expect(response.status).toBe(302);
  const location = response.headers.get("location") ?? "";
  expect(location.startsWith(`${REDIRECT_URI}?error=${error}&`)).toBe(true);
  const params = new URL(location).searchParams;
  expect(params.getAll("error")).toEqual([error]);
  expect(params.getAll("state")).toEqual(["xyz"]);
  expect(params.getAll("iss")).toEqual([harness.issuer]);
  expect(params.has("code")).toBe(false);
  expect(harness.upstreamRequests.length).toBe(before);
}

/** Requests an authorization URL and asserts the consent page. Returns its HTML. */
async function expectConsentPage(url: URL): Promise<string> {
  const response = await fetch(url, { redirect: "manual" });
  const body = await response.text();
  expect(response.status, body.slice(0, 200)).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/html\b/);
  expect(response.headers.get("location")).toBeNull();
  return body;
}

function audience(accessToken: string): unknown {
  return (jsonwebtoken.decode(accessToken) as JwtPayload).aud;
}

describe("S32 resource is validated and picks the audience", () => {
  const foreign: Array<[string, () => string]> = [
    ["another server's resource", () => "https://other.example.com/mcp"],
    ["another path on this server", () => `${harness.issuer}/other`],
    ["a host without a scheme", () => "mcp.example.com"],
    ["this resource without a scheme", () => harness.mcpUrl.replace(/^http:\/\//, "")],
    ["a fragment", () => `${harness.mcpUrl}#frag`],
    ["an empty fragment", () => `${harness.mcpUrl}#`],
    ["a query", () => `${harness.mcpUrl}?tenant=1`],
    ["credentials", () => harness.mcpUrl.replace("http://", "http://user:pass@")],
    ["https in place of http", () => harness.mcpUrl.replace(/^http:/, "https:")],
  ];

  for (const [name, resource] of foreign) {
    it(`redirects invalid_target for ${name}`, async () => {
      const client = await harness.register();
      await expectErrorRedirect(harness.authorizeUrl(client.client_id, { resource: resource() }), "invalid_target");
    });
  }

  it("accepts an upper-case scheme and host and normalizes them", async () => {
    const client = await harness.register();
    const url = new URL(harness.mcpUrl);
    const shouted = `HTTP://${url.host.toUpperCase()}${url.pathname}`;
    await expectConsentPage(harness.authorizeUrl(client.client_id, { resource: shouted }));

    const tokens = await harness.obtainTokens(client.client_id, { resource: shouted });
    expect([harness.mcpUrl, [harness.mcpUrl]]).toContainEqual(audience(tokens.access_token));
  });

  it("defaults an omitted resource to the protected resource", async () => {
    const client = await harness.register();
    const page = await expectConsentPage(harness.authorizeUrl(client.client_id, { resource: undefined }));
    expect(page).toContain("Demo MCP server");
  });

  it("rejects a repeated resource", async () => {
    const client = await harness.register();
    const url = harness.authorizeUrl(client.client_id);
    url.searchParams.append("resource", harness.mcpUrl);
    await expectErrorRedirect(url, "invalid_request");
  });
});

describe("S33 unknown scope is invalid_scope", () => {
  for (const scope of ["admin:all", "mcp:read admin:all", "mcp:read\tmcp:write", 'mcp:"read'] as const) {
    it(`redirects invalid_scope for scope=${JSON.stringify(scope)}`, async () => {
      const client = await harness.register();
      await expectErrorRedirect(harness.authorizeUrl(client.client_id, { scope }), "invalid_scope");
    });
  }

  it("accepts configured scopes and drops offline_access", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id, { scope: "mcp:write offline_access" });
    expect(tokens.scope).toBe("mcp:write");
    expect(tokens.refresh_token).toBeTruthy();
  });

  it("treats an empty scope as omitted", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id, { scope: "" });
    expect(tokens.scope).toBe("mcp:read");
  });
});

describe("S36 consent page shows who asks, where the code goes and what for", () => {
  it("escapes the client name", async () => {
    const client = await harness.register({ client_name: "<script>x</script>" });
    const page = await expectConsentPage(harness.authorizeUrl(client.client_id));

    expect(page).toContain("&lt;script&gt;x&lt;/script&gt;");
    expect(page).not.toContain("<script>");
  });

  it("lists every requested scope and the redirect URI", async () => {
    const client = await harness.register({ client_name: "Scope viewer" });
    const page = await expectConsentPage(harness.authorizeUrl(client.client_id, { scope: "mcp:read mcp:write" }));

    expect(page).toContain("Scope viewer");
    expect(page).toContain("<code>mcp:read</code>");
    expect(page).toContain("<code>mcp:write</code>");
    expect(page).toContain(REDIRECT_URI);
  });

  it("shows the port the client asked for on a loopback redirect URI", async () => {
    const client = await harness.register();
    const page = await expectConsentPage(harness.authorizeUrl(client.client_id, { redirect_uri: "http://127.0.0.1:54321/callback" }));
    expect(page).toContain("http://127.0.0.1:54321/callback");
    expect(page).not.toContain(REDIRECT_URI);
  });

  it("warns when the code goes to this computer", async () => {
    for (const redirectUri of [REDIRECT_URI, "http://localhost:3000/callback", "http://[::1]:3000/callback"]) {
      const client = await harness.register({ redirect_uris: [redirectUri] });
      const page = await expectConsentPage(harness.authorizeUrl(client.client_id, { redirect_uri: redirectUri }));
      expect(page, redirectUri).toContain('id="loopback-warning"');
    }
  });

  it("shows no loopback warning for an https redirect URI", async () => {
    const redirectUri = "https://app.example.com/cb";
    const client = await harness.register({ redirect_uris: [redirectUri], token_endpoint_auth_method: "client_secret_basic" });
    const page = await expectConsentPage(harness.authorizeUrl(client.client_id, { redirect_uri: redirectUri }));

    expect(page).toContain("app.example.com");
    expect(page).not.toContain('id="loopback-warning"');
  });
});

describe("S39 upstream state is bound to the browser only after approval", () => {
  const issuer = "https://mcp.example.com";
  let demo: Demo;

  beforeAll(async () => {
    // The issuer is https, so the cookie gets the __Host- prefix and Secure. Requests go to the
    // local address; no request is sent to mcp.example.com.
    demo = await startDemo({ publicUrl: issuer, proxyOptions: { rateLimits: false } });
  });

  afterAll(async () => {
    await demo.close();
  });

  function local(url: string | URL): URL {
    const parsed = new URL(url);
    return new URL(parsed.pathname + parsed.search, demo.localUrl);
  }

  async function register(): Promise<string> {
    const response = await fetch(`${demo.localUrl}/oauth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none", client_name: "Cookie test" }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { client_id: string }).client_id;
  }

  function authorizeUrl(clientId: string): URL {
    const url = new URL("/oauth/authorize", demo.localUrl);
    const params = {
      response_type: "code",
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      code_challenge: CHALLENGE,
      code_challenge_method: "S256",
      state: "xyz",
      resource: `${issuer}/mcp`,
    };
    for (const [name, value] of Object.entries(params)) {
      url.searchParams.set(name, value);
    }
    return url;
  }

  /** Submits the approve button of a consent page from the issuer's origin. */
  function approve(browser: TestBrowser, page: BrowserResponse): Promise<BrowserResponse> {
    const form = parseForm(page.body, { buttonValue: "approve" });
    return browser.postForm(new URL(form.action, demo.localUrl), form.fields, { origin: issuer });
  }

  function cookiePair(setCookie: string): string {
    return setCookie.split(";")[0] ?? "";
  }

  function attributes(setCookie: string): string[] {
    return setCookie.split(";").slice(1).map((attribute) => attribute.trim().toLowerCase());
  }

  it("keeps upstream state out of cookies", async () => {
    const browser = new TestBrowser();
    const page = await browser.get(authorizeUrl(await register()));
    expect(page.status).toBe(200);
    const authorizeCookies = page.headers.getSetCookie();
    expect(authorizeCookies).toHaveLength(1);
    const authorizeCookie = authorizeCookies[0] ?? "";
    // express-session's signed session id: "s:" + id + "." + signature, and nothing else.
    expect(cookiePair(authorizeCookie)).toMatch(/^__Host-mcp-oauth-proxy=s%3A[A-Za-z0-9_-]+\.[A-Za-z0-9%+/]+$/);

    const approved = await approve(browser, page);
    expect(approved.status).toBe(303);
    const upstreamState = new URL(approved.location ?? "").searchParams.get("state") ?? "";
    expect(upstreamState).toMatch(/^[A-Za-z0-9_-]{22,}$/);

    const approvalCookies = approved.headers.getSetCookie();
    expect(approvalCookies).toHaveLength(1);
    const approvalCookie = approvalCookies[0] ?? "";
    expect(cookiePair(approvalCookie)).toMatch(/^__Host-mcp-oauth-proxy=s%3A/);
    expect(cookiePair(approvalCookie)).not.toBe(cookiePair(authorizeCookie));
    expect(approvalCookie).not.toContain(upstreamState);
    expect(attributes(approvalCookie)).toEqual(expect.arrayContaining(["path=/", "secure", "httponly", "samesite=lax"]));
    expect(attributes(approvalCookie).some((attribute) => attribute.startsWith("domain="))).toBe(false);
  });

  it("completes callback only with approval cookie", async () => {
    const browser = new TestBrowser();
    const page = await browser.get(authorizeUrl(await register()));
    const beforeApproval = cookiePair(page.headers.getSetCookie()[0] ?? "");
    const approved = await approve(browser, page);
    expect(approved.location).toBeDefined();

    const callback = await signInAtUpstream(browser, approved.location ?? "", "alice", {
      stopAt: (url) => url.pathname === "/oauth/callback",
    });
    expect(callback.origin).toBe(issuer);

    const stale = await fetch(local(callback), { redirect: "manual", headers: { cookie: beforeApproval } });
    expect(stale.status).toBe(400);
    expect(stale.headers.get("location")).toBeNull();

    const genuine = await browser.get(local(callback));
    expect(genuine.status).toBe(302);
    expect(genuine.location?.startsWith(`${REDIRECT_URI}?code=`)).toBe(true);
  });
});
