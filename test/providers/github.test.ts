import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TestBrowser } from "../../examples/demo/browser.js";
import { OptionError, UpstreamError } from "../../lib/errors.js";
import { GitHubProvider } from "../../lib/providers/github.js";
import type { GitHubProviderOptions } from "../../lib/providers/github.js";
import type { UpstreamTokens } from "../../lib/providers/types.js";
import { CHALLENGE, signInAtFake, VERIFIER } from "./fakes/browser.js";
import { startFakeGitHub } from "./fakes/github.js";
import type { FakeGitHub, FakeGitHubOptions } from "./fakes/github.js";
import { FakeServer, sendForm, sendJson } from "./fakes/server.js";

const REDIRECT_URI = "http://127.0.0.1:9/oauth/callback";
const CLIENT = { clientId: "Iv1.8a61f9b3a7aba766", clientSecret: "github-secret" };
const fakes: Array<{ close(): Promise<void> }> = [];

afterAll(async () => {
  await Promise.all(fakes.map((fake) => fake.close()));
});

async function startFake(options: Partial<FakeGitHubOptions> = {}): Promise<FakeGitHub> {
  const fake = await startFakeGitHub({ ...CLIENT, redirectUri: REDIRECT_URI, kind: "oauth-app", ...options });
  fakes.push(fake);
  return fake;
}

async function startRawServer(respond: Parameters<typeof FakeServer.start>[0]): Promise<FakeServer> {
  const server = await FakeServer.start(respond);
  fakes.push(server);
  return server;
}

function provider(fake: { url: string }, options: Partial<GitHubProviderOptions> = {}): GitHubProvider {
  return new GitHubProvider({ ...CLIENT, baseUrl: fake.url, ...options });
}

async function signIn(github: GitHubProvider, login = "octocat"): Promise<UpstreamTokens> {
  const url = await github.authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: CHALLENGE, scopes: [] });
  const callback = await signInAtFake(new TestBrowser(), url, login, (next) => next.href.startsWith(REDIRECT_URI));
  return github.exchangeCode({ code: callback.searchParams.get("code") ?? "", codeVerifier: VERIFIER, redirectUri: REDIRECT_URI });
}

async function upstreamFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

describe("GitHubProvider configuration", () => {
  it("uses github.com by default", async () => {
    const github = new GitHubProvider(CLIENT);

    const url = await github.authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: "c", scopes: [] });

    expect(url.origin + url.pathname).toBe("https://github.com/login/oauth/authorize");
    expect(url.searchParams.get("scope")).toBe("read:user user:email");
    expect(github.apiUrl).toBe("https://api.github.com");
    expect(github.name).toBe("GitHub");
  });

  it("uses Enterprise Server paths under baseUrl", async () => {
    const github = new GitHubProvider({ ...CLIENT, baseUrl: "https://github.example.com/" });

    const url = await github.authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: "c", scopes: [] });

    expect(url.origin + url.pathname).toBe("https://github.example.com/login/oauth/authorize");
    expect(github.apiUrl).toBe("https://github.example.com/api/v3");
  });

  it("takes an explicit apiUrl", () => {
    expect(new GitHubProvider({ ...CLIENT, baseUrl: "https://github.example.com", apiUrl: "https://api.github.example.com" }).apiUrl).toBe("https://api.github.example.com");
  });

  const invalid: Array<[string, Partial<Record<keyof GitHubProviderOptions, unknown>>, string, RegExp]> = [
    ["missing clientSecret", { clientSecret: undefined }, "clientSecret", /requires it on every token request/],
    ["baseUrl over http", { baseUrl: "http://github.example.com" }, "baseUrl", /https:\/\//],
    ["baseUrl with query", { baseUrl: "https://github.example.com/?x=1" }, "baseUrl", /Remove the query/],
    ["relative apiUrl", { apiUrl: "/api/v3" }, "apiUrl", /absolute URL/],
  ];
  for (const [label, change, option, message] of invalid) {
    it(`rejects ${label}`, () => {
      const create = () => new GitHubProvider({ ...CLIENT, ...change } as GitHubProviderOptions);

      expect(create).toThrow(OptionError);
      expect(create).toThrow(message);
      try {
        create();
      } catch (error) {
        expect((error as OptionError).option).toBe(option);
        expect((error as Error).message).not.toContain(CLIENT.clientSecret);
      }
    });
  }
});

describe("GitHubProvider token exchange", () => {
  for (const tokenFormat of ["json", "form", "auto"] as const) {
    it(`reads a ${tokenFormat} token response`, async () => {
      const fake = await startFake({ tokenFormat });
      const github = provider(fake, { scopes: ["repo", "user"] });

      const tokens = await signIn(github);

      expect(tokens.accessToken).toMatch(/^gho_/);
      expect(tokens.scopes).toEqual(["repo", "user"]);
      expect(tokens.tokenType).toBe("bearer");
    });
  }

  it("sends Accept JSON and the secret in the body", async () => {
    const fake = await startFake();
    await signIn(provider(fake));

    const request = fake.server.requestsTo("/login/oauth/access_token")[0];
    expect(request?.headers.accept).toBe("application/json");
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.form.get("client_secret")).toBe(CLIENT.clientSecret);
    expect(request?.form.get("code_verifier")).toBe(VERIFIER);
  });

  it("reads a form body labeled text/plain", async () => {
    const server = await startRawServer((_request, res) => {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      res.end("access_token=gho_plain&scope=repo%2Cuser&token_type=bearer");
    });

    const tokens = await provider(server).refresh({ accessToken: "a", tokenType: "bearer", refreshToken: "ghr_1", scopes: [] });

    expect(tokens).toMatchObject({ accessToken: "gho_plain", scopes: ["repo", "user"] });
  });

  it("OAuth App tokens do not expire", async () => {
    const tokens = await signIn(provider(await startFake({ kind: "oauth-app" })));

    expect(tokens.expiresAt).toBeUndefined();
    expect(tokens.refreshToken).toBeUndefined();
  });

  it("GitHub App tokens expire with a refresh token", async () => {
    const before = Math.floor(Date.now() / 1000);
    const tokens = await signIn(provider(await startFake({ kind: "github-app" })));

    expect(tokens.accessToken).toMatch(/^ghu_/);
    expect(tokens.refreshToken).toMatch(/^ghr_/);
    expect(tokens.expiresAt).toBeGreaterThanOrEqual(before + 28800);
    expect(tokens.expiresAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 28800);
    expect(tokens.scopes).toEqual([]);
  });

  it("GitHub App refresh rotates the refresh token", async () => {
    const github = provider(await startFake({ kind: "github-app" }));
    const tokens = await signIn(github);

    const refreshed = await github.refresh(tokens);
    const reuse = await upstreamFailure(github.refresh(tokens));

    expect(refreshed.refreshToken).not.toBe(tokens.refreshToken);
    expect(reuse.failure).toBe("invalid_grant");
    expect(reuse.upstreamError).toBe("bad_refresh_token");
    expect(reuse.status).toBe(200);
  });

  const errors: Array<[string, string, RegExp]> = [
    ["bad_verification_code", "invalid_grant", /the code is wrong, expired or already used/],
    ["bad_refresh_token", "invalid_grant", /the refresh token is wrong/],
    ["incorrect_client_credentials", "invalid_client", /Check the clientId and clientSecret options/],
    ["redirect_uri_mismatch", "invalid_client", /set the app's callback URL to proxy\.callbackUrl/],
    ["unverified_user_email", "protocol", /no verified email address/],
    ["something_new", "protocol", /error something_new \(HTTP 200\)/],
  ];
  for (const [code, failure, message] of errors) {
    it(`maps ${code} sent with HTTP 200`, async () => {
      const server = await startRawServer((_request, res) => sendJson(res, 200, { error: code, error_description: "private-detail" }));

      const error = await upstreamFailure(provider(server).refresh({ accessToken: "a", tokenType: "bearer", refreshToken: "r", scopes: [] }));

      expect(error.failure).toBe(failure);
      expect(error.upstreamError).toBe(code);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain("private-detail");
    });
  }

  it("maps a form-encoded error", async () => {
    const server = await startRawServer((_request, res) => sendForm(res, 200, { error: "bad_verification_code", error_description: "expired" }));

    const error = await upstreamFailure(provider(server).exchangeCode({ code: "c", codeVerifier: VERIFIER, redirectUri: REDIRECT_URI }));

    expect(error.failure).toBe("invalid_grant");
  });
});

describe("GitHubProvider identity", () => {
  let fake: FakeGitHub;

  beforeAll(async () => {
    fake = await startFake();
  });

  it("takes the numeric id and the primary verified address", async () => {
    const github = provider(fake);
    const identity = await github.identify(await signIn(github));

    expect(identity).toEqual({
      subject: "583231",
      claims: {
        sub: "583231",
        id: 583231,
        login: "octocat",
        preferred_username: "octocat",
        name: "The Octocat",
        picture: `${fake.url}/avatars/583231`,
        profile: `${fake.url}/octocat`,
        email: "octocat@github.test",
        email_verified: true,
      },
    });
  });

  it("leaves out a null name", async () => {
    const github = provider(fake);
    const identity = await github.identify(await signIn(github, "hubot"));

    expect(identity.subject).toBe("1000002");
    expect(identity.claims).not.toHaveProperty("name");
    expect(identity.claims.email).toBe("hubot@github.test");
  });

  it("falls back to the public address without user:email", async () => {
    const github = provider(fake, { scopes: ["read:user"] });
    const identity = await github.identify(await signIn(github));

    expect(identity.claims.email).toBe("octo-public@github.test");
    expect(identity.claims).not.toHaveProperty("email_verified");
  });

  it("has no address when a GitHub App lacks the permission and the user shows none", async () => {
    const github = provider(await startFake({ kind: "github-app", emailPermission: false }));
    const identity = await github.identify(await signIn(github, "hubot"));

    expect(identity.claims).not.toHaveProperty("email");
  });

  it("sends the GitHub API headers", async () => {
    const github = provider(fake);
    await github.identify(await signIn(github));

    const request = fake.server.requestsTo("/api/v3/user").at(-1);
    expect(request?.headers.accept).toBe("application/vnd.github+json");
    expect(request?.headers["x-github-api-version"]).toBe("2022-11-28");
    expect(request?.headers["user-agent"]).toBe("mcp-oauth-proxy");
    expect(request?.headers.authorization).toMatch(/^Bearer gho_/);
  });
});

describe("GitHubProvider revocation and ready", () => {
  it("deletes the token through the applications API", async () => {
    const fake = await startFake();
    const github = provider(fake);
    const tokens = await signIn(github);

    await github.revoke(tokens);

    const request = fake.server.requestsTo(`/api/v3/applications/${CLIENT.clientId}/token`)[0];
    expect(request?.method).toBe("DELETE");
    expect(request?.headers.authorization).toBe(`Basic ${Buffer.from(`${CLIENT.clientId}:${CLIENT.clientSecret}`).toString("base64")}`);
    expect(JSON.parse(request?.body ?? "{}")).toEqual({ access_token: tokens.accessToken });
    expect((await upstreamFailure(github.identify(tokens))).status).toBe(401);
  });

  it("ignores a token GitHub no longer knows", async () => {
    const github = provider(await startFake());

    await expect(github.revoke({ accessToken: "gho_unknown", tokenType: "bearer", scopes: [] })).resolves.toBeUndefined();
  });

  it("ready checks GET /meta", async () => {
    const fake = await startFake();

    await provider(fake).ready();

    expect(fake.server.requestsTo("/api/v3/meta")).toHaveLength(1);
  });

  it("ready names a wrong baseUrl", async () => {
    const server = await startRawServer((_request, res) => {
      res.writeHead(404, { "content-type": "text/html" }).end("<h1>Not Found</h1>");
    });

    const error = await upstreamFailure(provider(server).ready());

    expect(error.message).toContain(`${server.url}/api/v3/meta`);
    expect(error.message).toMatch(/the GitHub REST API was expected to return JSON for GET \/meta; check the baseUrl and apiUrl options/);
  });
});
