import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

import express from "express";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { OIDCProvider, oauthProxy } from "mcp-oauth-proxy";
import type { ClientIdMetadataDocumentOptions, OAuthProxy } from "mcp-oauth-proxy";
import { blockOutgoingTls, mapHosts, startDocumentServer } from "../helpers/document-server.js";
import type { DocumentServer } from "../helpers/document-server.js";
import { Harness, REDIRECT_URI } from "../helpers/harness.js";

const AS_METADATA_PATH = "/.well-known/oauth-authorization-server";

let documents: DocumentServer;
let lookup: ReturnType<typeof mapHosts>;
let harness: Harness;

beforeAll(async () => {
  documents = await startDocumentServer("app.example.com");
  // Test servers can only listen on 127.0.0.1, so this proxy may fetch from loopback; the S22 proxy may not.
  lookup = mapHosts({ "app.example.com": "127.0.0.1" });
  harness = await Harness.start({
    proxyOptions: { clientIdMetadataDocuments: { lookup, allowPrivateNetworks: true, ca: documents.ca, timeoutMs: 1000 } },
  });
});

afterAll(async () => {
  await harness.close();
  await documents.close();
});

afterEach(() => {
  vi.useRealTimers();
});

let documentCounter = 0;

/** Publishes a valid document (plus `extra` members) under a fresh path and returns its URL, the client_id. */
function publishClient(extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): string {
  const { path, clientId } = freshClientId();
  documents.publish(path, { body: { client_id: clientId, client_name: "Example app", redirect_uris: [REDIRECT_URI], ...extra }, headers });
  return clientId;
}

function freshClientId(): { path: string; clientId: string } {
  documentCounter += 1;
  const path = `/clients/${documentCounter}.json`;
  return { path, clientId: documents.origin + path };
}

function fetchCount(clientId: string): number {
  const path = new URL(clientId).pathname;
  return documents.requests.filter((entry) => entry.path === path).length;
}

/** Sends AUTHZ for `clientId` and checks that the upstream saw nothing when the response is an error page. */
async function authorize(clientId: string, overrides: Record<string, string | undefined> = {}, target: Harness | string = harness): Promise<{ response: Response; body: string }> {
  const upstreamBefore = harness.upstreamRequests.length;
  const url = harness.authorizeUrl(clientId, overrides);
  if (typeof target === "string") {
    const base = new URL(target);
    url.protocol = base.protocol;
    url.host = base.host;
    url.searchParams.set("resource", `${base.origin}/mcp`);
  }
  const response = await fetch(url, { redirect: "manual" });
  const body = await response.text();
  if (response.status !== 200) {
    expect(harness.upstreamRequests.length).toBe(upstreamBefore);
  }
  return { response, body };
}

/** ERRPAGE: 400, HTML, no Location. */
function expectErrorPage(result: { response: Response; body: string }, reason?: string): void {
  expect(result.response.status).toBe(400);
  expect(result.response.headers.get("content-type")).toMatch(/^text\/html/);
  expect(result.response.headers.get("location")).toBeNull();
  if (reason !== undefined) {
    expect(result.body).toContain(reason);
  }
}

function expectConsentPage(result: { response: Response; body: string }): void {
  expect(result.response.status).toBe(200);
  expect(result.response.headers.get("content-type")).toMatch(/^text\/html/);
  expect(result.body).toContain('name="csrf_token"');
}

/** Starts a bare app with only the proxy mounted, for configurations the demo does not use. */
async function startBareProxy(clientIdMetadataDocuments: boolean | ClientIdMetadataDocumentOptions): Promise<{ baseUrl: string; proxy: OAuthProxy; stop: () => Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const proxy = oauthProxy({
    baseUrl,
    provider: new OIDCProvider({
      name: "Unused upstream",
      issuer: harness.demo.upstream.issuer,
      clientId: "unused-client",
      clientSecret: "unused-secret",
    }),
    secret: randomBytes(32).toString("base64url"),
    scopes: ["mcp:read"],
    clientIdMetadataDocuments,
  });
  const app = express();
  app.use(proxy);
  server.on("request", app);
  return {
    baseUrl,
    proxy,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await proxy.close();
    },
  };
}

function decodeJwt(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("S11 client_id_metadata_document_supported matches the setting", () => {
  it("advertises the feature when enabled", async () => {
    const response = await fetch(harness.issuer + AS_METADATA_PATH);
    const body = await response.json() as Record<string, unknown>;

    expect(body.client_id_metadata_document_supported).toBe(true);
  });

  it("is enabled by default", () => {
    const proxy = oauthProxy({
      baseUrl: "https://mcp.example.com",
      provider: new OIDCProvider({ issuer: "https://idp.example.com", clientId: "c", clientSecret: "s" }),
      secret: randomBytes(32),
    });

    expect(proxy.metadata.client_id_metadata_document_supported).toBe(true);
  });

  it("shows an error page without fetching when turned off", async () => {
    const bare = await startBareProxy(false);
    try {
      const metadata = await (await fetch(bare.baseUrl + AS_METADATA_PATH)).json() as Record<string, unknown>;
      expect(metadata).not.toHaveProperty("client_id_metadata_document_supported");

      // An IP literal needs no lookup, and a fetch would show up on the document server.
      const clientId = `https://127.0.0.1:${documents.port}/clients/off.json`;
      documents.publish("/clients/off.json", { body: { client_id: clientId, client_name: "Off", redirect_uris: [REDIRECT_URI] } });
      const connectionsBefore = documents.connections;

      const result = await authorize(clientId, {}, bare.baseUrl);

      expectErrorPage(result, "unknown client_id");
      expect(documents.connections).toBe(connectionsBefore);
    } finally {
      await bare.stop();
    }
  });
});

describe("S19 client_id URL shape is checked before fetching", () => {
  const cases: Array<[string, (origin: string) => string, string]> = [
    ["http scheme", (origin) => `${origin.replace("https:", "http:")}/c.json`, "must start with https://"],
    ["no path", (origin) => origin, "must have a path"],
    ["a fragment", (origin) => `${origin}/c.json#f`, "must not contain a fragment"],
    ["user information", (origin) => origin.replace("https://", "https://u:p@") + "/c.json", "must not contain a user name or password"],
    ["a .. segment", (origin) => `${origin}/a/../c.json`, "path segments"],
    ["a . segment", (origin) => `${origin}/./c.json`, "path segments"],
    ["an encoded .. segment", (origin) => `${origin}/a/%2E%2E/c.json`, "path segments"],
  ];

  for (const [name, build, reason] of cases) {
    it(`rejects a client_id with ${name}`, async () => {
      const clientId = build(documents.origin);
      const lookupsBefore = lookup.queried.length;
      const connectionsBefore = documents.connections;

      const result = await authorize(clientId);

      expectErrorPage(result, reason);
      expect(lookup.queried.length).toBe(lookupsBefore);
      expect(documents.connections).toBe(connectionsBefore);
    });
  }
});

describe("S20 the fetched document is validated", () => {
  it("shows the consent page for a valid document", async () => {
    const result = await authorize(publishClient());

    expectConsentPage(result);
    expect(result.body).toContain("Example app");
  });

  it("rejects a document for another client_id", async () => {
    const { path, clientId } = freshClientId();
    documents.publish(path, { body: { client_id: `${documents.origin}/other.json`, client_name: "Other", redirect_uris: [REDIRECT_URI] } });

    expectErrorPage(await authorize(clientId), "its client_id is not the URL it was fetched from");
  });

  const invalid: Array<[string, Record<string, unknown>, string]> = [
    ["client_secret_post", { token_endpoint_auth_method: "client_secret_post" }, "needs a shared secret"],
    ["client_secret_basic", { token_endpoint_auth_method: "client_secret_basic" }, "needs a shared secret"],
    ["a client_secret", { client_secret: "s3cret" }, "contains a client_secret"],
    ["client_secret_expires_at", { client_secret_expires_at: 0 }, "contains a client_secret"],
    ["no client_name", { client_name: undefined }, "client_name must be a non-empty string"],
    ["no redirect_uris", { redirect_uris: undefined }, "redirect_uris must be a non-empty array"],
    ["a javascript: redirect URI", { redirect_uris: ["javascript:alert(1)"] }, "redirect_uris[0] is rejected"],
  ];

  for (const [name, extra, reason] of invalid) {
    it(`rejects a document with ${name}`, async () => {
      expectErrorPage(await authorize(publishClient(extra)), reason);
    });
  }

  it("rejects a body that is not JSON", async () => {
    const { path, clientId } = freshClientId();
    documents.publish(path, { body: "<html>not json</html>", headers: { "content-type": "text/html" } });

    expectErrorPage(await authorize(clientId), "it is not valid JSON");
  });

  it("rejects a JSON array", async () => {
    const { path, clientId } = freshClientId();
    documents.publish(path, { body: [] });

    expectErrorPage(await authorize(clientId), "it is not a JSON object");
  });
});

describe("S21 redirect_uri must be listed in the document", () => {
  it("rejects an unlisted redirect URI", async () => {
    const clientId = publishClient();

    expectErrorPage(await authorize(clientId, { redirect_uri: "https://evil.example/cb" }), "The redirect_uri is not registered");
  });

  it("rejects a listed loopback URI with another path", async () => {
    const clientId = publishClient();

    expectErrorPage(await authorize(clientId, { redirect_uri: "http://127.0.0.1:3000/other" }));
  });

  it("accepts a listed loopback URI on another port", async () => {
    const clientId = publishClient();

    expectConsentPage(await authorize(clientId, { redirect_uri: "http://127.0.0.1:54321/callback" }));
  });

  it("accepts a listed https redirect URI", async () => {
    const clientId = publishClient({ redirect_uris: ["https://app.example.com/callback", REDIRECT_URI] });

    expectConsentPage(await authorize(clientId, { redirect_uri: "https://app.example.com/callback" }));
  });
});

describe("S22 fetching is hardened", () => {
  let strict: Awaited<ReturnType<typeof startBareProxy>>;
  const strictLookup = mapHosts({
    "app.example.com": "127.0.0.1",
    "v6.example.com": "::1",
    "mapped.example.com": "::ffff:127.0.0.1",
    "internal.example.com": "10.0.0.1",
    "metadata.example.com": "169.254.169.254",
  });

  beforeAll(async () => {
    strict = await startBareProxy({ lookup: strictLookup, ca: documents.ca });
  });

  afterAll(async () => {
    await strict.stop();
  });

  const hosts: Array<[string, string]> = [
    ["127.0.0.1", "app.example.com"],
    ["::1", "v6.example.com"],
    ["::ffff:127.0.0.1", "mapped.example.com"],
    ["10.0.0.1", "internal.example.com"],
    ["169.254.169.254", "metadata.example.com"],
  ];

  for (const [address, host] of hosts) {
    it(`rejects a host resolving to ${address} without connecting`, async () => {
      const clientId = `https://${host}:${documents.port}/clients/private.json`;
      documents.publish("/clients/private.json", { body: { client_id: clientId, client_name: "Private", redirect_uris: [REDIRECT_URI] } });
      const connectionsBefore = documents.connections;
      // Every TLS connection attempt in this process fails before a packet is sent, so a broken check cannot reach 10.0.0.1.
      const guard = blockOutgoingTls();
      try {
        const result = await authorize(clientId, {}, strict.baseUrl);

        expectErrorPage(result, "its host is not on a public internet address");
        expect(guard.attempts).toBe(0);
      } finally {
        guard.restore();
      }
      expect(documents.connections).toBe(connectionsBefore);
      expect(strictLookup.queried.at(-1)).toBe(host);
    });
  }

  it("rejects a document larger than 5 KB", async () => {
    const clientId = publishClient({ padding: "x".repeat(5200) });

    expectErrorPage(await authorize(clientId), "larger than 5120 bytes");
  });

  it("rejects a 404", async () => {
    const { clientId } = freshClientId();

    expectErrorPage(await authorize(clientId), "the server responded with HTTP 404");
  });

  it("rejects a server that does not answer in time", async () => {
    const { path, clientId } = freshClientId();
    documents.publish(path, { hang: true });
    const started = Date.now();

    expectErrorPage(await authorize(clientId), "the request timed out after 1000 ms");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("does not follow a redirect", async () => {
    const target = publishClient();
    const { path, clientId } = freshClientId();
    documents.publish(path, { status: 301, headers: { location: target }, body: "" });

    expectErrorPage(await authorize(clientId), "which is not followed");
    expect(fetchCount(target)).toBe(0);
  });

  it("fetches again after a failure", async () => {
    const { path, clientId } = freshClientId();
    expectErrorPage(await authorize(clientId), "HTTP 404");

    documents.publish(path, { body: { client_id: clientId, client_name: "Published later", redirect_uris: [REDIRECT_URI] } });
    const result = await authorize(clientId);

    expectConsentPage(result);
    expect(result.body).toContain("Published later");
    expect(fetchCount(clientId)).toBe(2);
  });

  it("does not fetch again within max-age", async () => {
    const clientId = publishClient({}, { "cache-control": "max-age=60" });
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-03-01T12:00:00Z"));

    expectConsentPage(await authorize(clientId));
    vi.setSystemTime(new Date("2026-03-01T12:00:59Z"));
    expectConsentPage(await authorize(clientId));
    expect(fetchCount(clientId)).toBe(1);

    vi.setSystemTime(new Date("2026-03-01T12:01:01Z"));
    expectConsentPage(await authorize(clientId));
    expect(fetchCount(clientId)).toBe(2);
  });
});

describe("S36 consent page for a metadata document client", () => {
  it("shows the client_id host, the escaped name and the localhost warning", async () => {
    const clientId = publishClient({ client_name: "<script>x</script>" });

    const result = await authorize(clientId);

    expectConsentPage(result);
    expect(result.body).toMatch(new RegExp(`id="client-id-host"><strong>app\\.example\\.com:${documents.port}</strong>`));
    expect(result.body).toContain("&lt;script&gt;x&lt;/script&gt;");
    expect(result.body).not.toContain("<script>x</script>");
    expect(result.body).toContain('id="loopback-warning"');
    expect(result.body).toContain(REDIRECT_URI);
    expect(result.body).toContain("<code>mcp:read</code>");
  });

  it("leaves the host out for registered clients", async () => {
    const client = await harness.register();

    const result = await authorize(client.client_id);

    expectConsentPage(result);
    expect(result.body).not.toContain('id="client-id-host"');
  });
});

describe("metadata document clients at the token and revocation endpoints", () => {
  it("completes the flow as a public client", async () => {
    const clientId = publishClient();

    const tokens = await harness.obtainTokens(clientId);

    expect(decodeJwt(tokens.access_token).client_id).toBe(clientId);
    const mcp = await harness.callMcp(`Bearer ${tokens.access_token}`);
    expect(mcp.status).toBe(200);

    const refreshed = await harness.token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: clientId });
    expect(refreshed.status).toBe(200);
    const next = await refreshed.json() as { refresh_token: string };

    const revoked = await harness.revoke({ token: next.refresh_token, client_id: clientId });
    expect(revoked.status).toBe(200);
    const afterRevoke = await harness.token({ grant_type: "refresh_token", refresh_token: next.refresh_token, client_id: clientId });
    expect(afterRevoke.status).toBe(400);
    expect((await afterRevoke.json() as { error: string }).error).toBe("invalid_grant");
  });

  it("rejects a client secret from a metadata document client", async () => {
    const clientId = publishClient();
    const { code } = await harness.signIn(clientId);

    const response = await harness.token({ grant_type: "authorization_code", code, code_verifier: "x".repeat(43), client_id: clientId, client_secret: "guess" });

    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect((await response.json() as { error: string }).error).toBe("invalid_client");
  });

  it("answers invalid_client when the document cannot be fetched", async () => {
    const { clientId } = freshClientId();

    for (const response of [
      await harness.token({ grant_type: "authorization_code", code: "unknown", code_verifier: "x".repeat(43), client_id: clientId }),
      await harness.revoke({ token: "unknown", client_id: clientId }),
    ]) {
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await response.json()).toEqual({
        error: "invalid_client",
        error_description: `The client metadata document at ${clientId} could not be fetched: the server responded with HTTP 404.`,
      });
    }
  });
});
