import { randomBytes } from "node:crypto";
import { format } from "node:util";

import createDebug from "debug";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { OptionError } from "../../lib/errors.js";
import { runStorageContract } from "../../lib/storage/contract.js";
import { EncryptedStore, isEncryptingStore } from "../../lib/storage/encrypted.js";
import type { EncryptionKey } from "../../lib/storage/encrypted.js";
import { MemoryStore } from "../../lib/storage/memory.js";
import type { Storage } from "../../lib/storage/types.js";

const keyA: EncryptionKey = { id: "key-a", key: randomBytes(32) };
const keyB: EncryptionKey = { id: "key-b", key: randomBytes(32) };

runStorageContract("EncryptedStore", () => new EncryptedStore(new MemoryStore(), [keyA]), { describe, it, expect, beforeEach, afterEach });

describe("EncryptedStore", () => {
  let inner: MemoryStore;
  let store: EncryptedStore;

  beforeEach(() => {
    inner = new MemoryStore();
    store = new EncryptedStore(inner, [keyA]);
  });

  afterEach(async () => {
    await store.close();
  });

  it("stored value is e1 ciphertext without the plaintext", async () => {
    await store.set("grant:1", { refresh_token: "plaintext-refresh-token" });

    const raw = await inner.get("grant:1");

    expect(typeof raw).toBe("string");
    expect(raw).toMatch(/^e1\.key-a\.[A-Za-z0-9_-]+$/);
    expect(raw).not.toContain("plaintext-refresh-token");
    expect(Buffer.from((raw as string).split(".")[2] ?? "", "base64url").toString("latin1")).not.toContain("plaintext-refresh-token");
  });

  it("same value encrypts differently each time", async () => {
    await store.set("first", "same value");
    await store.set("second", "same value");

    expect(await inner.get("first")).not.toBe(await inner.get("second"));
  });

  it("add and take encrypt and decrypt", async () => {
    expect(await store.add("code:1", { code_verifier: "x" }, 60)).toBe(true);

    expect(await inner.get("code:1")).toMatch(/^e1\.key-a\./);
    expect(await store.take("code:1")).toEqual({ code_verifier: "x" });
    expect(await inner.get("code:1")).toBeUndefined();
  });

  it("counters stay plain numbers", async () => {
    await store.increment("attempts", 60);
    await store.increment("attempts", 60);

    expect(await inner.get("attempts")).toBe(2);
    expect(await store.get("attempts")).toBeUndefined();
  });

  it("undecryptable values read as absent", async () => {
    await store.set("k", { secret: "value" });
    const raw = (await inner.get("k")) as string;
    const [, , payload = ""] = raw.split(".");
    const sealed = Buffer.from(payload, "base64url");
    const flipByte = (offset: number): string => {
      const copy = Buffer.from(sealed);
      copy[offset] = (copy[offset] ?? 0) ^ 0x01;
      return `e1.key-a.${copy.toString("base64url")}`;
    };

    const cases: ReadonlyArray<[string, unknown]> = [
      ["flipped IV byte", flipByte(0)],
      ["flipped ciphertext byte", flipByte(12)],
      ["flipped tag byte", flipByte(sealed.length - 1)],
      ["truncated tag", `e1.key-a.${sealed.subarray(0, sealed.length - 1).toString("base64url")}`],
      ["IV and tag only", `e1.key-a.${sealed.subarray(0, 28).toString("base64url")}`],
      ["unknown key id", raw.replace("e1.key-a.", "e1.key-z.")],
      ["other version", raw.replace("e1.", "e2.")],
      ["missing key id", `e1.${payload}`],
      ["empty string", ""],
      ["plain JSON object", { secret: "value" }],
      ["number", 7],
    ];

    for (const [label, tampered] of cases) {
      await inner.set("k", tampered);
      expect(await store.get("k"), label).toBeUndefined();
      expect(await store.take("k"), label).toBeUndefined();
    }
  });

  it("value copied under another key reads as absent", async () => {
    await store.set("grant:alice", { user: "alice" });

    await inner.set("grant:mallory", await inner.get("grant:alice"));

    expect(await store.get("grant:mallory")).toBeUndefined();
    expect(await store.get("grant:alice")).toEqual({ user: "alice" });
  });

  it("rotation reads old keys and writes with the first", async () => {
    await store.set("old", "written with A");

    const rotated = new EncryptedStore(inner, [keyB, keyA]);
    expect(await rotated.get("old")).toBe("written with A");

    await rotated.set("new", "written with B");
    expect(await inner.get("new")).toMatch(/^e1\.key-b\./);
    expect(await store.get("new")).toBeUndefined();

    const onlyB = new EncryptedStore(inner, [keyB]);
    expect(await onlyB.get("old")).toBeUndefined();
    expect(await onlyB.get("new")).toBe("written with B");
  });

  it("same key id with other bytes cannot decrypt", async () => {
    await store.set("k", "value");

    const impostor = new EncryptedStore(inner, [{ id: "key-a", key: randomBytes(32) }]);

    expect(await impostor.get("k")).toBeUndefined();
  });

  it("decrypt failure logs the key name only", async () => {
    const lines: string[] = [];
    let raw = "";
    const originalLog = createDebug.log;
    const originalNamespaces = createDebug.disable();
    createDebug.enable("mcp-oauth-proxy:storage");
    createDebug.log = (...args: unknown[]): void => {
      lines.push(format(...args));
    };

    try {
      await store.set("grant:7", "secret-payload");
      raw = (await inner.get("grant:7")) as string;
      await inner.set("grant:8", raw);

      expect(await store.get("grant:8")).toBeUndefined();
    } finally {
      createDebug.log = originalLog;
      createDebug.enable(originalNamespaces);
    }

    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("decrypt failed key=grant:8 reason=authentication_failed");
    expect(lines[0]).not.toContain("secret-payload");
    expect(lines[0]).not.toContain(raw.slice("e1.key-a.".length));
  });

  it("set rejects values JSON cannot represent", async () => {
    await expect(store.set("k", undefined)).rejects.toThrow(new TypeError('Cannot store undefined under "k" because values must be JSON-serializable.'));
  });

  it("close closes the inner store", async () => {
    await store.set("k", "value");

    await store.close();

    expect(inner.size).toBe(0);
  });

  it("isEncryptingStore detects encrypting stores", () => {
    const custom: Storage = { ...inner, encryptsValues: true } as unknown as Storage;

    expect(isEncryptingStore(store)).toBe(true);
    expect(isEncryptingStore(inner)).toBe(false);
    expect(isEncryptingStore(custom)).toBe(true);
  });

  it("constructor rejects invalid keys", () => {
    const cases: ReadonlyArray<[unknown, string]> = [
      [[], "Invalid option keys: []. Pass an array with at least one { id, key } entry, the encrypting key first."],
      [undefined, "Invalid option keys: undefined. Pass an array with at least one { id, key } entry, the encrypting key first."],
      [[{ id: "a", key: randomBytes(16) }], "Invalid option keys[0].key: \"(redacted)\". Pass a Buffer of 32 random bytes instead of a 16-byte Buffer, for example crypto.randomBytes(32)."],
      [[{ id: "a", key: "0".repeat(32) }], "Invalid option keys[0].key: \"(redacted)\". Pass a Buffer of 32 random bytes instead of a string, for example crypto.randomBytes(32)."],
      [[{ id: "a" }], "Invalid option keys[0].key: \"(redacted)\". Pass a Buffer of 32 random bytes instead of nothing, for example crypto.randomBytes(32)."],
      [[{ id: "a.b", key: randomBytes(32) }], "Invalid option keys[0].id: \"a.b\". Use a non-empty id made of letters, digits, '_' and '-'."],
      [[{ id: "", key: randomBytes(32) }], "Invalid option keys[0].id: \"\". Use a non-empty id made of letters, digits, '_' and '-'."],
      [[keyA, { id: "key-a", key: randomBytes(32) }], "Invalid option keys[1].id: \"key-a\". Give every key a different id."],
      [[keyA, null], "Invalid option keys[1].id: undefined. Use a non-empty id made of letters, digits, '_' and '-'."],
    ];

    for (const [keys, message] of cases) {
      let thrown: unknown;
      try {
        new EncryptedStore(inner, keys as EncryptionKey[]);
      } catch (error) {
        thrown = error;
      }

      expect(thrown).toBeInstanceOf(OptionError);
      expect((thrown as OptionError).message).toBe(message);
    }
  });
});
