/**
 * `runProgram`: compile (for a .ts), load, attach and run a loop_step program once, on the host when its
 * kernel has io_uring BPF ops, otherwise in the test VM (runtime/vm). The native loader
 * (`<cache>/bin/uringbpf-loader`, runtime/loader) does the work and prints one JSON line; this module
 * builds its command line, moves `--open` files in and out of the guest and hands the JSON back.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { cacheRoot, findKernel, runInVm, type VmCase, VmError, type VmFile, type VmRunResult } from "./vm/vm";
import { ObjectFormatError } from "../compiler/elf/reader";
import { compileFile, formatDiagnostics } from "../compiler/index";
import { AssignError, resolveMapAssigns, resolveMem, resolveSet } from "./assign";
import { ImageError, loadImage, type Image } from "./engine/image";

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
  /** `NAME[KEY]PATH=VALUE` map entries to preset after load (the loader's --map; docs/LANGUAGE.md "Maps"). */
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
  /** The run did not finish within the time limit and was stopped. */
  timedOut?: boolean;
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

/** The size of the struct behind `uringbpf_mem_layout` in the object's BTF (the MEM region layout), or 0;
 *  read with the one object reader (runtime/engine/image.ts over compiler/elf/reader.ts). */
export function memLayoutSize(object: Uint8Array): number {
  try {
    return loadImage(object).memLayout?.size ?? 0;
  } catch {
    return 0; // a malformed object: the loader says what is wrong with it
  }
}

/**
 * The checks both engines make before running anything, with the same messages (runtime/assign.ts): the
 * --prog name, every --set and --mem value against its type. An object the engine's image cannot
 * describe is left to the loader.
 */
export function precheck(object: Uint8Array, opts: RunOptions, memSize: number): void {
  let img: Image;
  try {
    img = loadImage(object);
  } catch (e) {
    if (e instanceof ImageError || e instanceof ObjectFormatError) return;
    throw e;
  }
  try {
    if (opts.prog !== undefined && !img.programs.has(opts.prog)) throw new ImageError(`no program named '${opts.prog}' (programs: ${[...img.programs.keys()].join(", ") || "none"})`);
    for (const a of opts.set ?? []) resolveSet(img, a);
    for (const a of opts.mem ?? []) resolveMem(img, a, memSize);
    resolveMapAssigns(img, opts.map ?? []);
  } catch (e) {
    if (e instanceof AssignError || e instanceof ImageError) throw new RunError(e.message, "usage");
    throw e;
  }
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
  if (opts.trace) args.push("--trace");
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
    const compiler = { compileFile, formatDiagnostics };
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
  precheck(object, opts, memSize);
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
  let killed = false;
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
      if (signal === "SIGKILL") killed = true;
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
    timedOut: killed,
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

/** The VM cases of one run (ids prefixed with `prefix`) and how to read its result back from the VM's. */
function guestRun(object: Uint8Array, name: string, opts: RunOptions, memSize: number, opens: OpenArg[], prefix: string): { cases: VmCase[]; finish: (vm: VmRunResult) => RunResult } {
  const dir = `/work/${prefix}run`;
  const files: VmFile[] = [{ guestPath: `${dir}/${name}`, data: object }];
  const args = [`${dir}/${name}`, ...loaderArgs(opts, memSize)];
  const copyBack: { guest: string; host: string }[] = [];
  opens.forEach((o, i) => {
    let guest = o.hostPath;
    if (!isSystemPath(o.hostPath)) {
      const host = path.resolve(o.hostPath);
      guest = `${dir}/open/${i}/${path.basename(host)}`;
      const exists = existsSync(host) && statSync(host).isFile();
      if (o.mode === "r" && !exists) throw new RunError(`--open ${o.name}=${o.hostPath}: no such file`, "usage");
      if (exists && (o.mode === "r" || o.mode === "rw" || o.mode === "a")) files.push({ guestPath: guest, hostPath: host });
      else files.push({ guestPath: `${dir}/open/${i}/.keep`, data: "" });
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
    "exit $rc",
  ]
    .filter(Boolean)
    .join("\n");
  const cases: VmCase[] = [
    { id: `${prefix}kernel`, command: "uname -r", timeoutSec: 10 },
    { id: `${prefix}run`, command: script, timeoutSec, files },
    ...copyBack.map((c, i) => ({ id: `${prefix}out${i}`, command: `cat ${shQuote(c.guest)}`, timeoutSec: 300 })),
  ];
  const finish = (vm: VmRunResult): RunResult => {
    const kernel = vm.byId.get(`${prefix}kernel`)?.output.trim();
    const run = vm.byId.get(`${prefix}run`);
    if (!run) return { ok: false, where: "vm", loaderExit: 137, jsonLine: null, report: null, messages: "uringbpf: the VM gave no result for the run", kernel, copiedBack: [] };
    if (run.timedOut) {
      return {
        ok: false, where: "vm", loaderExit: 137, jsonLine: null, report: null,
        messages: `${run.output}\nuringbpf: the run did not finish within ${timeoutSec} s (--timeout); killed`,
        kernel, copiedBack: [], timedOut: true,
      };
    }
    const text = run.output;
    const j = text.lastIndexOf(`${JSON_MARK}\n`);
    const messages = j >= 0 ? text.slice(0, j) : text;
    const rest = j >= 0 ? text.slice(j + JSON_MARK.length + 1) : "";
    const copiedBack: string[] = [];
    copyBack.forEach((c, i) => {
      const r = vm.byId.get(`${prefix}out${i}`);
      if (r && r.exitCode === 0) {
        mkdirSync(path.dirname(c.host), { recursive: true });
        writeFileSync(c.host, r.outputBytes);
        copiedBack.push(c.host);
      }
    });
    const { jsonLine, report } = splitLoaderOutput(rest);
    const trace = Array.isArray(report?.trace) ? (report!.trace as string[]).join("\n") : undefined;
    return { ok: run.exitCode === 0 && !!report?.ok, where: "vm", loaderExit: run.exitCode, jsonLine, report, messages, trace, kernel, copiedBack };
  };
  return { cases, finish };
}

async function bootWith(cases: VmCase[], opts: RunOptions, extraSec: number): Promise<VmRunResult> {
  try {
    return await runInVm(cases, { timeoutMs: (extraSec + 600) * 1000, kvm: opts.kvm, onConsoleLine: opts.onConsoleLine });
  } catch (e) {
    if (e instanceof VmError) throw new RunError(e.message, "environment");
    throw e;
  }
}

async function runInGuest(object: Uint8Array, name: string, opts: RunOptions, memSize: number, opens: OpenArg[]): Promise<RunResult> {
  const g = guestRun(object, name, opts, memSize, opens, "");
  const vm = await bootWith(g.cases, opts, (opts.timeoutSec ?? 60) + 60 * g.cases.length);
  return g.finish(vm);
}

/**
 * Run several programs in the VM in one boot (the CLI-contract tests): each input's result, or the
 * RunError it gave before the VM (compile errors, bad arguments), in order.
 */
export async function runProgramsInGuest(items: { input: string; opts: RunOptions }[], vmOpts: Pick<RunOptions, "kvm" | "onConsoleLine"> = {}): Promise<(RunResult | RunError)[]> {
  const runs: ({ finish: (vm: VmRunResult) => RunResult } | RunError)[] = [];
  const cases: VmCase[] = [];
  let budget = 0;
  for (const [k, it] of items.entries()) {
    try {
      const { object, name } = await objectOf(it.input);
      const memSize = it.opts.memRegion ?? memLayoutSize(object);
      precheck(object, it.opts, memSize);
      const g = guestRun(object, name, it.opts, memSize, (it.opts.open ?? []).map(parseOpen), `p${k}-`);
      cases.push(...g.cases);
      budget += (it.opts.timeoutSec ?? 60) + 60;
      runs.push(g);
    } catch (e) {
      if (!(e instanceof RunError)) throw e;
      runs.push(e);
    }
  }
  const vm = cases.length ? await bootWith(cases, vmOpts, budget) : undefined;
  return runs.map((r) => (r instanceof RunError ? r : r.finish(vm!)));
}

// --- presenting ----------------------------------------------------------------------------------------

/** Where the kernel the VM boots is, for messages (null when not fetched). */
export function vmKernelVersion(): string | null {
  return findKernel()?.version ?? null;
}
