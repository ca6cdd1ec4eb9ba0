import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TestBrowser, parseForm, signInAtUpstream } from "../../examples/demo/browser.js";
import type { BrowserResponse } from "../../examples/demo/browser.js";
import { Harness, REDIRECT_URI } from "../helpers/harness.js";

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

interface ConsentForm {
  action: URL;
  fields: Record<string, string>;
  html: string;
}

/** Opens the consent page for a fresh client in `browser`, with the given button pressed. */
async function openConsent(browser: TestBrowser, decision: "approve" | "deny" = "approve", overrides: Record<string, string> = {}): Promise<ConsentForm> {
  const client = await harness.register();
  const url = harness.authorizeUrl(client.client_id, overrides);
  const page = await browser.get(url);
  expect(page.status).toBe(200);
  const form = parseForm(page.body, { buttonValue: decision });
  return { action: new URL(form.action, url), fields: form.fields, html: page.body };
}

/** Asserts a 403 page that neither redirects nor sets a cookie, and that nothing reached the upstream. */
async function expectForbidden(send: () => Promise<BrowserResponse>): Promise<void> {
  const before = harness.upstreamRequests.length;
  const response = await send();
  expect(response.status).toBe(403);
  expect(response.headers.get("content-type")).toMatch(/^text\/html\b/);
  expect(response.location).toBeUndefined();
  expect(response.headers.getSetCookie()).toEqual([]);
  expect(harness.upstreamRequests.length).toBe(before);
}

function upstreamCodeExchanges(): number {
  return harness.upstreamRequests.filter((request) => request.method === "POST" && request.path === upstreamTokenPath).length;
}

describe("consent", () => {
  it("asks again for a new client", async () => {
    const first = await harness.register({ client_name: "First client" });
    const { browser } = await harness.signIn(first.client_id);

    const second = await harness.register({ client_name: "Second client" });
    const before = harness.upstreamRequests.length;
    const page = await browser.get(harness.authorizeUrl(second.client_id));

    expect(page.status).toBe(200);
    expect(page.location).toBeUndefined();
    expect(page.body).toContain("Second client");
    expect(page.body).not.toContain("First client");
    expect(parseForm(page.body, { buttonValue: "approve" }).fields.decision).toBe("approve");
    expect(harness.upstreamRequests.length).toBe(before);
  });

  it("rejects approval without CSRF token", async () => {
    const browser = new TestBrowser();
    const form = await openConsent(browser);
    const { csrf_token: _omitted, ...fields } = form.fields;

    await expectForbidden(() => browser.postForm(form.action, fields, { origin: harness.issuer }));
  });

  it("rejects approval with empty CSRF token", async () => {
    const browser = new TestBrowser();
    const form = await openConsent(browser);

    await expectForbidden(() => browser.postForm(form.action, { ...form.fields, csrf_token: "" }, { origin: harness.issuer }));
  });

  it("rejects another browser's CSRF token", async () => {
    const browser = new TestBrowser();
    const form = await openConsent(browser);
    const foreign = await openConsent(new TestBrowser());

    await expectForbidden(() => browser.postForm(form.action, { ...form.fields, csrf_token: foreign.fields.csrf_token ?? "" }, { origin: harness.issuer }));
  });

  for (const origin of ["https://evil.example", "null", "http://127.0.0.1.evil.example"]) {
    it(`rejects approval from Origin ${origin}`, async () => {
      const browser = new TestBrowser();
      const form = await openConsent(browser);

      await expectForbidden(() => browser.postForm(form.action, form.fields, { origin }));
    });
  }

  it("accepts approval after forged attempts", async () => {
    const browser = new TestBrowser();
    const form = await openConsent(browser);
    const { csrf_token: _omitted, ...withoutToken } = form.fields;
    await browser.postForm(form.action, withoutToken, { origin: harness.issuer });
    await browser.postForm(form.action, form.fields, { origin: "https://evil.example" });

    const approved = await browser.postForm(form.action, form.fields, { origin: harness.issuer });
    expect(approved.status).toBe(303);
    expect(approved.location?.startsWith(harness.demo.upstream.issuer)).toBe(true);
  });

  it("rejects callback finished in another browser", async () => {
    const victim = new TestBrowser();
    const form = await openConsent(victim);
    const approved = await victim.postForm(form.action, form.fields, { origin: harness.issuer });
    const callbackUrl = await signInAtUpstream(victim, approved.location ?? "", "alice", {
      stopAt: (url) => url.pathname === "/oauth/callback",
    });

    // The other browser has a proxy session of its own, so this is a link carried between browsers.
    const attacker = new TestBrowser();
    await openConsent(attacker);
    const before = upstreamCodeExchanges();
    const stolen = await attacker.get(callbackUrl);
    expect(stolen.status).toBe(403);
    expect(stolen.headers.get("content-type")).toMatch(/^text\/html\b/);
    expect(stolen.location).toBeUndefined();
    expect(upstreamCodeExchanges()).toBe(before);

    // A browser without any proxy session gets 400, and the flow still belongs to its owner.
    expect((await new TestBrowser().get(callbackUrl)).status).toBe(400);
    const genuine = await victim.get(callbackUrl);
    expect(genuine.status).toBe(302);
    expect(genuine.location?.startsWith(`${REDIRECT_URI}?code=`)).toBe(true);
  });

  it("rejects approval from another browser", async () => {
    const form = await openConsent(new TestBrowser());
    const attacker = new TestBrowser();
    await openConsent(attacker);

    await expectForbidden(() => attacker.postForm(form.action, form.fields, { origin: harness.issuer }));
  });

  it("redirects denial with access_denied and state", async () => {
    const browser = new TestBrowser();
    const state = "opaque state/with+reserved=chars";
    const form = await openConsent(browser, "deny", { state });
    const before = harness.upstreamRequests.length;

    const response = await browser.postForm(form.action, form.fields, { origin: harness.issuer });
    expect([302, 303]).toContain(response.status);
    expect(response.location?.startsWith(`${REDIRECT_URI}?error=access_denied&`)).toBe(true);
    const params = new URL(response.location ?? "").searchParams;
    expect(params.getAll("state")).toEqual([state]);
    expect(params.getAll("iss")).toEqual([harness.issuer]);
    expect(params.has("code")).toBe(false);
    expect(harness.upstreamRequests.length).toBe(before);

    const replay = await browser.postForm(form.action, { ...form.fields, decision: "approve" }, { origin: harness.issuer });
    expect(replay.status).toBe(400);
    expect(replay.location).toBeUndefined();
  });
});
