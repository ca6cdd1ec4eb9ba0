import { describe, expect, it } from "vitest";
import { ClientIdSealer } from "../../lib/core/client-id.js";
import type { SealedClient } from "../../lib/core/client-id.js";

const OLD = Buffer.alloc(32, 1);
const NEW = Buffer.alloc(32, 2);
const CLIENT: SealedClient = {
  redirect_uris: ["http://127.0.0.1:3000/callback", "cursor://anysphere.cursor-retrieval/oauth/callback"],
  token_endpoint_auth_method: "client_secret_basic",
  grant_types: ["authorization_code", "refresh_token"],
  client_name: "Test client",
  client_id_issued_at: 1_700_000_000,
};

describe("ClientIdSealer", () => {
  it("round-trips a registration", () => {
    const sealer = new ClientIdSealer([OLD]);
    const clientId = sealer.seal(CLIENT);
    expect(clientId).toMatch(/^[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]+$/);
    expect(sealer.open(clientId)).toEqual(CLIENT);
  });

  it("hides the metadata", () => {
    const clientId = new ClientIdSealer([OLD]).seal(CLIENT);
    const decoded = Buffer.from(clientId.split(".")[1] as string, "base64url").toString("latin1");
    expect(decoded).not.toContain("127.0.0.1");
    expect(decoded).not.toContain("Test client");
  });

  it("gives each registration its own id", () => {
    const sealer = new ClientIdSealer([OLD]);
    expect(sealer.seal(CLIENT)).not.toBe(sealer.seal(CLIENT));
  });

  it("rejects tampered and foreign ids", () => {
    const sealer = new ClientIdSealer([OLD]);
    const clientId = sealer.seal(CLIENT);
    const [prefix, body] = clientId.split(".") as [string, string];
    const flipped = Buffer.from(body, "base64url");
    flipped[20] = (flipped[20] ?? 0) ^ 1;

    const cases = [
      `${prefix}.${flipped.toString("base64url")}`,
      `${prefix}.${body.slice(0, 30)}`,
      `${prefix}.`,
      `AAAAAAAA.${body}`,
      body,
      "",
      ".",
      "x".repeat(5000),
      new ClientIdSealer([NEW]).seal(CLIENT),
    ];
    for (const candidate of cases) {
      expect(sealer.open(candidate)).toBeUndefined();
    }
  });

  it("opens ids sealed under an older secret", () => {
    const clientId = new ClientIdSealer([OLD]).seal(CLIENT);
    const rotated = new ClientIdSealer([NEW, OLD]);
    expect(rotated.open(clientId)).toEqual(CLIENT);
    expect(rotated.seal(CLIENT).split(".")[0]).not.toBe(clientId.split(".")[0]);
  });

  it("verifies client secrets across a rotation", () => {
    const before = new ClientIdSealer([OLD]);
    const clientId = before.seal(CLIENT);
    const secret = before.clientSecret(clientId);
    const rotated = new ClientIdSealer([NEW, OLD]);

    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(rotated.verifyClientSecret(clientId, secret)).toBe(true);
    expect(rotated.verifyClientSecret(clientId, `${secret}x`)).toBe(false);
    expect(new ClientIdSealer([NEW]).verifyClientSecret(clientId, secret)).toBe(false);
  });
});
