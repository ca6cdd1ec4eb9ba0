import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "mcp-oauth-proxy";
import { startSharedUpstream } from "../../examples/demo/app.js";
import type { SharedUpstream } from "../../examples/demo/app.js";
import { parseForm, signInAtUpstream, TestBrowser } from "../../examples/demo/browser.js";
import { Balancer } from "../../examples/multi-instance/balancer.js";
import { Harness, REDIRECT_URI, VERIFIER } from "../helpers/harness.js";
import type { TokenBody } from "../helpers/harness.js";
import { freePort } from "../helpers/ports.js";
import { REDIS_URL, redisKeyPrefix } from "../helpers/redis.js";

const A = 0;
const B = 1;

describe("two instances behind one Redis", () => {
  const secret = randomBytes(32).toString("base64url");
  const keyPrefix = redisKeyPrefix("two-instances");
  let balancer: Balancer;
  let upstream: SharedUpstream;
  let instances: Harness[];
  const stores: RedisStore[] = [];

  beforeAll(async () => {
    balancer = await Balancer.start();
    upstream = await startSharedUpstream([`${balancer.url}/oauth/callback`]);
    const ports = [await freePort(), await freePort()];
    balancer.targets.push(...ports.map((port) => `http://127.0.0.1:${port}`));

    instances = [];
    for (const [index, port] of ports.entries()) {
      const storage = new RedisStore({ url: REDIS_URL, keyPrefix });
      stores.push(storage);
      balancer.current = index;
      instances.push(await Harness.start({ port, secret, upstream, storage, publicUrl: balancer.url }));
    }
  });
  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.close()));
    await Promise.all(stores.map((store) => store.close()));
    await upstream.server.close();
    await balancer.close();
  });

  /** Signs in with consent on A and the upstream callback on B, then redeems the code on B. */
  async function signInAcrossInstances(clientId: string): Promise<TokenBody> {
    const browser = new TestBrowser();
    const first = instances[A] as Harness;
    balancer.current = A;
    const consent = await browser.get(first.authorizeUrl(clientId));
    expect(consent.status).toBe(200);
    const form = parseForm(consent.body, { buttonValue: "approve" });
    const action = new URL(form.action, balancer.url);
    const approved = await browser.postForm(action, form.fields, { origin: balancer.url });
    expect(approved.status).toBe(303);

    balancer.current = B;
    const callback = await signInAtUpstream(browser, approved.location as string, "alice", {
      stopAt: (url) => url.href.startsWith(REDIRECT_URI),
    });
    const response = await first.token({
      grant_type: "authorization_code",
      code: callback.searchParams.get("code") as string,
      code_verifier: VERIFIER,
      client_id: clientId,
    });
    expect(response.status).toBe(200);
    return await response.json() as TokenBody;
  }

  it("completes a sign-in that hops between instances", async () => {
    balancer.current = A;
    const client = await (instances[A] as Harness).register();
    const tokens = await signInAcrossInstances(client.client_id);

    balancer.current = A;
    expect((await (instances[A] as Harness).callMcp(`Bearer ${tokens.access_token}`)).status).toBe(200);

    balancer.current = B;
    const revoked = await (instances[B] as Harness).revoke({ token: tokens.refresh_token, client_id: client.client_id });
    expect(revoked.status).toBe(200);

    balancer.current = A;
    const refused = await (instances[A] as Harness).callMcp(`Bearer ${tokens.access_token}`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });

  it("keeps one token family for a refresh raced on both", async () => {
    balancer.current = A;
    const client = await (instances[A] as Harness).register();
    const tokens = await signInAcrossInstances(client.client_id);

    const fields = new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id });
    const responses = await Promise.all(instances.map((instance) => fetch(`${instance.demo.localUrl}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: fields,
    })));
    const bodies = await Promise.all(responses.map(async (response) => ({ status: response.status, body: await response.json() as Partial<TokenBody> & { error?: string } })));
    const successes = bodies.filter((result) => result.status === 200);
    const successors = new Set(successes.map((result) => result.body.refresh_token));

    expect(successes.length).toBeGreaterThanOrEqual(1);
    expect(successors.size).toBe(1);
    for (const failure of bodies.filter((result) => result.status !== 200)) {
      expect(failure.body.error).toBe("invalid_grant");
    }

    const [successor] = [...successors] as [string];
    const next = await (instances[B] as Harness).token({ grant_type: "refresh_token", refresh_token: successor, client_id: client.client_id });
    expect(next.status).toBe(200);
    const again = await (instances[A] as Harness).token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id });
    expect(again.status).toBe(400);
  });
});
