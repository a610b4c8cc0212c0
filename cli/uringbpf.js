#!/usr/bin/env node
// The `uringbpf` command: runs the bundled CLI (dist/uringbpf.js) through cli/load-bundle.js's V8 code
// cache. In a git checkout the bundle is (re)built first when it is missing or older than the sources, so
// `npm install && npx uringbpf ...` works without an install-time build step.
"use strict";
const fs = require("fs");
const path = require("path");
const { spawnSync } = require("child_process");

const root = path.join(__dirname, "..");
const bundle = path.join(root, "dist", "uringbpf.js");

/** The newest modification time of the TypeScript sources under the checkout's source folders. */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts") || e.name.endsWith(".js")) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  for (const d of ["compiler", "cli", "runtime"]) walk(path.join(root, d));
  return newest;
}

if (fs.existsSync(path.join(root, ".git"))) {
  let bundleTime = 0;
  try {
    bundleTime = fs.statSync(bundle).mtimeMs;
  } catch {
    /* not built yet */
  }
  if (bundleTime === 0 || newestSource() > bundleTime) {
    process.stderr.write(`uringbpf: ${bundleTime ? "sources changed" : "first run in this checkout"}: building the CLI (npm run build)\n`);
    const r = spawnSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: ["ignore", 2, 2] });
    if (r.status !== 0) {
      process.stderr.write("uringbpf: `npm run build` failed (output above)\n");
      process.exit(2);
    }
  }
} else if (!fs.existsSync(bundle)) {
  process.stderr.write(`uringbpf: the package is incomplete (${bundle} is missing): reinstall uringbpf\n`);
  process.exit(2);
}

const { loadBundle, saveCache } = require("./load-bundle.js");
loadBundle()
  .main(process.argv)
  .then((code) => {
    saveCache(); // after the run, so the cache also holds the functions compiling a program needed
    process.exit(code);
  });
