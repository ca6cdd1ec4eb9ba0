import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryStore } from "mcp-oauth-proxy";
import { TestBrowser } from "../examples/demo/browser.js";
import { Harness } from "./helpers/harness.js";

/** A real in-memory store that can be switched to fail every call, as a store does during an outage. */
class FlakyStore extends MemoryStore {
  down = false;

  override async get(key: string): Promise<unknown> {
    this.#check();
    return super.get(key);
  }

  override async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    this.#check();
    return super.set(key, value, ttlSeconds);
  }

  override async take(key: string): Promise<unknown> {
    this.#check();
    return super.take(key);
  }

  #check(): void {
    if (this.down) {
      throw new Error("connect ECONNREFUSED 127.0.0.1:6379");
    }
  }
}

describe("storage outage", () => {
  const store = new FlakyStore();
  let harness: Harness;
  let accessToken: string;
  let clientId: string;

  beforeAll(async () => {
    harness = await Harness.start({ storage: store });
    const client = await harness.register();
    clientId = client.client_id;
    accessToken = (await harness.obtainTokens(clientId)).access_token;
    store.down = true;
  });
  afterAll(async () => {
    await harness.close();
    await store.close();
  });

  it("answers bearer() with 503", async () => {
    const response = await harness.callMcp(`Bearer ${accessToken}`);
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("30");
    expect(await response.json()).toEqual({ error: "temporarily_unavailable", error_description: "The server's storage is unavailable; try again later" });
  });

  it("answers the token endpoint with 503", async () => {
    const response = await harness.token({ grant_type: "refresh_token", refresh_token: "x", client_id: clientId });
    expect(response.status).toBe(503);
    const body = await response.json() as { error: string; error_description: string };
    expect(body.error).toBe("temporarily_unavailable");
    expect(body.error_description).not.toContain("ECONNREFUSED");
  });

  it("shows a 503 page at authorize", async () => {
    const page = await new TestBrowser().get(harness.authorizeUrl(clientId));
    expect(page.status).toBe(503);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.body).not.toContain("ECONNREFUSED");
    expect(page.location).toBeUndefined();
  });
});
