import { randomBytes } from "node:crypto";
import { link, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

import createDebug from "debug";

const log = createDebug("mcp-oauth-proxy:storage");

/** Age, in milliseconds, after which a lock file counts as left behind by a crashed process. */
export const LOCK_STALE_MS = 5_000;
/** Time, in milliseconds, that {@link FileLock.run} waits for a lock before it rejects. */
export const LOCK_WAIT_MS = 10_000;
const MAX_BACKOFF_MS = 25;

interface LockHolder {
  content: string;
  createdAt: number;
  token: string;
}

/**
 * Mutual exclusion per key across the processes that share one DiskStore directory, through
 * a lock file `<hash>.lock` that contains its creation time and a random token.
 *
 * The lock file is written under a scratch name and then hard-linked to the lock name, which
 * fails if the name exists, so a lock file is never seen half written. Waiters retry with a
 * short random backoff for up to {@link LOCK_WAIT_MS}. A lock older than {@link LOCK_STALE_MS}
 * is moved away under a unique name and deleted if it still holds the token that was judged
 * stale. Callers in one process queue in memory, so only one of them polls the file.
 *
 * NOTE: mutual exclusion can fail in two cases: a holder that stalls for longer than
 * LOCK_STALE_MS, and three processes that meet at one stale lock within microseconds. Either
 * can make one increment return a count another call also returned.
 */
export class FileLock {
  readonly #directory: string;
  readonly #scratchPath: (hash: string, kind: string) => string;
  readonly #queues = new Map<string, Promise<void>>();

  /** `scratchPath` returns a unique path in `directory` for a temporary file of the given kind. */
  constructor(directory: string, scratchPath: (hash: string, kind: string) => string) {
    this.#directory = directory;
    this.#scratchPath = scratchPath;
  }

  /** Runs `body` while holding the lock of `hash`, and releases the lock when `body` settles. */
  async run<T>(hash: string, body: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(hash) ?? Promise.resolve();
    const result = previous.then(() => this.#runLocked(hash, body));
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(hash, settled);
    void settled.then(() => {
      if (this.#queues.get(hash) === settled) {
        this.#queues.delete(hash);
      }
    });
    return result;
  }

  /** Deletes the lock of `hash` if it is stale, and returns whether the lock name is free to take. */
  async breakIfStale(hash: string): Promise<boolean> {
    const lockPath = this.#lockPath(hash);
    const holder = await readHolder(lockPath);
    if (holder === undefined) {
      return true;
    }

    const ageMs = Date.now() - holder.createdAt;
    if (ageMs < LOCK_STALE_MS) {
      return false;
    }

    // Renaming succeeds for one process only, and the renamed file is checked again because a
    // live holder may have taken the lock between the read above and the rename.
    const moved = this.#scratchPath(hash, "stale-lock");
    try {
      await rename(lockPath, moved);
    } catch (error) {
      if (isCode(error, "ENOENT")) {
        return true;
      }
      throw error;
    }

    const movedContent = await readFile(moved, "utf8");
    if (movedContent !== holder.content) {
      await link(moved, lockPath).catch(ignoreCode("EEXIST"));
      await unlinkIfPresent(moved);
      return false;
    }

    await unlinkIfPresent(moved);
    log("disk stale lock removed lock=%s.lock age_ms=%d", hash, ageMs);
    return true;
  }

  async #runLocked<T>(hash: string, body: () => Promise<T>): Promise<T> {
    const token = await this.#acquire(hash);
    try {
      return await body();
    } finally {
      await this.#release(hash, token);
    }
  }

  async #acquire(hash: string): Promise<string> {
    const lockPath = this.#lockPath(hash);
    const token = randomBytes(16).toString("hex");
    const staging = this.#scratchPath(hash, "lock-claim");
    await writeFile(staging, `${Date.now()} ${token}`, { flag: "wx", mode: 0o600 });
    try {
      const deadline = Date.now() + LOCK_WAIT_MS;
      for (let attempt = 0; ; attempt += 1) {
        try {
          await link(staging, lockPath);
          return token;
        } catch (error) {
          if (!isCode(error, "EEXIST")) {
            throw error;
          }
        }

        if (await this.breakIfStale(hash)) {
          continue;
        }

        if (Date.now() >= deadline) {
          throw new Error(`Timed out after ${LOCK_WAIT_MS} ms waiting for the DiskStore lock ${lockPath}. If no process is using the store, delete that file.`);
        }

        await sleep(Math.random() * Math.min(MAX_BACKOFF_MS, 2 + attempt * 2));
      }
    } finally {
      await unlinkIfPresent(staging);
    }
  }

  /** Deletes the lock only while it still contains `token`, so a holder that overran the stale age cannot delete the lock of the process that took over. */
  async #release(hash: string, token: string): Promise<void> {
    const lockPath = this.#lockPath(hash);
    const holder = await readHolder(lockPath);
    if (holder?.token === token) {
      await unlinkIfPresent(lockPath);
    }
  }

  #lockPath(hash: string): string {
    return join(this.#directory, `${hash}.lock`);
  }
}

/** Reads a lock file. A file in an unknown format counts as created at time 0, so it is stale. */
async function readHolder(lockPath: string): Promise<LockHolder | undefined> {
  let content: string;
  try {
    content = await readFile(lockPath, "utf8");
  } catch (error) {
    if (isCode(error, "ENOENT")) {
      return undefined;
    }
    throw error;
  }

  const match = /^(\d+) ([0-9a-f]+)$/.exec(content);
  if (match === null) {
    return { content, createdAt: 0, token: "" };
  }

  return { content, createdAt: Number(match[1]), token: match[2] ?? "" };
}

async function unlinkIfPresent(path: string): Promise<void> {
  await unlink(path).catch(ignoreCode("ENOENT"));
}

function ignoreCode(code: string): (error: unknown) => void {
  return (error) => {
    if (!isCode(error, code)) {
      throw error;
    }
  };
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
