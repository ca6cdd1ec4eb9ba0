import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { chmod, link, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import createDebug from "debug";
import { OptionError } from "../errors.js";
import type { StoredCredentials, TokenStore } from "./token-store.js";

const debug = createDebug("mcp-oauth-proxy:client");

const FORMAT_VERSION = 1;
const KEY_FILE = "key";
const IV_BYTES = 12;

/** Options of `FileTokenStore`. */
export interface FileTokenStoreOptions {
  /** Folder for the files; default `defaultTokenDirectory()`. */
  directory?: string;
  /**
   * Secret of 32 bytes or more that the encryption key is derived from. By
   * default a random one is created in the folder, in a file only the user can read.
   */
  key?: string | Buffer;
}

interface FileEnvelope {
  version: number;
  server: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

/**
 * Returns the per-user folder for stored credentials: `$XDG_CONFIG_HOME` or
 * `~/.config` on Linux, `~/Library/Application Support` on macOS, `%APPDATA%`
 * on Windows, each with an `appName` subfolder.
 */
export function defaultTokenDirectory(appName = "mcp-oauth-proxy", platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  if (platform === "win32") {
    return join(env.APPDATA ?? join(homedir(), "AppData", "Roaming"), appName);
  }
  if (platform === "darwin") {
    return join(homedir(), "Library", "Application Support", appName);
  }
  const xdg = env.XDG_CONFIG_HOME;
  // The XDG Base Directory spec says a relative $XDG_CONFIG_HOME is invalid and must be ignored.
  return join(xdg !== undefined && xdg.startsWith("/") ? xdg : join(homedir(), ".config"), appName);
}

/**
 * Keeps credentials in files, one per MCP server, encrypted with AES-256-GCM
 * and readable by the user only (mode 0600 in a 0700 folder).
 *
 * NOTE: with the default key, which lives in the same folder, encryption keeps
 * tokens safe when the token files alone are copied (a backup, a synced folder),
 * not from someone who can read the whole folder. Pass `key` from a keychain for more.
 * On Windows the file modes are not enforced; the folder sits in the user's profile.
 *
 * @example
 * const store = new FileTokenStore(); // ~/.config/mcp-oauth-proxy on Linux
 */
export class FileTokenStore implements TokenStore {
  readonly directory: string;
  readonly #configuredKey: Buffer | undefined;
  #key: Promise<Buffer> | undefined;

  constructor(options: FileTokenStoreOptions = {}) {
    if (options.key !== undefined && Buffer.byteLength(options.key) < 32) {
      throw new OptionError("key", options.key, "Pass a secret of 32 bytes or more, or leave key out to have one generated.");
    }
    this.directory = options.directory ?? defaultTokenDirectory();
    this.#configuredKey = options.key === undefined ? undefined : Buffer.from(options.key);
  }

  async get(server: string): Promise<StoredCredentials | undefined> {
    let text: string;
    try {
      text = await readFile(this.#pathOf(server), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        return undefined;
      }
      throw error;
    }

    try {
      return this.#decrypt(server, JSON.parse(text) as FileEnvelope, await this.#encryptionKey());
    } catch (error) {
      // A changed key or a damaged file: the user signs in again and the next save replaces the file.
      debug("store unreadable file=%s error=%s", this.#pathOf(server), (error as Error).message);
      return undefined;
    }
  }

  async set(server: string, credentials: StoredCredentials): Promise<void> {
    const key = await this.#encryptionKey();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    // The server URL is authenticated data, so a file copied under another server's name does not decrypt.
    cipher.setAAD(Buffer.from(server, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(credentials), "utf8"), cipher.final()]);
    const envelope: FileEnvelope = {
      version: FORMAT_VERSION,
      server,
      iv: iv.toString("base64url"),
      tag: cipher.getAuthTag().toString("base64url"),
      ciphertext: ciphertext.toString("base64url"),
    };
    await this.#writePrivate(this.#pathOf(server), JSON.stringify(envelope));
  }

  async delete(server: string): Promise<void> {
    await rm(this.#pathOf(server), { force: true });
  }

  /** The file that holds the credentials of `server`. */
  pathOf(server: string): string {
    return this.#pathOf(server);
  }

  #pathOf(server: string): string {
    const name = createHash("sha256").update(server, "utf8").digest("hex").slice(0, 32);
    return join(this.directory, `${name}.json`);
  }

  #decrypt(server: string, envelope: FileEnvelope, key: Buffer): StoredCredentials {
    if (envelope.version !== FORMAT_VERSION || envelope.server !== server) {
      throw new Error(`unexpected version ${envelope.version} or server`);
    }
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(envelope.iv, "base64url"));
    decipher.setAAD(Buffer.from(server, "utf8"));
    decipher.setAuthTag(Buffer.from(envelope.tag, "base64url"));
    const plaintext = Buffer.concat([decipher.update(Buffer.from(envelope.ciphertext, "base64url")), decipher.final()]);
    return JSON.parse(plaintext.toString("utf8")) as StoredCredentials;
  }

  #encryptionKey(): Promise<Buffer> {
    this.#key ??= this.#loadSecret().then((secret) => Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), "mcp-oauth-proxy client token store", 32)));
    return this.#key;
  }

  async #loadSecret(): Promise<Buffer> {
    if (this.#configuredKey !== undefined) {
      return this.#configuredKey;
    }

    const path = join(this.directory, KEY_FILE);
    try {
      return Buffer.from((await readFile(path, "utf8")).trim(), "base64url");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        throw error;
      }
    }

    const secret = randomBytes(32);
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(temporary, secret.toString("base64url"), { mode: 0o600, flag: "wx" });
    try {
      // link() fails when another process created the key first, and that key is then the one to use.
      // Linking a complete file means no process ever reads a half-written key.
      await link(temporary, path);
      return secret;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw error;
      }
      return Buffer.from((await readFile(path, "utf8")).trim(), "base64url");
    } finally {
      await rm(temporary, { force: true });
    }
  }

  // Written to a temporary file and renamed, so a reader never sees half a file.
  async #writePrivate(path: string, contents: string): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(temporary, contents, { mode: 0o600, flag: "wx" });
    try {
      await chmod(temporary, 0o600);
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}
