// Finding (or, failing that, building) the userspace engine's Node-API addon, runtime/addon/uring.c.
// Looked for in this order:
//   1. $UBPF_ADDON                                   an explicit file
//   2. <cache>/bin/uring.node                        in a git checkout only: built by scripts/deps.sh
//   3. <package>/prebuilt/<platform>-<arch>/uring.node   shipped in the npm package (built by `prepack`)
//   4. <cache>/addon/<hash of uring.c>/uring.node    built from source by an earlier run (below)
// When none loads, it is built from source once into 4 with the machine's C compiler and Node's headers
// (uring.c needs nothing else: it carries its io_uring definitions); when that is impossible the error
// says exactly what is missing.

import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { packageRoot } from "../../compiler/paths";
import { cacheRoot, isCheckout } from "../cache";

/** Why the addon cannot be had; the message names what is missing and how to get it. */
export class AddonMissingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AddonMissingError";
  }
}

/** The prebuilt addon's directory name for this machine, e.g. `linux-x64`. */
export function platformTag(): string {
  return `${process.platform}-${process.arch}`;
}

function addonSource(): string {
  return path.join(packageRoot(), "runtime", "addon", "uring.c");
}

/** Where a from-source build goes: one directory per version of uring.c, so an upgrade rebuilds. */
export function sourceBuildPath(): string {
  let tag = "unknown";
  try {
    tag = createHash("sha256").update(fs.readFileSync(addonSource())).digest("hex").slice(0, 16);
  } catch {
    /* no source: the build reports it */
  }
  return path.join(cacheRoot(), "addon", tag, "uring.node");
}

/** Where the addon may be, in the order tried. */
export function addonCandidates(): string[] {
  const out: string[] = [];
  if (process.env.UBPF_ADDON) out.push(path.resolve(process.env.UBPF_ADDON));
  if (isCheckout()) out.push(path.join(cacheRoot(), "bin", "uring.node"));
  out.push(path.join(packageRoot(), "prebuilt", platformTag(), "uring.node"));
  out.push(sourceBuildPath());
  return out;
}

function tryLoad(file: string): { mod?: Record<string, unknown>; error?: string } {
  if (!fs.existsSync(file)) return {};
  try {
    const m = { exports: {} as Record<string, unknown> };
    process.dlopen(m, file);
    if (typeof m.exports.setup !== "function") return { error: `${file} is not the uringbpf addon` };
    return { mod: m.exports };
  } catch (e) {
    return { error: `${file}: ${(e as Error).message.split("\n")[0]}` };
  }
}

function onPath(cmd: string): string | null {
  for (const d of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const p = path.join(d || ".", cmd);
    try {
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** The directory holding node_api.h (`<nodedir>/include/node`), or null. */
export function nodeHeaders(): string | null {
  const dirs = [process.env.UBPF_NODEDIR, path.dirname(path.dirname(process.execPath)), "/usr", "/usr/local"];
  for (const d of dirs) {
    if (d && fs.existsSync(path.join(d, "include", "node", "node_api.h"))) return path.join(d, "include", "node");
  }
  return null;
}

/** Build uring.c into `out` with the C compiler; returns null on success, else what went wrong. */
export function buildAddonFromSource(out: string): string | null {
  const src = addonSource();
  if (!fs.existsSync(src)) return `the addon's source ${src} is missing from the package`;
  const cc = process.env.CC || onPath("cc") || onPath("gcc") || onPath("clang");
  if (!cc) return "no C compiler (cc, gcc or clang) on PATH: install one (Debian/Ubuntu: apt-get install gcc)";
  const inc = nodeHeaders();
  if (!inc)
    return (
      `Node's C headers (include/node/node_api.h) are not beside ${process.execPath} nor in /usr or /usr/local: ` +
      "install them (Debian/Ubuntu: apt-get install libnode-dev) or set UBPF_NODEDIR to a directory holding include/node"
    );
  try {
    fs.mkdirSync(path.dirname(out), { recursive: true });
  } catch (e) {
    return `cannot create ${path.dirname(out)}: ${(e as NodeJS.ErrnoException).code}`;
  }
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync(cc, ["-shared", "-fPIC", "-O2", "-Wall", "-DNAPI_VERSION=8", "-I", inc, "-o", tmp, src, "-lpthread"], { encoding: "utf8" });
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    return `${cc} failed to build ${src}:\n${(r.stderr || r.error?.message || "").trim()}`;
  }
  fs.renameSync(tmp, out);
  return null;
}

let loaded: Record<string, unknown> | undefined;

/** The addon's exports: found, or built from source once (see the top). Throws AddonMissingError. */
export function loadEngineAddon(log: (line: string) => void = (l) => process.stderr.write(l + "\n")): Record<string, unknown> {
  if (loaded) return loaded;
  const problems: string[] = [];
  for (const file of addonCandidates()) {
    const r = tryLoad(file);
    if (r.mod) return (loaded = r.mod);
    if (r.error) problems.push(r.error);
  }
  if (process.platform !== "linux")
    throw new AddonMissingError(`the userspace engine needs Linux's io_uring (this is ${process.platform}); \`uringbpf build\` and \`check\` work anywhere`);
  const out = sourceBuildPath();
  log(`uringbpf: no prebuilt userspace-engine addon for ${platformTag()}; building it from source into ${out}`);
  const why = buildAddonFromSource(out);
  if (why === null) {
    const r = tryLoad(out);
    if (r.mod) return (loaded = r.mod);
    problems.push(r.error ?? `${out} did not load`);
  } else problems.push(why);
  throw new AddonMissingError(
    `the userspace engine's addon is not available: ${problems.join("; ")}. ` + "`uringbpf build` and `check` do not need it.",
  );
}
