import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Harness, VERIFIER } from "../helpers/harness.js";

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness.close();
});

/** Asserts the authorization error page: 400 HTML, no Location, nothing sent upstream. */
async function expectErrorPage(url: URL): Promise<void> {
  const before = harness.upstreamRequests.length;
  const response = await fetch(url, { redirect: "manual" });
  await response.body?.cancel();

  expect(response.status, url.searchParams.get("redirect_uri") ?? "").toBe(400);
  expect(response.headers.get("content-type")).toMatch(/^text\/html\b/);
  expect(response.headers.get("location")).toBeNull();
  expect(harness.upstreamRequests.length).toBe(before);
}

/** Runs the whole flow to `redirectUri`, redeems the code there and calls the MCP endpoint. */
async function completeFlow(clientId: string, redirectUri: string): Promise<URL> {
  const { code, callbackUrl } = await harness.signIn(clientId, { redirect_uri: redirectUri });
  const response = await harness.token({
    grant_type: "authorization_code",
    code,
    code_verifier: VERIFIER,
    client_id: clientId,
    redirect_uri: redirectUri,
  });
  expect(response.status).toBe(200);
  const tokens = await response.json() as { access_token: string };
  expect((await harness.callMcp(`Bearer ${tokens.access_token}`)).status).toBe(200);
  return callbackUrl;
}

async function registerExpectingRejection(redirectUris: string[]): Promise<void> {
  const response = await harness.postJson(harness.metadata.registration_endpoint as string, {
    redirect_uris: redirectUris,
    token_endpoint_auth_method: "none",
  });
  expect(response.status, redirectUris.join(" ")).toBe(400);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  expect(await response.json()).toMatchObject({ error: "invalid_redirect_uri" });
}

describe("loopback redirect URIs on another port", () => {
  const loopbacks = [
    { host: "127.0.0.1", registered: "http://127.0.0.1:3000/callback", requested: "http://127.0.0.1:54321/callback" },
    { host: "[::1]", registered: "http://[::1]/callback", requested: "http://[::1]:61023/callback" },
    { host: "localhost", registered: "http://localhost:3000/callback", requested: "http://localhost:49152/callback" },
  ];

  for (const { host, registered, requested } of loopbacks) {
    it(`sends the code to the requested port on ${host}`, async () => {
      const client = await harness.register({ redirect_uris: [registered] });
      const callbackUrl = await completeFlow(client.client_id, requested);

      const expected = new URL(requested);
      expect(callbackUrl.host).toBe(expected.host);
      expect(callbackUrl.pathname).toBe("/callback");
      expect(callbackUrl.searchParams.getAll("code")).toHaveLength(1);
      expect(callbackUrl.searchParams.get("state")).toBe("xyz");
    });

    const port = new URL(requested).port;
    const otherChanges = [
      ["another path", `http://${host}:${port}/other`],
      ["a longer path", `http://${host}:${port}/callback/extra`],
      ["https", `https://${host}:${port}/callback`],
      ["another host", `http://${host === "localhost" ? "127.0.0.1" : "localhost"}:${port}/callback`],
      ["another loopback address", `http://${host === "127.0.0.1" ? "127.0.0.2" : "127.0.0.1"}:${port}/callback`],
    ];
    for (const [change, redirectUri] of otherChanges) {
      it(`shows an error page for ${change} on ${host}`, async () => {
        const client = await harness.register({ redirect_uris: [registered] });
        await expectErrorPage(harness.authorizeUrl(client.client_id, { redirect_uri: redirectUri }));
      });
    }
  }

  it("rejects an out-of-range port", async () => {
    const client = await harness.register();
    await expectErrorPage(harness.authorizeUrl(client.client_id, { redirect_uri: "http://127.0.0.1:65536/callback" }));
  });
});

describe("redirect tricks", () => {
  const tricks: Array<[string, string, string]> = [
    ["an unregistered https host", "https://app.example.com/cb", "https://attacker.example/cb"],
    ["user information before the host", "http://127.0.0.1:33418/cb", "http://127.0.0.1:33418@attacker.example/cb"],
    ["user information on an https host", "https://app.example.com/cb", "https://app.example.com@attacker.example/cb"],
    ["characters appended to the host", "https://app.example.com/cb", "https://app.example.com.attacker.example/cb"],
    ["characters appended to the path", "http://127.0.0.1:3000/callback", "http://127.0.0.1:3000/callback.attacker.example"],
    ["an @ appended to the path", "http://127.0.0.1:3000/callback", "http://127.0.0.1:3000/callback@attacker.example"],
    ["a query appended", "https://app.example.com/cb", "https://app.example.com/cb?next=https://attacker.example"],
    ["an encoded path escape", "https://app.example.com/cb", "https://app.example.com/cb/..%2F..%2Fattacker"],
    ["a backslash", "https://app.example.com/cb", "https://app.example.com\\@attacker.example/cb"],
    ["a fragment", "https://app.example.com/cb", "https://app.example.com/cb#@attacker.example"],
  ];

  for (const [trick, registered, requested] of tricks) {
    it(`shows an error page for ${trick}`, async () => {
      const confidential = registered.startsWith("https:");
      const client = await harness.register({
        redirect_uris: [registered],
        ...(confidential ? { token_endpoint_auth_method: "client_secret_basic" } : {}),
      });
      await expectErrorPage(harness.authorizeUrl(client.client_id, { redirect_uri: requested }));
    });
  }

  const unregistrable = [
    "http://127.0.0.1:33418@attacker.example/cb",
    "https://app.example.com@attacker.example/cb",
    "https://user:pass@app.example.com/cb",
    "https://app.example.com\\@attacker.example/cb",
    "http://attacker.example/cb",
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "file:///etc/passwd",
    "vbscript:msgbox(1)",
  ];
  for (const redirectUri of unregistrable) {
    it(`rejects registering ${redirectUri}`, async () => {
      await registerExpectingRejection([redirectUri]);
    });
  }

  it("rejects one bad URI among good ones", async () => {
    await registerExpectingRejection(["http://127.0.0.1:3000/callback", "http://127.0.0.1:33418@attacker.example/cb", "cursor://anysphere.cursor-retrieval/oauth/callback"]);
  });
});

describe("private-use URI schemes", () => {
  const cursor = "cursor://anysphere.cursor-retrieval/oauth/callback";

  it("registers a cursor:// redirect URI and completes the flow", async () => {
    const client = await harness.register({ redirect_uris: [cursor] });
    expect(client.redirect_uris).toEqual([cursor]);

    const callbackUrl = await completeFlow(client.client_id, cursor);
    expect(callbackUrl.href.startsWith(`${cursor}?code=`)).toBe(true);
    expect(callbackUrl.searchParams.get("state")).toBe("xyz");
    expect(callbackUrl.searchParams.get("iss")).toBe(harness.issuer);
  });

  it("completes the flow with a reverse-domain scheme", async () => {
    const redirectUri = "com.example.app:/oauth/callback";
    const client = await harness.register({ redirect_uris: [redirectUri] });
    const callbackUrl = await completeFlow(client.client_id, redirectUri);
    expect(callbackUrl.href.startsWith(`${redirectUri}?code=`)).toBe(true);
  });

  it("matches a private-use redirect URI exactly", async () => {
    const client = await harness.register({ redirect_uris: [cursor] });
    for (const variant of [`${cursor}/`, cursor.replace("cursor:", "Cursor:"), "cursor://anysphere.cursor-retrieval.attacker/oauth/callback", "cursor://attacker/oauth/callback"]) {
      await expectErrorPage(harness.authorizeUrl(client.client_id, { redirect_uri: variant }));
    }
  });
});
