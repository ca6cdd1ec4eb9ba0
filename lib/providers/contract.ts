import { createHash, randomBytes } from "node:crypto";

import { UpstreamError } from "../errors.js";
import type { UpstreamFailure } from "../errors.js";
import type { UpstreamProvider, UpstreamTokens } from "./types.js";

/** Assertions the contract suite uses, a subset of what vitest's and Jest's `expect` return. */
export interface ProviderContractAssertion {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toMatch(expected: RegExp | string): void;
}

/** Test functions of the caller's runner, passed in so this module does not depend on one. */
export interface ProviderContractTestApi {
  describe: (name: string, body: () => void) => void;
  it: (name: string, body: () => Promise<void>, timeout?: number) => void;
  expect: (actual: unknown) => ProviderContractAssertion;
  beforeAll: (hook: () => Promise<void>) => void;
  afterAll: (hook: () => Promise<void>) => void;
}

/** A user of the fake provider, with the identity `identify` must return for them. */
export interface ContractUser {
  /** Login name the fake's sign-in page takes for this user. */
  login: string;
  subject: string;
  /** Expected `email` claim; left out when the provider has none for the user. */
  email?: string;
  /** Expected `name` claim; left out when the provider has none for the user. */
  name?: string;
}

/** A fault the fake's token endpoint injects into its next response. */
export type TokenFault = "outage" | "slow";

/**
 * The provider under test and the fake provider it talks to. The fake must speak
 * the provider's documented wire format, check the client credentials it was
 * given, and never contact the internet.
 */
export interface ProviderContractFixture {
  /** Creates the provider, pointed at the fake; the suite overrides the timeout or the secret in some tests. */
  createProvider(overrides?: { timeoutMs?: number; clientSecret?: string }): UpstreamProvider;
  /** The redirect URI registered at the fake. */
  redirectUri: string;
  /**
   * Performs the browser part of a sign-in: opens `authorizationUrl`, signs in as
   * `login` and returns the redirect to `redirectUri` without requesting it.
   */
  authorize(authorizationUrl: URL, login: string): Promise<URL>;
  /** Makes the next token request fail: "outage" responds with HTTP 503, "slow" responds after at least 1 s. */
  failNextTokenRequest(fault: TokenFault): void;
  /** Number of HTTP requests the fake has received. */
  requestCount(): number;
  /** Two distinct users. */
  users: [ContractUser, ContractUser];
  /** Whether the provider issues refresh tokens to a default sign-in. */
  refreshTokens: boolean;
  /** Whether `revoke` ends the upstream grant at the provider; when false it must send nothing. */
  revocation: boolean;
  close(): Promise<void>;
}

interface SignedIn {
  provider: UpstreamProvider;
  tokens: UpstreamTokens;
}

// Time limit used by the timeout test, well below the 1 s or more the fake's "slow" fault waits.
const SHORT_TIMEOUT_MS = 200;

/**
 * Registers tests that check an {@link UpstreamProvider} against what the proxy
 * relies on: the authorization request, code exchange, identity, refresh,
 * revocation, the upstream timeout and the mapping of upstream failures.
 *
 * @example
 * import { afterAll, beforeAll, describe, expect, it } from "vitest";
 * runProviderContract("GitHubProvider", () => startGitHubFixture(), { describe, it, expect, beforeAll, afterAll });
 */
export function runProviderContract(name: string, setup: () => Promise<ProviderContractFixture>, testApi: ProviderContractTestApi): void {
  const { describe, it, expect, beforeAll, afterAll } = testApi;
  let fixture: ProviderContractFixture;

  async function signIn(user: ContractUser, provider = fixture.createProvider()): Promise<SignedIn> {
    const code = await authorize(provider, user);
    const tokens = await provider.exchangeCode({ ...code, redirectUri: fixture.redirectUri });
    return { provider, tokens };
  }

  async function authorize(provider: UpstreamProvider, user: ContractUser): Promise<{ code: string; codeVerifier: string; iss?: string }> {
    const codeVerifier = randomBytes(32).toString("base64url");
    const state = randomBytes(16).toString("base64url");
    const url = await provider.authorizationUrl({
      redirectUri: fixture.redirectUri,
      state,
      codeChallenge: createHash("sha256").update(codeVerifier).digest("base64url"),
      scopes: [],
    });

    const callback = await fixture.authorize(url, user.login);
    expect(callback.searchParams.get("state")).toBe(state);
    const iss = callback.searchParams.get("iss");
    return { code: callback.searchParams.get("code") ?? "", codeVerifier, ...(iss === null ? {} : { iss }) };
  }

  async function failure(promise: Promise<unknown>, expected: UpstreamFailure): Promise<UpstreamError> {
    const error = await promise.then(() => undefined, (reason: unknown) => reason);
    expect(error instanceof UpstreamError).toBe(true);
    expect((error as UpstreamError).failure).toBe(expected);
    return error as UpstreamError;
  }

  describe(`${name} provider contract`, () => {
    beforeAll(async () => {
      fixture = await setup();
    });

    afterAll(async () => {
      await fixture.close();
    });

    it("construction contacts nobody", async () => {
      const before = fixture.requestCount();
      fixture.createProvider();
      expect(fixture.requestCount()).toBe(before);
    });

    it("ready checks the configuration", async () => {
      const provider = fixture.createProvider() as UpstreamProvider & { ready?: () => Promise<void> };
      expect(typeof provider.ready).toBe("function");
      await provider.ready?.();
    });

    it("authorization URL uses code flow and S256", async () => {
      const url = await fixture.createProvider().authorizationUrl({ redirectUri: fixture.redirectUri, state: "state-1", codeChallenge: "challenge-1", scopes: [] });

      expect(url.searchParams.get("response_type")).toBe("code");
      expect(url.searchParams.get("redirect_uri")).toBe(fixture.redirectUri);
      expect(url.searchParams.get("state")).toBe("state-1");
      expect(url.searchParams.get("code_challenge")).toBe("challenge-1");
      expect(url.searchParams.get("code_challenge_method")).toBe("S256");
      expect(url.searchParams.has("resource")).toBe(false);
    });

    it("sign-in identifies the user", async () => {
      const [user] = fixture.users;
      const { provider, tokens } = await signIn(user);
      const identity = await provider.identify(tokens);

      expect(tokens.accessToken.length > 0).toBe(true);
      expect(identity.subject).toBe(user.subject);
      expect(identity.claims.email).toBe(user.email);
      expect(identity.claims.name).toBe(user.name);
    });

    it("subject is stable and per user", async () => {
      const [first, second] = fixture.users;
      const again = await signIn(first);
      const other = await signIn(second);

      expect((await again.provider.identify(again.tokens)).subject).toBe(first.subject);
      expect((await other.provider.identify(other.tokens)).subject).toBe(second.subject);
    });

    it("reused code is invalid_grant", async () => {
      const provider = fixture.createProvider();
      const code = await authorize(provider, fixture.users[0]);
      await provider.exchangeCode({ ...code, redirectUri: fixture.redirectUri });

      await failure(provider.exchangeCode({ ...code, redirectUri: fixture.redirectUri }), "invalid_grant");
    });

    it("wrong client secret is invalid_client", async () => {
      const code = await authorize(fixture.createProvider(), fixture.users[0]);
      const provider = fixture.createProvider({ clientSecret: "wrong-client-secret" });

      const error = await failure(provider.exchangeCode({ ...code, redirectUri: fixture.redirectUri }), "invalid_client");
      expect(error.message).toMatch(/clientSecret/);
      expect(error.message.includes("wrong-client-secret")).toBe(false);
    });

    it("outage is unavailable", async () => {
      const provider = fixture.createProvider();
      const code = await authorize(provider, fixture.users[0]);
      fixture.failNextTokenRequest("outage");

      const error = await failure(provider.exchangeCode({ ...code, redirectUri: fixture.redirectUri }), "unavailable");
      expect(error.status).toBe(503);
    });

    it("slow token endpoint times out", async () => {
      const provider = fixture.createProvider({ timeoutMs: SHORT_TIMEOUT_MS });
      const code = await authorize(provider, fixture.users[0]);
      fixture.failNextTokenRequest("slow");
      const started = Date.now();

      const error = await failure(provider.exchangeCode({ ...code, redirectUri: fixture.redirectUri }), "unavailable");
      expect(error.message).toMatch(`timed out after ${SHORT_TIMEOUT_MS} ms`);
      expect(Date.now() - started < 1000).toBe(true);
    });

    registerRefreshTests();
    registerRevocationTests();
  });

  function registerRefreshTests(): void {
    it("refresh works twice in a row", async () => {
      const { provider, tokens } = await signIn(fixture.users[0]);
      if (!fixture.refreshTokens) {
        expect(tokens.refreshToken).toBe(undefined);
        const before = fixture.requestCount();
        await failure(provider.refresh(tokens), "invalid_grant");
        expect(fixture.requestCount()).toBe(before);
        return;
      }

      const first = await provider.refresh(tokens);
      const second = await provider.refresh(first);

      expect(first.accessToken === tokens.accessToken).toBe(false);
      expect(second.accessToken === first.accessToken).toBe(false);
      expect(typeof second.refreshToken).toBe("string");
      expect((await provider.identify(second)).subject).toBe(fixture.users[0].subject);
    });

    it("unknown refresh token is invalid_grant", async () => {
      const { provider, tokens } = await signIn(fixture.users[0]);

      await failure(provider.refresh({ ...tokens, refreshToken: `not-issued-${randomBytes(8).toString("hex")}` }), "invalid_grant");
    });
  }

  function registerRevocationTests(): void {
    it("revoke ends the upstream grant", async () => {
      const { provider, tokens } = await signIn(fixture.users[1]);
      const before = fixture.requestCount();
      await provider.revoke(tokens);

      if (!fixture.revocation) {
        expect(fixture.requestCount()).toBe(before);
        return;
      }
      expect(fixture.requestCount() > before).toBe(true);
      if (tokens.refreshToken !== undefined) {
        await failure(provider.refresh(tokens), "invalid_grant");
        return;
      }
      const error = await provider.identify(tokens).then(() => undefined, (reason: unknown) => reason);
      expect(error instanceof UpstreamError).toBe(true);
    });
  }
}
