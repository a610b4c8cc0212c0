#!/usr/bin/env node
// The `uringbpf` command: runs the compiled CLI from dist/ (built by `npm install` / `npm run build`).
"use strict";
const path = require("path");
const main = path.join(__dirname, "..", "dist", "cli", "main.js");
let mod;
try {
  mod = require(main);
} catch (e) {
  if (e && e.code === "MODULE_NOT_FOUND" && String(e.message).includes(main)) {
    console.error("uringbpf: the compiler is not built yet; run `npm install` (or `npm run build`) in " + path.dirname(__dirname));
    process.exit(2);
  }
  throw e;
}
mod.main(process.argv).then((code) => process.exit(code));
