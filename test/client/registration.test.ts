import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Discovery } from "../../lib/client/discovery.js";
import { chooseClient } from "../../lib/client/registration.js";
import type { ClientChoice } from "../../lib/client/registration.js";
import { Harness } from "../helpers/harness.js";

const CIMD_URL = "https://app.example.com/oauth/client.json";

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness.close();
});

function discovery(metadata: Partial<NonNullable<Discovery["metadata"]>>, registration: string | undefined): Discovery {
  return {
    authorizationServer: "https://as.example.com",
    resource: "https://mcp.example.com/mcp",
    resourceMetadata: undefined,
    metadata: {
      issuer: "https://as.example.com",
      authorization_endpoint: "https://as.example.com/authorize",
      token_endpoint: "https://as.example.com/token",
      ...metadata,
    },
    endpoints: { authorization: "https://as.example.com/authorize", token: "https://as.example.com/token", registration, revocation: undefined },
  };
}

// A fetch that fails the test if the choice sends any request.
function choice(overrides: Partial<ClientChoice>): ClientChoice {
  return {
    preRegistered: undefined,
    stored: undefined,
    clientMetadataUrl: undefined,
    registrationMetadata: {},
    fetch: () => Promise.reject(new Error("unexpected request")),
    ...overrides,
  };
}

describe("chooseClient", () => {
  it("prefers pre-registered credentials over everything else", async () => {
    const client = await chooseClient(discovery({ client_id_metadata_document_supported: true }, "https://as.example.com/register"), choice({
      preRegistered: { clientId: "pre", clientSecret: "s3cret" },
      stored: { client_id: "stored", kind: "dynamic" },
      clientMetadataUrl: CIMD_URL,
    }));

    expect(client).toEqual({ client_id: "pre", client_secret: "s3cret", kind: "pre-registered" });
  });

  it("reuses a stored registration before registering again", async () => {
    const client = await chooseClient(discovery({}, "https://as.example.com/register"), choice({ stored: { client_id: "stored", kind: "dynamic" } }));

    expect(client.client_id).toBe("stored");
  });

  it("sends the metadata document URL when the server supports it", async () => {
    const client = await chooseClient(discovery({ client_id_metadata_document_supported: true }, "https://as.example.com/register"), choice({ clientMetadataUrl: CIMD_URL }));

    expect(client).toEqual({ client_id: CIMD_URL, token_endpoint_auth_method: "none", kind: "metadata-document" });
  });

  it("registers dynamically when the server does not support metadata documents", async () => {
    const client = await chooseClient(discovery({}, harness.metadata.registration_endpoint), choice({
      clientMetadataUrl: CIMD_URL,
      registrationMetadata: { client_name: "CLI", redirect_uris: ["http://127.0.0.1/callback"], token_endpoint_auth_method: "none" },
      fetch,
    }));

    expect(client.kind).toBe("dynamic");
    expect(client.client_id).toEqual(expect.any(String));
    expect(client.client_id).not.toBe(CIMD_URL);
    expect(client.token_endpoint_auth_method).toBe("none");
  });

  it("registers again when the stored secret expired", async () => {
    const client = await chooseClient(discovery({}, harness.metadata.registration_endpoint), choice({
      stored: { client_id: "old", client_secret: "s", client_secret_expires_at: 1, kind: "dynamic" },
      registrationMetadata: { client_name: "CLI", redirect_uris: ["http://127.0.0.1/callback"], token_endpoint_auth_method: "none" },
      fetch,
    }));

    expect(client.client_id).not.toBe("old");
    expect(client.kind).toBe("dynamic");
  });

  it("explains how to configure a client when no way is left", async () => {
    const failure = chooseClient(discovery({}, undefined), choice({}));

    await expect(failure).rejects.toMatchObject({
      code: "ERR_MCP_OAUTH_CLIENT_REGISTRATION",
      message: "The authorization server https://as.example.com offers no dynamic client registration and no client ID metadata documents; register a client there and pass its clientId (and clientSecret) to OAuthClient.",
    });
  });

  it("reports the server's registration error", async () => {
    const failure = chooseClient(discovery({}, harness.metadata.registration_endpoint), choice({
      registrationMetadata: { client_name: "CLI", redirect_uris: ["http://app.example.com/callback"] },
      fetch,
    }));

    await expect(failure).rejects.toMatchObject({
      code: "ERR_MCP_OAUTH_CLIENT_REGISTRATION",
      oauthError: "invalid_redirect_uri",
      message: expect.stringMatching(new RegExp(`^Dynamic client registration at ${harness.metadata.registration_endpoint} failed: invalid_redirect_uri \\(".+"\\)\\.$`)),
    });
  });
});
