// The npm package as a user gets it: `npm pack` (which runs prepack: the build, the prebuilt addon and
// loader), then `npm install ./uringbpf-X.tgz typescript @types/node` in an empty project (from the
// registry), and there: tsc (strict, module nodenext) type-checks a DSL program and two scripts using
// `uringbpf/compiler` (ESM and CommonJS); `npx uringbpf build`, `check` and `run --engine user` work with
// no further step; the scripts run; the code cache goes to the XDG cache directory and nothing under
// node_modules changes after the install. Then the same package without its prebuilt addon: built from
// source into the cache when a C compiler is there, and `run` names what is missing when it is not.

import { spawnSync, type SpawnSyncReturns } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = path.join(__dirname, "..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-pkg-"));
const proj = path.join(work, "proj");
const xdg = path.join(work, "xdg");
let tarball = "";
let packed: { path: string; size: number }[] = [];
/** node_modules right after `npm install`. */
let installed: Map<string, string>;

/** The environment of a user's shell: no UBPF_* variables, an XDG cache of its own. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("UBPF_") && !k.startsWith("VITEST") && k !== "NODE_OPTIONS") env[k] = v;
  return { ...env, XDG_CACHE_HOME: xdg, NO_COLOR: "1", ...extra };
}

function sh(cmd: string, args: string[], cwd: string, env = userEnv(), timeout = 300_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  expect(r.error, `${what}: ${r.error}`).toBeUndefined();
  expect(r.status, `${what} failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Every file under dir (symlinks as links) with its size, mode and content hash. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isSymbolicLink()) out.set(path.relative(dir, p), `-> ${fs.readlinkSync(p)}`);
      else if (e.isDirectory()) walk(p);
      else {
        const st = fs.statSync(p);
        out.set(path.relative(dir, p), `${st.size} ${st.mode.toString(8)} ${createHash("sha256").update(fs.readFileSync(p)).digest("hex")}`);
      }
    }
  };
  walk(dir);
  return out;
}

const program = fs.readFileSync(path.join(root, "samples", "nops.ts"), "utf8");

const apiEsm = `import { compileFile, compileSource, formatDiagnostics, type CompileResult } from "uringbpf/compiler";
const res: CompileResult = compileFile("prog.ts");
if (!res.ok || !res.object) throw new Error("prog.ts did not compile");
const bad = compileSource("bad.ts", "import { loopStep } from 'uringbpf';\\nexport const p = loopStep((ring, lp) => { return 7 as any; });\\n");
const text: string = formatDiagnostics(bad.diagnostics);
console.log(JSON.stringify({ esm: true, bytes: res.object.length, elf: Buffer.from(res.object.subarray(1, 4)).toString(), programs: res.programs.map((p) => p.name), badOk: bad.ok, diag: text }));
`;
const apiCjs = `import compiler = require("uringbpf/compiler");
const res = compiler.compileFile("prog.ts");
console.log(JSON.stringify({ esm: false, ok: res.ok, bytes: res.object?.length ?? 0 }));
`;

beforeAll(() => {
  // npm pack runs prepack (npm run build, scripts/prebuild.sh) and prints the tarball's name last.
  const r = sh("npm", ["pack", "--json", "--pack-destination", work], root, { ...process.env }, 600_000);
  const out = ok(r, "npm pack");
  const info = JSON.parse(out.slice(out.indexOf("[")))[0] as { filename: string; files: { path: string; size: number }[] };
  tarball = path.join(work, info.filename);
  packed = info.files;
  fs.mkdirSync(proj);
  fs.writeFileSync(path.join(proj, "package.json"), JSON.stringify({ name: "proj", version: "1.0.0", private: true }, null, 2));
  fs.writeFileSync(path.join(proj, "prog.ts"), program);
  fs.writeFileSync(path.join(proj, "prog-esm.mts"), program); // the same program as an ES module
  fs.writeFileSync(path.join(proj, "api.mts"), apiEsm);
  fs.writeFileSync(path.join(proj, "api.cts"), apiCjs);
  fs.writeFileSync(
    path.join(proj, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", types: ["node"], outDir: "out" }, include: ["*.ts", "*.mts", "*.cts"] }),
  );
  ok(sh("npm", ["install", "--no-audit", "--no-fund", tarball, "typescript", "@types/node"], proj), "npm install");
  installed = snapshot(path.join(proj, "node_modules"));
}, 900_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe("the packed package", () => {
  it("holds the built compiler, the CLI, the DSL declarations, the addon and docs; no tests, benches or TypeScript sources", () => {
    const names = packed.map((f) => f.path);
    for (const need of ["cli/uringbpf.js", "dist/uringbpf.js", "dist/compiler.js", "dist/compiler.mjs", "dist/compiler.d.ts", "runtime/index.d.ts", "runtime/addon/uring.c", "prebuilt/linux-x64/uring.node", "prebuilt/linux-x64/uringbpf-loader", "docs/OBJECT.md"])
      expect(names).toContain(need);
    const bad = names.filter((n) => /^(test|bench|samples|fuzz|\.ci|node_modules)\//.test(n) || /\.tgz$|vitest|tsconfig/.test(n) || (/\.ts$/.test(n) && !/\.d\.ts$/.test(n)));
    expect(bad).toEqual([]);
    // One copy of TypeScript: the bundle; the package installs no dependency of its own.
    const pkg = JSON.parse(fs.readFileSync(path.join(proj, "node_modules", "uringbpf", "package.json"), "utf8"));
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(fs.existsSync(path.join(proj, "node_modules", "ts-morph"))).toBe(false);
    expect(fs.readFileSync(path.join(proj, "node_modules", "uringbpf", "dist", "uringbpf.js"), "latin1")).toContain("createSourceFile");
  });

  it("type-checks, builds, checks and runs a program, and the compiler API from ESM and CommonJS; node_modules unchanged", () => {
    const tsc = path.join(proj, "node_modules", ".bin", "tsc");
    ok(sh(tsc, ["-p", "tsconfig.json"], proj), "tsc (strict, nodenext)");

    ok(sh("npx", ["--no-install", "uringbpf", "build", "prog.ts", "-o", "prog.o"], proj), "uringbpf build");
    expect(fs.readFileSync(path.join(proj, "prog.o")).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    expect(ok(sh("npx", ["--no-install", "uringbpf", "check", "prog.ts"], proj), "uringbpf check")).toMatch(/prog\.ts: ok/);

    const run = ok(sh("npx", ["--no-install", "uringbpf", "run", "prog.o", "--engine", "user", "--set", "reqsToRun=1000", "--json"], proj), "run --engine user");
    const j = JSON.parse(run.trim().split("\n").pop()!);
    expect(j.ok).toBe(true);
    expect(j.globals.reqsToRun).toBe(0);
    expect(j.globals.result).toBe(0);

    const esm = JSON.parse(ok(sh(process.execPath, ["out/api.mjs"], proj), "api.mjs").trim());
    expect(esm).toMatchObject({ esm: true, elf: "ELF", programs: ["nops"], badOk: false });
    expect(esm.bytes).toBe(fs.statSync(path.join(proj, "prog.o")).size);
    expect(esm.diag).toMatch(/bad\.ts:2:\d+/);
    const cjs = JSON.parse(ok(sh(process.execPath, ["out/api.cjs"], proj), "api.cjs").trim());
    expect(cjs).toEqual({ esm: false, ok: true, bytes: esm.bytes });

    // The DSL module itself only has types: running it says how programs are compiled.
    for (const js of ["out/prog.js", "out/prog-esm.mjs"]) {
      const dsl = sh(process.execPath, [js], proj);
      expect(dsl.status).not.toBe(0);
      expect(dsl.stderr).toMatch(/compile it with `npx uringbpf build/);
    }
    expect(ok(sh("npx", ["--no-install", "uringbpf", "check", "prog-esm.mts"], proj), "check .mts")).toMatch(/prog-esm\.mts: ok/);

    // The code cache went to the XDG cache directory; nothing under node_modules changed.
    expect(fs.readdirSync(path.join(xdg, "uringbpf", "code-cache")).filter((f) => f.endsWith(".bin")).length).toBe(1);
    expect(snapshot(path.join(proj, "node_modules"))).toEqual(installed);
  }, 300_000);

  it("without the prebuilt addon: built from source with a C compiler; without one, run names what is missing and build still works", () => {
    // A copy of the installed package minus prebuilt/ (as on a platform the package has no binary for).
    const pkgDir = path.join(work, "noprebuilt", "node_modules", "uringbpf");
    fs.cpSync(path.join(proj, "node_modules", "uringbpf"), pkgDir, { recursive: true });
    fs.rmSync(path.join(pkgDir, "prebuilt"), { recursive: true });
    const cli = path.join(pkgDir, "cli", "uringbpf.js");
    // PATH with node and nothing else: no cc, gcc or clang.
    const bare = path.join(work, "bare-bin");
    fs.mkdirSync(bare, { recursive: true });
    fs.symlinkSync(process.execPath, path.join(bare, "node"));
    const cache = path.join(work, "xdg-noprebuilt");
    const noCc = userEnv({ PATH: bare, XDG_CACHE_HOME: cache });
    delete noCc.CC;
    const b = sh(process.execPath, [cli, "build", "prog.ts", "-o", "prog2.o"], proj, noCc);
    ok(b, "build without a compiler");
    const r = sh(process.execPath, [cli, "run", "prog2.o", "--engine", "user", "--set", "reqsToRun=10"], proj, noCc);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no C compiler \(cc, gcc or clang\) on PATH: install one/);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);

    const withCc = userEnv({ XDG_CACHE_HOME: cache });
    const r2 = sh(process.execPath, [cli, "run", "prog2.o", "--engine", "user", "--set", "reqsToRun=10", "--json"], proj, withCc);
    ok(r2, "run with the addon built from source");
    expect(r2.stderr).toMatch(/building it from source into/);
    expect(JSON.parse(r2.stdout.trim().split("\n").pop()!).globals.reqsToRun).toBe(0);
    const built = fs.readdirSync(path.join(cache, "uringbpf", "addon"));
    expect(built.length).toBe(1);
    expect(fs.existsSync(path.join(cache, "uringbpf", "addon", built[0], "uring.node"))).toBe(true);
    // The second run finds it and builds nothing.
    const r3 = sh(process.execPath, [cli, "run", "prog2.o", "--engine", "user", "--set", "reqsToRun=10"], proj, withCc);
    ok(r3, "second run");
    expect(r3.stderr).not.toMatch(/building/);
  }, 300_000);

  it("vm status / run --vm name `uringbpf vm setup` when the cache is empty; setup fills it (idempotent) and run --vm works", async () => {
    const cache = path.join(work, "xdg-vm");
    const env = userEnv({ XDG_CACHE_HOME: cache });
    const npx = (args: string[]) => sh("npx", ["--no-install", "uringbpf", ...args], proj, env, 900_000);
    const st = npx(["vm", "status"]);
    expect(st.status).toBe(1);
    expect(st.stdout).toMatch(/kernel\s+MISSING/);
    expect(st.stdout).toMatch(/loader\s+MISSING/);
    expect(st.stdout).toMatch(/run `uringbpf vm setup`/);
    const early = npx(["run", "prog.o", "--vm", "--set", "reqsToRun=10"]);
    expect(early.status).toBe(2);
    expect(early.stderr).toMatch(/uringbpf vm setup/);
    expect(early.stderr).not.toMatch(/internal error/);

    // The checkout's downloaded packages and apt lists stand in for the network (copies: nothing shared
    // is touched); setup still picks, extracts and checks the kernel and installs the package's loader.
    const checkoutCache = path.join(root, ".cache", "uringbpf");
    fs.mkdirSync(path.join(cache, "uringbpf"), { recursive: true });
    for (const d of ["debs", "apt"]) fs.cpSync(fs.realpathSync(path.join(checkoutCache, d)), path.join(cache, "uringbpf", d), { recursive: true, dereference: true });
    const setup = npx(["vm", "setup"]);
    expect(setup.status, setup.stderr).toBe(0);
    expect(setup.stderr).toMatch(/\[2\/4\] kernel: ok, 7\./);
    expect(setup.stderr).toMatch(/installing the package's loader/);
    expect(fs.readFileSync(path.join(cache, "uringbpf", "bin", "uringbpf-loader"))).toEqual(fs.readFileSync(path.join(proj, "node_modules", "uringbpf", "prebuilt", "linux-x64", "uringbpf-loader")));
    const kernelDir = fs.realpathSync(path.join(cache, "uringbpf", "kernel", "current"));
    expect(fs.readFileSync(path.join(kernelDir, "config"), "utf8")).toMatch(/^CONFIG_IO_URING_BPF_OPS=y$/m);
    const again = npx(["vm", "setup"]);
    expect(again.status).toBe(0);
    expect(again.stderr).not.toMatch(/installing|fetching|downloading|trying/);
    expect(npx(["vm", "status"]).status).toBe(0);

    const run = npx(["run", "prog.o", "--vm", "--set", "reqsToRun=1000", "--json", "--timeout", "600"]);
    expect(run.status, run.stderr).toBe(0);
    const j = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(j.globals.reqsToRun).toBe(0);
    expect(j.globals.result).toBe(0);
    // vm setup and the VM run wrote into the cache only.
    expect(snapshot(path.join(proj, "node_modules"))).toEqual(installed);
  }, 1_200_000);
});
