// Loads dist/uringbpf.js (the CLI and the compiler API in one bundle, scripts/bundle.js) through a V8 code
// cache, so TypeScript's 9 MB of JavaScript is not parsed and compiled again by every process. The cache
// lives in the user's cache directory (dist/cache.js: $UBPF_CACHE, a checkout's .cache/uringbpf, else
// $XDG_CACHE_HOME/uringbpf), never beside the package: an installed package may be read-only, and
// node_modules is not a cache. UBPF_NO_CODE_CACHE=1 turns the cache off.
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");
const Module = require("module");

const dist = path.join(__dirname, "..", "dist");
const bundle = path.join(dist, "uringbpf.js");

/** The code cache file for this bundle and this Node (a new bundle or Node gets a new name). */
function cacheFile() {
  const st = fs.statSync(bundle);
  const { cacheRoot } = require(path.join(dist, "cache.js"));
  const tag = `${st.size.toString(36)}-${Math.floor(st.mtimeMs).toString(36)}-${process.version}-${process.arch}`;
  return { dir: path.join(cacheRoot(), "code-cache"), file: path.join(cacheRoot(), "code-cache", `uringbpf-${tag}.bin`) };
}

let loaded;

/** The bundle's exports; `loaded.saveCache()` writes the code cache when it was missing or rejected. */
function loadBundle() {
  if (loaded) return loaded.exports;
  const source = fs.readFileSync(bundle, "latin1"); // esbuild writes ASCII
  const useCache = !process.env.UBPF_NO_CODE_CACHE;
  let where;
  let cachedData;
  if (useCache) {
    try {
      where = cacheFile();
      cachedData = fs.readFileSync(where.file);
    } catch {
      /* first run, or no cache directory */
    }
  }
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, Module.createRequire(bundle), mod, bundle, dist);
  const stale = useCache && where && (!cachedData || script.cachedDataRejected);
  loaded = {
    exports: mod.exports,
    saveCache() {
      if (!stale) return;
      try {
        fs.mkdirSync(where.dir, { recursive: true });
        // Caches of older bundles are useless: keep the directory to one file.
        for (const f of fs.readdirSync(where.dir)) if (f.startsWith("uringbpf-") && path.join(where.dir, f) !== where.file) fs.rmSync(path.join(where.dir, f), { force: true });
        const tmp = `${where.file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, where.file);
      } catch {
        /* an unwritable cache directory: run without the cache */
      }
    },
  };
  return loaded.exports;
}

/** Write the code cache if this process had none (call after the work, so it covers what ran). */
function saveCache() {
  if (loaded) loaded.saveCache();
}

module.exports = { loadBundle, saveCache, bundle };
