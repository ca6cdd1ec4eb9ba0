import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Harness } from "../helpers/harness.js";
import type { TokenBody } from "../helpers/harness.js";

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start({ proxyOptions: { refreshGraceSeconds: 10 } });
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  await harness.close();
});

async function refresh(clientId: string, refreshToken: string): Promise<{ status: number; body: Partial<TokenBody> & { error?: string } }> {
  const response = await harness.token({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId });
  return { status: response.status, body: await response.json() as Partial<TokenBody> & { error?: string } };
}

async function mcpStatus(accessToken: string | undefined): Promise<number> {
  return (await harness.callMcp(`Bearer ${accessToken}`)).status;
}

describe("refresh grace window", () => {
  it("answers an immediate retry with the same successor", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);

    const first = await refresh(client.client_id, tokens.refresh_token);
    const retry = await refresh(client.client_id, tokens.refresh_token);
    expect(first.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.body.refresh_token).toBe(first.body.refresh_token);
    expect(retry.body.access_token).not.toBe(first.body.access_token);

    expect(await mcpStatus(first.body.access_token)).toBe(200);
    expect(await mcpStatus(retry.body.access_token)).toBe(200);
    const next = await refresh(client.client_id, first.body.refresh_token as string);
    expect(next.status).toBe(200);
  });

  it("gives parallel refreshes one successor", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);

    const results = await Promise.all([1, 2, 3].map(() => refresh(client.client_id, tokens.refresh_token)));
    expect(results.map((result) => result.status)).toEqual([200, 200, 200]);
    const successors = new Set(results.map((result) => result.body.refresh_token));
    expect(successors.size).toBe(1);

    const [successor] = [...successors] as [string];
    expect((await refresh(client.client_id, successor)).status).toBe(200);
  });
});

describe("S57 reuse of a rotated refresh token revokes the grant", () => {
  it("revokes the family after the grace window", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);
    const rotated = await refresh(client.client_id, tokens.refresh_token);
    expect(rotated.status).toBe(200);

    vi.setSystemTime(Date.now() + 11_000);
    const reuse = await refresh(client.client_id, tokens.refresh_token);
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe("invalid_grant");

    const successor = await refresh(client.client_id, rotated.body.refresh_token as string);
    expect(successor.status).toBe(400);
    expect(successor.body.error).toBe("invalid_grant");
    expect(await mcpStatus(rotated.body.access_token)).toBe(401);
    expect(await mcpStatus(tokens.access_token)).toBe(401);
  });

  it("revokes at once when the grace window is off", async () => {
    const strict = await Harness.start({ proxyOptions: { refreshGraceSeconds: 0 } });
    try {
      const client = await strict.register();
      const tokens = await strict.obtainTokens(client.client_id);
      const rotated = await (await strict.token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id })).json() as TokenBody;

      const reuse = await strict.token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id });
      expect(reuse.status).toBe(400);
      expect((await strict.callMcp(`Bearer ${rotated.access_token}`)).status).toBe(401);
    } finally {
      await strict.close();
    }
  });

  it("ignores a rotated token of another client", async () => {
    const client = await harness.register();
    const other = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);
    const rotated = await refresh(client.client_id, tokens.refresh_token);

    const foreign = await refresh(other.client_id, tokens.refresh_token);
    expect(foreign.status).toBe(400);
    expect(foreign.body.error).toBe("invalid_grant");
    expect(await mcpStatus(rotated.body.access_token)).toBe(200);
  });
});
