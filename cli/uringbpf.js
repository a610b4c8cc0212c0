#!/usr/bin/env node
// The `uringbpf` command. Runs the bundled CLI (dist/uringbpf.js, built by `npm install` / `npm run
// build`) through a V8 code cache kept beside it (dist/uringbpf.cache, written after the first run), so
// TypeScript's 9 MB of JavaScript is not parsed and compiled again on every invocation.
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");
const Module = require("module");

const dist = path.join(__dirname, "..", "dist");
const bundle = path.join(dist, "uringbpf.js");
const cacheFile = path.join(dist, "uringbpf.cache");

function load() {
  let source;
  try {
    source = fs.readFileSync(bundle, "latin1"); // esbuild writes ASCII
  } catch {
    // No bundle (e.g. a plain `tsc` build): fall back to the compiled modules.
    try {
      return { mod: require(path.join(dist, "cli", "main.js")) };
    } catch (e) {
      if (e && e.code === "MODULE_NOT_FOUND") {
        console.error("uringbpf: the compiler is not built yet; run `npm install` (or `npm run build`) in " + path.dirname(__dirname));
        process.exit(2);
      }
      throw e;
    }
  }
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    /* first run */
  }
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
  const mod = { exports: {} };
  const req = Module.createRequire(bundle);
  script.runInThisContext()(mod.exports, req, mod, bundle, dist);
  return { mod: mod.exports, script, stale: !cachedData || script.cachedDataRejected };
}

const { mod, script, stale } = load();
mod.main(process.argv).then((code) => {
  if (script && stale && !process.env.UBPF_NO_CODE_CACHE) {
    // After a run, so the cache also holds the functions compiling a program needed.
    try {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    } catch {
      /* a read-only installation just runs without the cache */
    }
  }
  process.exit(code);
});
