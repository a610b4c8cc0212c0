/**
 * `runProgram`: compile (for a .ts), load, attach and run a loop_step program once, on the host when its
 * kernel has io_uring BPF ops, otherwise in the test VM (runtime/vm). The native loader
 * (`<cache>/bin/uringbpf-loader`, runtime/loader) does the work and prints one JSON line; this module
 * builds its command line, moves `--open` files in and out of the guest and hands the JSON back.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { cacheRoot, findKernel, runInVm, VmCase, VmError, VmFile } from "./vm/vm";

/** Options of `runProgram` (the `uringbpf run` flags). */
export interface RunOptions {
  /** `NAME=VALUE` integer globals set before load. */
  set?: string[];
  /** `NAME=PATH[:MODE]` files opened for the program (MODE r, w, rw, a; default r). */
  open?: string[];
  /** `NAME=SIZE` zeroed buffers whose address goes into global NAME. */
  buffer?: string[];
  /** `PATH=VALUE` fields of the MEM region to set before the run (the loader's --mem). */
  mem?: string[];
  /** `NAME[KEY]=VALUE` map entries to preset after load (the loader's --map). */
  map?: string[];
  /** SQ entries (loader default 8). */
  sqEntries?: number;
  /** Size of the MEM region to register; default: the size of the program's `ring.mem<T>()` layout. */
  memRegion?: number;
  /** Force the VM even when the host kernel could run the program. */
  vm?: boolean;
  /** Use KVM in the VM (off by default). */
  kvm?: boolean;
  /** Time limit of the run in seconds (default 60); the VM boot gets 600 s more. */
  timeoutSec?: number;
  /** Collect `trace()` output (bpf_trace_printk) from the tracing buffer. */
  trace?: boolean;
  /** Load and attach only (checks the verifier accepts it). */
  noRun?: boolean;
  /** Program to run when the object holds several. */
  prog?: string;
  /** Called with each VM console line. */
  onConsoleLine?: (line: string) => void;
}

/** The loader's JSON line (see runtime/loader/README.md). */
export interface LoaderReport {
  ok: boolean;
  object?: string;
  prog?: string;
  ret?: number;
  run_ns?: number;
  ran?: boolean;
  loaded?: boolean;
  stage?: string;
  error?: string;
  errno?: number;
  verifier?: { insns_processed?: number; total_states?: number; peak_states?: number; rejected_at?: string; error_line?: string };
  globals?: Record<string, number | string | boolean>;
  ring?: Record<string, number>;
  [key: string]: unknown;
}

/** What a run produced. */
export interface RunResult {
  /** True when the loader reported success. */
  ok: boolean;
  where: "host" | "vm";
  /** The loader's exit code (0 ok, 3 kernel lacks ops, 4 verifier rejected, 7 run error, ...). */
  loaderExit: number;
  /** The loader's JSON line as printed, and parsed (null if it printed none). */
  jsonLine: string | null;
  report: LoaderReport | null;
  /** The loader's messages (stderr): verifier log excerpts and errors. */
  messages: string;
  /** `trace()` lines, with `--trace`. */
  trace?: string;
  /** Kernel release the program ran on. */
  kernel?: string;
  /** Files written by the program and copied back from the guest. */
  copiedBack: string[];
}

/** A failure before the loader could run (compile errors, missing loader, VM trouble). */
export class RunError extends Error {
  constructor(
    message: string,
    readonly kind: "compile" | "usage" | "environment",
    readonly diagnostics?: unknown[],
  ) {
    super(message);
    this.name = "RunError";
  }
}

/** The loader binary path. */
export function loaderPath(): string {
  return path.join(cacheRoot(), "bin", "uringbpf-loader");
}

/** True when the running kernel's BTF describes `io_uring_bpf_ops` (Linux 7.1+ with the option on). */
export function hostHasBpfOps(): boolean {
  try {
    return readFileSync("/sys/kernel/btf/vmlinux").includes("io_uring_bpf_ops");
  } catch {
    return false;
  }
}

// --- reading the object --------------------------------------------------------------------------------

/** The size of the struct behind `uringbpf_mem_layout` in the object's BTF (the MEM region layout), or 0. */
export function memLayoutSize(object: Uint8Array): number {
  const b = Buffer.from(object.buffer, object.byteOffset, object.byteLength);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return 0;
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const shstrndx = b.readUInt16LE(0x3e);
  const sec = (i: number) => {
    const o = shoff + i * shentsize;
    return { name: b.readUInt32LE(o), offset: Number(b.readBigUInt64LE(o + 24)), size: Number(b.readBigUInt64LE(o + 32)) };
  };
  if (shoff === 0 || shstrndx >= shnum) return 0;
  const strtab = sec(shstrndx);
  const cstr = (off: number) => b.toString("latin1", off, b.indexOf(0, off));
  let btf: { offset: number; size: number } | undefined;
  for (let i = 0; i < shnum; i++) {
    const s = sec(i);
    if (cstr(strtab.offset + s.name) === ".BTF") btf = s;
  }
  if (!btf || btf.size < 24 || b.readUInt16LE(btf.offset) !== 0xeb9f) return 0;
  const hdrLen = b.readUInt32LE(btf.offset + 4);
  const typeStart = btf.offset + hdrLen + b.readUInt32LE(btf.offset + 8);
  const typeEnd = typeStart + b.readUInt32LE(btf.offset + 12);
  const strStart = btf.offset + hdrLen + b.readUInt32LE(btf.offset + 16);
  // Walk the type section once, remembering each type's (kind, name, size/type).
  const types: { kind: number; name: string; sizeOrType: number }[] = [{ kind: 0, name: "", sizeOrType: 0 }];
  const extra: Record<number, (vlen: number) => number> = {
    1: () => 4, 3: () => 12, 4: (v) => 12 * v, 5: (v) => 12 * v, 6: (v) => 8 * v, 13: (v) => 8 * v,
    14: () => 4, 15: (v) => 12 * v, 17: () => 4, 19: (v) => 12 * v,
  };
  for (let o = typeStart; o + 12 <= typeEnd; ) {
    const info = b.readUInt32LE(o + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    types.push({ kind, name: cstr(strStart + b.readUInt32LE(o)), sizeOrType: b.readUInt32LE(o + 8) });
    o += 12 + (extra[kind]?.(vlen) ?? 0);
  }
  const skipMods = (id: number) => {
    for (let n = 0; n < 32 && types[id] && [8, 9, 10, 11, 18].includes(types[id].kind); n++) id = types[id].sizeOrType;
    return id;
  };
  const v = types.find((t) => t.kind === 14 && t.name === "uringbpf_mem_layout");
  if (!v) return 0;
  const ptr = types[skipMods(v.sizeOrType)];
  if (!ptr || ptr.kind !== 2) return 0;
  const target = types[skipMods(ptr.sizeOrType)];
  return target && (target.kind === 4 || target.kind === 5) ? target.sizeOrType : 0;
}

// --- argument handling ---------------------------------------------------------------------------------

interface OpenArg {
  name: string;
  hostPath: string;
  mode: "r" | "w" | "rw" | "a";
}

function parseOpen(arg: string): OpenArg {
  const eq = arg.indexOf("=");
  if (eq <= 0) throw new RunError(`--open ${arg}: expected NAME=PATH[:MODE]`, "usage");
  const name = arg.slice(0, eq);
  let p = arg.slice(eq + 1);
  let mode: OpenArg["mode"] = "r";
  const m = /^(.*):(r|w|rw|a)$/.exec(p);
  if (m) {
    p = m[1];
    mode = m[2] as OpenArg["mode"];
  }
  if (!p) throw new RunError(`--open ${arg}: empty path`, "usage");
  return { name, hostPath: p, mode };
}

/** Paths that name the same thing in the guest as on the host: devices and kernel filesystems. */
function isSystemPath(p: string): boolean {
  return /^\/(dev|proc|sys)(\/|$)/.test(p);
}

function loaderArgs(opts: RunOptions, memSize: number): string[] {
  const args: string[] = [];
  for (const s of opts.set ?? []) args.push("--set", s);
  for (const s of opts.buffer ?? []) args.push("--buffer", s);
  for (const s of opts.mem ?? []) args.push("--mem", s);
  for (const s of opts.map ?? []) args.push("--map", s);
  if (opts.sqEntries !== undefined) args.push("--sq-entries", String(opts.sqEntries));
  if (memSize > 0) args.push("--mem-region", String(memSize));
  if (opts.prog) args.push("--prog", opts.prog);
  if (opts.noRun) args.push("--no-run");
  return args;
}

function splitLoaderOutput(stdout: string): { jsonLine: string | null; report: LoaderReport | null } {
  const line = stdout.split("\n").reverse().find((l) => l.trim().startsWith("{"));
  if (!line) return { jsonLine: null, report: null };
  try {
    return { jsonLine: line.trim(), report: JSON.parse(line) as LoaderReport };
  } catch {
    return { jsonLine: line.trim(), report: null };
  }
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// --- running -------------------------------------------------------------------------------------------

/** Compiles a .ts with the uringbpf compiler, or reads a .o; returns the object bytes. */
async function objectOf(input: string): Promise<{ object: Uint8Array; name: string }> {
  if (/\.(ts|mts|cts)$/.test(input)) {
    // Loaded lazily: running a ready .o does not need the TypeScript compiler.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const compiler = require("../compiler/index") as typeof import("../compiler/index");
    const res = compiler.compileFile(input);
    if (!res.ok || !res.object) {
      throw new RunError(compiler.formatDiagnostics(res.diagnostics), "compile", res.diagnostics);
    }
    return { object: res.object, name: path.basename(input).replace(/\.(ts|mts|cts)$/, ".o") };
  }
  try {
    return { object: readFileSync(input), name: path.basename(input) };
  } catch (e) {
    throw new RunError(`${input}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, "usage");
  }
}

/**
 * Runs a program once. `input` is a .ts (compiled first) or a .o path. Throws `RunError` for compile
 * errors, bad arguments or a missing loader/VM; a loader failure (verifier rejection, run error) comes
 * back as a result with `ok: false`.
 */
export async function runProgram(input: string, opts: RunOptions = {}): Promise<RunResult> {
  const { object, name } = await objectOf(input);
  const memSize = opts.memRegion ?? memLayoutSize(object);
  const opens = (opts.open ?? []).map(parseOpen);
  const loader = loaderPath();
  if (!existsSync(loader)) {
    throw new RunError(`the loader is not installed: ${loader} is missing (run \`uringbpf vm setup\`)`, "environment");
  }
  const useVm = opts.vm || !hostHasBpfOps();
  return useVm ? runInGuest(object, name, opts, memSize, opens) : runOnHost(object, name, opts, memSize, opens);
}

async function runOnHost(object: Uint8Array, name: string, opts: RunOptions, memSize: number, opens: OpenArg[]): Promise<RunResult> {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir, release } = await import("node:os");
  const dir = mkdtempSync(path.join(tmpdir(), "uringbpf-run-"));
  const objPath = path.join(dir, name);
  writeFileSync(objPath, object);
  const args = [objPath, ...loaderArgs(opts, memSize)];
  for (const o of opens) args.push("--open", `${o.name}=${path.resolve(o.hostPath)}:${o.mode}`);
  const tracePath = "/sys/kernel/tracing/trace";
  if (opts.trace && existsSync(tracePath)) writeFileSync(tracePath, "");
  const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(loaderPath(), args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), (opts.timeoutSec ?? 60) * 1000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal) stderr += `\nuringbpf: the loader was killed (${signal})${signal === "SIGKILL" ? ` after ${opts.timeoutSec ?? 60} s` : ""}\n`;
      resolve({ code: code ?? 137, stdout, stderr });
    });
  });
  rmSync(dir, { recursive: true, force: true });
  const trace = opts.trace && existsSync(tracePath) ? traceLines(readFileSync(tracePath, "utf8")) : undefined;
  const { jsonLine, report } = splitLoaderOutput(out.stdout);
  return {
    ok: out.code === 0 && !!report?.ok,
    where: "host",
    loaderExit: out.code,
    jsonLine,
    report,
    messages: out.stderr,
    trace,
    kernel: release(),
    copiedBack: [],
  };
}

/** Keeps the event lines of a tracing buffer dump (drops the `#` header). */
function traceLines(text: string): string {
  return text
    .split("\n")
    .filter((l) => l.trim() && !l.startsWith("#"))
    .join("\n");
}

const JSON_MARK = "@@UBPF-LOADER-JSON";
const TRACE_MARK = "@@UBPF-TRACE";

async function runInGuest(object: Uint8Array, name: string, opts: RunOptions, memSize: number, opens: OpenArg[]): Promise<RunResult> {
  const files: VmFile[] = [{ guestPath: `/work/${name}`, data: object }];
  const args = [name, ...loaderArgs(opts, memSize)];
  const copyBack: { guest: string; host: string }[] = [];
  opens.forEach((o, i) => {
    let guest = o.hostPath;
    if (!isSystemPath(o.hostPath)) {
      const host = path.resolve(o.hostPath);
      guest = `/work/open/${i}/${path.basename(host)}`;
      const exists = existsSync(host) && statSync(host).isFile();
      if (o.mode === "r" && !exists) throw new RunError(`--open ${o.name}=${o.hostPath}: no such file`, "usage");
      if (exists && (o.mode === "r" || o.mode === "rw" || o.mode === "a")) files.push({ guestPath: guest, hostPath: host });
      else files.push({ guestPath: `/work/open/${i}/.keep`, data: "" });
      if (o.mode !== "r") copyBack.push({ guest, host });
    }
    args.push("--open", `${o.name}=${guest}:${o.mode}`);
  });
  const timeoutSec = opts.timeoutSec ?? 60;
  const script = [
    opts.trace ? "echo > /sys/kernel/tracing/trace" : "",
    `uringbpf-loader ${args.map(shQuote).join(" ")} >/tmp/.loader-out 2>/tmp/.loader-err`,
    "rc=$?",
    "cat /tmp/.loader-err",
    `echo ${JSON_MARK}`,
    "cat /tmp/.loader-out",
    opts.trace ? `echo ${TRACE_MARK}; grep -v '^#' /sys/kernel/tracing/trace` : "",
    "exit $rc",
  ]
    .filter(Boolean)
    .join("\n");
  const cases: VmCase[] = [
    { id: "kernel", command: "uname -r", timeoutSec: 10 },
    { id: "run", command: script, timeoutSec, files },
    ...copyBack.map((c, i) => ({ id: `out${i}`, command: `cat ${shQuote(c.guest)}`, timeoutSec: 300 })),
  ];
  let vm;
  try {
    vm = await runInVm(cases, { timeoutMs: (timeoutSec + 600 + 60 * copyBack.length) * 1000, kvm: opts.kvm, onConsoleLine: opts.onConsoleLine });
  } catch (e) {
    if (e instanceof VmError) throw new RunError(e.message, "environment");
    throw e;
  }
  const run = vm.byId.get("run")!;
  if (run.timedOut) {
    return {
      ok: false, where: "vm", loaderExit: 137, jsonLine: null, report: null,
      messages: `${run.output}\nuringbpf: the run did not finish within ${timeoutSec} s (--timeout); killed`,
      kernel: vm.byId.get("kernel")?.output.trim(), copiedBack: [],
    };
  }
  const text = run.output;
  const j = text.lastIndexOf(`${JSON_MARK}\n`);
  const messages = j >= 0 ? text.slice(0, j) : text;
  let rest = j >= 0 ? text.slice(j + JSON_MARK.length + 1) : "";
  let trace: string | undefined;
  const t = rest.indexOf(`${TRACE_MARK}\n`);
  if (t >= 0) {
    trace = traceLines(rest.slice(t + TRACE_MARK.length + 1));
    rest = rest.slice(0, t);
  }
  const copiedBack: string[] = [];
  copyBack.forEach((c, i) => {
    const r = vm.byId.get(`out${i}`);
    if (r && r.exitCode === 0) {
      mkdirSync(path.dirname(c.host), { recursive: true });
      writeFileSync(c.host, r.outputBytes);
      copiedBack.push(c.host);
    }
  });
  const { jsonLine, report } = splitLoaderOutput(rest);
  return {
    ok: run.exitCode === 0 && !!report?.ok,
    where: "vm",
    loaderExit: run.exitCode,
    jsonLine,
    report,
    messages,
    trace,
    kernel: vm.byId.get("kernel")?.output.trim(),
    copiedBack,
  };
}

// --- presenting ----------------------------------------------------------------------------------------

/** Hidden geometry globals the loader fills in; not worth showing after a run. */
function isHiddenGlobal(name: string): boolean {
  return name.startsWith("uringbpf_");
}

/** A human-readable summary of a run: outcome, globals, verifier count, run time. */
export function formatRunResult(r: RunResult): string {
  const lines: string[] = [];
  const rep = r.report;
  const where = r.where === "vm" ? `in the VM, kernel ${r.kernel ?? "?"}` : `on the host, kernel ${r.kernel ?? "?"}`;
  if (!rep) {
    lines.push(`uringbpf: the loader printed no result (exit ${r.loaderExit}; ${where})`);
    if (r.messages.trim()) lines.push(r.messages.trimEnd());
    return lines.join("\n");
  }
  if (!rep.ok && rep.stage && rep.stage !== "trap") {
    if (r.messages.trim()) lines.push(r.messages.trimEnd());
    lines.push(`${rep.prog ?? rep.object ?? "program"}: failed at ${rep.stage}: ${rep.error ?? "?"} (${where})`);
    if (rep.verifier?.rejected_at) lines.push(`  rejected at ${rep.verifier.rejected_at}`);
    if (r.loaderExit === 3) lines.push("  the kernel lacks io_uring BPF ops (CONFIG_IO_URING_BPF_OPS, Linux 7.1+); try --vm");
    return lines.join("\n");
  }
  const runMs = rep.run_ns !== undefined ? (rep.run_ns / 1e6).toFixed(3) : "?";
  const status = rep.ok ? "ok" : rep.stage === "trap" ? "stopped at a run-time check" : `io_uring_enter returned ${rep.ret}`;
  lines.push(`${rep.prog ?? "program"}: ${status} (${where})`);
  if (rep.verifier?.insns_processed !== undefined) lines.push(`  verifier: ${rep.verifier.insns_processed} instructions processed`);
  if (rep.ran) lines.push(`  run time: ${runMs} ms`);
  const globals = Object.entries(rep.globals ?? {}).filter(([k]) => !isHiddenGlobal(k));
  if (globals.length) {
    lines.push("  globals:");
    const w = Math.max(...globals.map(([k]) => k.length));
    for (const [k, v] of globals) lines.push(`    ${k.padEnd(w)} = ${typeof v === "string" ? JSON.stringify(v) : v}`);
  }
  const mem = (rep as { mem?: Record<string, unknown> }).mem;
  if (mem) {
    // The MEM region through the program's layout; long arrays are shortened.
    const short = (v: unknown): string =>
      Array.isArray(v) ? `[${v.slice(0, 8).map(short).join(", ")}${v.length > 8 ? `, ... (${v.length})` : ""}]` : v && typeof v === "object" ? `{${Object.entries(v).map(([k, x]) => `${k}: ${short(x)}`).join(", ")}}` : JSON.stringify(v);
    lines.push("  mem:");
    const w = Math.max(...Object.keys(mem).map((k) => k.length));
    for (const [k, v] of Object.entries(mem)) lines.push(`    ${k.padEnd(w)} = ${short(v)}`);
  }
  const maps = (rep as { maps?: Record<string, unknown> }).maps;
  if (maps) for (const [k, v] of Object.entries(maps)) lines.push(`  map ${k}: ${JSON.stringify(v).slice(0, 2000)}`);
  const trap = rep.globals?.uringbpf_trap;
  const where2 = (rep as { trap?: { file?: string; line: number; source?: string } }).trap;
  if (where2) lines.push(`  stopped by a failed run-time check at ${where2.file ?? "line"}:${where2.line}: ${where2.source ?? ""}`);
  else if (typeof trap === "number" && trap !== 0) lines.push(`  a run-time check failed at line ${trap} of the source`);
  if (r.copiedBack.length) lines.push(`  copied back from the guest: ${r.copiedBack.join(", ")}`);
  if (r.trace !== undefined) lines.push("  trace:", ...(r.trace ? r.trace.split("\n").map((l) => `    ${l.trim()}`) : ["    (empty)"]));
  if (!rep.ok && r.messages.trim()) lines.push(r.messages.trimEnd());
  return lines.join("\n");
}

/** Where the kernel the VM boots is, for messages (null when not fetched). */
export function vmKernelVersion(): string | null {
  return findKernel()?.version ?? null;
}
