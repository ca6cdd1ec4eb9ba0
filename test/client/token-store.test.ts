import { copyFile, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defaultTokenDirectory, FileTokenStore, MemoryTokenStore } from "../../lib/client/index.js";
import type { StoredCredentials } from "../../lib/client/index.js";

const SERVER = "https://mcp.example.com/mcp";
const OTHER = "https://other.example.com/mcp";
const CREDENTIALS: StoredCredentials = {
  authorizationServer: "https://mcp.example.com",
  client: { client_id: "client-1", kind: "dynamic" },
  tokens: { access_token: "secret-access-token", token_type: "Bearer", refresh_token: "secret-refresh-token", expires_at: 1_900_000_000 },
  tokenEndpoint: "https://mcp.example.com/oauth/token",
};

let directory: string;

beforeEach(async () => {
  directory = join(await mkdtemp(join(tmpdir(), "token-store-")), "nested");
});

afterEach(async () => {
  await rm(join(directory, ".."), { recursive: true, force: true });
});

describe("FileTokenStore", () => {
  it("round-trips credentials per server", async () => {
    const store = new FileTokenStore({ directory });

    await store.set(SERVER, CREDENTIALS);

    expect(await store.get(SERVER)).toEqual(CREDENTIALS);
    expect(await store.get(OTHER)).toBeUndefined();
    expect(await new FileTokenStore({ directory }).get(SERVER)).toEqual(CREDENTIALS);
  });

  it("writes encrypted files only the user can read", async () => {
    const store = new FileTokenStore({ directory });
    await store.set(SERVER, CREDENTIALS);

    const contents = await readFile(store.pathOf(SERVER), "utf8");

    expect(contents).not.toContain("secret-access-token");
    expect(contents).not.toContain("client-1");
    expect((await stat(store.pathOf(SERVER))).mode & 0o777).toBe(0o600);
    expect((await stat(join(directory, "key"))).mode & 0o777).toBe(0o600);
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
  });

  it("does not decrypt a file copied to another server's name", async () => {
    const store = new FileTokenStore({ directory });
    await store.set(SERVER, CREDENTIALS);

    await copyFile(store.pathOf(SERVER), store.pathOf(OTHER));

    expect(await store.get(OTHER)).toBeUndefined();
  });

  it("treats files under another key as absent", async () => {
    await new FileTokenStore({ directory, key: "k".repeat(32) }).set(SERVER, CREDENTIALS);

    expect(await new FileTokenStore({ directory, key: "z".repeat(32) }).get(SERVER)).toBeUndefined();
    expect(await new FileTokenStore({ directory, key: "k".repeat(32) }).get(SERVER)).toEqual(CREDENTIALS);
  });

  it("deletes a server's file", async () => {
    const store = new FileTokenStore({ directory });
    await store.set(SERVER, CREDENTIALS);

    await store.delete(SERVER);
    await store.delete(SERVER);

    expect(await store.get(SERVER)).toBeUndefined();
  });

  it("rejects a short key", () => {
    expect(() => new FileTokenStore({ directory, key: "short" })).toThrow(/Invalid option key: .*32 bytes or more/);
  });

  it("creates one key when two stores start at once", async () => {
    const stores = [new FileTokenStore({ directory }), new FileTokenStore({ directory })];

    await Promise.all(stores.map((store, index) => store.set(`${SERVER}/${index}`, CREDENTIALS)));

    expect(await stores[0]?.get(`${SERVER}/1`)).toEqual(CREDENTIALS);
    expect(await stores[1]?.get(`${SERVER}/0`)).toEqual(CREDENTIALS);
  });
});

describe("defaultTokenDirectory", () => {
  it("follows each platform's convention", () => {
    expect(defaultTokenDirectory("app", "linux", { XDG_CONFIG_HOME: "/xdg" })).toBe("/xdg/app");
    expect(defaultTokenDirectory("app", "linux", {})).toBe(join(homedir(), ".config", "app"));
    expect(defaultTokenDirectory("app", "linux", { XDG_CONFIG_HOME: "relative" })).toBe(join(homedir(), ".config", "app"));
    expect(defaultTokenDirectory("app", "darwin", {})).toBe(join(homedir(), "Library", "Application Support", "app"));
    expect(defaultTokenDirectory("app", "win32", { APPDATA: "/appdata" })).toBe(join("/appdata", "app"));
    expect(defaultTokenDirectory(undefined, "linux", { XDG_CONFIG_HOME: "/xdg" })).toBe("/xdg/mcp-oauth-proxy");
  });
});

describe("MemoryTokenStore", () => {
  it("returns copies", async () => {
    const store = new MemoryTokenStore();
    await store.set(SERVER, CREDENTIALS);

    const read = await store.get(SERVER);
    delete read?.tokens;

    expect((await store.get(SERVER))?.tokens?.access_token).toBe("secret-access-token");
  });
});
