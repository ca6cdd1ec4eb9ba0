import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Harness, REDIRECT_URI, VERIFIER } from "../helpers/harness.js";
import type { TokenBody } from "../helpers/harness.js";

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness.close();
});

function codeRequest(code: string, fields: Record<string, string> = {}): Record<string, string> {
  return { grant_type: "authorization_code", code, code_verifier: VERIFIER, redirect_uri: REDIRECT_URI, ...fields };
}

async function expectInvalidClient(response: Response): Promise<void> {
  const body = await response.json() as Record<string, unknown>;

  expect(response.status, JSON.stringify(body)).toBe(401);
  expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(response.headers.get("www-authenticate")).toMatch(/^Basic realm="/);
  expect(body.error).toBe("invalid_client");
}

async function registerPost(): Promise<{ clientId: string; secret: string; body: Record<string, unknown> }> {
  const response = await harness.postJson(harness.metadata.registration_endpoint as string, {
    redirect_uris: [REDIRECT_URI],
    token_endpoint_auth_method: "client_secret_post",
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    client_name: "Confidential client",
  });
  expect(response.status).toBe(201);
  expect(response.headers.get("cache-control")).toBe("no-store");
  const body = await response.json() as Record<string, unknown>;
  return { clientId: body.client_id as string, secret: body.client_secret as string, body };
}

describe("client secrets", () => {
  it("public client never gets a secret", async () => {
    const client = await harness.register({ token_endpoint_auth_method: "none" });

    expect(client.token_endpoint_auth_method).toBe("none");
    expect(client).not.toHaveProperty("client_secret");
    expect(client).not.toHaveProperty("client_secret_expires_at");

    const { code } = await harness.signIn(client.client_id);
    // A secret the client was never given is wrong by definition.
    await expectInvalidClient(await harness.token(codeRequest(code, { client_id: client.client_id, client_secret: "made-up" })));
    const redeemed = await harness.token(codeRequest(code, { client_id: client.client_id }));
    expect(redeemed.status).toBe(200);
    expect(await redeemed.json()).not.toHaveProperty("client_secret");
  });

  it("client_secret_post gets a real secret", async () => {
    const first = await registerPost();
    const second = await registerPost();

    expect(first.body.token_endpoint_auth_method).toBe("client_secret_post");
    expect(first.body.client_secret_expires_at).toBe(0);
    // At least 128 bits of base64url, so the secret cannot be guessed (OAuth 2.1 §7.7).
    expect(first.secret).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(first.secret).not.toBe(second.secret);
    expect(first.secret).not.toContain(first.clientId);

    const { code } = await harness.signIn(first.clientId);
    const response = await harness.token(codeRequest(code, { client_id: first.clientId, client_secret: first.secret }));
    expect(response.status).toBe(200);
  });

  it("token endpoint requires the secret", async () => {
    const { clientId, secret } = await registerPost();
    const { code } = await harness.signIn(clientId);

    await expectInvalidClient(await harness.token(codeRequest(code, { client_id: clientId })));
    await expectInvalidClient(await harness.token(codeRequest(code, { client_id: clientId, client_secret: `${secret}x` })));

    const redeemed = await harness.token(codeRequest(code, { client_id: clientId, client_secret: secret }));
    expect(redeemed.status).toBe(200);
    const tokens = await redeemed.json() as TokenBody;
    await expectInvalidClient(await harness.token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: clientId }));
    await expectInvalidClient(await harness.revoke({ token: tokens.refresh_token, client_id: clientId }));
    expect((await harness.callMcp(`Bearer ${tokens.access_token}`)).status).toBe(200);
  });
});
