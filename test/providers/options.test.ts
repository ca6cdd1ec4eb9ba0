import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { OptionError } from "../../lib/errors.js";
import { AzureProvider } from "../../lib/providers/azure.js";
import { GitHubProvider } from "../../lib/providers/github.js";
import { GoogleProvider } from "../../lib/providers/google.js";
import { DEFAULT_TIMEOUT_MS } from "../../lib/providers/http.js";
import { OAuthProvider } from "../../lib/providers/oauth.js";
import type { OAuthProviderOptions } from "../../lib/providers/oauth.js";
import { OIDCProvider } from "../../lib/providers/oidc.js";
import { FakeServer, sendJson } from "./fakes/server.js";

const CLIENT = { clientId: "proxy-client", clientSecret: "proxy-secret" };
const BASE: OAuthProviderOptions = {
  ...CLIENT,
  authorizationEndpoint: "https://login.example.com/authorize",
  tokenEndpoint: "https://login.example.com/token",
};
const TOKENS = { accessToken: "a", tokenType: "Bearer", refreshToken: "r", scopes: ["files:read"] };

let tokenServer: FakeServer;
let grantedScope = "";

beforeAll(async () => {
  tokenServer = await FakeServer.start((_request, res) => sendJson(res, 200, { access_token: "new", token_type: "Bearer", scope: grantedScope }));
});

afterAll(async () => {
  await tokenServer.close();
});

/** Exposes the settings a provider resolved from its options. */
class SettingsProbe extends OAuthProvider {
  get timeoutMs(): number {
    return this.client.timeoutMs;
  }
}

describe("timeoutMs", () => {
  it("defaults to 10 seconds", () => {
    expect(DEFAULT_TIMEOUT_MS).toBe(10_000);
    expect(new SettingsProbe(BASE).timeoutMs).toBe(10_000);
  });

  it("takes an override", () => {
    expect(new SettingsProbe({ ...BASE, timeoutMs: 2500 }).timeoutMs).toBe(2500);
  });
});

describe("endpoints option", () => {
  it("replaces built-in endpoints", async () => {
    const github = new GitHubProvider({ ...CLIENT, endpoints: { authorization: "https://sso.example.com/github/authorize" } });

    const url = await github.authorizationUrl({ redirectUri: "https://mcp.example.com/oauth/callback", state: "s", codeChallenge: "c", scopes: [] });

    expect(url.origin + url.pathname).toBe("https://sso.example.com/github/authorize");
  });

  it("replaces discovered endpoints", async () => {
    const discovery = await FakeServer.start((_request, res, url) => sendJson(res, 200, { issuer: url, authorization_endpoint: `${url}/authorize`, token_endpoint: `${url}/token` }));
    try {
      const provider = new OIDCProvider({ ...CLIENT, issuer: discovery.url, endpoints: { authorization: "https://login.example.com/custom/authorize" } });

      const url = await provider.authorizationUrl({ redirectUri: "https://mcp.example.com/oauth/callback", state: "s", codeChallenge: "c", scopes: [] });

      expect(url.origin + url.pathname).toBe("https://login.example.com/custom/authorize");
    } finally {
      await discovery.close();
    }
  });

  it("sends token requests to the override", async () => {
    const google = new GoogleProvider({ ...CLIENT, endpoints: { token: `${tokenServer.url}/google-token` } });
    grantedScope = "openid";

    await google.refresh(TOKENS);

    expect(tokenServer.requestsTo("/google-token")).toHaveLength(1);
  });

  const invalid: Array<[string, unknown, string, RegExp]> = [
    ["an unknown endpoint name", { introspection: "https://login.example.com/introspect" }, "endpoints.introspection", /authorization, token, userinfo, revocation and jwks/],
    ["a relative URL", { token: "/token" }, "endpoints.token", /absolute URL/],
    ["a string", "https://login.example.com", "endpoints", /Pass an object/],
  ];
  for (const [label, endpoints, option, message] of invalid) {
    it(`rejects ${label}`, () => {
      const create = () => new AzureProvider({ ...CLIENT, tenant: "common", endpoints } as never);

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

describe("scopeMap option", () => {
  const mapped = (): OAuthProvider => new OAuthProvider({ ...BASE, tokenEndpoint: `${tokenServer.url}/token`, scopes: ["profile"], scopeMap: { "files:read": "repo", "files:write": "repo:write" } });

  it("renames scopes on the way to the provider", async () => {
    const url = await mapped().authorizationUrl({ redirectUri: "https://mcp.example.com/oauth/callback", state: "s", codeChallenge: "c", scopes: ["files:read", "files:write", "email"] });

    expect(url.searchParams.get("scope")).toBe("profile repo repo:write email");
  });

  it("renames granted scopes back", async () => {
    grantedScope = "repo,profile,gist";

    const tokens = await mapped().refresh(TOKENS);

    expect(tokens.scopes).toEqual(["files:read", "profile", "gist"]);
  });

  const invalid: Array<[string, unknown, string, RegExp]> = [
    ["two names for one provider scope", { "files:read": "repo", "files:all": "repo" }, "scopeMap.files:all", /each provider scope may appear once/],
    ["a target with a space", { "files:read": "repo user" }, "scopeMap.files:read", /without spaces/],
    ["an array", ["repo"], "scopeMap", /Pass an object/],
  ];
  for (const [label, scopeMap, option, message] of invalid) {
    it(`rejects ${label}`, () => {
      const create = () => new OAuthProvider({ ...BASE, scopeMap } as OAuthProviderOptions);

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
