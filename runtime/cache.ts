// Where uringbpf keeps what it fetches and builds (the VM's kernel, the static loader, the engine's
// addon when built from source, the CLI's V8 code cache): one per-user directory, never the package's
// own directory (an installed package lives in node_modules, which `npm ci` deletes).
//   $UBPF_CACHE                                  when set
//   <checkout>/.cache/uringbpf                   when uringbpf runs from a git checkout (the repository's
//                                                tests and scripts/deps.sh use it)
//   $XDG_CACHE_HOME/uringbpf, else ~/.cache/uringbpf   otherwise (an installed package)

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { packageRoot } from "../compiler/paths";

/** The per-user cache directory of XDG (`$XDG_CACHE_HOME/uringbpf`, else `~/.cache/uringbpf`). */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  // The XDG spec: a relative XDG_CACHE_HOME is invalid and is ignored.
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || os.homedir(), ".cache");
  return path.join(base, "uringbpf");
}

/** True when the package runs from a git checkout (a `.git` directory or worktree file at its root). */
export function isCheckout(root: string = packageRoot()): boolean {
  return fs.existsSync(path.join(root, ".git"));
}

/** The cache root (see the top of this file). */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.UBPF_CACHE) return path.resolve(env.UBPF_CACHE);
  const root = packageRoot();
  if (isCheckout(root)) return path.join(root, ".cache", "uringbpf");
  return userCacheDir(env);
}
