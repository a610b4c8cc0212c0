// The CLI never destroys the user's source and says plainly why an output cannot be written (issue 17):
// `-o` onto the input (the same file, a symbolic or a hard link) is refused with exit 2 and the source
// left byte-identical; a missing or read-only directory, or a directory in the way, is a plain message,
// not "internal error"; out-of-range numbers and unknown --open modes are usage errors; a temporary file
// left by a build killed before its rename is removed by the next build of the same output.

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = path.join(__dirname, "..");
const cli = path.join(root, "cli", "uringbpf.js");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-out-"));
const src = path.join(dir, "prog.ts");
const source = fs.readFileSync(path.join(root, "samples", "nops.ts"));

function uringbpf(args: string[], asNobody = false) {
  // As root, permissions do not stop a write: the read-only case runs the CLI as nobody.
  const cmd = asNobody && process.getuid?.() === 0 ? "setpriv" : process.execPath;
  const argv = cmd === "setpriv" ? ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, cli, ...args] : [cli, ...args];
  const r = spawnSync(cmd, argv, { cwd: dir, encoding: "utf8", timeout: 180_000, env: { ...process.env, NO_COLOR: "1" } });
  expect(r.error).toBeUndefined();
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function expectPlain(err: string) {
  expect(err).not.toMatch(/internal error|please report|\n\s+at \S+ \(/);
}

beforeAll(() => {
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(src, source);
  fs.symlinkSync("prog.ts", path.join(dir, "sym.ts"));
  fs.linkSync(src, path.join(dir, "hard.ts"));
  // The first call builds the CLI if the checkout's sources are newer than the bundle.
  expect(uringbpf(["--version"]).code).toBe(0);
}, 300_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("build -o onto the input", () => {
  const cases: [string, string[]][] = [
    ["the same path", ["build", "prog.ts", "-o", "prog.ts"]],
    ["the same file by another spelling", ["build", "prog.ts", "-o", "./sub/../prog.ts"]],
    ["--emit asm", ["build", "prog.ts", "--emit", "asm", "-o", "prog.ts"]],
    ["--emit ir", ["build", "prog.ts", "--emit", "ir", "-o", "prog.ts"]],
    ["a symbolic link to the input", ["build", "prog.ts", "-o", "sym.ts"]],
    ["the input given through a symbolic link", ["build", "sym.ts", "-o", "prog.ts"]],
    ["a hard link to the input", ["build", "prog.ts", "-o", "hard.ts"]],
  ];
  fs.mkdirSync(path.join(dir, "sub"), { recursive: true });
  for (const [what, args] of cases) {
    it(`is refused: ${what}`, () => {
      const before = fs.statSync(src);
      const r = uringbpf(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/refusing to overwrite the source/);
      expectPlain(r.err);
      expect(fs.readFileSync(src)).toEqual(source);
      expect(fs.statSync(src).mtimeMs).toBe(before.mtimeMs);
      expect(fs.lstatSync(path.join(dir, "sym.ts")).isSymbolicLink()).toBe(true);
      expect(fs.statSync(path.join(dir, "hard.ts")).ino).toBe(before.ino);
      expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    });
  }
});

describe("outputs that cannot be written", () => {
  it("a missing directory", () => {
    const r = uringbpf(["build", "prog.ts", "-o", "missing/prog.o"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cannot write missing\/prog\.o: the directory missing does not exist/);
    expectPlain(r.err);
  });
  it("a read-only directory", () => {
    const ro = path.join(dir, "ro");
    fs.mkdirSync(ro, { mode: 0o555 });
    fs.chmodSync(ro, 0o555);
    const r = uringbpf(["build", "prog.ts", "-o", "ro/prog.o"], true);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cannot write ro\/prog\.o: the directory ro is not writable \(EACCES\)/);
    expectPlain(r.err);
    expect(fs.readdirSync(ro)).toEqual([]);
  });
  it("a directory in the way, also for --emit asm", () => {
    fs.mkdirSync(path.join(dir, "out.o"));
    for (const args of [["build", "prog.ts", "-o", "out.o"], ["build", "prog.ts", "--emit", "asm", "-o", "out.o"]]) {
      const r = uringbpf(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/out\.o is a directory: give the output file's name/);
      expectPlain(r.err);
    }
    const r = uringbpf(["build", "prog.ts", "-o", "sub/"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/names a directory, not a file/);
    // Nothing was written beside or above it.
    expect(fs.readdirSync(path.join(dir, "out.o"))).toEqual([]);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});

describe("run flags", () => {
  const cases: [string[], RegExp][] = [
    [["--sq-entries", "0"], /--sq-entries must be an integer from 1 to/],
    [["--timeout", "0"], /--timeout must be an integer from 1 to/],
    [["--mem-region", "0"], /--mem-region must be an integer from 1 to 1073741824 bytes/],
    [["--mem-region", String(2 ** 31)], /--mem-region must be an integer from 1 to 1073741824 bytes/],
    [["--mem-region", "1e3"], /--mem-region must be an integer/],
    [["--open", "fd=in.bin:wr"], /unknown mode 'wr' \(modes: r, w, rw, a/],
    [["--open", "fd=in.bin:x"], /unknown mode 'x'/],
    [["--open", "fd=:r"], /empty path/],
  ];
  for (const [flags, msg] of cases) {
    it(`${flags.join(" ")} is a usage error`, () => {
      const r = uringbpf(["run", "prog.ts", "--engine", "user", ...flags]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
      expectPlain(r.err);
    });
  }
});

describe("a build killed before its rename", () => {
  it("leaves .NAME.PID.tmp, which the next build of the same output removes (a live process's is kept)", () => {
    // What a build killed between writing and renaming leaves: the temporary file of a dead process.
    const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    const deadPid = Number(child.stdout);
    expect(deadPid).toBeGreaterThan(0);
    const dead = path.join(dir, `.killed.o.${deadPid}.tmp`);
    const live = path.join(dir, `.killed.o.${process.pid}.tmp`);
    const other = path.join(dir, `.other.o.${deadPid}.tmp`);
    for (const f of [dead, live, other]) fs.writeFileSync(f, "half an object");
    const r = uringbpf(["build", "prog.ts", "-o", "killed.o"]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, "killed.o")).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    expect(fs.existsSync(dead)).toBe(false);
    expect(fs.existsSync(live)).toBe(true); // another process (this one) may still be writing it
    expect(fs.existsSync(other)).toBe(true); // another output's
  });
});
