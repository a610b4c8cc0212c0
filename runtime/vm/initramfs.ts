/**
 * Initramfs writer: builds a gzip-compressed cpio archive in the "newc" format (the one the Linux kernel
 * unpacks into its rootfs at boot) from a list of entries, without an external `cpio` tool.
 *
 * Hands on a Buffer that `runInVm` writes next to the kernel and passes to QEMU as `-initrd`.
 */
import { gzipSync } from "node:zlib";

/** A directory in the archive. Parent directories are not created implicitly: list them first. */
export interface InitramfsDir {
  kind: "dir";
  path: string;
  mode?: number;
}

/** A regular file; `mode` holds the permission bits (default 0o644). */
export interface InitramfsFile {
  kind: "file";
  path: string;
  data: Uint8Array | string;
  mode?: number;
}

/** A symbolic link at `path` pointing to `target`. */
export interface InitramfsSymlink {
  kind: "symlink";
  path: string;
  target: string;
}

/** A character or block device node (e.g. /dev/console 5:1). */
export interface InitramfsDevice {
  kind: "chardev" | "blockdev";
  path: string;
  major: number;
  minor: number;
  mode?: number;
}

/** One entry of an initramfs archive. */
export type InitramfsEntry = InitramfsDir | InitramfsFile | InitramfsSymlink | InitramfsDevice;

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, "0");
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** Normalizes an archive path: no leading "/" or "./", no empty components. */
function archivePath(p: string): string {
  const parts = p.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.some((c) => c === "..")) throw new Error(`initramfs path must not contain '..': ${p}`);
  if (parts.length === 0) throw new Error(`empty initramfs path: '${p}'`);
  return parts.join("/");
}

interface RawRecord {
  name: string;
  mode: number;
  nlink: number;
  data: Buffer;
  rdevMajor: number;
  rdevMinor: number;
}

function encodeRecord(rec: RawRecord, ino: number, mtime: number): Buffer[] {
  const name = Buffer.from(rec.name + "\0", "utf8");
  const header =
    "070701" +
    hex8(ino) +
    hex8(rec.mode) +
    hex8(0) + // uid
    hex8(0) + // gid
    hex8(rec.nlink) +
    hex8(mtime) +
    hex8(rec.data.length) +
    hex8(0) + // devmajor
    hex8(0) + // devminor
    hex8(rec.rdevMajor) +
    hex8(rec.rdevMinor) +
    hex8(name.length) +
    hex8(0); // check (unused in newc)
  const head = Buffer.from(header, "ascii");
  const out: Buffer[] = [head, name, Buffer.alloc(pad4(head.length + name.length))];
  if (rec.data.length > 0) out.push(rec.data, Buffer.alloc(pad4(rec.data.length)));
  return out;
}

/** Returns the uncompressed newc cpio archive for `entries` (ending with the TRAILER!!! record). */
export function buildCpio(entries: InitramfsEntry[], mtime = 0): Buffer {
  const chunks: Buffer[] = [];
  const seen = new Set<string>();
  let ino = 1;
  for (const e of entries) {
    const name = archivePath(e.path);
    if (seen.has(name)) throw new Error(`duplicate initramfs entry: /${name}`);
    seen.add(name);
    let rec: RawRecord;
    switch (e.kind) {
      case "dir":
        rec = { name, mode: S_IFDIR | (e.mode ?? 0o755), nlink: 2, data: Buffer.alloc(0), rdevMajor: 0, rdevMinor: 0 };
        break;
      case "file": {
        const data = typeof e.data === "string" ? Buffer.from(e.data, "utf8") : Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
        rec = { name, mode: S_IFREG | (e.mode ?? 0o644), nlink: 1, data, rdevMajor: 0, rdevMinor: 0 };
        break;
      }
      case "symlink":
        rec = { name, mode: S_IFLNK | 0o777, nlink: 1, data: Buffer.from(e.target, "utf8"), rdevMajor: 0, rdevMinor: 0 };
        break;
      case "chardev":
      case "blockdev":
        rec = {
          name,
          mode: (e.kind === "chardev" ? S_IFCHR : S_IFBLK) | (e.mode ?? 0o600),
          nlink: 1,
          data: Buffer.alloc(0),
          rdevMajor: e.major,
          rdevMinor: e.minor,
        };
        break;
    }
    chunks.push(...encodeRecord(rec, ino++, mtime));
  }
  chunks.push(
    ...encodeRecord({ name: "TRAILER!!!", mode: 0, nlink: 1, data: Buffer.alloc(0), rdevMajor: 0, rdevMinor: 0 }, 0, 0),
  );
  const archive = Buffer.concat(chunks);
  // Pad the archive to a 512-byte multiple like cpio(1) does; the kernel ignores trailing zeros.
  return Buffer.concat([archive, Buffer.alloc((512 - (archive.length % 512)) % 512)]);
}

/** Returns the gzip-compressed newc cpio archive for `entries`, ready to pass to QEMU's `-initrd`. */
export function buildInitramfs(entries: InitramfsEntry[], opts: { level?: number; mtime?: number } = {}): Buffer {
  return gzipSync(buildCpio(entries, opts.mtime ?? 0), { level: opts.level ?? 1 });
}

/**
 * Adds `dir` entries for every missing parent directory of the listed paths, keeping the given order
 * otherwise (parents come first). Convenient when entries are built from a flat list of files.
 */
export function withParentDirs(entries: InitramfsEntry[]): InitramfsEntry[] {
  const have = new Set(entries.filter((e) => e.kind === "dir").map((e) => archivePath(e.path)));
  const out: InitramfsEntry[] = [];
  for (const e of entries) {
    const parts = archivePath(e.path).split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!have.has(dir)) {
        have.add(dir);
        out.push({ kind: "dir", path: dir });
      }
    }
    out.push(e);
  }
  return out;
}
