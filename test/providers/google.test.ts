import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TestBrowser } from "../../examples/demo/browser.js";
import { OptionError, UpstreamError } from "../../lib/errors.js";
import { GoogleProvider } from "../../lib/providers/google.js";
import type { GoogleProviderOptions } from "../../lib/providers/google.js";
import type { UpstreamTokens } from "../../lib/providers/types.js";
import { CHALLENGE, signInAtFake, VERIFIER } from "./fakes/browser.js";
import { startFakeGoogle } from "./fakes/google.js";
import type { FakeGoogle } from "./fakes/google.js";

const REDIRECT_URI = "http://127.0.0.1:9/oauth/callback";
const CLIENT = { clientId: "1234567890-abc.apps.googleusercontent.com", clientSecret: "GOCSPX-secret" };

let fake: FakeGoogle;

beforeAll(async () => {
  fake = await startFakeGoogle({ ...CLIENT, redirectUri: REDIRECT_URI });
});

afterAll(async () => {
  await fake.close();
});

function provider(options: Partial<GoogleProviderOptions> = {}): GoogleProvider {
  return new GoogleProvider({ ...CLIENT, endpoints: fake.endpoints, ...options });
}

async function signIn(google: GoogleProvider, login = "ada"): Promise<UpstreamTokens> {
  const url = await google.authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: CHALLENGE, scopes: [] });
  const callback = await signInAtFake(new TestBrowser(), url, login, (next) => next.href.startsWith(REDIRECT_URI));
  return google.exchangeCode({ code: callback.searchParams.get("code") ?? "", codeVerifier: VERIFIER, redirectUri: REDIRECT_URI });
}

async function upstreamFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

function withIdToken(claims: Record<string, unknown>): UpstreamTokens {
  const idToken = fake.signIdToken({ iss: "https://accounts.google.com", aud: CLIENT.clientId, sub: "110169484474386276334", ...claims });
  return { accessToken: "ya29.a", tokenType: "Bearer", idToken, scopes: ["openid"] };
}

describe("GoogleProvider authorization request", () => {
  it("asks for offline access and consent", async () => {
    const url = await new GoogleProvider(CLIENT).authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: "c", scopes: [] });

    expect(url.origin + url.pathname).toBe("https://accounts.google.com/o/oauth2/v2/auth");
    expect(url.searchParams.get("access_type")).toBe("offline");
    expect(url.searchParams.get("prompt")).toBe("consent");
    expect(url.searchParams.get("scope")).toBe("openid email profile");
  });

  it("lets authorizationParams change prompt", async () => {
    const url = await provider({ authorizationParams: { prompt: "select_account consent" } }).authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: "c", scopes: [] });

    expect(url.searchParams.get("prompt")).toBe("select_account consent");
    expect(url.searchParams.get("access_type")).toBe("offline");
  });

  it("sends hd for hostedDomain", async () => {
    const url = await provider({ hostedDomain: "Example.com" }).authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: "c", scopes: [] });

    expect(url.searchParams.get("hd")).toBe("example.com");
  });

  const invalid: Array<[string, Partial<Record<keyof GoogleProviderOptions, unknown>>, string, RegExp]> = [
    ["scopes without openid", { scopes: ["email"] }, "scopes", /Include "openid"/],
    ["a hostedDomain with a path", { hostedDomain: "example.com/x" }, "hostedDomain", /Workspace domain/],
    ["an endpoint override over http", { endpoints: { token: "http://oauth2.example.com/token" } }, "endpoints.token", /https:\/\//],
  ];
  for (const [label, change, option, message] of invalid) {
    it(`rejects ${label}`, () => {
      const create = () => new GoogleProvider({ ...CLIENT, ...change } as GoogleProviderOptions);

      expect(create).toThrow(OptionError);
      expect(create).toThrow(message);
      try {
        create();
      } catch (error) {
        expect((error as OptionError).option).toBe(option);
      }
    });
  }
});

describe("GoogleProvider tokens", () => {
  it("posts the client secret in the body", async () => {
    await signIn(provider());

    const request = fake.server.requestsTo("/token").at(-1);
    expect(request?.form.get("client_secret")).toBe(CLIENT.clientSecret);
    expect(request?.headers.authorization).toBeUndefined();
  });

  it("maps Google's long scope names back", async () => {
    const tokens = await signIn(provider());

    expect(tokens.scopes).toEqual(["openid", "email", "profile"]);
  });

  it("keeps the refresh token over two refreshes", async () => {
    const google = provider();
    const tokens = await signIn(google);

    const first = await google.refresh(tokens);
    const second = await google.refresh(first);

    expect(tokens.refreshToken).toMatch(/^1\/\//);
    expect(first.refreshToken).toBe(tokens.refreshToken);
    expect(second.refreshToken).toBe(tokens.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    const refreshRequests = fake.server.requestsTo("/token").slice(-2);
    expect(refreshRequests.map((request) => request.form.get("refresh_token"))).toEqual([tokens.refreshToken, tokens.refreshToken]);
  });

  it("gets no refresh token without prompt=consent after the first consent", async () => {
    await signIn(provider(), "grace");
    const tokens = await signIn(provider({ authorizationParams: { prompt: "select_account" } }), "grace");

    expect(tokens.refreshToken).toBeUndefined();
  });

  it("revokes with the token alone", async () => {
    const google = provider();
    const tokens = await signIn(google);

    await google.revoke(tokens);

    const request = fake.server.requestsTo("/revoke").at(-1);
    expect(Object.fromEntries(request?.form ?? [])).toEqual({ token: tokens.refreshToken });
    expect((await upstreamFailure(google.refresh(tokens))).failure).toBe("invalid_grant");
  });
});

describe("GoogleProvider identity", () => {
  it("reads the verified ID token", async () => {
    const google = provider();
    const identity = await google.identify(await signIn(google));

    expect(identity.subject).toBe("110169484474386276334");
    expect(identity.claims).toMatchObject({ sub: "110169484474386276334", email: "ada@gmail.test", email_verified: true, name: "Ada Lovelace" });
    expect(identity.claims).not.toHaveProperty("iss");
    expect(identity.claims).not.toHaveProperty("azp");
  });

  it("accepts the issuer without https://", async () => {
    const identity = await provider().identify(withIdToken({ iss: "accounts.google.com" }));

    expect(identity.subject).toBe("110169484474386276334");
  });

  const rejected: Array<[string, Record<string, unknown>, RegExp]> = [
    ["another issuer", { iss: "https://accounts.google.example" }, /jwt issuer invalid/],
    ["another audience", { aud: "someone-else.apps.googleusercontent.com" }, /jwt audience invalid/],
  ];
  for (const [label, claims, message] of rejected) {
    it(`rejects ${label}`, async () => {
      const error = await upstreamFailure(provider().identify(withIdToken(claims)));

      expect(error.failure).toBe("protocol");
      expect(error.message).toMatch(message);
    });
  }

  it("rejects tokens without an ID token", async () => {
    const error = await upstreamFailure(provider().identify({ accessToken: "a", tokenType: "Bearer", scopes: [] }));

    expect(error.message).toMatch(/returned no ID token/);
  });

  it("hostedDomain admits the domain's users", async () => {
    const google = provider({ hostedDomain: "example.com" });
    const identity = await google.identify(await signIn(google, "grace"));

    expect(identity.claims.hd).toBe("example.com");
  });

  it("hostedDomain rejects personal accounts", async () => {
    const google = provider({ hostedDomain: "example.com" });

    const error = await upstreamFailure(google.identify(await signIn(google, "ada")));

    expect(error.message).toBe('The user signed in to Google with a personal account, but hostedDomain is "example.com"');
  });

  it("hostedDomain * admits any Workspace domain", async () => {
    const identity = await provider({ hostedDomain: "*" }).identify(withIdToken({ hd: "other.example" }));

    expect(identity.claims.hd).toBe("other.example");
  });
});
