import { createHash } from "node:crypto";

import express from "express";
import type { Request } from "express";
import session from "express-session";
import request from "supertest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { OptionError } from "../../lib/errors.js";
import { MemoryStore } from "../../lib/storage/memory.js";
import { StorageSessionStore } from "../../lib/storage/session-store.js";
import type { StorageSessionStoreOptions } from "../../lib/storage/session-store.js";
import type { Storage } from "../../lib/storage/types.js";

/** MemoryStore that records the key and TTL of every `set`. */
class RecordingStore extends MemoryStore {
  readonly writes: Array<{ key: string; ttlSeconds: number | undefined }> = [];

  override async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    this.writes.push({ key, ttlSeconds });
    await super.set(key, value, ttlSeconds);
  }
}

function sessionData(req: Request): Record<string, unknown> {
  return req.session as unknown as Record<string, unknown>;
}

function createApp(store: StorageSessionStore, cookie?: session.CookieOptions): express.Express {
  const app = express();
  app.use(session({ store, secret: "test-secret", resave: false, saveUninitialized: false, cookie }));
  app.get("/set", (req, res) => {
    sessionData(req).value = req.query.value;
    res.json({ ok: true });
  });
  app.get("/get", (req, res) => {
    res.json({ value: sessionData(req).value ?? null });
  });
  app.get("/destroy", (req, res, next) => {
    req.session.destroy((error: unknown) => (error === undefined || error === null ? res.json({ ok: true }) : next(error)));
  });
  return app;
}

function sessionCookie(response: request.Response): string {
  const header = response.headers["set-cookie"] as unknown as string[] | undefined;
  const cookie = header?.find((line) => line.startsWith("connect.sid="));
  if (cookie === undefined) {
    throw new Error("response sets no connect.sid cookie");
  }

  return cookie.split(";")[0] ?? "";
}

/** Extracts the session id from a signed `connect.sid=s:<sid>.<signature>` cookie. */
function sessionId(cookie: string): string {
  const signed = decodeURIComponent(cookie.slice("connect.sid=".length));
  return signed.slice(2, signed.lastIndexOf("."));
}

function sha256Base64url(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("base64url");
}

function waitForCallbacks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe("StorageSessionStore", () => {
  let storage: RecordingStore;

  beforeEach(() => {
    storage = new RecordingStore();
  });

  afterEach(async () => {
    await storage.close();
  });

  it("session round-trips between requests", async () => {
    const app = createApp(new StorageSessionStore(storage));

    const first = await request(app).get("/set?value=hello").expect(200);
    const cookie = sessionCookie(first);
    const second = await request(app).get("/get").set("Cookie", cookie).expect(200);

    expect(second.body).toEqual({ value: "hello" });
  });

  it("request without the cookie gets a new session", async () => {
    const app = createApp(new StorageSessionStore(storage));
    await request(app).get("/set?value=hello").expect(200);

    const response = await request(app).get("/get").expect(200);

    expect(response.body).toEqual({ value: null });
  });

  it("storage key is the hashed session id", async () => {
    const app = createApp(new StorageSessionStore(storage));

    const response = await request(app).get("/set?value=hello").expect(200);
    const sid = sessionId(sessionCookie(response));

    expect(sid.length).toBeGreaterThan(10);
    expect(storage.writes).toHaveLength(1);
    expect(storage.writes[0]?.key).toBe(`browser:${sha256Base64url(sid)}`);
    expect(storage.writes[0]?.key).not.toContain(sid);
    expect(await storage.get(sid)).toBeUndefined();
  });

  it("stored session is plain JSON", async () => {
    const app = createApp(new StorageSessionStore(storage), { maxAge: 60_000 });

    const response = await request(app).get("/set?value=hello").expect(200);
    const key = `browser:${sha256Base64url(sessionId(sessionCookie(response)))}`;
    const stored = (await storage.get(key)) as { value: string; cookie: Record<string, unknown> };

    expect(stored.value).toBe("hello");
    expect(stored.cookie.originalMaxAge).toBe(60_000);
    expect(typeof stored.cookie.expires).toBe("string");
  });

  it("custom prefix applies to keys", async () => {
    const app = createApp(new StorageSessionStore(storage, { prefix: "session:" }));

    const response = await request(app).get("/set?value=hello").expect(200);

    expect(storage.writes[0]?.key).toBe(`session:${sha256Base64url(sessionId(sessionCookie(response)))}`);
  });

  it("TTL follows the cookie maxAge", async () => {
    const app = createApp(new StorageSessionStore(storage), { maxAge: 120_000 });

    await request(app).get("/set?value=hello").expect(200);

    expect(storage.writes[0]?.ttlSeconds).toBe(120);
  });

  it("TTL defaults without cookie expiry", async () => {
    await request(createApp(new StorageSessionStore(storage))).get("/set?value=a").expect(200);
    await request(createApp(new StorageSessionStore(storage, { defaultTtlSeconds: 60 }))).get("/set?value=b").expect(200);

    expect(storage.writes.map((write) => write.ttlSeconds)).toEqual([900, 60]);
  });

  it("TTL follows an expires date", async () => {
    const store = new StorageSessionStore(storage);
    const cases: ReadonlyArray<[string, unknown, number]> = [
      ["future Date", new Date(Date.now() + 30_000), 30],
      ["future ISO string", new Date(Date.now() + 45_000).toISOString(), 45],
      ["past Date", new Date(Date.now() - 5_000), 1],
      ["invalid string", "not a date", 1],
    ];

    for (const [label, expires, ttlSeconds] of cases) {
      const errors: unknown[] = [];
      store.set(label, { cookie: { expires } } as unknown as session.SessionData, (error) => errors.push(error));
      await waitForCallbacks();

      expect(errors, label).toEqual([null]);
      expect(storage.writes.at(-1)?.ttlSeconds, label).toBe(ttlSeconds);
    }
  });

  it("destroy removes the session", async () => {
    const app = createApp(new StorageSessionStore(storage));
    const first = await request(app).get("/set?value=hello").expect(200);
    const cookie = sessionCookie(first);
    const key = `browser:${sha256Base64url(sessionId(cookie))}`;

    await request(app).get("/destroy").set("Cookie", cookie).expect(200);

    expect(await storage.get(key)).toBeUndefined();
    const after = await request(app).get("/get").set("Cookie", cookie).expect(200);
    expect(after.body).toEqual({ value: null });
  });

  it("touch stores again with the new TTL", async () => {
    const store = new StorageSessionStore(storage);
    const sess = { cookie: { originalMaxAge: 10_000, expires: new Date(Date.now() + 10_000) }, value: "kept" };
    const calls: unknown[] = [];

    store.touch("sid-1", sess as unknown as session.SessionData, (error) => calls.push(error));
    await waitForCallbacks();

    expect(calls).toEqual([null]);
    expect(storage.writes[0]).toEqual({ key: `browser:${sha256Base64url("sid-1")}`, ttlSeconds: 10 });
    expect(await storage.get(`browser:${sha256Base64url("sid-1")}`)).toMatchObject({ value: "kept" });
  });

  it("get passes null for a non-session value", async () => {
    const store = new StorageSessionStore(storage);
    await storage.set(`browser:${sha256Base64url("sid-1")}`, "not a session");
    await storage.set(`browser:${sha256Base64url("sid-2")}`, { cookie: "not an object" });

    for (const sid of ["sid-1", "sid-2", "absent"]) {
      const calls: unknown[][] = [];
      store.get(sid, (...args) => calls.push(args));
      await waitForCallbacks();

      expect(calls, sid).toEqual([[null, null]]);
    }
  });

  it("storage failures reach each callback once", async () => {
    const failure = new Error("storage unavailable");
    const failing: Storage = {
      get: () => Promise.reject(failure),
      set: () => {
        throw failure;
      },
      take: () => Promise.reject(failure),
      add: () => Promise.reject(failure),
      increment: () => Promise.reject(failure),
      delete: () => Promise.reject(failure),
    };
    const store = new StorageSessionStore(failing);
    const sess = { cookie: { originalMaxAge: null } } as unknown as session.SessionData;
    const calls: Record<string, unknown[][]> = { get: [], set: [], destroy: [], touch: [] };

    store.get("sid", (...args) => calls.get?.push(args));
    store.set("sid", sess, (...args) => calls.set?.push(args));
    store.destroy("sid", (...args) => calls.destroy?.push(args));
    store.touch("sid", sess, (...args) => calls.touch?.push(args));
    await waitForCallbacks();

    expect(calls).toEqual({ get: [[failure]], set: [[failure]], destroy: [[failure]], touch: [[failure]] });
  });

  it("storage failure without a callback is not thrown", async () => {
    const failing = { delete: () => Promise.reject(new Error("storage unavailable")) } as unknown as Storage;
    const store = new StorageSessionStore(failing);

    expect(() => store.destroy("sid")).not.toThrow();
    await waitForCallbacks();
  });

  it("storage failure makes the request fail", async () => {
    const app = createApp(new StorageSessionStore(storage));
    const cookie = sessionCookie(await request(app).get("/set?value=hello").expect(200));
    storage.get = () => Promise.reject(new Error("storage unavailable"));

    await request(app).get("/get").set("Cookie", cookie).expect(500);
  });

  it("constructor rejects invalid options", () => {
    const cases: ReadonlyArray<[Record<string, unknown>, string]> = [
      [{ prefix: 5 }, "Invalid option prefix: 5. Set the session store's prefix to a string such as \"browser:\"."],
      [{ defaultTtlSeconds: 0 }, "Invalid option defaultTtlSeconds: 0. Set the session store's defaultTtlSeconds to a positive integer number of seconds."],
      [{ defaultTtlSeconds: 1.5 }, "Invalid option defaultTtlSeconds: 1.5. Set the session store's defaultTtlSeconds to a positive integer number of seconds."],
      [{ defaultTtlSeconds: "900" }, "Invalid option defaultTtlSeconds: \"900\". Set the session store's defaultTtlSeconds to a positive integer number of seconds."],
    ];

    for (const [options, message] of cases) {
      let thrown: unknown;
      try {
        new StorageSessionStore(storage, options as StorageSessionStoreOptions);
      } catch (error) {
        thrown = error;
      }

      expect(thrown).toBeInstanceOf(OptionError);
      expect((thrown as OptionError).message).toBe(message);
    }
  });
});
