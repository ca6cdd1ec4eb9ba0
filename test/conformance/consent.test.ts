import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { UPSTREAM_CLIENT_ID } from "../../examples/demo/app.js";
import { TestBrowser, parseForm } from "../../examples/demo/browser.js";
import type { BrowserResponse } from "../../examples/demo/browser.js";
import { CHALLENGE, Harness, REDIRECT_URI } from "../helpers/harness.js";

let harness: Harness;
let upstreamAuthorizationEndpoint: string;

beforeAll(async () => {
  harness = await Harness.start();
  const discovery = await fetch(`${harness.demo.upstream.issuer}/.well-known/openid-configuration`);
  upstreamAuthorizationEndpoint = ((await discovery.json()) as { authorization_endpoint: string }).authorization_endpoint;
});

afterAll(async () => {
  await harness.close();
});

interface ConsentForm {
  action: URL;
  /** The hidden fields plus the pressed button, as a browser would submit them. */
  fields: Record<string, string>;
}

/** Opens the consent page for a fresh client in `browser` and returns its form with the given button pressed. */
async function openConsent(
  browser: TestBrowser,
  decision: "approve" | "deny" = "approve",
  overrides: Record<string, string | undefined> = {},
): Promise<ConsentForm> {
  const client = await harness.register();
  const page = await browser.get(harness.authorizeUrl(client.client_id, overrides));
  expect(page.status).toBe(200);
  const form = parseForm(page.body, { buttonValue: decision });
  return { action: new URL(form.action, harness.baseUrl), fields: form.fields };
}

function submit(browser: TestBrowser, form: ConsentForm, fields: Record<string, string> = form.fields, origin = harness.issuer): Promise<BrowserResponse> {
  return browser.postForm(form.action, fields, { origin });
}

/** Asserts a rejected decision: an error status and page, no redirect, no cookie. */
function expectRejected(response: BrowserResponse, statuses: number[]): void {
  expect(statuses).toContain(response.status);
  expect(response.headers.get("content-type")).toMatch(/^text\/html\b/);
  expect(response.location).toBeUndefined();
  expect(response.headers.getSetCookie()).toEqual([]);
}

/** Asserts that a page may not be framed by another site. */
function expectNoFraming(headers: Headers): void {
  expect(headers.get("content-security-policy")).toMatch(/(^|;)\s*frame-ancestors 'none'\s*(;|$)/);
  expect(headers.get("x-frame-options")).toBe("DENY");
}

describe("S35 consent is asked per client", () => {
  it("shows the consent page instead of redirecting upstream in a fresh browser", async () => {
    const before = harness.upstreamRequests.length;
    const browser = new TestBrowser();
    const client = await harness.register();

    const page = await browser.get(harness.authorizeUrl(client.client_id));
    expect(page.status).toBe(200);
    expect(page.location).toBeUndefined();
    expect(page.body).toContain('value="approve"');
    expect(harness.upstreamRequests.length).toBe(before);
  });

  it("asks again for a second client in a browser that approved the first", async () => {
    const first = await harness.register();
    const { browser } = await harness.signIn(first.client_id);

    const second = await harness.register({ client_name: "Second client" });
    const before = harness.upstreamRequests.length;
    const page = await browser.get(harness.authorizeUrl(second.client_id));
    expect(page.status).toBe(200);
    expect(page.location).toBeUndefined();
    expect(page.body).toContain("Second client");
    expect(page.body).toContain('value="approve"');
    expect(harness.upstreamRequests.length).toBe(before);
  });

  // Stricter than the row requires: the proxy stores no consent, so even the approved client is asked again.
  it("asks again for the same client in a browser that approved it", async () => {
    const client = await harness.register();
    const { browser } = await harness.signIn(client.client_id);

    const page = await browser.get(harness.authorizeUrl(client.client_id));
    expect(page.status).toBe(200);
    expect(page.location).toBeUndefined();
  });
});

describe("S37 proxy pages forbid framing", () => {
  it("sends anti-framing headers on the consent page", async () => {
    const client = await harness.register();
    const response = await fetch(harness.authorizeUrl(client.client_id));
    expect(response.status).toBe(200);
    expectNoFraming(response.headers);
  });

  it("sends anti-framing headers on the authorization error page", async () => {
    const response = await fetch(harness.authorizeUrl("nope"));
    expect(response.status).toBe(400);
    expectNoFraming(response.headers);
  });

  it("sends anti-framing headers on a rejected consent decision", async () => {
    const browser = new TestBrowser();
    const form = await openConsent(browser);
    const response = await submit(browser, form, form.fields, "https://evil.example");
    expect(response.status).toBe(403);
    expectNoFraming(response.headers);
  });

  it("sends anti-framing headers on the callback error page", async () => {
    const response = await fetch(`${harness.demo.proxy.callbackUrl}?code=U1`);
    expect(response.status).toBe(400);
    expectNoFraming(response.headers);
  });
});

describe("S38 consent decision is CSRF-protected and single-use", () => {
  it("rejects an approval without the CSRF token", async () => {
    const browser = new TestBrowser();
    const form = await openConsent(browser);
    const before = harness.upstreamRequests.length;
    const { csrf_token: _omitted, ...fields } = form.fields;

    expectRejected(await submit(browser, form, fields), [400, 403]);
    expect(harness.upstreamRequests.length).toBe(before);
  });

  it("rejects the CSRF token of another transaction in the same session", async () => {
    const browser = new TestBrowser();
    const form = await openConsent(browser);
    const other = await openConsent(browser);

    expectRejected(await submit(browser, form, { ...form.fields, csrf_token: other.fields.csrf_token ?? "" }), [400, 403]);
  });

  it("rejects the CSRF token of another session", async () => {
    const browser = new TestBrowser();
    const form = await openConsent(browser);
    const other = await openConsent(new TestBrowser());

    expectRejected(await submit(browser, form, { ...form.fields, csrf_token: other.fields.csrf_token ?? "" }), [400, 403]);
  });

  it("rejects a complete form submitted from another session", async () => {
    const form = await openConsent(new TestBrowser());
    const attacker = new TestBrowser();
    await openConsent(attacker);

    expectRejected(await submit(attacker, form), [400, 403]);
  });

  for (const origin of ["https://evil.example", "null"]) {
    it(`rejects an approval with Origin: ${origin}`, async () => {
      const browser = new TestBrowser();
      const form = await openConsent(browser);
      const before = harness.upstreamRequests.length;

      expectRejected(await submit(browser, form, form.fields, origin), [400, 403]);
      expect(harness.upstreamRequests.length).toBe(before);
    });
  }

  it("still accepts the genuine form after rejected attempts", async () => {
    const browser = new TestBrowser();
    const form = await openConsent(browser);
    await submit(browser, form, { ...form.fields, csrf_token: "forged" });
    await submit(browser, form, form.fields, "https://evil.example");

    const response = await submit(browser, form);
    expect(response.status).toBe(303);
    expect(response.location?.startsWith(upstreamAuthorizationEndpoint)).toBe(true);
  });

  it("rejects a replayed approval with 400", async () => {
    const browser = new TestBrowser();
    const form = await openConsent(browser);
    expect((await submit(browser, form)).status).toBe(303);

    expectRejected(await submit(browser, form), [400]);
  });

  it("rejects an approval replayed after a denial with 400", async () => {
    const browser = new TestBrowser();
    const deny = await openConsent(browser, "deny");
    expect((await submit(browser, deny)).status).toBe(303);

    expectRejected(await submit(browser, deny, { ...deny.fields, decision: "approve" }), [400]);
  });
});

describe("S40 approval redirects upstream with the proxy's own PKCE and state", () => {
  async function approve(): Promise<{ response: BrowserResponse; params: URLSearchParams }> {
    const browser = new TestBrowser();
    const form = await openConsent(browser);
    const response = await submit(browser, form);
    return { response, params: new URL(response.location ?? "").searchParams };
  }

  it("redirects to the upstream authorization endpoint with a 302 or 303", async () => {
    const { response } = await approve();
    // 303 is the right response to a form POST (RFC 9110 §15.4.4). A 307 would repost the consent form upstream.
    expect([302, 303]).toContain(response.status);

    const location = new URL(response.location ?? "");
    expect(location.origin + location.pathname).toBe(upstreamAuthorizationEndpoint);
  });

  it("sends the proxy's client_id, callback URL and an S256 challenge", async () => {
    const { params } = await approve();
    expect(params.getAll("response_type")).toEqual(["code"]);
    expect(params.getAll("client_id")).toEqual([UPSTREAM_CLIENT_ID]);
    expect(params.getAll("redirect_uri")).toEqual([`${harness.issuer}/oauth/callback`]);
    expect(params.getAll("redirect_uri")).toEqual([harness.demo.proxy.callbackUrl]);
    expect(params.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.getAll("code_challenge_method")).toEqual(["S256"]);
    expect(params.get("scope")).toBeTruthy();
  });

  it("sends a state of at least 128 random bits", async () => {
    const { params } = await approve();
    // 22 base64url characters carry 132 bits.
    expect(params.get("state")).toMatch(/^[A-Za-z0-9_-]{22,}$/);
  });

  it("never forwards the client's state or code_challenge", async () => {
    const { params } = await approve();
    for (const [name, value] of params) {
      expect(value, name).not.toBe("xyz");
      expect(value, name).not.toBe(CHALLENGE);
    }
  });

  it("uses a new state and code_challenge on each run", async () => {
    const first = await approve();
    const second = await approve();
    expect(first.params.get("state")).not.toBe(second.params.get("state"));
    expect(first.params.get("code_challenge")).not.toBe(second.params.get("code_challenge"));
  });
});

describe("S41 user can deny", () => {
  it("redirects a denial with access_denied, the client's state and iss", async () => {
    const browser = new TestBrowser();
    const form = await openConsent(browser, "deny");
    const before = harness.upstreamRequests.length;
    const response = await submit(browser, form);

    // 303 is the right response to a form POST (RFC 9110 §15.4.4), and browsers follow a 302 the same way.
    expect([302, 303]).toContain(response.status);
    const location = response.location ?? "";
    expect(location.startsWith(`${REDIRECT_URI}?`)).toBe(true);
    const params = new URL(location).searchParams;
    expect(params.getAll("error")).toEqual(["access_denied"]);
    expect(params.getAll("state")).toEqual(["xyz"]);
    expect(params.getAll("iss")).toEqual([harness.issuer]);
    expect(params.has("code")).toBe(false);
    expect(harness.upstreamRequests.length).toBe(before);
  });

  it("sends a denial to the validated loopback port", async () => {
    const browser = new TestBrowser();
    const redirectUri = "http://127.0.0.1:54321/callback";
    const form = await openConsent(browser, "deny", { redirect_uri: redirectUri, state: "a b+c/=" });
    const response = await submit(browser, form);

    const location = response.location ?? "";
    expect(location.startsWith(`${redirectUri}?error=access_denied&`)).toBe(true);
    expect(new URL(location).searchParams.getAll("state")).toEqual(["a b+c/="]);
  });
});
