// The native loader (runtime/loader/loader.c) on the host: error paths, --help, and a compiled sample up
// to the load. On a kernel without io_uring_bpf_ops (before 7.1) the load must fail with exit 3 and a
// clear message; on a kernel that has it, the sample must run. Build the loader with
// `scripts/deps.sh build`; without it these tests are skipped.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = path.join(__dirname, "..");
const cache = process.env.UBPF_CACHE ?? path.join(root, ".cache", "uringbpf");
const loader = path.join(cache, "bin", "uringbpf-loader");
const haveLoader = fs.existsSync(loader);
if (!haveLoader) console.warn(`loader tests skipped: ${loader} missing (run scripts/deps.sh build)`);

/** Does the running kernel's BTF describe struct io_uring_bpf_ops? */
function kernelHasOps(): boolean {
  try {
    return fs.readFileSync("/sys/kernel/btf/vmlinux").includes("io_uring_bpf_ops");
  } catch {
    return false;
  }
}

interface Run { status: number | null; stdout: string; stderr: string; json: any }

function runLoader(args: string[]): Run {
  const r = spawnSync(loader, args, { encoding: "utf8", timeout: 30_000 });
  const lines = r.stdout.trim().split("\n").filter((l) => l.startsWith("{"));
  expect(lines.length, `one JSON line expected, got: ${r.stdout}`).toBe(1);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json: JSON.parse(lines[0]) };
}

describe.skipIf(!haveLoader)("uringbpf-loader on this host", () => {
  let tmp = "";
  let nopsObj: string | null = null;
  let compileError = "";

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "uringbpf-loader-"));
    const out = path.join(tmp, "nops.o");
    // UBPF_LOADER_TEST_OBJ: use this object (a program `nops` with globals reqsToRun and result) instead
    // of compiling samples/nops.ts.
    if (process.env.UBPF_LOADER_TEST_OBJ) {
      fs.copyFileSync(process.env.UBPF_LOADER_TEST_OBJ, out);
      nopsObj = out;
      return;
    }
    const tsx = path.join(root, "node_modules", ".bin", "tsx");
    const r = spawnSync(tsx, ["cli/main.ts", "build", "samples/nops.ts", "-o", out], { cwd: root, encoding: "utf8", timeout: 120_000 });
    if (r.status === 0 && fs.existsSync(out)) nopsObj = out;
    else compileError = (r.stderr || r.stdout || String(r.error)).split("\n").slice(0, 3).join(" ");
  }, 180_000);

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("--help describes every option", () => {
    const r = spawnSync(loader, ["--help"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    for (const o of ["--sq-entries", "--cq-entries", "--setup-flags", "--mem-region", "--set", "--open", "--buffer", "--log-level", "--no-run", "--prog"])
      expect(r.stdout).toContain(o);
  });

  it("rejects bad usage with exit 1", () => {
    expect(spawnSync(loader, [], { encoding: "utf8" }).status).toBe(1);
    expect(spawnSync(loader, ["x.o", "--bogus"], { encoding: "utf8" }).status).toBe(1);
    expect(spawnSync(loader, ["x.o", "--setup-flags", "NOT_A_FLAG"], { encoding: "utf8" }).status).toBe(1);
  });

  it("refuses a non-BPF ELF file", () => {
    const r = runLoader(["/bin/true"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("/bin/true: not a BPF object file (");
    expect(r.json).toMatchObject({ ok: false, stage: "open" });
  });

  it("refuses a truncated file and a missing file", () => {
    const trunc = path.join(tmp, "trunc.o");
    fs.writeFileSync(trunc, fs.readFileSync("/bin/true").subarray(0, 40));
    let r = runLoader([trunc]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("not a BPF object file (truncated ELF header)");

    const text = path.join(tmp, "text.o");
    fs.writeFileSync(text, "hello, not an object\n");
    r = runLoader([text]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("not a BPF object file (no ELF header)");

    r = runLoader([path.join(tmp, "missing.o")]);
    expect(r.status).toBe(2);
    expect(r.json.error).toMatch(/cannot open/);
  });

  it("refuses a BPF object truncated after its ELF header", (ctx) => {
    if (!nopsObj) return ctx.skip(`compiler not available: ${compileError}`);
    const data = fs.readFileSync(nopsObj);
    const trunc = path.join(tmp, "nops-trunc.o");
    fs.writeFileSync(trunc, data.subarray(0, Math.min(200, data.length - 1)));
    const r = runLoader([trunc]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not a BPF object file \(.+\)/);
  });

  it("fills the ring-geometry globals and user globals before load (--no-load)", (ctx) => {
    if (!nopsObj) return ctx.skip(`compiler not available: ${compileError}`);
    // Without SQ_REWIND the ring can be created on kernels before 7.1 as well.
    const r = runLoader([nopsObj, "--no-load", "--setup-flags", "DEFER_TASKRUN,SINGLE_ISSUER,CQSIZE", "--sq-entries", "16", "--set", "reqsToRun=1234"]);
    expect(r.status).toBe(0);
    expect(r.json).toMatchObject({ ok: true, prog: "nops", ring: { sq_entries: 16, cq_entries: 32 } });
    expect(r.json.globals.reqsToRun).toBe(1234);
    const g = r.json.globals;
    if ("uringbpf_sq_entries" in g) expect(g.uringbpf_sq_entries).toBe(16);
    if ("uringbpf_cq_entries" in g) expect(g.uringbpf_cq_entries).toBe(32);
    if ("uringbpf_sq_size" in g) expect(g.uringbpf_sq_size).toBe(16 * 64);
    if ("uringbpf_cq_size" in g && "uringbpf_cq_cqes" in g) expect(g.uringbpf_cq_size).toBe(g.uringbpf_cq_cqes + 32 * 16);
  });

  it("names the existing globals when --set names a missing one", (ctx) => {
    if (!nopsObj) return ctx.skip(`compiler not available: ${compileError}`);
    const r = runLoader([nopsObj, "--no-load", "--setup-flags", "DEFER_TASKRUN,SINGLE_ISSUER", "--set", "noSuchVar=1"]);
    expect(r.status).toBe(5);
    expect(r.json.error).toMatch(/no global named 'noSuchVar'.*reqsToRun/);
  });

  it("loads a compiled sample, or says the kernel lacks io_uring BPF ops", (ctx) => {
    if (!nopsObj) return ctx.skip(`compiler not available: ${compileError}`);
    if (kernelHasOps()) {
      const r = runLoader([nopsObj, "--set", "reqsToRun=1000"]);
      expect(r.json).toMatchObject({ ok: true, ret: 0, globals: { reqsToRun: 0, result: 0 } });
      expect(r.json.verifier.insns_processed).toBeGreaterThan(0);
      return;
    }
    // Default flags include SQ_REWIND, which such a kernel refuses already at io_uring_setup; without
    // it the ring is created and libbpf's load fails. Both report the same message with exit 3.
    for (const extra of [[], ["--setup-flags", "DEFER_TASKRUN,SINGLE_ISSUER,NO_SQARRAY,CQSIZE"]]) {
      const r = runLoader([nopsObj, ...extra]);
      expect(r.status).toBe(3);
      expect(r.stderr).toContain("kernel lacks io_uring BPF ops (CONFIG_IO_URING_BPF_OPS, Linux 7.1+)");
      expect(r.json.ok).toBe(false);
      expect(r.json.error).toContain("kernel lacks io_uring BPF ops");
    }
  });
});
