// Where the uringbpf package lives on disk, whether running from the sources (tsx, vitest) or from dist/.

import * as fs from "fs";
import * as path from "path";

let root: string | undefined;

/** The package's root directory (the one holding package.json and runtime/index.d.ts). */
export function packageRoot(): string {
  if (root === undefined) {
    let dir = __dirname;
    while (!fs.existsSync(path.join(dir, "runtime", "index.d.ts")) || !fs.existsSync(path.join(dir, "package.json"))) {
      const up = path.dirname(dir);
      if (up === dir) throw new Error("uringbpf: cannot find the package root (runtime/index.d.ts)");
      dir = up;
    }
    root = dir;
  }
  return root;
}
