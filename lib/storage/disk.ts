import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { link, open, readFile, readdir, rename, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";

import createDebug from "debug";

import { OptionError } from "../errors.js";
import { FileLock } from "./file-lock.js";
import type { Storage } from "./types.js";

const log = createDebug("mcp-oauth-proxy:storage");

/** Options for {@link DiskStore}. */
export interface DiskStoreOptions {
  /** Directory that contains one file per key. Created with mode 0700 if missing, and restricted to 0700 if it exists. */
  directory: string;
  /** Interval, in seconds, between sweeps that delete expired files. Default 60. */
  sweepIntervalSeconds?: number;
  /** Clock in milliseconds since the epoch, which tests replace to move time forward. */
  now?: () => number;
}

// A key's file is named after the base64url SHA-256 of the key, so key names (which may contain
// session ids) never appear on disk. Other files in the directory get `<hash>.<stamp>.<kind>`.
const ENTRY_NAME = /^[A-Za-z0-9_-]{43}$/;
const SCRATCH_NAME = /^[A-Za-z0-9_-]{43}\.(\d+)-[0-9a-f]+\.(tmp|take|expired|lock-claim|stale-lock)$/;
const LOCK_NAME = /^[A-Za-z0-9_-]{43}\.lock$/;
// A scratch file lives for the few milliseconds of one operation, so one this old was left by a crashed process.
const SCRATCH_MAX_AGE_MS = 10 * 60 * 1000;
const ADD_ATTEMPTS = 3;

interface Entry {
  value: unknown;
  /** Milliseconds since the epoch, or `Infinity` for no expiry. */
  expiresAt: number;
}

/**
 * Storage in files under one directory, for a single machine. State survives restarts and is
 * shared by every process that uses the same directory.
 *
 * Each write goes to a temporary file that is flushed with fsync and then renamed over the
 * key's file, so readers see the old or the new value and never a partial one. `take` claims
 * the file by renaming it to a unique name, which only one process can do. `add` hard-links a
 * complete temporary file to the key's name, which fails if the name exists. `increment` holds
 * a lock file (see {@link FileLock}). Expired files are ignored on read and deleted by a sweep
 * every `sweepIntervalSeconds`.
 *
 * Not for network file systems (NFS, SMB), where rename and link may not be atomic across
 * machines. After a power loss, the most recent writes, takes and deletes may be undone,
 * because directory changes are not flushed.
 *
 * @example
 * const storage = new DiskStore({ directory: "/var/lib/mcp-oauth-proxy" });
 */
export class DiskStore implements Storage {
  readonly #directory: string;
  readonly #now: () => number;
  readonly #sweepTimer: ReturnType<typeof setInterval>;
  readonly #lock: FileLock;
  #sweeping: Promise<void> | undefined;

  constructor(options: DiskStoreOptions) {
    const { directory, sweepIntervalSeconds = 60, now = () => Date.now() }: Partial<DiskStoreOptions> = options ?? {};
    if (typeof directory !== "string" || directory === "") {
      throw new OptionError("directory", directory, "Set DiskStore's directory to the path of a directory only this service uses.");
    }

    if (typeof sweepIntervalSeconds !== "number" || !Number.isSafeInteger(sweepIntervalSeconds) || sweepIntervalSeconds < 1) {
      throw new OptionError("sweepIntervalSeconds", sweepIntervalSeconds, "Set DiskStore's sweepIntervalSeconds to a positive integer, or leave it unset for the default.");
    }

    if (typeof now !== "function") {
      throw new OptionError("now", now, "Pass a function that returns the time in milliseconds, or leave now unset.");
    }

    this.#directory = resolve(directory);
    preparePrivateDirectory(this.#directory);
    this.#now = now;
    this.#lock = new FileLock(this.#directory, (hash, kind) => this.#scratchPath(hash, kind));
    this.#sweepTimer = setInterval(() => this.#startSweep(), sweepIntervalSeconds * 1000);
    // The sweep only frees disk space, so it must not keep the process alive on its own.
    this.#sweepTimer.unref();
  }

  /** Returns the value stored under `key`, or `undefined` when absent or expired. */
  async get(key: string): Promise<unknown> {
    const entry = await this.#read(this.#pathOf(hashKey(key)));
    return entry?.value;
  }

  /** Stores `value` under `key`, replacing any previous value and its TTL. Without `ttlSeconds` the entry never expires. */
  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    const hash = hashKey(key);
    const content = this.#encode(serialize(key, value), ttlSeconds);
    const temporary = await this.#writeScratch(hash, content);
    await renameOrCleanUp(temporary, this.#pathOf(hash));
  }

  /** Claims the file of `key` by renaming it, then reads and deletes it, so of concurrent calls from any number of processes only one gets the value. */
  async take(key: string): Promise<unknown> {
    const hash = hashKey(key);
    const claim = this.#scratchPath(hash, "take");
    try {
      await rename(this.#pathOf(hash), claim);
    } catch (error) {
      if (isCode(error, "ENOENT")) {
        return undefined;
      }
      throw error;
    }

    const entry = await this.#read(claim);
    await unlinkIfPresent(claim);
    return entry?.value;
  }

  /** Stores `value` only if `key` is absent or expired, and returns whether it was stored. */
  async add(key: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    const hash = hashKey(key);
    const content = this.#encode(serialize(key, value), requireTtl(ttlSeconds));
    const temporary = await this.#writeScratch(hash, content);
    try {
      return await this.#linkIfAbsent(hash, temporary);
    } finally {
      await unlinkIfPresent(temporary);
    }
  }

  /** Increments the counter under `key` and returns the new count. The first increment sets the TTL and later ones leave it unchanged. */
  async increment(key: string, ttlSeconds: number): Promise<number> {
    const hash = hashKey(key);
    const expiresAt = this.#expiryFor(requireTtl(ttlSeconds));
    return this.#lock.run(hash, async () => {
      const path = this.#pathOf(hash);
      const entry = await this.#read(path);
      const count = entry === undefined ? 1 : nextCount(key, entry.value);
      const content = formatEntry(String(count), entry === undefined ? expiresAt : entry.expiresAt);
      await renameOrCleanUp(await this.#writeScratch(hash, content), path);
      return count;
    });
  }

  /** Deletes `key`. Deleting an absent key is not an error. */
  async delete(key: string): Promise<void> {
    await unlinkIfPresent(this.#pathOf(hashKey(key)));
  }

  /** Stops the sweep timer and waits for a running sweep to finish. Files stay on disk. */
  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    await this.#sweeping;
  }

  /** Links the complete file `temporary` to the key's name. If an expired file is in the way, it is removed first. */
  async #linkIfAbsent(hash: string, temporary: string): Promise<boolean> {
    const path = this.#pathOf(hash);
    for (let attempt = 0; attempt < ADD_ATTEMPTS; attempt += 1) {
      try {
        await link(temporary, path);
        return true;
      } catch (error) {
        if (!isCode(error, "EEXIST")) {
          throw error;
        }
      }

      if (!(await this.#removeIfDead(hash))) {
        return false;
      }
    }

    // Other processes replaced the expired file every time, and a live value now exists or is being written.
    return false;
  }

  /**
   * Deletes the key's file if it is expired or unreadable, and returns whether the name is now free.
   *
   * A plain unlink could delete a fresh value that another process renamed into place after the
   * read. So the file is first moved to a unique name and checked again there. A fresh value
   * found there is linked back, unless an even newer one has taken the name meanwhile.
   */
  async #removeIfDead(hash: string): Promise<boolean> {
    const path = this.#pathOf(hash);
    if (await this.#isLive(path)) {
      return false;
    }

    const claim = this.#scratchPath(hash, "expired");
    try {
      await rename(path, claim);
    } catch (error) {
      if (isCode(error, "ENOENT")) {
        return true;
      }
      throw error;
    }

    let free = true;
    if (await this.#isLive(claim)) {
      free = false;
      await link(claim, path).catch((error: unknown) => {
        if (!isCode(error, "EEXIST")) {
          throw error;
        }
      });
    }

    await unlinkIfPresent(claim);
    return free;
  }

  async #isLive(path: string): Promise<boolean> {
    return (await this.#read(path)) !== undefined;
  }

  /** Returns the live entry in `path`, or `undefined` when the file is missing, expired or unreadable. */
  async #read(path: string): Promise<Entry | undefined> {
    let content: string;
    try {
      content = await readFile(path, "utf8");
    } catch (error) {
      if (isCode(error, "ENOENT")) {
        return undefined;
      }
      throw error;
    }

    const entry = parseEntry(content);
    if (entry === undefined) {
      // A file cut short by a crash, or written by another program, counts as absent until the sweep deletes it.
      log("disk unreadable file=%s", path);
      return undefined;
    }

    return entry.expiresAt <= this.#now() ? undefined : entry;
  }

  /** Writes `content` to a new scratch file, flushes it to disk, and returns its path. */
  async #writeScratch(hash: string, content: string): Promise<string> {
    const path = this.#scratchPath(hash, "tmp");
    const handle = await open(path, "wx", 0o600);
    try {
      await handle.writeFile(content, "utf8");
      await handle.sync();
    } catch (error) {
      await handle.close();
      await unlinkIfPresent(path);
      throw error;
    }

    await handle.close();
    return path;
  }

  #encode(json: string, ttlSeconds: number | undefined): string {
    return formatEntry(json, this.#expiryFor(ttlSeconds));
  }

  #expiryFor(ttlSeconds: number | undefined): number {
    if (ttlSeconds === undefined) {
      return Infinity;
    }

    return this.#now() + requireTtl(ttlSeconds) * 1000;
  }

  #pathOf(hash: string): string {
    return join(this.#directory, hash);
  }

  #scratchPath(hash: string, kind: string): string {
    return join(this.#directory, scratchName(hash, kind));
  }

  #startSweep(): void {
    if (this.#sweeping !== undefined) {
      return;
    }

    this.#sweeping = this.#sweep()
      .catch((error: unknown) => log("disk sweep failed error=%s", error instanceof Error ? error.message : String(error)))
      .finally(() => {
        this.#sweeping = undefined;
      });
  }

  async #sweep(): Promise<void> {
    const counts = { expired: 0, scratch: 0, locks: 0 };
    for (const name of await readdir(this.#directory)) {
      if (ENTRY_NAME.test(name)) {
        if (await this.#removeIfDead(name)) {
          counts.expired += 1;
        }
        continue;
      }

      const scratch = SCRATCH_NAME.exec(name);
      if (scratch !== null && Date.now() - Number(scratch[1]) > SCRATCH_MAX_AGE_MS) {
        await unlinkIfPresent(join(this.#directory, name));
        counts.scratch += 1;
        continue;
      }

      if (LOCK_NAME.test(name) && (await this.#lock.breakIfStale(name.slice(0, -".lock".length)))) {
        counts.locks += 1;
      }
    }

    if (counts.expired > 0 || counts.scratch > 0 || counts.locks > 0) {
      log("disk sweep expired=%d scratch=%d stale_locks=%d", counts.expired, counts.scratch, counts.locks);
    }
  }
}

/** Creates `directory` with mode 0700, or restricts an existing one to 0700, before any file is written. */
function preparePrivateDirectory(directory: string): void {
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    if ((statSync(directory).mode & 0o077) !== 0) {
      chmodSync(directory, 0o700);
      log("disk directory restricted to mode=0700 path=%s", directory);
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "EEXIST" || code === "ENOTDIR") {
      throw new OptionError("directory", directory, "The path or one of its parents is a file, not a directory. Choose another path.");
    }

    throw new OptionError("directory", directory, `It cannot be created or restricted to mode 0700 (${String(code)}). Choose a directory this process owns.`);
  }
}

function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("base64url");
}

/** Returns a unique file name for `hash`, with its creation time so the sweep can spot leftovers of crashed processes. */
function scratchName(hash: string, kind: string): string {
  return `${hash}.${Date.now()}-${randomBytes(6).toString("hex")}.${kind}`;
}

// The first line contains the expiry time, in milliseconds since the epoch or "never".
function formatEntry(json: string, expiresAt: number): string {
  return `expires=${expiresAt === Infinity ? "never" : String(expiresAt)}\n${json}`;
}

function parseEntry(content: string): Entry | undefined {
  const newline = content.indexOf("\n");
  const header = /^expires=(never|\d+(?:\.\d+)?)$/.exec(content.slice(0, newline));
  if (newline === -1 || header === null) {
    return undefined;
  }

  let value: unknown;
  try {
    value = JSON.parse(content.slice(newline + 1));
  } catch {
    return undefined;
  }

  return { value, expiresAt: header[1] === "never" ? Infinity : Number(header[1]) };
}

function nextCount(key: string, count: unknown): number {
  if (typeof count !== "number" || !Number.isSafeInteger(count)) {
    throw new TypeError(`Cannot increment ${JSON.stringify(key)} because its value is not a counter. Use a separate key for counters.`);
  }

  return count + 1;
}

async function renameOrCleanUp(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    await unlinkIfPresent(from);
    throw error;
  }
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if (!isCode(error, "ENOENT")) {
      throw error;
    }
  }
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}

function requireTtl(ttlSeconds: number): number {
  if (typeof ttlSeconds !== "number" || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`Invalid ttlSeconds ${String(ttlSeconds)}. Pass a positive number of seconds.`);
  }

  return ttlSeconds;
}

function serialize(key: string, value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw new TypeError(`Cannot store ${typeof value} under ${JSON.stringify(key)} because values must be JSON-serializable.`);
  }

  return json;
}
