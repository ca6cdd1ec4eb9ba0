import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { parseForm, TestBrowser } from "../../examples/demo/browser.js";
import { UpstreamError } from "../../lib/errors.js";
import { oauthProxy } from "../../lib/index.js";
import { AzureProvider } from "../../lib/providers/azure.js";
import { GoogleProvider } from "../../lib/providers/google.js";
import { OIDCProvider } from "../../lib/providers/oidc.js";
import { Auth0Provider } from "../../lib/providers/presets/auth0.js";
import { KeycloakProvider } from "../../lib/providers/presets/keycloak.js";
import { CHALLENGE } from "./fakes/browser.js";
import { startFakeOidc } from "./fakes/oidc.js";
import type { FakeOidc } from "./fakes/oidc.js";
import { AUTH0_PROFILE, KEYCLOAK_PROFILE } from "./fakes/presets.js";
import { captureLogs } from "./fakes/proxy-app.js";
import { FakeServer } from "./fakes/server.js";

const CLIENT = { clientId: "proxy-client", clientSecret: "proxy-secret" };
const REDIRECT_URI = "http://127.0.0.1:9/oauth/callback";

let keycloak: FakeOidc;
let html: FakeServer;

beforeAll(async () => {
  keycloak = await startFakeOidc(KEYCLOAK_PROFILE, { ...CLIENT, redirectUri: REDIRECT_URI });
  html = await FakeServer.start((_request, res) => {
    res.writeHead(200, { "content-type": "text/html" }).end("<html><body>Welcome</body></html>");
  });
});

afterAll(async () => {
  await keycloak.close();
  await html.close();
});

async function readyFailure(provider: { ready(): Promise<void> }): Promise<UpstreamError> {
  const error = await provider.ready().then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("ready() with a wrong issuer", () => {
  it("resolves for the right issuer", async () => {
    await expect(new KeycloakProvider({ ...CLIENT, realmUrl: keycloak.issuer }).ready()).resolves.toBeUndefined();
  });

  it("names a missing discovery document", async () => {
    const issuer = `${keycloak.url}/realms/acmee`;

    const error = await readyFailure(new KeycloakProvider({ ...CLIENT, realmUrl: issuer }));

    expect(error.failure).toBe("protocol");
    expect(error.message).toBe(
      `No discovery document was found at ${issuer}/.well-known/openid-configuration (HTTP 404), ` +
        `where the OpenID Provider configuration of issuer "${issuer}" was expected; check the issuer option or set discoveryUrl`,
    );
  });

  it("names a page that is not a discovery document", async () => {
    const error = await readyFailure(new OIDCProvider({ ...CLIENT, issuer: html.url }));

    expect(error.message).toBe(
      `${html.url}/.well-known/openid-configuration returned a body that is neither a JSON object nor form-encoded, ` +
        `where the OpenID Provider configuration of issuer "${html.url}" was expected as a JSON document; check the issuer option or set discoveryUrl`,
    );
  });

  it("names both issuers when they differ", async () => {
    const auth0 = await startFakeOidc(AUTH0_PROFILE, { ...CLIENT, redirectUri: REDIRECT_URI });
    try {
      const error = await readyFailure(new Auth0Provider({ ...CLIENT, domain: "example.eu.auth0.com", discoveryUrl: auth0.discoveryUrl }));

      expect(error.message).toContain(`The discovery document at ${auth0.discoveryUrl} names issuer "https://example.us.auth0.com/", but the issuer option is "https://example.eu.auth0.com/".`);
    } finally {
      await auth0.close();
    }
  });

  it("names an issuer nobody answers for", async () => {
    const issuer = `http://127.0.0.1:${await unusedPort()}/realms/acme`;

    const error = await readyFailure(new KeycloakProvider({ ...CLIENT, realmUrl: issuer }));

    expect(error.failure).toBe("unavailable");
    expect(error.message).toMatch(new RegExp(`^Could not fetch the OpenID Provider configuration of issuer "${issuer}" from ${issuer}/\\.well-known/openid-configuration: .*ECONNREFUSED`));
  });

  it("checks the signing keys too", async () => {
    const error = await readyFailure(new OIDCProvider({ ...CLIENT, issuer: keycloak.issuer, endpoints: { jwks: `${keycloak.url}/realms/acme/no-keys` } }));

    expect(error.message).toBe(`${keycloak.url}/realms/acme/no-keys rejected the request with error not_found (HTTP 404), where the provider's JSON Web Key Set was expected`);
  });

  it("Google names a wrong JWKS URL", async () => {
    const error = await readyFailure(new GoogleProvider({ ...CLIENT, endpoints: { jwks: `${html.url}/certs` } }));

    expect(error.message).toMatch(`${html.url}/certs returned a body that is neither a JSON object nor form-encoded, where the provider's JSON Web Key Set was expected`);
  });

  it("Entra names a wrong authority host", async () => {
    const error = await readyFailure(new AzureProvider({ ...CLIENT, tenant: "organizations", authorityHost: html.url }));

    expect(error.message).toMatch(`${html.url}/organizations/discovery/v2.0/keys returned a body that is neither`);
  });

  it("the same failure surfaces on first use", async () => {
    const issuer = `${keycloak.url}/realms/acmee`;
    const provider = new KeycloakProvider({ ...CLIENT, realmUrl: issuer });

    const error = await provider.authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: CHALLENGE, scopes: [] }).then(() => undefined, (reason: unknown) => reason);

    expect((error as Error).message).toMatch(`No discovery document was found at ${issuer}/.well-known/openid-configuration`);
  });
});

describe("a wrong issuer behind the proxy", () => {
  it("first sign-in logs the URL", async () => {
    const issuer = `${keycloak.url}/realms/acmee`;
    const before = keycloak.server.requests.length;
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const proxy = oauthProxy({ baseUrl, provider: new KeycloakProvider({ ...CLIENT, realmUrl: issuer }), secret: randomBytes(32), scopes: ["mcp:read"] });
    const app = express();
    app.use(proxy);
    server.on("request", app);

    try {
      expect(keycloak.server.requests.length).toBe(before);
      const metadata = await (await fetch(`${baseUrl}/.well-known/oauth-authorization-server`)).json() as Record<string, string>;
      const registration = await (await fetch(metadata.registration_endpoint as string, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none" }),
      })).json() as { client_id: string };
      const browser = new TestBrowser();
      const authorize = new URL(metadata.authorization_endpoint as string);
      for (const [name, value] of Object.entries({ response_type: "code", client_id: registration.client_id, redirect_uri: REDIRECT_URI, code_challenge: CHALLENGE, code_challenge_method: "S256", scope: "mcp:read" })) {
        authorize.searchParams.set(name, value);
      }
      const form = parseForm((await browser.get(authorize)).body, { buttonValue: "approve" });
      const action = new URL(form.action, authorize);
      expect(keycloak.server.requests.length).toBe(before);

      let approval: Awaited<ReturnType<TestBrowser["postForm"]>> | undefined;
      const lines = await captureLogs("mcp-oauth-proxy:proxy", async () => {
        approval = await browser.postForm(action, form.fields, { origin: action.origin });
      });

      expect(approval?.status).toBe(500);
      expect(approval?.location).toBeUndefined();
      expect(approval?.headers.get("content-type")).toMatch(/^text\/html/);
      expect(approval?.body).not.toContain(issuer);
      expect(keycloak.server.requests.slice(before).map((request) => request.path)).toEqual(["/realms/acmee/.well-known/openid-configuration"]);
      expect(lines.join("\n")).toContain(`No discovery document was found at ${issuer}/.well-known/openid-configuration (HTTP 404)`);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await proxy.close();
    }
  });
});
