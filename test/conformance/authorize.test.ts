import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TestBrowser } from "../../examples/demo/browser.js";
import { CHALLENGE, Harness, REDIRECT_URI } from "../helpers/harness.js";

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness.close();
});

const CONFIDENTIAL_REDIRECT_URI = "https://app.example.com/cb";

/** Requests an authorization URL without following redirects, counting what reached the upstream meanwhile. */
async function authorize(url: URL): Promise<{ response: Response; body: string; upstreamRequests: number }> {
  const before = harness.upstreamRequests.length;
  const response = await fetch(url, { redirect: "manual" });
  const body = await response.text();
  return { response, body, upstreamRequests: harness.upstreamRequests.length - before };
}

/** Asserts the HTML error page shown when the redirect target cannot be trusted: no redirect, nothing sent upstream. */
async function expectErrorPage(url: URL): Promise<void> {
  const { response, upstreamRequests } = await authorize(url);
  expect(response.status).toBe(400);
  expect(response.headers.get("content-type")).toMatch(/^text\/html\b/);
  expect(response.headers.get("location")).toBeNull();
  expect(upstreamRequests).toBe(0);
}

/** Asserts the consent page: 200 HTML, no redirect, nothing sent upstream. Returns the page. */
async function expectConsentPage(url: URL): Promise<string> {
  const { response, body, upstreamRequests } = await authorize(url);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/html\b/);
  expect(response.headers.get("location")).toBeNull();
  expect(upstreamRequests).toBe(0);
  expect(body).toContain('name="csrf_token"');
  return body;
}

/**
 * Asserts an error redirect to `redirectUri` carrying `error`, the client's exact `state` (`null`
 * when the client sent none) and the proxy's `iss`, in the query and without a `code`. Returns the
 * raw Location header.
 */
async function expectErrorRedirect(url: URL, redirectUri: string, error: string, state: string | null = "xyz"): Promise<string> {
  const { response, upstreamRequests } = await authorize(url);
  expect(response.status).toBe(302);
  expect(upstreamRequests).toBe(0);

  const location = response.headers.get("location") ?? "";
  expect(location.startsWith(`${redirectUri}${redirectUri.includes("?") ? "&" : "?"}`)).toBe(true);
  expect(location).not.toContain("#");

  const params = new URL(location).searchParams;
  expect(params.getAll("error")).toEqual([error]);
  expect(params.getAll("state")).toEqual(state === null ? [] : [state]);
  expect(params.getAll("iss")).toEqual([harness.issuer]);
  expect(params.has("code")).toBe(false);
  return location;
}

/** Removes the optional `error_description` from a raw redirect URL, so the rest can be compared exactly. */
function withoutDescription(location: string): string {
  return location.replace(/&error_description=[^&]*/, "");
}

function issuerParam(): string {
  return `iss=${encodeURIComponent(harness.issuer)}`;
}

describe("S23 valid request shows the consent page", () => {
  it("answers GET with a 200 HTML page and does not contact the upstream", async () => {
    const client = await harness.register();
    const page = await expectConsentPage(harness.authorizeUrl(client.client_id));
    expect(page).toContain(REDIRECT_URI);
  });
});

describe("S24 missing or unknown client gets an error page", () => {
  it("rejects a request without client_id", async () => {
    await expectErrorPage(harness.authorizeUrl("unused", { client_id: undefined }));
  });

  it("rejects an unknown client_id", async () => {
    await expectErrorPage(harness.authorizeUrl("nope"));
  });
});

describe("S25 redirect_uri is matched as an exact string", () => {
  const publicVariants = [
    "http://127.0.0.1:3000/callback/",
    "http://127.0.0.1:3000/callback?x=1",
    "http://127.0.0.1:3000/Callback",
    "http://127.0.0.1:3000/callback#a",
    "http://127.0.0.2:3000/callback",
    "https://127.0.0.1:3000/callback",
    "http://127.0.0.1:3000/x/../callback",
  ];

  for (const redirectUri of publicVariants) {
    it(`rejects ${redirectUri} for a client registered with ${REDIRECT_URI}`, async () => {
      const client = await harness.register();
      await expectErrorPage(harness.authorizeUrl(client.client_id, { redirect_uri: redirectUri }));
    });
  }

  for (const redirectUri of ["https://app.example.com:443/cb", "https://APP.example.com/cb"]) {
    it(`rejects ${redirectUri} for a confidential client registered with ${CONFIDENTIAL_REDIRECT_URI}`, async () => {
      const client = await harness.register({ redirect_uris: [CONFIDENTIAL_REDIRECT_URI], token_endpoint_auth_method: "client_secret_basic" });
      await expectErrorPage(harness.authorizeUrl(client.client_id, { redirect_uri: redirectUri }));
    });
  }

  it("accepts the registered URI itself", async () => {
    const client = await harness.register({ redirect_uris: [CONFIDENTIAL_REDIRECT_URI], token_endpoint_auth_method: "client_secret_basic" });
    await expectConsentPage(harness.authorizeUrl(client.client_id, { redirect_uri: CONFIDENTIAL_REDIRECT_URI }));
  });
});

describe("S26 loopback redirect URIs may change port", () => {
  it("accepts another port on 127.0.0.1 and sends the code there", async () => {
    const client = await harness.register();
    const redirectUri = "http://127.0.0.1:54321/callback";
    await expectConsentPage(harness.authorizeUrl(client.client_id, { redirect_uri: redirectUri }));

    const { callbackUrl } = await harness.signIn(client.client_id, { redirect_uri: redirectUri });
    expect(callbackUrl.origin + callbackUrl.pathname).toBe(redirectUri);
    expect(callbackUrl.searchParams.getAll("code")).toHaveLength(1);
  });

  it("accepts a new port on [::1] and sends the code there", async () => {
    const client = await harness.register({ redirect_uris: ["http://[::1]/callback"] });
    const redirectUri = "http://[::1]:61023/callback";
    await expectConsentPage(harness.authorizeUrl(client.client_id, { redirect_uri: redirectUri }));

    const { callbackUrl } = await harness.signIn(client.client_id, { redirect_uri: redirectUri });
    expect(callbackUrl.host).toBe("[::1]:61023");
    expect(callbackUrl.pathname).toBe("/callback");
  });

  // Pinned decision: localhost gets the same port flexibility as the loopback IP literals.
  it("accepts another port on localhost", async () => {
    const client = await harness.register({ redirect_uris: ["http://localhost:3000/callback"] });
    await expectConsentPage(harness.authorizeUrl(client.client_id, { redirect_uri: "http://localhost:4000/callback" }));
  });

  const otherChanges = [
    "http://127.0.0.1:54321/other",
    "http://localhost:54321/callback",
    "http://[::1]:54321/callback",
    "https://127.0.0.1:54321/callback",
  ];
  for (const redirectUri of otherChanges) {
    it(`rejects ${redirectUri}, which changes more than the port`, async () => {
      const client = await harness.register();
      await expectErrorPage(harness.authorizeUrl(client.client_id, { redirect_uri: redirectUri }));
    });
  }

  it("keeps the port fixed for a non-loopback redirect URI", async () => {
    const client = await harness.register({ redirect_uris: [CONFIDENTIAL_REDIRECT_URI], token_endpoint_auth_method: "client_secret_basic" });
    await expectErrorPage(harness.authorizeUrl(client.client_id, { redirect_uri: "https://app.example.com:8443/cb" }));
  });
});

describe("S27 redirect_uri is required with several registered", () => {
  it("rejects an omitted redirect_uri when two are registered", async () => {
    const client = await harness.register({ redirect_uris: [REDIRECT_URI, "http://127.0.0.1:3000/other"] });
    await expectErrorPage(harness.authorizeUrl(client.client_id, { redirect_uri: undefined }));
  });

  it("uses the only registered redirect URI when it is omitted", async () => {
    const client = await harness.register();
    const page = await expectConsentPage(harness.authorizeUrl(client.client_id, { redirect_uri: undefined }));
    expect(page).toContain(REDIRECT_URI);

    const { callbackUrl } = await harness.signIn(client.client_id, { redirect_uri: undefined });
    expect(callbackUrl.origin + callbackUrl.pathname).toBe(REDIRECT_URI);
  });
});

describe("S28 only response_type=code is supported", () => {
  it("redirects response_type=token with unsupported_response_type", async () => {
    const client = await harness.register();
    await expectErrorRedirect(harness.authorizeUrl(client.client_id, { response_type: "token" }), REDIRECT_URI, "unsupported_response_type");
  });

  it("redirects an omitted response_type with invalid_request", async () => {
    const client = await harness.register();
    await expectErrorRedirect(harness.authorizeUrl(client.client_id, { response_type: undefined }), REDIRECT_URI, "invalid_request");
  });
});

describe("S29 PKCE is required", () => {
  it("redirects a request without code_challenge with invalid_request", async () => {
    const client = await harness.register();
    const location = await expectErrorRedirect(
      harness.authorizeUrl(client.client_id, { code_challenge: undefined }),
      REDIRECT_URI,
      "invalid_request",
    );
    expect(new URL(location).searchParams.get("error_description")).toMatch(/code_challenge/);
  });
});

describe("S30 only S256 with a well-formed challenge", () => {
  const badRequests: Array<[string, Record<string, string | undefined>]> = [
    ["code_challenge_method=plain", { code_challenge_method: "plain" }],
    ["an omitted code_challenge_method, which means plain", { code_challenge_method: undefined }],
    ["a 42-character challenge", { code_challenge: CHALLENGE.slice(0, 42) }],
    ["a 129-character challenge", { code_challenge: "a".repeat(129) }],
    ["a challenge containing +", { code_challenge: `${CHALLENGE.slice(0, 42)}+` }],
    ["a challenge containing /", { code_challenge: `${CHALLENGE.slice(0, 42)}/` }],
    ["a challenge containing =", { code_challenge: `${CHALLENGE.slice(0, 42)}=` }],
  ];

  for (const [name, overrides] of badRequests) {
    it(`redirects ${name} with invalid_request`, async () => {
      const client = await harness.register();
      await expectErrorRedirect(harness.authorizeUrl(client.client_id, overrides), REDIRECT_URI, "invalid_request");
    });
  }

  for (const length of [43, 128]) {
    it(`accepts an S256 challenge of ${length} characters`, async () => {
      const client = await harness.register();
      await expectConsentPage(harness.authorizeUrl(client.client_id, { code_challenge: "A".repeat(length) }));
    });
  }
});

describe("S34 error redirects carry state and iss", () => {
  it("serializes the error, the exact state and the issuer in the query", async () => {
    const client = await harness.register();
    const location = await expectErrorRedirect(
      harness.authorizeUrl(client.client_id, { response_type: "token" }),
      REDIRECT_URI,
      "unsupported_response_type",
    );
    expect(withoutDescription(location)).toBe(`${REDIRECT_URI}?error=unsupported_response_type&state=xyz&${issuerParam()}`);
  });

  it("keeps the query of the registered redirect URI first", async () => {
    const redirectUri = "https://app.example.com/cb?tenant=1";
    const client = await harness.register({ redirect_uris: [redirectUri], token_endpoint_auth_method: "client_secret_basic" });
    const location = await expectErrorRedirect(
      harness.authorizeUrl(client.client_id, { redirect_uri: redirectUri, response_type: "token" }),
      redirectUri,
      "unsupported_response_type",
    );
    expect(withoutDescription(location)).toBe(`${redirectUri}&error=unsupported_response_type&state=xyz&${issuerParam()}`);
    expect(new URL(location).searchParams.getAll("tenant")).toEqual(["1"]);
  });

  it("returns a state with reserved characters byte for byte", async () => {
    const client = await harness.register();
    const state = "a b+c/=";
    const location = await expectErrorRedirect(
      harness.authorizeUrl(client.client_id, { state, code_challenge: undefined }),
      REDIRECT_URI,
      "invalid_request",
      state,
    );
    expect(location).toContain("&state=a%20b%2Bc%2F%3D&");
  });

  it("leaves state out when the client sent none", async () => {
    const client = await harness.register();
    const location = await expectErrorRedirect(
      harness.authorizeUrl(client.client_id, { state: undefined, response_type: "token" }),
      REDIRECT_URI,
      "unsupported_response_type",
      null,
    );
    expect(withoutDescription(location)).toBe(`${REDIRECT_URI}?error=unsupported_response_type&${issuerParam()}`);
  });

  it("omits code even with a browser session", async () => {
    const client = await harness.register();
    const browser = new TestBrowser();
    await harness.openConsent(browser, harness.authorizeUrl(client.client_id));

    const response = await browser.get(harness.authorizeUrl(client.client_id, { response_type: "token" }));
    expect(response.status).toBe(302);
    const params = new URL(response.location ?? "").searchParams;
    expect(params.get("error")).toBe("unsupported_response_type");
    expect(params.has("code")).toBe(false);
  });
});
